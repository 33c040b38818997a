"""The readings store on SQLite and PostgreSQL (ADR 0073): a redelivery changes nothing,
series raw and per step, retention rolls up by the hour and drops the raw rows but keeps
what a decision cites; on PostgreSQL, a partition a day, dropped whole."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from closedloop.settings import Settings
from domain.readings import ReadingStore, TelemetryReading, reading_id
from projections.readings import PostgresReadings, SQLiteReadings, readings_beside

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[ReadingStore]:
    readings = readings_beside(Settings(database_url=database_url).store_env())
    if isinstance(readings, SQLiteReadings):
        # Beside a file of the test's own: the readings' file is its neighbour.
        assert readings.path.endswith("-readings.sqlite3")
    yield readings
    readings.close()


def gauge(value: float, at: datetime, station: str = "qingshan-reservoir") -> TelemetryReading:
    return TelemetryReading(
        reading_id=reading_id(station, "water_level", at),
        station=station,
        metric="water_level",
        value=value,
        unit_of_measure="m",
        measured_at=at,
        received_at=at,
        source="hydrology-net",
    )


def test_the_same_readings_again_change_nothing_and_the_receipt_is_kept_with_them(
    store: ReadingStore,
) -> None:
    rows = [gauge(50 + i, NOW - timedelta(minutes=i)) for i in range(5)]
    store.append(rows, receipt=("HW", "b1", {"readings": 5, "results": [], "refused": []}))
    store.append(rows)

    points = store.series(
        "qingshan-reservoir",
        "water_level",
        NOW - timedelta(hours=1),
        NOW + timedelta(seconds=1),
        None,
    )
    assert [p.mean for p in points] == [54, 53, 52, 51, 50]
    assert store.receipt("HW", "b1") == {"readings": 5, "results": [], "refused": []}
    assert store.receipt("HW", "b2") is None
    assert store.last_measured("qingshan-reservoir", "water_level") == NOW
    [last] = store.latest("qingshan-reservoir")
    assert last.value == 50


def test_retention_rolls_up_by_the_hour_drops_raw_rows_and_keeps_the_cited(
    store: ReadingStore,
) -> None:
    old = NOW - timedelta(days=40)
    hour = old.replace(minute=0)
    rows = [gauge(10 + i, hour + timedelta(minutes=10 * i)) for i in range(6)]
    recent = gauge(99, NOW - timedelta(hours=1))
    store.append([*rows, recent])
    store.keep([rows[2]])  # a warning cites it

    dropped = store.apply_retention(NOW, days=30)

    assert dropped == 6
    raw = store.series("qingshan-reservoir", "water_level", hour, hour + timedelta(hours=1), None)
    assert [p.mean for p in raw] == [12]  # only the cited reading is left raw
    [rolled] = store.series(
        "qingshan-reservoir", "water_level", hour, hour + timedelta(hours=1), timedelta(hours=1)
    )
    assert (rolled.min, rolled.max, rolled.count) == (10, 15, 6)
    assert rolled.mean == pytest.approx(12.5)
    assert (
        store.series("qingshan-reservoir", "water_level", NOW - timedelta(hours=2), NOW, None)[
            0
        ].mean
        == 99
    )


def test_postgres_keeps_a_partition_a_day_made_ahead_and_drops_old_ones_whole(
    postgres_url: str,
) -> None:
    store = readings_beside(Settings(database_url=postgres_url).store_env())
    assert isinstance(store, PostgresReadings)
    try:
        today = datetime.now(UTC).date()
        ahead = f"readings_{today + timedelta(days=2):%Y%m%d}"
        assert ahead in store.partitions()
        old = datetime.now(UTC) - timedelta(days=60)
        store.append([gauge(1.0, old)])
        assert f"readings_{old.date():%Y%m%d}" in store.partitions()

        store.apply_retention(datetime.now(UTC), days=30)

        assert f"readings_{old.date():%Y%m%d}" not in store.partitions()
        assert ahead in store.partitions()
    finally:
        store.close()


def test_a_batch_keeps_awkward_text_and_no_value_and_a_reading_twice_once(
    store: ReadingStore,
) -> None:
    # PostgreSQL stages a batch by COPY (ADR 0091): text with its own separators and
    # escapes, a reading without a value, and one reading twice in a batch go through.
    at = NOW - timedelta(minutes=1)
    odd = TelemetryReading(
        reading_id=reading_id("qingshan-reservoir", "rainfall", at),
        station="qingshan-reservoir",
        metric="rainfall",
        value=None,
        unit_of_measure="m",
        measured_at=at,
        received_at=NOW,
        source="net\twork\n\\N 网",
    )
    store.append([odd, odd, gauge(51, NOW)])

    last = {r.metric: r for r in store.latest("qingshan-reservoir")}
    assert last["water_level"].value == 51
    assert last["rainfall"] == odd
    assert store.count() == 2  # type: ignore[attr-defined]


#: The readings table as ADR 0073 made it: a primary key on the reading id (ADR 0099 made
#: new tables unique by feed and instant instead, and leaves an existing one as it is).
_BEFORE_0099 = {
    "sqlite": [
        """CREATE TABLE readings (
            reading_id TEXT PRIMARY KEY, station TEXT NOT NULL, metric TEXT NOT NULL,
            value REAL, unit_of_measure TEXT NOT NULL, measured_at INTEGER NOT NULL,
            received_at INTEGER NOT NULL, source TEXT NOT NULL)""",
        "CREATE INDEX readings_by_feed ON readings (station, metric, measured_at)",
    ],
    "postgres": [
        """CREATE TABLE readings (
            reading_id uuid NOT NULL, station text NOT NULL, metric text NOT NULL,
            value double precision, unit_of_measure text NOT NULL,
            measured_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
            source text NOT NULL,
            PRIMARY KEY (reading_id, measured_at)) PARTITION BY RANGE (measured_at)""",
        "CREATE INDEX readings_by_feed ON readings (station, metric, measured_at)",
    ],
}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_store_made_before_keeps_its_layout_and_refuses_the_same_readings(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import sqlite3

    import psycopg

    url: str = request.getfixturevalue(f"{kind}_url")
    env = Settings(database_url=url).store_env()
    if kind == "sqlite":
        made = SQLiteReadings(str(tmp_path) + "/x.sqlite3")  # the path readings_beside names
        path = made.path
        made.close()
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE readings")
            for statement in _BEFORE_0099[kind]:
                conn.execute(statement)
        store: ReadingStore = SQLiteReadings(path)
    else:
        schema = env["POSTGRES_SCHEMA"]
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            for statement in _BEFORE_0099[kind]:
                conn.execute(statement)
        store = readings_beside(env)
    try:
        rows = [gauge(50 + i, NOW - timedelta(minutes=i)) for i in range(3)]
        store.append(rows)
        store.append([*rows, gauge(60, NOW + timedelta(minutes=1))])
        assert store.count() == 4  # type: ignore[attr-defined]
        assert primary_key_on_the_id(store)
    finally:
        store.close()


def primary_key_on_the_id(store: ReadingStore) -> bool:
    if isinstance(store, SQLiteReadings):
        columns = store._conn().execute("PRAGMA table_info(readings)").fetchall()
        return [c[1] for c in columns if c[5]] == ["reading_id"]
    assert isinstance(store, PostgresReadings)
    with store.pool.connection() as conn:
        row = conn.execute(
            """SELECT count(*) FROM pg_constraint
               WHERE conrelid = 'readings'::regclass AND contype = 'p'"""
        ).fetchone()
    return row is not None and row[0] == 1


def test_a_new_store_has_no_index_on_the_id(store: ReadingStore) -> None:
    # ADR 0099: the feeds' unique index alone refuses a reading already there.
    assert not primary_key_on_the_id(store)

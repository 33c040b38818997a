"""The readings store (ADR 0073): the adapters of :class:`domain.readings.ReadingStore`.

On PostgreSQL, raw readings live in a table partitioned by day of measured time
(declarative partitions, created ahead and on demand, dropped whole by retention, a BRIN
index on the measured time), written many rows a statement (``COPY``-ed into a staging
table, moved by one ``INSERT … ON CONFLICT DO NOTHING``), so a redelivery changes nothing:
a reading is unique by its feed and measured instant, from which its id derives. On
SQLite, one table in a file of its own, written with ``executemany`` in one transaction.
On both: hourly roll-ups kept after the raw rows are dropped, the readings a decision
cites kept past retention, and each batch's receipt beside its readings.
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec

from domain.readings import DeadLetter, ReadingStore, SeriesPoint, Station, TelemetryReading

#: The most raw points one series answers (a chart asks for a step past that).
MAX_RAW_POINTS = 10_000
#: Days of partitions made ahead of today (a reading may come a little early).
DAYS_AHEAD = 2

_COLUMNS = (
    "reading_id",
    "station",
    "metric",
    "value",
    "unit_of_measure",
    "measured_at",
    "received_at",
    "source",
)


def readings_beside(env: Mapping[str, str]) -> ReadingStore:
    """The readings store beside the event store these persistence settings name."""
    module = env.get("PERSISTENCE_MODULE", "")
    if module == "eventsourcing.postgres":
        from projections.store.postgres import postgres_conninfo

        return PostgresReadings(
            postgres_conninfo(env), schema=env.get("POSTGRES_SCHEMA") or "public"
        )
    path = env.get("SQLITE_DBNAME", ":memory:") if module == "eventsourcing.sqlite" else ":memory:"
    if path == ":memory:" or path.startswith("file:"):
        return SQLiteReadings.temporary()
    p = Path(path)
    return SQLiteReadings(str(p.with_name(f"{p.stem}-readings{p.suffix}")))


def _merge(points: Iterable[tuple[int, float | None, float | None, float, int]]) -> dict[int, Any]:
    """Buckets from raw aggregates and hourly roll-ups, merged: (min, max, sum, count)."""
    out: dict[int, list[Any]] = {}
    for bucket, lo, hi, total, count in points:
        b = out.get(bucket)
        if b is None:
            out[bucket] = [lo, hi, total, count]
            continue
        b[0] = lo if b[0] is None else (b[0] if lo is None else min(b[0], lo))
        b[1] = hi if b[1] is None else (b[1] if hi is None else max(b[1], hi))
        b[2] += total
        b[3] += count
    return out


def _points(buckets: dict[int, Any], start: datetime, step: timedelta) -> list[SeriesPoint]:
    return [
        SeriesPoint(
            at=start + step * k,
            min=b[0],
            max=b[1],
            mean=(b[2] / b[3]) if b[3] else None,
            count=b[3],
        )
        for k, b in sorted(buckets.items())
    ]


def _raw(rows: Iterable[tuple[datetime, float | None]]) -> list[SeriesPoint]:
    seen: dict[datetime, SeriesPoint] = {}
    for at, value in rows:
        seen[at] = SeriesPoint(at=at, min=value, max=value, mean=value, count=1)
    return [seen[k] for k in sorted(seen)][:MAX_RAW_POINTS]


# -- SQLite -------------------------------------------------------------------------


def _us(at: datetime) -> int:
    """An instant as whole microseconds since the epoch (SQLite keeps integers)."""
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _sqlite_rows(readings: Sequence[TelemetryReading]) -> list[tuple[Any, ...]]:
    """The rows of a batch for SQLite. A batch's readings share their reception and a few
    measured instants: each instant is turned into microseconds once (ADR 0091)."""
    us: dict[datetime, int] = {}
    rows: list[tuple[Any, ...]] = []
    for r in readings:
        measured = us.get(r.measured_at)
        if measured is None:
            measured = us[r.measured_at] = _us(r.measured_at)
        received = us.get(r.received_at)
        if received is None:
            received = us[r.received_at] = _us(r.received_at)
        rows.append(
            (
                r.reading_id.hex,
                r.station,
                r.metric,
                r.value,
                r.unit_of_measure,
                measured,
                received,
                r.source,
            )
        )
    return rows


def _receipt_text(body: Mapping[str, Any]) -> str:
    """A batch's receipt as JSON text: msgspec's encoder, several times the standard
    library's on a thousand results (ADR 0091); anything it does not know as text."""
    return msgspec.json.encode(body, enc_hook=str).decode()


def _at(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


#: Each connection's page cache (KiB), the bytes of the file it maps, and the WAL's pages
#: between checkpoints: sized for a door's batches (see ``SQLiteReadings._conn``).
SQLITE_CACHE_KIB = 65_536
SQLITE_MMAP_BYTES = 1 << 30
SQLITE_CHECKPOINT_PAGES = 16_000

_SQLITE_SCHEMA = (
    # A reading's id is derived from its station, metric and measured instant and from
    # nothing else (``domain.readings.reading_id``), so the feeds' index, made unique,
    # is what keeps a redelivered reading out: no index of the ids beside it, whose
    # random keys put each of a batch's thousand rows on a page of its own (ADR 0099).
    # A file made before keeps its primary key on the id; both refuse the same rows.
    """CREATE TABLE IF NOT EXISTS readings (
        reading_id TEXT NOT NULL, station TEXT NOT NULL, metric TEXT NOT NULL,
        value REAL, unit_of_measure TEXT NOT NULL, measured_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL, source TEXT NOT NULL)""",
    """CREATE UNIQUE INDEX IF NOT EXISTS readings_by_feed
        ON readings (station, metric, measured_at)""",
    "CREATE INDEX IF NOT EXISTS readings_by_time ON readings (measured_at)",
    """CREATE TABLE IF NOT EXISTS readings_kept (
        reading_id TEXT PRIMARY KEY, station TEXT NOT NULL, metric TEXT NOT NULL,
        value REAL, unit_of_measure TEXT NOT NULL, measured_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL, source TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS readings_hourly (
        station TEXT NOT NULL, metric TEXT NOT NULL, hour INTEGER NOT NULL,
        min REAL, max REAL, sum REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (station, metric, hour))""",
    """CREATE TABLE IF NOT EXISTS reading_batches (
        unit TEXT NOT NULL, batch TEXT NOT NULL, receipt TEXT NOT NULL,
        PRIMARY KEY (unit, batch))""",
    """CREATE TABLE IF NOT EXISTS stations_enrolled (
        id TEXT PRIMARY KEY, unit TEXT NOT NULL, name TEXT NOT NULL)""",
    # The messages a door could not take (ADR 0079).
    """CREATE TABLE IF NOT EXISTS readings_rejected (
        id INTEGER PRIMARY KEY AUTOINCREMENT, door TEXT NOT NULL, topic TEXT NOT NULL,
        unit TEXT NOT NULL, payload TEXT NOT NULL, reason TEXT NOT NULL,
        received_at INTEGER NOT NULL)""",
)


class SQLiteReadings:
    """Readings in an SQLite file of their own (WAL), one connection per thread."""

    def __init__(self, path: str, *, owned_dir: str | None = None) -> None:
        self.path = path
        self._owned_dir = owned_dir
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        with self._tx() as c:
            for statement in _SQLITE_SCHEMA:
                c.execute(statement)

    @classmethod
    def temporary(cls) -> SQLiteReadings:
        folder = tempfile.mkdtemp(prefix="closedloop-readings-")
        return cls(os.path.join(folder, "readings.sqlite3"), owned_dir=folder)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            # A batch of a thousand readings lands on a thousand scattered pages of the
            # reading id's index and the feeds' index: with SQLite's default 2 MB cache
            # each batch read them back from the file, and its default checkpoint (every
            # 1,000 pages of the WAL) copied them home and synced at nearly every commit.
            # A larger cache, the file mapped, and a checkpoint every 16,000 pages (64 MB)
            # write each hot page home once for many batches (ADR 0091's SQLite costs).
            conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            conn.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            conn.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        # The process's writers take turns here rather than in SQLite's busy handler,
        # which sleeps in growing steps while it waits for the file's one write lock.
        with self._writing:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _row(r: TelemetryReading) -> tuple[Any, ...]:
        return (
            r.reading_id.hex,
            r.station,
            r.metric,
            r.value,
            r.unit_of_measure,
            _us(r.measured_at),
            _us(r.received_at),
            r.source,
        )

    def append(
        self,
        readings: Sequence[TelemetryReading],
        *,
        receipt: tuple[str, str, Mapping[str, Any]] | None = None,
        cited: Sequence[TelemetryReading] = (),
    ) -> None:
        rows = _sqlite_rows(readings)
        body = None if receipt is None else _receipt_text(receipt[2])
        with self._tx() as c:
            c.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if cited:
                c.executemany(
                    "INSERT OR IGNORE INTO readings_kept VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [self._row(r) for r in cited],
                )
            if receipt is not None:
                c.execute(
                    "INSERT OR IGNORE INTO reading_batches VALUES (?, ?, ?)",
                    (receipt[0], receipt[1], body),
                )

    def receipt(self, unit: str, batch: str) -> dict[str, Any] | None:
        row = (
            self._conn()
            .execute(
                "SELECT receipt FROM reading_batches WHERE unit = ? AND batch = ?", (unit, batch)
            )
            .fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

    def enrol(self, stations: Iterable[Station]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT OR IGNORE INTO stations_enrolled VALUES (?, ?, ?)",
                [(s.id, s.unit, s.name) for s in stations],
            )

    def enrolled(self) -> list[Station]:
        rows = self._conn().execute("SELECT id, unit, name FROM stations_enrolled").fetchall()
        return [Station(i, u, n, enrolled=True) for i, u, n in rows]

    def last_measured(self, station: str, metric: str) -> datetime | None:
        row = (
            self._conn()
            .execute(
                "SELECT max(measured_at) FROM readings WHERE station = ? AND metric = ?",
                (station, metric),
            )
            .fetchone()
        )
        return None if row[0] is None else _at(row[0])

    def latest(self, station: str) -> list[TelemetryReading]:
        rows = (
            self._conn()
            .execute(
                """SELECT r.* FROM readings r JOIN (
                     SELECT metric, max(measured_at) AS m FROM readings WHERE station = ?
                     GROUP BY metric) l ON r.metric = l.metric AND r.measured_at = l.m
                   WHERE r.station = ? ORDER BY r.metric""",
                (station, station),
            )
            .fetchall()
        )
        return [self._reading(r) for r in rows]

    @staticmethod
    def _reading(r: Sequence[Any]) -> TelemetryReading:
        return TelemetryReading(UUID(hex=r[0]), r[1], r[2], r[3], r[4], _at(r[5]), _at(r[6]), r[7])

    def series(
        self, station: str, metric: str, start: datetime, end: datetime, step: timedelta | None
    ) -> list[SeriesPoint]:
        conn = self._conn()
        lo, hi = _us(start), _us(end)
        if step is None:
            rows = conn.execute(
                """SELECT measured_at, value FROM readings
                   WHERE station = ? AND metric = ? AND measured_at >= ? AND measured_at < ?
                   UNION SELECT measured_at, value FROM readings_kept
                   WHERE station = ? AND metric = ? AND measured_at >= ? AND measured_at < ?
                   ORDER BY 1 LIMIT ?""",
                (station, metric, lo, hi, station, metric, lo, hi, MAX_RAW_POINTS),
            ).fetchall()
            return _raw((_at(t), v) for t, v in rows)
        width = _us(start + step) - lo
        raw = conn.execute(
            """SELECT (measured_at - ?) / ?, min(value), max(value), total(value), count(value)
               FROM readings
               WHERE station = ? AND metric = ? AND measured_at >= ? AND measured_at < ?
               GROUP BY 1""",
            (lo, width, station, metric, lo, hi),
        ).fetchall()
        hours = conn.execute(
            """SELECT (hour - ?) / ?, min(min), max(max), sum(sum), sum(count)
               FROM readings_hourly
               WHERE station = ? AND metric = ? AND hour >= ? AND hour < ?
               GROUP BY 1""",
            (lo, width, station, metric, lo - lo % 3_600_000_000, hi),
        ).fetchall()
        return _points(_merge([*raw, *hours]), start, step)

    def keep(self, readings: Sequence[TelemetryReading]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT OR IGNORE INTO readings_kept VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [self._row(r) for r in readings],
            )

    def apply_retention(self, now: datetime, days: int) -> int:
        cutoff = _us(now - timedelta(days=days))
        cutoff -= cutoff % 3_600_000_000  # whole hours only are rolled up
        with self._tx() as c:
            c.execute(
                """INSERT INTO readings_hourly
                   SELECT station, metric, measured_at - measured_at % 3600000000,
                          min(value), max(value), total(value), count(value)
                   FROM readings WHERE measured_at < ? AND value IS NOT NULL
                   GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                   ON CONFLICT (station, metric, hour) DO UPDATE SET
                     min = min(readings_hourly.min, excluded.min),
                     max = max(readings_hourly.max, excluded.max),
                     sum = readings_hourly.sum + excluded.sum,
                     count = readings_hourly.count + excluded.count""",
                (cutoff,),
            )
            return c.execute("DELETE FROM readings WHERE measured_at < ?", (cutoff,)).rowcount

    def reject(self, letters: Sequence[DeadLetter]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT INTO readings_rejected (door, topic, unit, payload, reason, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (d.door, d.topic, d.unit, d.payload, d.reason, _us(d.received_at))
                    for d in letters
                ],
            )

    def rejected(
        self, units: Sequence[str] | None, *, limit: int, before: int | None = None
    ) -> list[DeadLetter]:
        where = ["id < ?"]
        args: list[object] = [before if before is not None else 2**62]
        if units is not None:
            where.append(f"unit IN ({', '.join('?' * len(units)) or 'NULL'})")
            args.extend(units)
        rows = (
            self._conn()
            .execute(
                "SELECT id, door, topic, unit, payload, reason, received_at"
                f" FROM readings_rejected WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
            .fetchall()
        )
        return [DeadLetter(d, t, u, p, r, _at(at), i) for i, d, t, u, p, r, at in rows]

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM readings").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        if self._owned_dir:
            import shutil

            shutil.rmtree(self._owned_dir, ignore_errors=True)


# -- PostgreSQL ---------------------------------------------------------------------


def _partition(day: date) -> str:
    return f"readings_{day:%Y%m%d}"


_PG_SCHEMA = (
    # As on SQLite, the feeds' index, unique, is what skips a reading already there (a
    # reading's id derives from its station, metric and instant): one B-tree a row
    # fewer than a primary key on the id beside it (ADR 0099). A schema made before
    # keeps its primary key and its plain feeds' index; both skip the same rows.
    """CREATE TABLE IF NOT EXISTS readings (
        reading_id uuid NOT NULL, station text NOT NULL, metric text NOT NULL,
        value double precision, unit_of_measure text NOT NULL,
        measured_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
        source text NOT NULL) PARTITION BY RANGE (measured_at)""",
    "CREATE INDEX IF NOT EXISTS readings_by_time ON readings USING brin (measured_at)",
    """CREATE UNIQUE INDEX IF NOT EXISTS readings_by_feed
        ON readings (station, metric, measured_at)""",
    """CREATE TABLE IF NOT EXISTS readings_kept (
        reading_id uuid PRIMARY KEY, station text NOT NULL, metric text NOT NULL,
        value double precision, unit_of_measure text NOT NULL,
        measured_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
        source text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS readings_hourly (
        station text NOT NULL, metric text NOT NULL, hour timestamptz NOT NULL,
        min double precision, max double precision, sum double precision NOT NULL,
        count bigint NOT NULL, PRIMARY KEY (station, metric, hour))""",
    """CREATE TABLE IF NOT EXISTS reading_batches (
        unit text NOT NULL, batch text NOT NULL, receipt jsonb NOT NULL,
        PRIMARY KEY (unit, batch))""",
    """CREATE TABLE IF NOT EXISTS stations_enrolled (
        id text PRIMARY KEY, unit text NOT NULL, name text NOT NULL)""",
    # The messages a door could not take (ADR 0079).
    """CREATE TABLE IF NOT EXISTS readings_rejected (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, door text NOT NULL,
        topic text NOT NULL, unit text NOT NULL, payload text NOT NULL, reason text NOT NULL,
        received_at timestamptz NOT NULL)""",
)

_PG_INSERT = """INSERT INTO {table} SELECT * FROM unnest(
    %s::uuid[], %s::text[], %s::text[], %s::float8[], %s::text[],
    %s::timestamptz[], %s::timestamptz[], %s::text[]) ON CONFLICT DO NOTHING"""


#: A batch's readings are staged in a temporary table of the session, emptied by each
#: commit, and moved from there in one statement (ADR 0091).
_PG_INCOMING = """CREATE TEMPORARY TABLE IF NOT EXISTS readings_incoming (
    reading_id uuid NOT NULL, station text NOT NULL, metric text NOT NULL,
    value double precision, unit_of_measure text NOT NULL,
    measured_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
    source text NOT NULL) ON COMMIT DELETE ROWS"""
_PG_COPY_INCOMING = "COPY pg_temp.readings_incoming FROM STDIN"
_PG_FROM_INCOMING = (
    "INSERT INTO readings SELECT * FROM pg_temp.readings_incoming ON CONFLICT DO NOTHING"
)


def _with_incoming(conn: Any) -> None:
    """Each pooled connection's staging table, made once as the pool opens it."""
    conn.execute(_PG_INCOMING)
    conn.commit()


class PostgresReadings:
    """Readings in the events' PostgreSQL database and schema, through a small pool."""

    def __init__(self, conninfo: Mapping[str, Any], *, schema: str = "public") -> None:
        from psycopg_pool import ConnectionPool

        self.schema = schema
        self.pool = ConnectionPool(
            kwargs={**conninfo, "options": f"-c search_path={schema}"},
            # None held while idle: an intake that is never closed (tests) holds nothing.
            min_size=0,
            max_size=4,
            max_idle=10,
            name=f"closedloop-readings-{schema}",
            configure=_with_incoming,
            open=True,
        )
        self._days: set[date] = set()
        with self.pool.connection() as conn:
            # One process creates the tables at a time (several servers start at once).
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('closedloop-readings'))")
            for statement in _PG_SCHEMA:
                conn.execute(statement)
        today = datetime.now(UTC).date()
        self._ensure_days([today + timedelta(days=d) for d in range(-1, DAYS_AHEAD + 1)])

    def _ensure_days(self, days: Iterable[date]) -> None:
        missing = sorted(set(days) - self._days)
        if not missing:
            return
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('closedloop-readings'))")
            for day in missing:
                nxt = day + timedelta(days=1)
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {_partition(day)} PARTITION OF readings "
                    f"FOR VALUES FROM ('{day.isoformat()}T00:00:00Z') "
                    f"TO ('{nxt.isoformat()}T00:00:00Z')"
                )
        self._days.update(missing)

    def partitions(self) -> list[str]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                """SELECT c.relname FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhrelid
                   JOIN pg_class p ON p.oid = i.inhparent
                   JOIN pg_namespace n ON n.oid = p.relnamespace
                   WHERE p.relname = 'readings' AND n.nspname = %s ORDER BY 1""",
                (self.schema,),
            ).fetchall()
        return [r[0] for r in rows]

    @staticmethod
    def _arrays(readings: Sequence[TelemetryReading]) -> list[list[Any]]:
        return [
            [r.reading_id for r in readings],
            [r.station for r in readings],
            [r.metric for r in readings],
            [r.value for r in readings],
            [r.unit_of_measure for r in readings],
            [r.measured_at for r in readings],
            [r.received_at for r in readings],
            [r.source for r in readings],
        ]

    def append(
        self,
        readings: Sequence[TelemetryReading],
        *,
        receipt: tuple[str, str, Mapping[str, Any]] | None = None,
        cited: Sequence[TelemetryReading] = (),
    ) -> None:
        # A batch's readings share a few instants: each one's day is worked out once.
        instants = {r.measured_at for r in readings}
        self._ensure_days({at.astimezone(UTC).date() for at in instants})
        with self.pool.connection() as conn, conn.transaction():
            if readings:
                # COPY into the session's staging table, then one INSERT … SELECT that
                # skips what is there: psycopg writes COPY rows in C, where the arrays of
                # an unnest were quoted element by element in Python (ADR 0091).
                with conn.cursor() as cur:
                    with cur.copy(_PG_COPY_INCOMING) as copy:
                        for r in readings:
                            copy.write_row(
                                (
                                    r.reading_id,
                                    r.station,
                                    r.metric,
                                    r.value,
                                    r.unit_of_measure,
                                    r.measured_at,
                                    r.received_at,
                                    r.source,
                                )
                            )
                    cur.execute(_PG_FROM_INCOMING)
            if cited:
                conn.execute(_PG_INSERT.format(table="readings_kept"), self._arrays(cited))
            if receipt is not None:
                conn.execute(
                    "INSERT INTO reading_batches VALUES (%s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                    (receipt[0], receipt[1], _receipt_text(receipt[2])),
                )

    def receipt(self, unit: str, batch: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT receipt FROM reading_batches WHERE unit = %s AND batch = %s",
                (unit, batch),
            ).fetchone()
        return None if row is None else dict(row[0])

    def enrol(self, stations: Iterable[Station]) -> None:
        rows = [(s.id, s.unit, s.name) for s in stations]
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stations_enrolled VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", rows
            )

    def enrolled(self) -> list[Station]:
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, unit, name FROM stations_enrolled").fetchall()
        return [Station(i, u, n, enrolled=True) for i, u, n in rows]

    def last_measured(self, station: str, metric: str) -> datetime | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT max(measured_at) FROM readings WHERE station = %s AND metric = %s",
                (station, metric),
            ).fetchone()
        return None if row is None or row[0] is None else row[0]

    def latest(self, station: str) -> list[TelemetryReading]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                """SELECT DISTINCT ON (metric) * FROM readings WHERE station = %s
                   ORDER BY metric, measured_at DESC""",
                (station,),
            ).fetchall()
        return [TelemetryReading(*r) for r in rows]

    def series(
        self, station: str, metric: str, start: datetime, end: datetime, step: timedelta | None
    ) -> list[SeriesPoint]:
        with self.pool.connection() as conn:
            if step is None:
                rows = conn.execute(
                    """SELECT measured_at, value FROM readings
                       WHERE station = %s AND metric = %s
                         AND measured_at >= %s AND measured_at < %s
                       UNION SELECT measured_at, value FROM readings_kept
                       WHERE station = %s AND metric = %s
                         AND measured_at >= %s AND measured_at < %s
                       ORDER BY 1 LIMIT %s""",
                    (station, metric, start, end, station, metric, start, end, MAX_RAW_POINTS),
                ).fetchall()
                return _raw(rows)
            seconds = step.total_seconds()
            raw = conn.execute(
                """SELECT floor(extract(epoch FROM measured_at - %s) / %s)::bigint,
                          min(value), max(value), coalesce(sum(value), 0), count(value)
                   FROM readings WHERE station = %s AND metric = %s
                     AND measured_at >= %s AND measured_at < %s GROUP BY 1""",
                (start, seconds, station, metric, start, end),
            ).fetchall()
            hours = conn.execute(
                """SELECT floor(greatest(extract(epoch FROM hour - %s), 0) / %s)::bigint,
                          min(min), max(max), sum(sum)::float8, sum(count)::bigint
                   FROM readings_hourly WHERE station = %s AND metric = %s
                     AND hour >= date_trunc('hour', %s::timestamptz) AND hour < %s
                   GROUP BY 1""",
                (start, seconds, station, metric, start, end),
            ).fetchall()
        return _points(_merge([*raw, *hours]), start, step)

    def keep(self, readings: Sequence[TelemetryReading]) -> None:
        with self.pool.connection() as conn:
            conn.execute(_PG_INSERT.format(table="readings_kept"), self._arrays(readings))

    def apply_retention(self, now: datetime, days: int) -> int:
        """Roll up, then drop, each day's partition wholly older than ``days``."""
        cutoff = (now - timedelta(days=days)).astimezone(UTC).date()
        dropped = 0
        for name in self.partitions():
            day = datetime.strptime(name.removeprefix("readings_"), "%Y%m%d").date()
            if day >= cutoff:
                continue
            with self.pool.connection() as conn, conn.transaction():
                # Several servers may each run retention: one at a time, and a partition
                # another has dropped meanwhile is passed over.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('closedloop-readings'))")
                found = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
                if found is None or found[0] is None:
                    continue
                conn.execute(
                    f"""INSERT INTO readings_hourly
                        SELECT station, metric, date_trunc('hour', measured_at),
                               min(value), max(value), sum(value), count(value)
                        FROM {name} WHERE value IS NOT NULL GROUP BY 1, 2, 3
                        ON CONFLICT (station, metric, hour) DO UPDATE SET
                          min = least(readings_hourly.min, excluded.min),
                          max = greatest(readings_hourly.max, excluded.max),
                          sum = readings_hourly.sum + excluded.sum,
                          count = readings_hourly.count + excluded.count"""
                )
                row = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
                dropped += int(row[0]) if row else 0
                conn.execute(f"DROP TABLE {name}")
            self._days.discard(day)
        return dropped

    def reject(self, letters: Sequence[DeadLetter]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO readings_rejected (door, topic, unit, payload, reason, received_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(d.door, d.topic, d.unit, d.payload, d.reason, d.received_at) for d in letters],
            )

    def rejected(
        self, units: Sequence[str] | None, *, limit: int, before: int | None = None
    ) -> list[DeadLetter]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                """SELECT id, door, topic, unit, payload, reason, received_at
                   FROM readings_rejected
                   WHERE id < %s AND (%s::text[] IS NULL OR unit = ANY(%s::text[]))
                   ORDER BY id DESC LIMIT %s""",
                (before if before is not None else 2**62, units, units, limit),
            ).fetchall()
        return [DeadLetter(d, t, u, p, r, at, i) for i, d, t, u, p, r, at in rows]

    def count(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.pool.close()

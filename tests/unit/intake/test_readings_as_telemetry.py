"""Readings as telemetry (ADR 0073): only decisions go on the log, each with its
evidence; a quiet condition's normal reading reads no store; a late reading changes no
condition backwards; bad readings are refused one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.intake import Intake
from domain.meta import now
from domain.readings import Station, StationCatalogue
from tests.unit.intake.conftest import monitor, reading

T0 = datetime.fromisoformat("2026-03-02T10:00:00+08:00")


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_only_decisions_go_on_the_log_and_each_cites_its_readings(intake: Intake) -> None:
    intake.observe(monitor("w"), "w", [reading("water_level", 50.0, at(0))])
    head = intake.center.head_position()
    normal = [reading("water_level", 50.0 + i / 100, at(i)) for i in range(1, 50)]
    intake.observe(monitor("b1"), "b1", normal)
    assert intake.center.head_position() == head  # 49 normal readings: nothing on the log

    [raised] = intake.observe(monitor("b2"), "b2", [reading("water_level", 53.2, at(60))]).results
    w = intake.center.warning(raised["warning_id"])
    [evidence] = w.attributes["evidence"]
    assert evidence["value"] == 53.2
    assert (
        intake.readings.series(
            "qingshan-reservoir", "water_level", T0, T0 + timedelta(hours=2), None
        )[-1].mean
        == 53.2
    )

    # Past retention, the raw readings go; the one the raise cites stays.
    intake.readings.apply_retention(T0 + timedelta(days=400), days=30)
    [kept] = intake.readings.series(
        "qingshan-reservoir", "water_level", T0, T0 + timedelta(hours=2), None
    )
    assert kept.mean == 53.2


def test_a_normal_reading_of_a_quiet_condition_reads_no_store(intake: Intake) -> None:
    intake.observe(monitor("w"), "w", [reading("water_level", 50.0, at(0))])
    calls: list[str] = []
    store = intake.readings

    class Counting:
        def __getattr__(self, name: str) -> Any:
            if name not in ("append", "receipt"):
                calls.append(name)
            return getattr(store, name)

    intake.readings = Counting()  # type: ignore[assignment]
    found = intake.center.unit_of_work.find

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("log")
        return found(*args, **kwargs)

    intake.center.unit_of_work.find = counted  # type: ignore[method-assign]
    intake.observe(monitor("b1"), "b1", [reading("water_level", 50.1, at(1))])

    # One look for the batch id on the log (batches recorded before ADR 0073); none per
    # reading.
    assert calls == ["log"]


def test_bad_readings_are_refused_one_by_one_and_the_good_kept(intake: Intake) -> None:
    intake.stations = StationCatalogue(
        (
            Station(
                "qingshan-reservoir",
                "E-QSRES",
                feeds=intake.stations.by_id()["qingshan-reservoir"].feeds,
            ),
        ),
        enrol_unknown=False,
    )
    future = (now() + timedelta(hours=1)).isoformat()
    result = intake.observe(
        monitor("b1"),
        "b1",
        [
            reading("water_level", 50.0, at(0)),
            reading("water_level", 50.0, at(1), subject="nowhere"),
            reading("wind_speed", 3.0, at(2)),
            reading("water_level", "high", at(3)),  # type: ignore[arg-type]
            reading("water_level", float("inf"), at(4)),
            reading("water_level", 50.0, future),
        ],
    )

    assert [(r["index"], r["reason"]) for r in result.refused] == [
        (1, "unknown station"),
        (2, "station qingshan-reservoir has no feed wind_speed"),
        (3, "the value is not a number"),
        (4, "the value is not a finite number"),
        (5, "the measured time lies more than 300 s in the future"),
    ]
    assert [r["index"] for r in result.results] == [0]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.floats(min_value=40, max_value=60), min_size=2, max_size=12),
    late=st.lists(st.floats(min_value=40, max_value=60), min_size=1, max_size=6),
)
def test_late_readings_are_kept_and_change_no_condition_backwards(
    intake: Intake, values: list[float], late: list[float]
) -> None:
    # A fresh subject per example: the fixture's intake is shared by the examples.
    subject = f"gauge-{abs(hash((tuple(values), tuple(late))))}"
    on_time = [
        reading("water_level", v, at(10 * i), subject=subject, flood_limit=50.0)
        for i, v in enumerate(values)
    ]
    intake.observe(monitor(f"{subject}-a"), f"{subject}-a"[:64], on_time)
    head = intake.center.head_position()

    old = [
        reading("water_level", v, at(-10 * (i + 1)), subject=subject, flood_limit=50.0)
        for i, v in enumerate(late)
    ]
    results = intake.observe(monitor(f"{subject}-b"), f"{subject}-b"[:64], old).results

    assert {r["action"] for r in results} == {"stale"}
    assert intake.center.head_position() == head
    kept = intake.readings.series(
        subject, "water_level", T0 - timedelta(hours=2), T0 + timedelta(hours=3), None
    )
    assert len(kept) == len(values) + len(late)


@given(
    station=st.text(min_size=1, max_size=40),
    metric=st.text(min_size=1, max_size=40),
    at=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]
        ),
    ),
)
def test_a_readings_id_made_by_hand_is_the_name_based_uuid_it_always_was(
    station: str, metric: str, at: datetime
) -> None:
    # ADR 0091 builds the id without uuid.UUID's checks, and with the instant's text made
    # once a batch: the same name gives the same version 5 id as before, in any zone.
    import hashlib
    import uuid

    from domain.readings import _READING_NS, reading_id

    instant = at.astimezone(UTC).isoformat()
    name = _READING_NS + f"{station}|{metric}|{instant}".encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    expected = uuid.UUID(bytes=bytes(digest))
    made = reading_id(station, metric, at)
    assert made == expected
    assert (str(made), made.hex, made.version, hash(made)) == (
        str(expected),
        expected.hex,
        5,
        hash(expected),
    )
    assert reading_id(station, metric, at.astimezone(UTC), instant) == expected


def test_a_feed_once_checked_is_checked_again_when_the_catalogue_is_reloaded(
    intake: Intake,
) -> None:
    # The intake remembers the feeds that passed their checks (ADR 0091); an enrolled
    # station's unit of measure is the rules', so a reloaded catalogue checks it again.
    from dataclasses import replace

    from domain.rules import Catalogue

    def sent(batch: str, at: str, unit_of_measure: str) -> Any:
        r = replace(
            reading("water_level", 10.0, at, subject="new-gauge"),
            unit_of_measure=unit_of_measure,
        )
        return intake.observe(monitor(batch), batch, [r])

    assert sent("f1", "2026-03-02T10:00:00+08:00", "m").refused == []
    rules = tuple(
        replace(r, unit_of_measure="cm") if r.metric == "water_level" else r
        for r in intake.catalogue.rules
    )
    intake.reload(catalogue=Catalogue(rules, intake.catalogue.zone))
    [refusal] = sent("f2", "2026-03-02T10:10:00+08:00", "m").refused
    assert refusal["field"] == "readings[0].unit_of_measure"
    assert sent("f3", "2026-03-02T10:20:00+08:00", "cm").refused == []


def test_a_reading_built_in_haste_is_the_one_its_constructor_builds() -> None:
    # ADR 0099: the doors build a thousand readings a batch with ``of``, which fills the
    # frozen dataclass's fields itself; it must set every field and make an equal value.
    import dataclasses

    import pytest

    from domain.readings import TelemetryReading, reading_id
    from domain.rules import Reading

    when = T0
    row = (reading_id("s1", "m", when), "s1", "m", 1.5, "m3/s", when, when, "bench")
    built, hasty = TelemetryReading(*row), TelemetryReading.of(*row)
    r = ("bench", "s1", "m", 1.5, "m3/s", "here", "HW", when, {"k": 1})
    assert (Reading(*r), hash(built), repr(built)) == (Reading.of(*r), hash(hasty), repr(hasty))
    assert built == hasty
    for made in (hasty, Reading.of(*r)):
        names = {f.name for f in dataclasses.fields(made)}
        assert set(vars(made)) == names
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.source = "other"  # type: ignore[misc]

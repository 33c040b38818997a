"""Heartbeats (ADR 0085): a feed quiet for longer than its grace raises a "feed silent"
warning to the station's unit once, citing its last reading, and it is resolved once
readings return; a restarted watch does neither twice; a silence keeps it quiet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from closedloop.catalogues import load_stations
from closedloop.intake_config import build_intake
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.heartbeat import HeartbeatWatch, is_silent
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.readings import Feed
from domain.rules import CatalogueError
from domain.silence_commands import FEED_SILENT_RULE
from domain.warning import WarningStatus
from tests.unit.builders import frozen_clock_center
from tests.unit.intake.conftest import monitor, reading

T0 = "2026-03-02 02:00:00"
STATION = "qingshan-reservoir"


@pytest.fixture
def intake(calendar: WorkingCalendar) -> Iterator[Intake]:
    center = frozen_clock_center(calendar)
    load_demo(center)
    try:
        yield build_intake(center)
    finally:
        center.close()


@pytest.fixture
def clock() -> Iterator[Any]:
    with freeze_time(T0) as frozen:
        yield frozen


def raised(intake: Intake) -> list[Any]:
    return [
        intake.center.warning(n.originator_id)
        for n in intake.center.iter_log(1)
        if n.topic.endswith("EarlyWarning.Raised")
    ]


def test_the_shipped_catalogue_watches_the_dam_gauges_water_level(intake: Intake) -> None:
    feed = intake.stations.by_id()[STATION].feed("water_level")
    assert feed is not None
    assert feed.interval == timedelta(minutes=10)
    assert feed.grace == timedelta(minutes=30)


def test_a_silent_feed_raises_once_to_the_stations_unit_with_its_last_reading(
    intake: Intake, clock: Any
) -> None:
    intake.observe(monitor("b1"), "b1", [reading("water_level", 50.0, now().isoformat())])
    watch = HeartbeatWatch(intake)
    assert watch.tick() == []
    clock.tick(timedelta(minutes=31))
    [act] = watch.tick()
    assert act["act"] == "raised"
    [w] = raised(intake)
    assert w.rule == FEED_SILENT_RULE
    assert w.unit == "E-QSRES"
    assert w.level == 4
    [evidence] = w.attributes["evidence"]
    assert evidence["value"] == 50.0
    assert evidence["measured_at"].startswith("2026-03-02T02:00")
    # Again, and from a restarted watch: nothing more.
    head = intake.center.head_position()
    clock.tick(timedelta(minutes=5))
    assert watch.tick() == []
    assert HeartbeatWatch(intake).tick() == []
    assert intake.center.head_position() == head


def test_readings_returning_resolve_the_silence_once(intake: Intake, clock: Any) -> None:
    intake.observe(monitor("b1"), "b1", [reading("water_level", 50.0, now().isoformat())])
    watch = HeartbeatWatch(intake)
    clock.tick(timedelta(minutes=40))
    watch.tick()
    [w] = raised(intake)
    intake.observe(monitor("b2"), "b2", [reading("water_level", 50.1, now().isoformat())])
    [act] = HeartbeatWatch(intake).tick()  # restarted meanwhile
    assert act == {
        "station": STATION,
        "metric": "water_level",
        "act": "resolved",
        "warning_id": str(w.id),
    }
    w = intake.center.warning(w.id)
    assert w.status == WarningStatus.RESOLVED
    assert "readings returned" in intake.center.history(w.id)[-1].note
    assert watch.tick() == []
    # Silent again later: a new warning, from the new last reading.
    clock.tick(timedelta(hours=1))
    [again] = watch.tick()
    assert again["act"] == "raised"
    assert UUID(again["warning_id"]) != w.id


def test_a_feed_that_never_reported_is_silent_a_grace_after_the_watch_started(
    intake: Intake, clock: Any
) -> None:
    watch = HeartbeatWatch(intake)
    clock.tick(timedelta(minutes=29))
    assert watch.tick() == []
    clock.tick(timedelta(minutes=2))
    [act] = watch.tick()
    assert act["act"] == "raised"
    assert raised(intake)[0].attributes["evidence"] == []


def test_a_silenced_station_raises_no_feed_silent(intake: Intake, clock: Any) -> None:
    intake.silences.set_silence(
        Context(Actor(person="duty", unit="HW-WATER", role="duty_officer")),
        kind="rule",
        target=FEED_SILENT_RULE,
        metric=None,
        starts_at=now(),
        ends_at=now() + timedelta(hours=3),
        category="maintenance",
        reason="the gauge is off for repairs",
    )
    watch = HeartbeatWatch(intake)
    clock.tick(timedelta(hours=1))
    assert [a["act"] for a in watch.tick()] == ["silenced"]
    assert raised(intake) == []


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("interval_seconds = { nope = 60 }", "not its feed"),
        ("interval_seconds = { water_level = 0 }", "1 s to 366 days"),
        (
            "interval_seconds = { water_level = 600 }\ngrace_seconds = { water_level = 60 }",
            "shorter",
        ),
        ("grace_seconds = { water_level = 600 }", "without its interval"),
    ],
)
def test_a_bad_heartbeat_in_the_catalogue_stops_start_up(
    tmp_path: Path, extra: str, words: str
) -> None:
    path = tmp_path / "stations.toml"
    path.write_text(
        f'[[stations]]\nid = "s"\nunit = "HW"\nfeeds = {{ water_level = "m" }}\n{extra}\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match=words):
        load_stations(path)


@given(
    grace=st.integers(1, 10_000),
    quiet=st.integers(0, 20_000),
)
def test_a_feed_is_silent_exactly_when_quiet_for_longer_than_its_grace(
    grace: int, quiet: int
) -> None:
    feed = Feed("m", interval=timedelta(seconds=1), grace=timedelta(seconds=grace))
    start = now()
    silent, how_long = is_silent(feed, start, start, start + timedelta(seconds=quiet))
    assert silent == (quiet > grace)
    assert how_long == timedelta(seconds=quiet)

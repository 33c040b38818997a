"""Grouping (ADR 0087): the gauges of one reservoir breaching within the window fold
into one warning whose members are listed and counted; a member's joining and
resolving are events on it; the last member normal resolves it; after the window a
breach raises on its own; a restarted intake finds the group again; a bad grouping
setting stops start-up with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from closedloop.catalogues import catalogue_from_mapping, load_catalogue, load_stations
from closedloop.intake_config import build_intake
from closedloop.settings import DEFAULT_CATALOGUE
from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.intake import Intake, check_grouping
from domain.meta import now
from domain.rules import CatalogueError
from domain.warning import EarlyWarning, WarningStatus
from tests.unit.builders import event_names, frozen_clock_center
from tests.unit.intake.conftest import monitor, reading

T0 = "2026-03-02 02:00:00"
DAM, SPILLWAY = "qingshan-reservoir", "qingshan-reservoir-spillway"


@pytest.fixture
def intake(calendar: WorkingCalendar) -> Iterator[Intake]:
    center = frozen_clock_center(calendar)
    load_demo(center)
    try:
        yield build_intake(center)
    finally:
        center.close()


def at(minutes: float) -> str:
    return (now() + timedelta(minutes=minutes)).isoformat()


def level(intake: Intake, n: int, subject: str, value: float, when: str) -> dict[str, Any]:
    [result] = intake.observe(
        monitor(f"b{n}"), f"b{n}", [reading("water_level", value, when, subject=subject)]
    ).results
    return result


def raised(center: CommandCenter) -> list[EarlyWarning]:
    return [
        center.warning(n.originator_id)
        for n in center.iter_log(1)
        if n.topic.endswith("EarlyWarning.Raised")
    ]


@freeze_time(T0)
def test_two_gauges_of_one_reservoir_fold_into_one_warning_with_both_members(
    intake: Intake,
) -> None:
    first = level(intake, 1, DAM, 52.8, at(-10))
    assert first["action"] == "raised"
    second = level(intake, 2, SPILLWAY, 53.2, at(-5))
    assert second["action"] == "joined"
    assert second["warning_id"] == first["warning_id"]
    [w] = raised(intake.center)
    assert w.is_group
    assert sorted(w.group_members) == [DAM, SPILLWAY]
    assert w.level == 3  # the spillway's 0.7 m beyond is level III; the group takes the worst
    assert w.attributes["group"]["labels"] == {"reservoir": "qingshan"}
    assert "reservoir qingshan" in w.title
    names = event_names(intake.center, w.id)
    assert names.count("MemberJoined") == 1
    group = intake.group_of(w)
    assert group is not None
    assert group["count"] == 2
    # The member joined as the system, the intake's rule named as the cause.
    joined = next(e for e in intake.center.history(w.id) if type(e).__name__ == "MemberJoined")
    assert joined.meta.role == "system"
    assert joined.evidence["station"] == SPILLWAY


@freeze_time(T0)
def test_a_member_normal_again_is_an_event_and_the_last_resolves_the_warning(
    intake: Intake,
) -> None:
    wid = level(intake, 1, DAM, 52.8, at(-60))["warning_id"]
    level(intake, 2, SPILLWAY, 53.2, at(-59))
    # The spillway eases first: three normal readings settle it (settle_readings = 3).
    results = [level(intake, 10 + i, SPILLWAY, 52.0, at(-50 + i)) for i in range(3)]
    assert results[-1]["action"] == "member_resolved"
    w = intake.center.warning(wid)
    assert w.is_open
    assert w.active_members == [DAM]
    assert w.level == 4  # the group follows its worst active member
    results = [level(intake, 20 + i, DAM, 52.0, at(-40 + i)) for i in range(3)]
    assert results[-1]["action"] == "resolved"
    w = intake.center.warning(wid)
    assert w.status == WarningStatus.RESOLVED
    assert event_names(intake.center, wid).count("MemberResolved") == 2


@freeze_time(T0)
def test_after_the_window_a_breach_raises_on_its_own(intake: Intake) -> None:
    first = level(intake, 1, DAM, 52.8, at(-120))
    late = level(intake, 2, SPILLWAY, 53.0, at(-59))  # 61 minutes later
    assert late["action"] == "raised"
    assert late["warning_id"] != first["warning_id"]
    lone = intake.center.warning(late["warning_id"])
    assert not lone.is_group


@freeze_time(T0)
def test_a_breach_again_of_a_member_is_a_repeat_not_a_second_member(intake: Intake) -> None:
    wid = level(intake, 1, DAM, 52.8, at(-10))["warning_id"]
    level(intake, 2, SPILLWAY, 52.8, at(-9))
    again = level(intake, 3, SPILLWAY, 52.9, at(-8))
    assert again["action"] == "repeated"
    assert len(intake.center.warning(wid).group_members) == 2


@freeze_time(T0)
def test_the_same_reading_sent_again_joins_once(intake: Intake) -> None:
    wid = level(intake, 1, DAM, 52.8, at(-10))["warning_id"]
    when = at(-9)
    level(intake, 2, SPILLWAY, 52.8, when)
    # Another batch with the same reading: its commands' ids derive from the reading.
    fresh = build_intake(intake.center)
    level(fresh, 3, SPILLWAY, 52.8, when)
    assert event_names(intake.center, wid).count("MemberJoined") == 1


@freeze_time(T0)
def test_a_restarted_intake_finds_the_group_of_its_members(intake: Intake) -> None:
    wid = level(intake, 1, DAM, 52.8, at(-60))["warning_id"]
    level(intake, 2, SPILLWAY, 53.0, at(-59))
    restarted = build_intake(intake.center)  # a new process: nothing in memory
    # The spillway is normal again: the restarted intake resolves the member, not a
    # warning it does not know of, nor does it raise another.
    results = [level(restarted, 10 + i, SPILLWAY, 52.0, at(-50 + i)) for i in range(3)]
    assert results[-1]["action"] == "member_resolved"
    assert restarted.center.warning(wid).active_members == [DAM]
    worse = level(restarted, 20, DAM, 54.0, at(-40))
    assert worse["action"] == "escalated"
    assert worse["warning_id"] == wid
    assert len(raised(intake.center)) == 1


@freeze_time(T0)
def test_a_new_breach_after_the_group_closed_opens_a_new_group(intake: Intake) -> None:
    wid = level(intake, 1, DAM, 52.8, at(-60))["warning_id"]
    for i in range(3):
        level(intake, 10 + i, DAM, 52.0, at(-50 + i))
    assert intake.center.warning(wid).status == WarningStatus.RESOLVED
    again = level(intake, 20, SPILLWAY, 52.8, at(-30))
    assert again["action"] == "raised"
    assert again["warning_id"] != wid
    assert intake.center.warning(again["warning_id"]).group_members.keys() == {SPILLWAY}


def test_a_station_without_the_label_is_raised_alone(intake: Intake) -> None:
    with freeze_time(T0):
        result = level(intake, 1, "other-dam", 99.0, at(-10))
    # No limit is known for it: unjudged; a rule that groups by a missing label raises
    # alone (checked on the pure rule in tests/property/test_grouping_rules.py).
    assert result["action"] == "unjudged"


# -- bad settings stop start-up ---------------------------------------------------------


def _catalogue(**extra: Any) -> dict[str, Any]:
    rule = {
        "code": "x.level",
        "kind": "threshold",
        "theme": "other",
        "title": "X",
        "metric": "x",
        "levels": {"IV": 1},
        "settle_readings": 1,
    }
    return {"rules": [{**rule, **extra}]}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"group_by": ["reservoir"]}, "group_by needs group_window_minutes"),
        ({"group_window_minutes": 30}, "group_window_minutes needs group_by"),
        ({"group_by": ["reservoir"], "group_window_minutes": 0}, "1 to 1440"),
        ({"group_by": ["reservoir"], "group_window_minutes": 2000}, "1 to 1440"),
        ({"group_by": ["Reservoir!"], "group_window_minutes": 30}, "not a label name"),
        ({"group_by": ["road", "road"], "group_window_minutes": 30}, "twice"),
        ({"group_by": ["station"], "group_window_minutes": 30}, "folds nothing"),
        ({"group_by": "road", "group_window_minutes": 30}, "group_by"),
    ],
)
def test_a_bad_grouping_setting_is_refused_by_name(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(CatalogueError) as e:
        catalogue_from_mapping(_catalogue(**extra))
    assert "x.level" in str(e.value)
    assert words in str(e.value)


def test_a_label_no_station_has_stops_start_up() -> None:
    catalogue = catalogue_from_mapping(_catalogue(group_by=["raod"], group_window_minutes=30))
    stations = load_stations(Path("closedloop/stations.toml"))
    with pytest.raises(CatalogueError, match="raod"):
        check_grouping(catalogue, stations)


def test_the_shipped_catalogue_groups_the_reservoir_by_its_gauges() -> None:
    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    rule = catalogue.rule("reservoir.flood_limit")
    assert rule is not None
    assert rule.group_by == ("reservoir",)
    assert rule.group_window == timedelta(minutes=60)
    stations = load_stations(Path("closedloop/stations.toml"))
    check_grouping(catalogue, stations)


@pytest.mark.parametrize(
    "labels",
    [{"unit": "X"}, {"Bad": "x"}, {"road": ""}],
)
def test_a_bad_station_label_stops_start_up(tmp_path: Path, labels: dict[str, str]) -> None:
    pairs = ", ".join(f'"{k}" = "{v}"' for k, v in labels.items())
    path = tmp_path / "stations.toml"
    path.write_text(f'[[stations]]\nid = "s"\nunit = "HW"\nlabels = {{ {pairs} }}\n')
    with pytest.raises(CatalogueError, match="label"):
        load_stations(path)

"""Inhibition (ADR 0087): a district's red rainstorm warning inhibits the yellow and
blue rainstorm warnings of the communities under it, and a silent feed the threshold
warnings of that feed. The inhibited ones are raised, recorded as inhibited (an event
naming the inhibitor), run no playbook, are never lost, and come back with their
playbooks when the inhibitor ends first; the watch that releases them does each act
once across restarts; a bad [[inhibit]] entry stops start-up with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from freezegun import freeze_time

from closedloop.catalogues import catalogue_from_mapping, load_catalogue
from closedloop.intake_config import build_intake
from closedloop.settings import DEFAULT_CATALOGUE
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.heartbeat import HeartbeatWatch
from domain.inhibition import InhibitRule
from domain.inhibition_watch import InhibitionWatch
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.rules import CatalogueError
from domain.warning import WarningStatus
from tests.unit.builders import event_names, frozen_clock_center
from tests.unit.intake.conftest import monitor, reading

T0 = "2026-03-02 02:00:00"
MET = Actor(person="met-office", unit="HW", role="monitor")
DISTRICT, COMMUNITY, ELSEWHERE = "HW-DH", "HW-DH-QS", "HW-XL-SQ"


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


def rainstorm(intake: Intake, name: str, unit: str, level: int) -> UUID:
    outcome = intake.center.raise_warning(
        Context(MET, command_id=f"cap:{name}"),
        source="met@haiwan.gov.cn",
        rule="cap:暴雨",
        theme="meteorological",
        level=level,
        title=f"暴雨预警 {name}",
        unit=unit,
        dedup_key=f"cap:{name}",
    )
    return outcome.id


def playbooks(intake: Intake, wid: UUID) -> list[dict[str, Any]]:
    return intake.run_playbooks(wid, "raise")


def issued(intake: Intake, wid: UUID) -> int:
    return len(intake.center.warning(wid).instructions)


def test_a_districts_red_inhibits_a_communitys_yellow_raised_under_it(
    intake: Intake, clock: Any
) -> None:
    red = rainstorm(intake, "red", DISTRICT, 1)
    yellow = rainstorm(intake, "yellow", COMMUNITY, 3)
    w = intake.center.warning(yellow)
    assert w.inhibited_by == red
    assert w.inhibition == "rainstorm-red-over-lesser"
    assert w.status == WarningStatus.RAISED  # kept, not lost
    assert "Inhibited" in event_names(intake.center, yellow)
    assert playbooks(intake, yellow) == []
    assert issued(intake, yellow) == 0
    assert playbooks(intake, red) != []  # the red one runs its playbooks


def test_a_warning_elsewhere_or_of_another_level_is_not_inhibited(
    intake: Intake, clock: Any
) -> None:
    rainstorm(intake, "red", DISTRICT, 1)
    assert intake.center.warning(rainstorm(intake, "y2", ELSEWHERE, 3)).inhibited_by is None
    assert intake.center.warning(rainstorm(intake, "o", COMMUNITY, 2)).inhibited_by is None
    # A yellow of the district above does not lie within the community's red.
    rainstorm(intake, "red-qs", COMMUNITY, 1)
    assert intake.center.warning(rainstorm(intake, "y-hw", "HW", 3)).inhibited_by is None


def test_a_red_raised_after_the_yellow_inhibits_it_too(intake: Intake, clock: Any) -> None:
    yellow = rainstorm(intake, "yellow", COMMUNITY, 4)
    assert intake.center.warning(yellow).inhibited_by is None
    red = rainstorm(intake, "red", DISTRICT, 1)
    assert intake.center.warning(yellow).inhibited_by == red


def test_the_inhibitor_ending_first_brings_the_warning_back_with_its_playbooks(
    intake: Intake, clock: Any
) -> None:
    red = rainstorm(intake, "red", DISTRICT, 1)
    yellow = rainstorm(intake, "yellow", COMMUNITY, 3)
    watch = InhibitionWatch(intake)
    assert watch.tick() == []  # the red one still stands
    intake.center.cancel_warning(Context(MET, command_id="cancel-red"), red, "withdrawn")
    [act] = watch.tick()
    assert act["act"] == "released"
    assert act["instructions"] > 0
    w = intake.center.warning(yellow)
    assert w.inhibited_by is None
    assert w.is_open
    assert "Uninhibited" in event_names(intake.center, yellow)
    assert issued(intake, yellow) > 0
    # A restarted watch (or a second one) does nothing again.
    assert InhibitionWatch(intake).tick() == []
    assert event_names(intake.center, yellow).count("Uninhibited") == 1
    # The ended red one left the roster.
    roster = intake.center.inhibition_roster()
    assert roster is not None
    assert str(red) not in roster.entries


def test_an_inhibitor_falling_below_its_levels_releases(intake: Intake, clock: Any) -> None:
    red = rainstorm(intake, "red", DISTRICT, 1)
    yellow = rainstorm(intake, "yellow", COMMUNITY, 3)
    intake.center.change_warning_level(Context(MET, command_id="orange"), red, 2, "eased to orange")
    [act] = InhibitionWatch(intake).tick()
    assert act["act"] == "released"
    assert intake.center.warning(yellow).inhibited_by is None


def test_another_inhibitor_takes_over_when_the_first_ends(intake: Intake, clock: Any) -> None:
    first = rainstorm(intake, "red", DISTRICT, 1)
    yellow = rainstorm(intake, "yellow", COMMUNITY, 3)
    second = rainstorm(intake, "red-hw", "HW", 1)
    intake.center.cancel_warning(Context(MET, command_id="c1"), first, "withdrawn")
    [act] = InhibitionWatch(intake).tick()
    assert act == {"warning_id": str(yellow), "act": "inhibited", "by": str(second)}
    assert intake.center.warning(yellow).inhibited_by == second
    assert issued(intake, yellow) == 0


def test_an_inhibited_warning_that_ends_first_is_kept_and_leaves_the_roster(
    intake: Intake, clock: Any
) -> None:
    red = rainstorm(intake, "red", DISTRICT, 1)
    yellow = rainstorm(intake, "yellow", COMMUNITY, 3)
    intake.center.cancel_warning(Context(MET, command_id="c-y"), yellow, "over")
    watch = InhibitionWatch(intake)
    watch.tick()
    roster = intake.center.inhibition_roster()
    assert roster is not None
    assert str(yellow) not in roster.entries
    assert intake.center.warning(yellow).inhibited_by == red  # its record stands
    intake.center.cancel_warning(Context(MET, command_id="c-r"), red, "over")
    assert watch.tick() == []
    assert issued(intake, yellow) == 0


def test_the_playbook_follower_runs_a_released_warnings_playbooks(
    intake: Intake, clock: Any
) -> None:
    red = rainstorm(intake, "red", DISTRICT, 1)
    yellow = rainstorm(intake, "yellow", COMMUNITY, 3)
    intake.follow(1)
    assert issued(intake, yellow) == 0
    # Released, and the process stopped before its playbooks ran: the follower of the
    # log runs them from the Uninhibited event.
    intake.center.cancel_warning(Context(MET, command_id="c"), red, "withdrawn")
    intake.center.uninhibit_warning(Context(MET, command_id="u"), yellow, "its red ended")
    intake.follow(1)
    assert issued(intake, yellow) > 0


def test_a_silent_feed_inhibits_the_threshold_warnings_of_that_feed(
    intake: Intake, clock: Any
) -> None:
    station = "qingshan-reservoir"
    intake.observe(monitor("b1"), "b1", [reading("water_level", 50.0, now().isoformat())])
    clock.tick(timedelta(minutes=31))
    [act] = HeartbeatWatch(intake).tick()
    silent = UUID(act["warning_id"])
    # A late burst: the dam's level beyond its limit, measured while the feed was quiet.
    late = (now() - timedelta(minutes=1)).isoformat()
    [result] = intake.observe(
        monitor("b2"), "b2", [reading("water_level", 53.5, late, subject=station)]
    ).results
    assert result["action"] == "raised"
    w = intake.center.warning(UUID(result["warning_id"]))
    assert w.inhibited_by == silent
    assert w.inhibition == "silent-feed-over-its-thresholds"
    assert "instructions" not in result
    # Another station's feed is not inhibited by it.
    [other] = intake.observe(
        monitor("b3"),
        "b3",
        [
            reading(
                "water_level",
                53.5,
                late,
                subject="qingshan-rain-gauge",
                unit="HW-DH-QS",
                flood_limit=52.0,
            )
        ],
    ).results
    assert intake.center.warning(UUID(other["warning_id"])).inhibited_by is None


# -- bad settings stop start-up ---------------------------------------------------------

RULE = {
    "code": "x.level",
    "kind": "threshold",
    "theme": "other",
    "title": "X",
    "metric": "x",
    "levels": {"IV": 1},
    "settle_readings": 1,
}
GOOD = {
    "name": "n",
    "source_rules": ["x.level"],
    "target_rules": ["feed.silent"],
    "equal": ["station"],
}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({**GOOD, "source_rules": []}, "source_rules"),
        ({**GOOD, "target_rules": []}, "target_rules"),
        ({**GOOD, "source_rules": ["no.such"]}, "'no.such' is not in the catalogue"),
        ({**GOOD, "equal": []}, "needs equal"),
        ({**GOOD, "equal": ["area", "area"]}, "twice"),
        ({**GOOD, "source_levels": ["V"]}, "source_levels"),
        ({**GOOD, "name": " "}, "name"),
        ({**GOOD, "because": "x"}, "unknown setting(s) because"),
        ({k: v for k, v in GOOD.items() if k != "target_rules"}, "target_rules"),
    ],
)
def test_a_bad_inhibit_entry_is_refused_by_name(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(CatalogueError) as e:
        catalogue_from_mapping({"rules": [RULE], "inhibit": [entry]})
    assert "inhibit" in str(e.value)
    assert words in str(e.value)


def test_two_inhibit_entries_of_one_name_are_refused() -> None:
    with pytest.raises(CatalogueError, match="listed twice"):
        catalogue_from_mapping({"rules": [RULE], "inhibit": [GOOD, GOOD]})


def test_the_shipped_catalogue_inhibits_lesser_rainstorms_and_a_silent_feeds_thresholds() -> None:
    names = [r.name for r in load_catalogue(DEFAULT_CATALOGUE).inhibit]
    assert names == ["rainstorm-red-over-lesser", "silent-feed-over-its-thresholds"]


def test_two_warnings_never_inhibit_one_another(intake: Intake, clock: Any) -> None:
    # An entry whose source and targets overlap (no levels): the first holds the second,
    # and the second, though a source too, does not hold the first back.
    both = InhibitRule("any-rain", ("cap:暴雨",), ("cap:暴雨",), equal=("area",))
    intake.center.inhibit_rules = (both,)
    first = rainstorm(intake, "a", DISTRICT, 2)
    second = rainstorm(intake, "b", DISTRICT, 2)
    assert intake.center.warning(second).inhibited_by == first
    InhibitionWatch(intake).tick()
    assert intake.center.warning(first).inhibited_by is None
    assert intake.center.warning(second).inhibited_by == first

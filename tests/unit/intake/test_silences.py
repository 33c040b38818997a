"""Silences (ADR 0085): a breach during a silence is recorded and raises nothing; the
silence's life is events with who and why; its end lets a still-breaching condition
raise at once, once, even with the watch restarted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from freezegun import freeze_time

from closedloop.intake_config import build_intake
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import (
    SilenceOver,
    SilencePeriodRefused,
    SilenceRefused,
    SilenceTargetUnknown,
)
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.silence import MAX_SILENCE, Silence
from domain.silence_watch import SilenceWatch
from tests.unit.builders import frozen_clock_center
from tests.unit.intake.conftest import monitor, reading
from texts.timeline import describe

T0 = "2026-03-02 02:00:00"


def duty(unit: str = "HW-WATER", role: str = "duty_officer") -> Context:
    return Context(Actor(person=f"duty-{unit}", unit=unit, role=role))


@pytest.fixture
def intake(calendar: WorkingCalendar) -> Iterator[Intake]:
    """The intake over a center that saves events under freezegun."""
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


def at(minutes: float) -> str:
    return (now() + timedelta(minutes=minutes)).isoformat()


def silence(
    intake: Intake,
    kind: str = "station",
    target: str = "qingshan-reservoir",
    *,
    by: Context | None = None,
    start: float = 0,
    hours: float = 2,
    metric: str | None = None,
) -> UUID:
    return intake.silences.set_silence(
        by or duty(),
        kind=kind,
        target=target,
        metric=metric,
        starts_at=now() + timedelta(minutes=start),
        ends_at=now() + timedelta(minutes=start, hours=hours),
        category="maintenance",
        reason="the dam gauge is being recalibrated",
    ).id


def observe(intake: Intake, batch: str, *readings: Any) -> list[dict[str, Any]]:
    return intake.observe(monitor(batch), batch, list(readings)).results


def warnings(intake: Intake) -> list[Any]:
    return [n for n in intake.center.iter_log(1) if n.topic.endswith("EarlyWarning.Raised")]


def test_a_breach_during_a_silence_is_recorded_and_raises_nothing(
    intake: Intake, clock: Any
) -> None:
    sid = silence(intake)
    [result] = observe(intake, "b1", reading("water_level", 53.2, at(1)))
    assert result["action"] == "silenced"
    assert result["silence_id"] == str(sid)
    assert result["warning_id"] is None
    assert "instructions" not in result
    assert warnings(intake) == []
    # Visible on the station's current conditions, with the reading that breached.
    [(rule, state)] = intake.current_conditions("qingshan-reservoir")
    assert rule == "reservoir.flood_limit"
    assert state.silenced_by == sid
    assert state.silenced_level is not None
    assert state.silenced_reading is not None
    assert state.silenced_reading.value == 53.2


def test_a_silence_on_another_station_or_feed_silences_nothing_here(
    intake: Intake, clock: Any
) -> None:
    silence(intake, "feed", "qingshan-reservoir", metric="rainfall_mm")
    [result] = observe(intake, "b1", reading("water_level", 53.2, at(1)))
    assert result["action"] == "raised"


def test_a_unit_silence_covers_the_stations_of_its_subtree(intake: Intake, clock: Any) -> None:
    silence(intake, "unit", "HW-WATER")
    [result] = observe(intake, "b1", reading("water_level", 53.2, at(1)))
    assert result["action"] == "silenced"


def test_a_rule_silence_covers_that_rule_within_the_duty_officers_subtree(
    intake: Intake, clock: Any
) -> None:
    silence(intake, "rule", "reservoir.flood_limit", by=duty("HW"))
    [result] = observe(intake, "b1", reading("water_level", 53.2, at(1)))
    assert result["action"] == "silenced"


def test_a_pending_silence_does_not_yet_silence(intake: Intake, clock: Any) -> None:
    silence(intake, start=30)
    [result] = observe(intake, "b1", reading("water_level", 53.2, at(1)))
    assert result["action"] == "raised"


def test_at_expiry_a_still_breaching_condition_raises_at_once_and_once(
    intake: Intake, clock: Any
) -> None:
    sid = silence(intake, hours=1)
    observe(intake, "b1", reading("water_level", 53.2, at(5)))
    assert warnings(intake) == []
    clock.tick(timedelta(hours=1, minutes=1))
    done = SilenceWatch(intake).tick()
    raised = [d for d in done if d.get("action") == "raised"]
    assert len(raised) == 1
    assert raised[0]["silence_id"] == str(sid)
    w = intake.center.warning(UUID(raised[0]["warning_id"]))
    assert w.attributes["evidence"][0]["value"] == 53.2
    assert intake.silences.silence(sid).status(now()) == "expired"
    assert intake.silences.live() == {}
    # A restarted watch (a new one) and the same one again do nothing more.
    head = intake.center.head_position()
    assert SilenceWatch(intake).tick() == []
    assert intake.center.head_position() == head
    assert len(warnings(intake)) == 1


def test_a_lift_interrupted_before_the_expiry_raises_once_when_done_again(
    intake: Intake, clock: Any
) -> None:
    sid = silence(intake, hours=1)
    observe(intake, "b1", reading("water_level", 53.2, at(5)))
    clock.tick(timedelta(hours=2))
    s = intake.silences.silence(sid)
    first = intake.lift(s)  # the watch crashed here, before recording the expiry
    SilenceWatch(intake).tick()
    assert [d["action"] for d in first] == ["raised"]
    assert len(warnings(intake)) == 1


def test_after_expiry_the_next_breaching_reading_raises_without_the_watch(
    intake: Intake, clock: Any
) -> None:
    silence(intake, hours=1)
    observe(intake, "b1", reading("water_level", 53.2, at(5)))
    clock.tick(timedelta(hours=1, minutes=5))
    [result] = observe(intake, "b2", reading("water_level", 53.3, at(0)))
    assert result["action"] == "raised"


def test_a_condition_normal_again_at_expiry_raises_nothing(intake: Intake, clock: Any) -> None:
    silence(intake, hours=1)
    observe(intake, "b1", reading("water_level", 53.2, at(2)))
    observe(intake, "b2", reading("water_level", 50.0, at(4)))
    assert intake.current_conditions("qingshan-reservoir") == []
    clock.tick(timedelta(hours=2))
    done = SilenceWatch(intake).tick()
    assert [d.get("act") for d in done] == ["expire"]
    assert warnings(intake) == []


def test_setting_extending_and_ending_are_events_with_who_and_why(
    intake: Intake, clock: Any
) -> None:
    sid = silence(intake, hours=1)
    intake.silences.extend_silence(duty(), sid, now() + timedelta(hours=3), "works run late")
    intake.silences.end_silence(duty("HW"), sid, "the gauge is back")
    events = intake.center.history(sid)
    assert [type(e).__name__ for e in events] == ["Created", "Extended", "Ended"]
    assert [e.meta.person for e in events] == ["duty-HW-WATER", "duty-HW-WATER", "duty-HW"]
    assert events[1].reason == "works run late"
    assert events[2].reason == "the gauge is back"
    s = intake.silences.silence(sid)
    assert s.status(now()) == "ended"
    assert intake.silences.live() == {}
    with pytest.raises(SilenceOver):
        intake.silences.extend_silence(duty(), sid, now() + timedelta(hours=4), "again")
    with pytest.raises(SilenceOver):
        intake.silences.end_silence(duty(), sid, "again")


def test_a_silence_ended_early_lets_the_next_breach_raise(intake: Intake, clock: Any) -> None:
    sid = silence(intake, hours=3)
    intake.silences.end_silence(duty(), sid, "done early")
    [result] = observe(intake, "b1", reading("water_level", 53.2, at(1)))
    assert result["action"] == "raised"


@pytest.mark.parametrize(
    ("start", "hours", "error"),
    [
        (0, -1, SilencePeriodRefused),  # ends before it starts
        (0, 0, SilencePeriodRefused),
        (-180, 1, SilencePeriodRefused),  # wholly in the past
        (-30, 2, SilencePeriodRefused),  # starts in the past
        (0, MAX_SILENCE.total_seconds() / 3600 + 1, SilencePeriodRefused),  # too long
    ],
)
def test_a_bad_period_is_refused_and_stores_nothing(
    intake: Intake, clock: Any, start: float, hours: float, error: type[Exception]
) -> None:
    head = intake.center.head_position()
    with pytest.raises(error):
        silence(intake, start=start, hours=hours)
    assert intake.center.head_position() == head


@pytest.mark.parametrize(
    ("kind", "target", "metric"),
    [
        ("station", "no-such-station", None),
        ("feed", "qingshan-reservoir", "no_such_metric"),
        ("feed", "qingshan-reservoir", None),
        ("rule", "no.such.rule", None),
        ("unit", "NO-SUCH-UNIT", None),
        ("moon", "qingshan-reservoir", None),
    ],
)
def test_an_unknown_target_is_refused_and_stores_nothing(
    intake: Intake, clock: Any, kind: str, target: str, metric: str | None
) -> None:
    head = intake.center.head_position()
    with pytest.raises(SilenceTargetUnknown):
        silence(intake, kind, target, metric=metric, by=duty("HW"))
    assert intake.center.head_position() == head


@pytest.mark.parametrize(
    ("unit", "role", "allowed"),
    [
        ("E-QSRES", "duty_officer", True),  # the station's own unit
        ("HW-WATER", "duty_officer", True),  # its parent
        ("HW", "duty_officer", True),  # the district above
        ("HC", "duty_officer", True),  # the city
        ("HW-NG", "duty_officer", False),  # an office beside it
        ("HW-WATER", "dispatcher", False),  # not a duty officer
        ("HW-WATER", "handler", False),
        ("HW-WATER", "monitor", False),
    ],
)
def test_who_may_silence_a_station_role_by_subtree(
    intake: Intake, clock: Any, unit: str, role: str, allowed: bool
) -> None:
    head = intake.center.head_position()
    if allowed:
        silence(intake, by=duty(unit, role))
        return
    with pytest.raises(SilenceRefused):
        silence(intake, by=duty(unit, role))
    assert intake.center.head_position() == head
    sid = silence(intake)
    with pytest.raises(SilenceRefused):
        intake.silences.end_silence(duty(unit, role), sid, "not mine")


def test_an_extension_that_makes_the_silence_too_long_or_earlier_is_refused(
    intake: Intake, clock: Any
) -> None:
    sid = silence(intake, hours=1)
    with pytest.raises(SilencePeriodRefused):
        intake.silences.extend_silence(duty(), sid, now() + timedelta(minutes=30), "earlier")
    with pytest.raises(SilencePeriodRefused):
        intake.silences.extend_silence(duty(), sid, now() + MAX_SILENCE + timedelta(hours=1), "x")
    assert [type(e).__name__ for e in intake.center.history(sid)] == ["Created"]


def test_the_same_command_again_sets_one_silence(intake: Intake, clock: Any) -> None:
    ctx = duty()
    kwargs: dict[str, Any] = {
        "kind": "station",
        "target": "qingshan-reservoir",
        "metric": None,
        "starts_at": now(),
        "ends_at": now() + timedelta(hours=1),
        "category": "works",
        "reason": "a works site",
    }
    first = intake.silences.set_silence(ctx, **kwargs)
    again = intake.silences.set_silence(ctx, **kwargs)
    assert first.id == again.id
    assert not again.recorded
    assert len(intake.silences.live()) == 1
    assert isinstance(intake.center.find(first.id), Silence)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_each_step_of_a_silence_has_a_timeline_line(
    intake: Intake, clock: Any, language: str
) -> None:
    sid = silence(intake, hours=1)
    intake.silences.extend_silence(duty(), sid, now() + timedelta(hours=2), "works run late")
    clock.tick(timedelta(hours=3))
    SilenceWatch(intake).tick()
    lines = [
        describe(f"Silence.{type(e).__name__}", vars(e), language, "Asia/Shanghai")
        for e in intake.center.history(sid)
    ]
    assert len(lines) == 3
    assert not any(line.startswith("Silence.") for line in lines), lines
    assert "works run late" in lines[1]

"""Duty rosters and escalation (值班, 交接班, 升级; ADR 0084): shifts without overlaps,
handovers by the person on duty, "who is on duty at T", and an instruction not signed
for escalated to the duty leader and then to the superior's duty officer, each step once,
a restarted watch included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from closedloop.escalation_config import DEFAULT_ESCALATION, load_escalation_policy
from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.duty_escalation import SignForEscalation, default_policy
from domain.duty_watch import SignForWatch
from domain.errors import EscalationPolicyError, HandoverRefused, NotPermitted, ShiftRefused
from domain.meta import Actor, Context, now
from domain.roster import DutyRoster, ShiftPlan, roster_id
from domain.roster_commands import RosterCases
from tests.unit.builders import DISTRICT, OFFICE, ctx, frozen_clock_center, issue, nothing_stored
from texts.timeline import describe as describe_fields


def describe(e: Any, language: str) -> str:
    return describe_fields(type(e).__qualname__, vars(e), language, "Asia/Shanghai")


# A Friday 10:00 in Shanghai: office hours.
START = "2026-03-13 02:00:00"
Frozen = tuple[CommandCenter, Any]


@pytest.fixture
def frozen(calendar: WorkingCalendar) -> Iterator[Frozen]:
    with freeze_time(START) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        yield app, clock


def keeper(unit: str, person: str = "keeper") -> Context:
    return Context(Actor(person=person, unit=unit, role="duty_officer"))


def shift(post: str, person: str, deputy: str, start: datetime, hours: float) -> ShiftPlan:
    return ShiftPlan(post, person, deputy, start, start + timedelta(hours=hours))


def day_roster(app: CommandCenter, unit: str) -> None:
    """Today's day shift and tonight's at ``unit``: officers and a leader."""
    t = now() - timedelta(hours=2)
    RosterCases(app).arrange_shifts(
        keeper(DISTRICT),
        unit,
        [
            shift("duty_officer", f"{unit}-li", f"{unit}-wang", t, 12),
            shift("duty_officer", f"{unit}-zhao", f"{unit}-sun", t + timedelta(hours=12), 12),
            shift("duty_leader", f"{unit}-chen", f"{unit}-zhou", t, 24),
        ],
    )


def test_who_is_on_duty_at_a_moment_follows_the_shifts(frozen: Frozen) -> None:
    app, _ = frozen
    day_roster(app, OFFICE)
    cases = RosterCases(app)
    held = cases.on_duty(OFFICE, "duty_officer", now())
    assert held is not None
    assert (held.person, held.deputy) == ("HW-DH-li", "HW-DH-wang")
    night = cases.on_duty(OFFICE, "duty_officer", now() + timedelta(hours=11))
    assert night is not None
    assert night.person == "HW-DH-zhao"
    assert cases.on_duty(OFFICE, "duty_officer", now() + timedelta(hours=30)) is None
    assert cases.on_duty(DISTRICT, "duty_officer", now()) is None


def test_a_shift_overlapping_another_of_the_same_post_is_refused_with_words(
    frozen: Frozen,
) -> None:
    app, _ = frozen
    day_roster(app, OFFICE)
    with nothing_stored(app), pytest.raises(ShiftRefused, match="overlaps the duty officer"):
        RosterCases(app).arrange_shifts(
            keeper(OFFICE),
            OFFICE,
            [shift("duty_officer", "liu", "ma", now() + timedelta(hours=1), 4)],
        )
    # Another post at the same time is no overlap.
    RosterCases(app).arrange_shifts(
        keeper(OFFICE), OFFICE, [shift("duty_leader", "liu", "ma", now() + timedelta(days=1), 4)]
    )


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        (lambda t: shift("duty_officer", "a", "a", t, 2), "their own deputy"),
        (lambda t: shift("duty_officer", "a", "b", t, -1), "ends after it starts"),
        (lambda t: shift("duty_officer", "a", "b", t, 24 * 8), "at most 7 days"),
        (lambda t: shift("cook", "a", "b", t, 2), "post is duty_officer"),
        (lambda t: shift("duty_officer", "a", "b", t - timedelta(hours=5), 2), "before now"),
    ],
)
def test_a_shift_that_is_no_shift_is_refused_and_nothing_stored(
    frozen: Frozen, plan: Any, words: str
) -> None:
    app, _ = frozen
    with nothing_stored(app), pytest.raises(ShiftRefused, match=words):
        RosterCases(app).arrange_shifts(keeper(OFFICE), OFFICE, [plan(now())])


def test_shifts_of_a_unit_outside_the_keepers_subtree_or_in_another_role_are_refused(
    frozen: Frozen,
) -> None:
    app, _ = frozen
    plans = [shift("duty_officer", "a", "b", now(), 2)]
    with nothing_stored(app):
        with pytest.raises(NotPermitted, match="units under it"):
            RosterCases(app).arrange_shifts(keeper(OFFICE), DISTRICT, plans)
        with pytest.raises(NotPermitted, match="duty_officer role"):
            RosterCases(app).arrange_shifts(ctx(DISTRICT), OFFICE, plans)


def test_a_handover_by_the_person_on_duty_passes_the_post_and_is_on_the_timeline(
    frozen: Frozen,
) -> None:
    app, clock = frozen
    day_roster(app, OFFICE)
    clock.tick(timedelta(minutes=30))
    cases = RosterCases(app)
    cases.hand_over(
        keeper(OFFICE, "HW-DH-li"), OFFICE, "duty_officer", "HW-DH-zhao", "two cases open"
    )
    held = cases.on_duty(OFFICE, "duty_officer", now())
    assert held is not None
    assert held.person == "HW-DH-zhao"
    assert held.handed_over
    before = cases.on_duty(OFFICE, "duty_officer", now() - timedelta(minutes=1))
    assert before is not None
    assert before.person == "HW-DH-li"
    last = app.history(roster_id(OFFICE))[-1]
    assert type(last).__name__ == "HandedOver"
    assert "HW-DH-zhao" in describe(last, "en")
    assert "交接" in describe(last, "zh")


def test_a_handover_by_someone_not_on_duty_is_refused(frozen: Frozen) -> None:
    app, _ = frozen
    day_roster(app, OFFICE)
    cases = RosterCases(app)
    with nothing_stored(app):
        with pytest.raises(HandoverRefused, match="HW-DH-li is"):
            cases.hand_over(keeper(OFFICE, "stranger"), OFFICE, "duty_officer", "x", None)
        with pytest.raises(HandoverRefused, match="nobody is on duty"):
            RosterCases(app).hand_over(keeper(DISTRICT, "x"), DISTRICT, "duty_officer", "y", None)
        with pytest.raises(NotPermitted):
            cases.hand_over(keeper(DISTRICT, "HW-DH-li"), OFFICE, "duty_officer", "x", None)


def escalations(app: CommandCenter) -> list[Any]:
    return [
        e
        for e in app.iter_log(1)
        if e.topic.endswith("SignForEscalation.Escalated")  # type: ignore[attr-defined]
    ]


def test_an_urgent_instruction_not_signed_for_climbs_the_ladder_once_each_across_a_restart(
    frozen: Frozen,
) -> None:
    app, clock = frozen
    day_roster(app, OFFICE)
    day_roster(app, DISTRICT)
    iid = issue(app, DISTRICT, OFFICE, priority="urgent", deadline=now() + timedelta(hours=4))
    watch = SignForWatch(app, default_policy())
    assert watch.tick() == []
    clock.tick(timedelta(minutes=31))
    done = watch.tick()
    assert [d.get("step") for d in done] == [1]
    assert watch.tick() == []  # the same step is not taken twice
    # The watch restarts (a new process): it reads the record again.
    clock.tick(timedelta(minutes=30))
    restarted = SignForWatch(app, default_policy())
    assert [(d["step"], d["to"]) for d in restarted.tick()] == [(2, DISTRICT)]
    assert watch.tick() == []
    assert restarted.tick() == []
    i = app.instruction(iid)
    record = app.unit_of_work.find(
        SignForEscalation, SignForEscalation.create_id(iid, OFFICE, i.issued_at)
    )
    assert record is not None
    assert [(s["unit"], s["post"], s["person"]) for s in record.steps] == [
        (OFFICE, "duty_leader", "HW-DH-chen"),
        (DISTRICT, "duty_officer", "HW-li"),
    ]
    assert record.loop_id == i.loop_id
    line = describe(app.history(record.id)[-1], "zh")
    assert "HW-li" in line
    assert "升级" in line


def test_a_watch_restarted_after_both_steps_fell_due_takes_them_in_order_once(
    frozen: Frozen,
) -> None:
    app, clock = frozen
    iid = issue(app, DISTRICT, OFFICE, priority="urgent", deadline=now() + timedelta(hours=4))
    clock.tick(timedelta(hours=2))
    first, second = SignForWatch(app), SignForWatch(app)
    assert [d["step"] for d in first.tick()] == [1, 2]
    assert second.tick() == []
    steps = list(escalations(app))
    assert len(steps) == 2
    # Nobody on a roster: the step names the unit, and no person.
    record = app.unit_of_work.find(
        SignForEscalation,
        SignForEscalation.create_id(iid, OFFICE, app.instruction(iid).issued_at),
    )
    assert record is not None
    assert record.steps[0]["person"] is None


def test_a_signed_instruction_is_not_escalated_and_a_normal_one_counts_working_time(
    frozen: Frozen,
) -> None:
    app, clock = frozen
    signed_one = issue(
        app, DISTRICT, OFFICE, priority="urgent", deadline=now() + timedelta(hours=4)
    )
    app.sign_for(ctx(OFFICE), signed_one)
    issue(app, DISTRICT, OFFICE)  # normal: two working hours for the first step
    watch = SignForWatch(app)
    clock.tick(timedelta(hours=1, minutes=59))
    assert watch.tick() == []
    clock.tick(timedelta(minutes=2))
    assert [d["step"] for d in watch.tick()] == [1]
    # Four working hours from Friday 10:00 are not over an hour later.
    clock.tick(timedelta(hours=1))
    assert watch.tick() == []
    clock.tick(timedelta(hours=36))
    assert [d["step"] for d in watch.tick()] == [2]


def test_the_shipped_policy_file_is_the_default_ladder_and_a_broken_one_is_refused(
    tmp_path: Path,
) -> None:
    assert load_escalation_policy(DEFAULT_ESCALATION) == default_policy()
    bad = tmp_path / "escalation.toml"
    bad.write_text(
        '[normal]\ntime = "working"\nsteps = [{after_minutes = 60, to = "superior_duty_officer"},'
        ' {after_minutes = 30, to = "duty_leader"}]\n'
        '[high]\ntime = "working"\nsteps = [{after_minutes = 60, to = "duty_leader"}]\n'
        '[urgent]\ntime = "clock"\nsteps = [{after_minutes = 60, to = "duty_leader"}]\n'
    )
    with pytest.raises(EscalationPolicyError, match=r"\[normal\] step 2"):
        load_escalation_policy(bad)
    bad.write_text('[normal]\ntime = "working"\nsteps = []\nretries = 3\n')
    with pytest.raises(EscalationPolicyError, match="unknown setting"):
        load_escalation_policy(bad)


def test_the_roster_is_one_aggregate_per_unit() -> None:
    assert roster_id(OFFICE) != roster_id(DISTRICT)
    assert DutyRoster.create_id(OFFICE) == roster_id(OFFICE)


def test_the_demo_district_gets_a_week_of_shifts_once(frozen: Frozen) -> None:
    from domain.roster_demo import load_demo_rosters

    app, _ = frozen
    assert load_demo_rosters(app) == 3
    assert load_demo_rosters(app) == 0
    held = RosterCases(app).on_duty("HW-DH", "duty_officer", now())
    assert held is not None
    assert held.person == "dh.liu"

"""Approved deferral (缓办, ADR 0071) through the application: the lead unit asks with a
reason, the issuer approves (the clock stops with the time left) or refuses (nothing
changes), and resuming restarts the clock with the time that was left, counted on the
working calendar (clock time when urgent)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import InvalidTransition, InvalidValue, NotPermitted, TimeLimitPassed
from domain.instruction import Instruction, InstructionStatus
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    SHANGHAI,
    ctx,
    event_names,
    frozen_clock_center,
    issue,
    last_event,
    nothing_stored,
    signed,
)

FRIDAY_10AM = "2026-03-13 02:00:00"  # 10:00 in Beijing, an ordinary Friday


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def _signed_at_friday(app: CommandCenter, priority: str) -> object:
    iid = app.issue_instruction(
        ctx(DISTRICT),
        lead_unit=OFFICE,
        title="Repair the embankment",
        priority=priority,
        deadline=beijing(13, 17, 0),
    ).id
    app.sign_for(ctx(OFFICE), iid)
    return iid


@pytest.mark.parametrize(
    ("priority", "resumed_at", "deadline"),
    [
        # Two working hours left at 15:00 (15:00-17:00); resumed Monday 09:00 -> 11:00.
        ("normal", "2026-03-16 01:00:00", beijing(16, 11, 0)),
        # Two clock hours left; resumed Saturday 09:00 -> 11:00 the same Saturday.
        ("urgent", "2026-03-14 01:00:00", beijing(14, 11, 0)),
    ],
)
def test_an_approved_deferral_stops_the_clock_and_resuming_restarts_it_with_the_time_left(
    calendar: WorkingCalendar, priority: str, resumed_at: str, deadline: datetime
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _signed_at_friday(app, priority)
        clock.move_to("2026-03-13 06:00:00")  # 14:00
        app.request_deferral(ctx(OFFICE), iid, "the embankment waits for the court's ruling")
        assert app.instruction(iid).pending_deferral is not None
        clock.move_to("2026-03-13 07:00:00")  # 15:00
        app.decide_deferral(ctx(DISTRICT), iid, granted=True)
        i = app.instruction(iid)
        assert i.status == InstructionStatus.DEFERRED
        assert last_event(app, iid).remaining_s == 2 * 3600
        # Stopped: days later it is not overdue, and its time left has not moved.
        clock.move_to(resumed_at)
        assert not i.is_overdue(datetime.now(SHANGHAI))
        assert app.overdue_by(iid) == timedelta(0)
        assert i.time_left(datetime.now(SHANGHAI), calendar) == timedelta(hours=2)
        app.resume(ctx(DISTRICT), iid, "the ruling came")
        i = app.instruction(iid)
        assert i.status == InstructionStatus.IN_PROGRESS
        assert i.deadline == deadline
        ended = last_event(app, iid)
        assert isinstance(ended, Instruction.DeferralEnded)
        assert ended.deadline == deadline


def test_a_refused_deferral_changes_nothing_but_the_record(app: CommandCenter) -> None:
    iid = signed(app)
    before = app.instruction(iid)
    app.request_deferral(ctx(OFFICE), iid, "works wait for funds")
    app.decide_deferral(ctx(DISTRICT), iid, granted=False, note="the funds are there")
    after = app.instruction(iid)
    assert (after.status, after.deadline) == (before.status, before.deadline)
    assert after.pending_deferral is None
    assert event_names(app, iid)[-2:] == ["DeferralRequested", "DeferralDecided"]


def test_a_deferred_case_takes_no_step_until_it_is_resumed(app: CommandCenter) -> None:
    iid = signed(app)
    app.request_deferral(ctx(OFFICE), iid, "a court case")
    app.decide_deferral(ctx(DISTRICT), iid, granted=True)
    with nothing_stored(app), pytest.raises(InvalidTransition, match="deferred"):
        app.submit(ctx(OFFICE), iid, "done")
    with nothing_stored(app), pytest.raises(InvalidTransition, match="deferred"):
        app.park(ctx(DISTRICT), iid, "season")
    with nothing_stored(app), pytest.raises(InvalidTransition, match="deferred"):
        app.request_deferral(ctx(OFFICE), iid, "again")
    app.resume(ctx(DISTRICT), iid)
    app.submit(ctx(OFFICE), iid, "done")


# -- bad input: wrong unit, wrong state, missing reason, outside its time limit ----------


def test_only_the_lead_unit_holding_the_case_may_ask(app: CommandCenter) -> None:
    iid = issue(app)  # dispatched, not signed for
    with nothing_stored(app), pytest.raises(InvalidTransition, match="not signed"):
        app.request_deferral(ctx(OFFICE), iid, "a court case")
    app.sign_for(ctx(OFFICE), iid)
    with nothing_stored(app), pytest.raises(NotPermitted, match="not an assignee"):
        app.request_deferral(ctx(COMMUNITY), iid, "a court case")


def test_a_cooperating_unit_may_not_ask(app: CommandCenter) -> None:
    iid = issue(app, cooperating_units=["HW-WATER"])
    app.sign_for(ctx(OFFICE), iid)
    app.sign_for(ctx("HW-WATER"), iid)
    with nothing_stored(app), pytest.raises(NotPermitted, match="only the lead"):
        app.request_deferral(ctx("HW-WATER"), iid, "a court case")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_deferral_without_a_reason_is_refused(app: CommandCenter, reason: str) -> None:
    iid = signed(app)
    with nothing_stored(app), pytest.raises(InvalidValue, match="reason"):
        app.request_deferral(ctx(OFFICE), iid, reason)


def test_only_the_issuer_decides_and_a_refusal_says_why(app: CommandCenter) -> None:
    iid = signed(app)
    with nothing_stored(app), pytest.raises(InvalidTransition, match="no deferral"):
        app.decide_deferral(ctx(DISTRICT), iid, granted=True)
    app.request_deferral(ctx(OFFICE), iid, "a court case")
    with nothing_stored(app), pytest.raises(NotPermitted, match="issuing unit"):
        app.decide_deferral(ctx(OFFICE), iid, granted=True)
    with nothing_stored(app), pytest.raises(InvalidValue, match="reason for refusing"):
        app.decide_deferral(ctx(DISTRICT), iid, granted=False)
    with nothing_stored(app), pytest.raises(InvalidTransition, match="already waiting"):
        app.request_deferral(ctx(OFFICE), iid, "twice")


def test_a_deferral_is_asked_and_approved_only_before_the_deadline(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _signed_at_friday(app, "normal")
        clock.move_to("2026-03-13 08:30:00")  # 16:30
        app.request_deferral(ctx(OFFICE), iid, "a court case")
        clock.move_to("2026-03-13 09:30:00")  # 17:30, past the 17:00 deadline
        with nothing_stored(app), pytest.raises(TimeLimitPassed, match="only be refused"):
            app.decide_deferral(ctx(DISTRICT), iid, granted=True)
        app.decide_deferral(ctx(DISTRICT), iid, granted=False, note="too late")
        with nothing_stored(app), pytest.raises(TimeLimitPassed, match="deadline has passed"):
            app.request_deferral(ctx(OFFICE), iid, "a court case")


def test_a_request_lapses_when_the_lead_submits_and_a_parked_case_is_not_decided(
    app: CommandCenter,
) -> None:
    iid = signed(app)
    app.request_deferral(ctx(OFFICE), iid, "a court case")
    app.park(ctx(DISTRICT), iid, "winter")
    with nothing_stored(app), pytest.raises(InvalidTransition, match="being handled"):
        app.decide_deferral(ctx(DISTRICT), iid, granted=False, note="no")
    app.resume(ctx(DISTRICT), iid)
    app.submit(ctx(OFFICE), iid, "done after all")
    assert app.instruction(iid).pending_deferral is None
    with nothing_stored(app), pytest.raises(InvalidTransition, match="no deferral"):
        app.decide_deferral(ctx(DISTRICT), iid, granted=True)


def test_an_emergency_case_passes_its_mark_to_a_forwarded_part(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE, emergency=True)
    app.sign_for(ctx(OFFICE), iid)
    child = app.forward(ctx(OFFICE), iid, to_unit=COMMUNITY).id
    assert app.instruction(iid).emergency
    assert app.instruction(child).emergency
    assert not app.instruction(issue(app)).emergency

"""Dispatch disputes (派单异议, ADR 0076) through the application: the lead unit files
within two working hours of receiving the case; the issuer arbitrates within four
working hours of the filing. Upheld sends the case to the named unit with a fresh
deadline of the original's working length; refused leaves it, its clock never stopped.
Every refusal is a named error with nothing stored."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import (
    DirectionRefused,
    InvalidTransition,
    InvalidValue,
    NotPermitted,
    TimeLimitPassed,
)
from domain.instruction import InstructionStatus
from tests.unit.builders import (
    CITY,
    COMMUNITY,
    DISTRICT,
    OFFICE,
    OTHER_OFFICE,
    SHANGHAI,
    WATER,
    ctx,
    event_names,
    frozen_clock_center,
    last_event,
    nothing_stored,
)

FRIDAY_10AM = "2026-03-13 02:00:00"  # 10:00 in Beijing, an ordinary Friday


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def _issued(app: CommandCenter, priority: str = "normal", **kw: object) -> UUID:
    return app.issue_instruction(
        ctx(DISTRICT),
        lead_unit=OFFICE,
        title="Clear the blocked drain",
        priority=priority,
        deadline=beijing(13, 17, 0),  # five working hours: 10-12, 14-17 (office 8:30-12, 14-17:30)
        **kw,  # type: ignore[arg-type]
    ).id


@pytest.fixture
def app(calendar: WorkingCalendar) -> CommandCenter:
    with freeze_time(FRIDAY_10AM):
        center = frozen_clock_center(calendar)
        load_demo(center)
        return center


def test_an_upheld_dispute_sends_the_case_on_with_a_fresh_deadline_of_the_same_length(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _issued(app)
        app.sign_for(ctx(OFFICE), iid)
        clock.move_to(beijing(13, 11, 30))
        app.file_dispute(ctx(OFFICE), iid, "the drain is on the water bureau's main")
        i = app.instruction(iid)
        assert i.pending_dispute is not None
        assert i.pending_dispute["unit"] == OFFICE
        clock.move_to(beijing(13, 14, 0))
        app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=True, to_unit=WATER, note="agreed")
        i = app.instruction(iid)
        assert i.lead == WATER
        assert list(i.assignees) == [WATER]
        assert i.status == InstructionStatus.DISPATCHED
        assert i.pending_dispute is None
        # Five working hours from Friday 14:00: 14:00-17:30, then Monday 08:30-10:00.
        assert i.deadline == beijing(16, 10, 0)
        event = last_event(app, iid)
        assert type(event).__name__ == "DisputeArbitrated"
        assert (event.unit, event.upheld, event.to_unit) == (OFFICE, True, WATER)
        assert event.meta.unit == DISTRICT
        # The new lead has its own filing limit from the arbitration: 14:00 + 2 h.
        app.sign_for(ctx(WATER), iid)
        clock.move_to(beijing(13, 15, 59))
        app.file_dispute(ctx(WATER), iid, "not ours either")
        assert app.instruction(iid).pending_dispute is not None


def test_an_urgent_case_counts_its_limits_and_fresh_deadline_in_clock_time(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _issued(app, "urgent")  # seven clock hours, limits in clock hours too
        clock.move_to(beijing(13, 11, 59))
        app.file_dispute(ctx(OFFICE), iid, "not ours")
        clock.move_to(beijing(13, 15, 0))
        app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=True, to_unit=WATER)
        assert app.instruction(iid).deadline == beijing(13, 22, 0)


def test_a_refused_dispute_leaves_the_case_and_its_deadline_where_they_were(
    app: CommandCenter,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        iid = _issued(app)
        clock.move_to(beijing(13, 10, 30))
        app.file_dispute(ctx(OFFICE), iid, "not ours")
        clock.move_to(beijing(13, 11, 0))
        app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=False, note="the drain is yours")
        i = app.instruction(iid)
        assert (i.lead, i.status, i.deadline) == (
            OFFICE,
            InstructionStatus.DISPATCHED,
            beijing(13, 17),
        )
        assert event_names(app, iid)[-2:] == ["DisputeFiled", "DisputeArbitrated"]
        # The arbiter's word stands: the same unit cannot dispute again.
        with nothing_stored(app), pytest.raises(InvalidTransition, match="already disputed"):
            app.file_dispute(ctx(OFFICE), iid, "still not ours")


def test_a_dispute_past_its_limit_is_refused_even_when_signed_for(app: CommandCenter) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        iid = _issued(app)
        app.sign_for(ctx(OFFICE), iid)
        # 10:00 + two working hours = 12:00; 13:01 is past it.
        clock.move_to(beijing(13, 13, 1))
        with nothing_stored(app), pytest.raises(TimeLimitPassed, match="time to dispute"):
            app.file_dispute(ctx(OFFICE), iid, "not ours")


def test_a_dispute_by_another_unit_in_the_wrong_state_or_without_a_reason_is_refused(
    app: CommandCenter,
) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _issued(app, cooperating_units=[OTHER_OFFICE])
        with nothing_stored(app):
            with pytest.raises(NotPermitted, match="only the lead unit"):
                app.file_dispute(ctx(OTHER_OFFICE), iid, "not ours")
            with pytest.raises(NotPermitted, match="not an assignee"):
                app.file_dispute(ctx(COMMUNITY), iid, "not ours")
            with pytest.raises(InvalidValue, match="reason"):
                app.file_dispute(ctx(OFFICE), iid, "  ")
        app.sign_for(ctx(OFFICE), iid)
        app.submit(ctx(OFFICE), iid, "done")
        with nothing_stored(app), pytest.raises(InvalidTransition, match="submitted"):
            app.file_dispute(ctx(OFFICE), iid, "not ours")


def test_arbitration_by_the_wrong_unit_past_its_limit_or_to_a_wrong_unit_is_refused(
    app: CommandCenter,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        iid = _issued(app)
        with nothing_stored(app), pytest.raises(InvalidTransition, match="no dispute"):
            app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=False, note="no")
        clock.move_to(beijing(13, 11, 30))
        app.file_dispute(ctx(OFFICE), iid, "not ours")
        with nothing_stored(app):
            with pytest.raises(NotPermitted, match="issuing unit"):
                app.arbitrate_dispute(ctx(OFFICE), iid, upheld=True, to_unit=WATER)
            with pytest.raises(InvalidValue, match="disputed this case"):
                app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=True, to_unit=OFFICE)
            with pytest.raises(InvalidValue, match="names the unit"):
                app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=True)
            with pytest.raises(InvalidValue, match="reason"):
                app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=False)
            with pytest.raises(DirectionRefused):
                app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=True, to_unit=CITY)
        # Filed 11:30 + four working hours: 11:30-12:00, 14:00-17:30; Monday is past it.
        clock.move_to(beijing(16, 8, 31))
        with nothing_stored(app), pytest.raises(TimeLimitPassed, match="time to arbitrate"):
            app.arbitrate_dispute(ctx(DISTRICT), iid, upheld=False, note="too late")

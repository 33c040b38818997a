"""Property: an approved deferral stops the clock and resuming restarts it with exactly
the time that was left (ADR 0071), whatever the moments of approval and resumption on
the working calendar (weekends, holidays, nights), and on the clock when urgent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.meta import Actor, Context
from tests.unit.builders import FrozenClockCenter

CALENDAR = load_calendar(DEFAULT_CALENDAR)
START = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a Wednesday


def _as(unit: str, role: str) -> Context:
    return Context(Actor(person=f"p-{unit}", unit=unit, role=role))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    urgent=st.booleans(),
    due_hours=st.integers(1, 40),
    approve_after=st.integers(0, 3 * 24 * 60),
    resume_after=st.integers(1, 20 * 24 * 60),
)
def test_resuming_restarts_the_clock_with_the_time_left_at_approval(
    urgent: bool, due_hours: int, approve_after: int, resume_after: int
) -> None:
    with freeze_time(START - timedelta(days=1)):
        app = FrozenClockCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=CALENDAR)
        load_demo(app)
    with freeze_time(START) as clock:
        iid = app.issue_instruction(
            _as("HW", "dispatcher"),
            lead_unit="HW-DH",
            title="Repair the embankment",
            priority="urgent" if urgent else "normal",
            due_in=WorkingDuration(seconds=3600 * due_hours),
        ).id
        app.sign_for(_as("HW-DH", "handler"), iid)
        app.request_deferral(_as("HW-DH", "handler"), iid, "a court case")
        approved = START + timedelta(minutes=approve_after)
        clock.move_to(approved)
        deadline = app.instruction(iid).deadline
        if approved >= deadline:
            return  # approving after the deadline is refused (a unit test says so)
        app.decide_deferral(_as("HW", "dispatcher"), iid, granted=True)
        left = app.instruction(iid).time_left(approved, CALENDAR)
        expected_left = (
            deadline - approved if urgent else CALENDAR.working_time_between(approved, deadline)
        )
        assert left == timedelta(seconds=expected_left // timedelta(seconds=1))
        resumed = approved + timedelta(minutes=resume_after)
        clock.move_to(resumed)
        i = app.instruction(iid)
        assert not i.is_overdue(resumed)
        assert i.time_left(resumed, CALENDAR) == left  # stopped
        app.resume(_as("HW", "dispatcher"), iid)
        new = app.instruction(iid).deadline
        again = new - resumed if urgent else CALENDAR.working_time_between(resumed, new)
        assert again == left
        assert new >= resumed

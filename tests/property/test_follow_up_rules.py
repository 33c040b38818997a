"""Property: whatever the caller answers and whenever the follow-up comes on the working
calendar (nights, weekends, holidays; the clock when urgent), a follow-up inside its limit
is taken and one past it is refused with nothing stored; the case is reopened exactly
when the caller says unresolved and dissatisfied, then to the same lead unit, signed for,
with the original's time allowed counted again from the follow-up; otherwise it stays
closed with its deadline (ADR 0083)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.errors import TimeLimitPassed
from domain.follow_up import Satisfaction
from domain.instruction import InstructionStatus
from domain.meta import Actor, Context
from tests.unit.builders import FrozenClockCenter

CALENDAR = load_calendar(DEFAULT_CALENDAR)
START = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a Wednesday


def _as(unit: str, role: str) -> Context:
    return Context(Actor(person=f"p-{unit}", unit=unit, role=role))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    urgent=st.booleans(),
    due_hours=st.integers(1, 40),
    close_after=st.integers(0, 7 * 24 * 60),
    follow_after=st.integers(0, 5 * 24 * 60),
    contacted=st.booleans(),
    resolved=st.booleans(),
    satisfaction=st.sampled_from(list(Satisfaction)),
)
def test_a_follow_up_reopens_exactly_the_unresolved_and_dissatisfied_within_its_limit(
    urgent: bool,
    due_hours: int,
    close_after: int,
    follow_after: int,
    contacted: bool,
    resolved: bool,
    satisfaction: Satisfaction,
) -> None:
    with freeze_time(START - timedelta(days=1)):
        app = FrozenClockCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=CALENDAR)
        load_demo(app)
    with freeze_time(START) as clock:
        wid = app.raise_warning(
            _as("HW", "monitor"),
            source="12345",
            rule="hotline.drain",
            theme="other",
            level=4,
            title="A caller reports a blocked drain",
            unit="HW-DH",
            dedup_key=uuid4().hex,
        ).id
        app.acknowledge_warning(_as("HW", "duty_officer"), wid)
        app.assess_warning(_as("HW", "duty_officer"), wid, confirmed=True)
        iid = app.issue_instruction(
            _as("HW", "dispatcher"),
            lead_unit="HW-DH",
            title="Clear the drain",
            priority="urgent" if urgent else "normal",
            due_in=WorkingDuration(seconds=3600 * due_hours),
            warning_ids=[wid],
        ).id
        app.sign_for(_as("HW-DH", "handler"), iid)
        app.submit(_as("HW-DH", "handler"), iid, "cleared")
        clock.move_to(START + timedelta(minutes=close_after))
        app.verify(_as("HW", "dispatcher"), iid, accepted=True)
        followed = START + timedelta(minutes=close_after + follow_after)
        clock.move_to(followed)
        before = app.instruction(iid)
        limit = before.follow_up_deadline(app.follow_up_limits, CALENDAR)

        def follow_up() -> None:
            app.follow_up(
                _as("HW", "dispatcher"),
                iid,
                contacted=contacted,
                resolved=resolved,
                satisfaction=satisfaction.value,
            )

        if followed > limit:
            head = app.head_position()
            try:
                follow_up()
            except TimeLimitPassed:
                assert app.head_position() == head
                return
            raise AssertionError("a follow-up past its limit was taken")
        follow_up()
        after = app.instruction(iid)
        assert after.follow_ups == 1
        if resolved or satisfaction != Satisfaction.DISSATISFIED:
            assert after.status == InstructionStatus.CLOSED
            assert (after.deadline, after.reopen_count) == (before.deadline, 0)
            return
        assert after.status == InstructionStatus.IN_PROGRESS
        assert (after.lead, after.assignees["HW-DH"], after.reopen_count) == ("HW-DH", "signed", 1)
        allowed = (
            before.original_deadline - before.issued_at
            if urgent
            else CALENDAR.working_time_between(before.issued_at, before.original_deadline)
        )
        again = (
            after.deadline - followed
            if urgent
            else CALENDAR.working_time_between(followed, after.deadline)
        )
        assert again == allowed

"""Property: whatever the moments of filing and arbitration on the working calendar
(nights, weekends, holidays; the clock when urgent), a refused dispute never moves the
deadline nor the case, and an upheld one leaves nothing with the disputing unit and
gives the named unit the original's time allowed, counted again from the arbitration
(ADR 0076)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.errors import TimeLimitPassed
from domain.meta import Actor, Context
from tests.unit.builders import FrozenClockCenter

CALENDAR = load_calendar(DEFAULT_CALENDAR)
START = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a Wednesday


def _as(unit: str, role: str) -> Context:
    return Context(Actor(person=f"p-{unit}", unit=unit, role=role))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    urgent=st.booleans(),
    due_hours=st.integers(1, 40),
    issue_after=st.integers(0, 7 * 24 * 60),
    file_after=st.integers(0, 3 * 24 * 60),
    arbitrate_after=st.integers(0, 3 * 24 * 60),
    signed=st.booleans(),
    upheld=st.booleans(),
)
def test_a_refused_dispute_moves_nothing_and_an_upheld_one_starts_afresh_elsewhere(
    urgent: bool,
    due_hours: int,
    issue_after: int,
    file_after: int,
    arbitrate_after: int,
    signed: bool,
    upheld: bool,
) -> None:
    with freeze_time(START - timedelta(days=1)):
        app = FrozenClockCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=CALENDAR)
        load_demo(app)
    issued = START + timedelta(minutes=issue_after)
    with freeze_time(issued) as clock:
        iid = app.issue_instruction(
            _as("HW", "dispatcher"),
            lead_unit="HW-DH",
            title="Clear the drain",
            priority="urgent" if urgent else "normal",
            due_in=WorkingDuration(seconds=3600 * due_hours),
        ).id
        if signed:
            app.sign_for(_as("HW-DH", "handler"), iid)
        filed = issued + timedelta(minutes=file_after)
        clock.move_to(filed)
        limits = app.dispute_limits
        before = app.instruction(iid)
        if filed > before.dispute_deadline(limits, CALENDAR):
            try:
                app.file_dispute(_as("HW-DH", "handler"), iid, "not ours")
            except TimeLimitPassed:
                return
            raise AssertionError("a dispute past its limit was taken")
        app.file_dispute(_as("HW-DH", "handler"), iid, "not ours")
        arbitrated = filed + timedelta(minutes=arbitrate_after)
        clock.move_to(arbitrated)
        if arbitrated > app.instruction(iid).arbitration_deadline(limits, CALENDAR):
            return  # refused past its limit: the unit tests say so
        if upheld:
            app.arbitrate_dispute(_as("HW", "dispatcher"), iid, upheld=True, to_unit="HW-XL")
        else:
            app.arbitrate_dispute(_as("HW", "dispatcher"), iid, upheld=False, note="yours")
        after = app.instruction(iid)
        if not upheld:
            assert (after.lead, after.deadline, after.status) == (
                "HW-DH",
                before.deadline,
                before.status,
            )
            return
        assert "HW-DH" not in after.assignees
        assert "HW-DH" not in after.dispositions
        assert after.lead == "HW-XL"
        allowed = (
            before.original_deadline - before.issued_at
            if urgent
            else CALENDAR.working_time_between(before.issued_at, before.original_deadline)
        )
        again = (
            after.deadline - arbitrated
            if urgent
            else CALENDAR.working_time_between(arbitrated, after.deadline)
        )
        assert again == allowed

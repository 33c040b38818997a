"""Duty rosters (ADR 0084): whatever shifts are asked for, in whatever order, the roster
never holds two overlapping shifts of one post, and a refused change stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ShiftRefused
from domain.meta import Actor, Context
from domain.roster import DutyRoster, ShiftPlan, overlapping

BASE = datetime(2030, 1, 1, tzinfo=UTC)
NOW = datetime(2029, 12, 31, tzinfo=UTC)

plans = st.builds(
    lambda post, start, hours, person: ShiftPlan(
        post,
        f"p{person}",
        f"d{person}",
        BASE + timedelta(hours=start),
        BASE + timedelta(hours=start + hours),
    ),
    st.sampled_from(["duty_officer", "duty_leader"]),
    st.integers(0, 72),
    st.integers(1, 24),
    st.integers(0, 5),
)


def _meta(n: int, roster_unit: str = "HW-DH") -> object:
    actor = Actor(person="keeper", unit="HW", role="duty_officer")
    rid = DutyRoster.create_id(roster_unit)
    return Context(actor, command_id=f"c{n}").meta("ArrangeShifts", rid)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(plans, min_size=1, max_size=3), min_size=1, max_size=8))
def test_no_two_shifts_of_one_post_ever_overlap(batches: list[list[ShiftPlan]]) -> None:
    roster = DutyRoster.start("HW-DH", _meta(0))  # type: ignore[arg-type]
    for n, batch in enumerate(batches, 1):
        before = dict(roster.shifts)
        try:
            roster.arrange(batch, NOW, _meta(n))  # type: ignore[arg-type]
        except ShiftRefused:
            assert roster.shifts == before
    shifts = list(roster.shifts.values())
    for i, a in enumerate(shifts):
        for b in shifts[i + 1 :]:
            assert not overlapping(a, b)
    # Every moment has at most one person per post, and the roster answers it.
    for s in shifts:
        held = roster.on_duty(s["post"], s["starts_at"])
        assert held is not None
        assert held.person == s["person"]

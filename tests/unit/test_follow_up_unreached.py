"""A follow-up call that did not reach the caller (未联系上, ADR 0093) through the
application, on a frozen clock: an attempt with who, when and what was tried, under the
follow-up's own rules and limit; the case stays closed, a real follow-up is still taken
within the same limit, the third attempt marks the closure not reached, and the watch's
reminder is not silenced by an attempt."""

from __future__ import annotations

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import FollowUpRefused, InvalidValue, NotPermitted, TimeLimitPassed
from domain.follow_up import UNREACHED_ATTEMPTS
from domain.follow_up_watch import FollowUpWatch
from domain.instruction import InstructionStatus
from tests.unit.builders import (
    DISTRICT,
    OFFICE,
    ctx,
    event_names,
    frozen_clock_center,
    last_event,
    nothing_stored,
)
from tests.unit.test_follow_ups import ANSWERS, FRIDAY_10AM, _closed_case, beijing


def test_an_attempt_is_recorded_with_who_and_when_and_the_case_stays_closed(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        clock.move_to(beijing(16, 9, 0))
        app.record_unreached_follow_up(ctx(DISTRICT), iid, "two calls, no answer")
        i = app.instruction(iid)
        assert i.status == InstructionStatus.CLOSED
        assert (i.follow_ups, i.unreached_attempts, i.followed_up_at) == (0, 1, None)
        e = last_event(app, iid)
        assert type(e).__name__ == "FollowUpUnreached"
        assert (e.unit, e.note, e.attempt, e.not_reached) == (
            OFFICE,
            "two calls, no answer",
            1,
            False,
        )
        assert (e.meta.unit, e.meta.occurred_at) == (DISTRICT, beijing(16, 9, 0))
        # The caller answers later, within the same limit.
        app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
        assert app.instruction(iid).follow_ups == 1
        with nothing_stored(app), pytest.raises(FollowUpRefused):
            app.record_unreached_follow_up(ctx(DISTRICT), iid, "again")


def test_the_third_attempt_marks_the_closure_not_reached(calendar: WorkingCalendar) -> None:
    with freeze_time(FRIDAY_10AM):
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        for n in range(1, UNREACHED_ATTEMPTS + 2):
            app.record_unreached_follow_up(ctx(DISTRICT), iid, f"call {n}")
            assert last_event(app, iid).not_reached == (n == UNREACHED_ATTEMPTS)
        assert app.instruction(iid).status == InstructionStatus.CLOSED


def test_an_attempt_after_the_limit_or_without_a_note_or_by_another_unit_is_refused(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)  # the limit: Tuesday 10:00
        with nothing_stored(app), pytest.raises(InvalidValue):
            app.record_unreached_follow_up(ctx(DISTRICT), iid, "  ")
        with nothing_stored(app), pytest.raises(NotPermitted):
            app.record_unreached_follow_up(ctx(OFFICE), iid, "no answer")
        clock.move_to(beijing(17, 10, 1))
        with nothing_stored(app), pytest.raises(TimeLimitPassed):
            app.record_unreached_follow_up(ctx(DISTRICT), iid, "no answer")
        clock.move_to(beijing(17, 10, 0))
        app.record_unreached_follow_up(ctx(DISTRICT), iid, "no answer")


def test_an_attempt_does_not_silence_the_watchs_reminder(calendar: WorkingCalendar) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        clock.move_to(beijing(16, 9, 0))
        app.record_unreached_follow_up(ctx(DISTRICT), iid, "no answer")
        clock.move_to(beijing(16, 10, 0))  # half the limit: the reminder is due
        assert FollowUpWatch(app).tick() == [
            {"instruction_id": str(iid), "act": "remind_follow_up"}
        ]
        assert "FollowUpReminded" in event_names(app, iid)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.sampled_from(["attempt", "answer", "reopen"]), min_size=1, max_size=8))
def test_attempts_never_change_the_state_or_the_answers(
    calendar: WorkingCalendar, steps: list[str]
) -> None:
    """Whatever comes between them, an unreached attempt leaves the status, the answers
    counted and the reopens as they were, counts its attempts per closure, and is taken
    exactly when a follow-up would be (the same rules)."""
    with freeze_time(FRIDAY_10AM):
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        attempts = 0
        for step in steps:
            i = app.instruction(iid)
            may = i.status == InstructionStatus.CLOSED and i.followed_up_at is None
            if step == "attempt":
                before = (i.status, i.follow_ups, i.reopen_count, i.followed_up_at)
                if may:
                    app.record_unreached_follow_up(ctx(DISTRICT), iid, "no answer")
                    attempts += 1
                    after = app.instruction(iid)
                    assert after.unreached_attempts == attempts
                    assert last_event(app, iid).not_reached == (attempts == UNREACHED_ATTEMPTS)
                    assert (
                        after.status,
                        after.follow_ups,
                        after.reopen_count,
                        after.followed_up_at,
                    ) == before
                else:
                    with nothing_stored(app), pytest.raises(FollowUpRefused):
                        app.record_unreached_follow_up(ctx(DISTRICT), iid, "no answer")
            elif step == "answer" and may:
                app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
            elif step == "reopen" and may:
                app.follow_up(
                    ctx(DISTRICT),
                    iid,
                    contacted=True,
                    resolved=False,
                    satisfaction="dissatisfied",
                )
                assert app.instruction(iid).unreached_attempts == 0
                attempts = 0
                app.submit(ctx(OFFICE), iid, "again")
                app.verify(ctx(DISTRICT), iid, accepted=True)

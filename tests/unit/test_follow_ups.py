"""Follow-up and reopening (回访, 重办; ADR 0083) through the application: the issuer
calls the caller of a closed case from the public back within two working days and
records the three answers; unresolved and dissatisfied reopens the case to the same
lead unit with the original's working time allowed, counted from the follow-up. Every
refusal is a named error with nothing stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import (
    FollowUpIncomplete,
    FollowUpRefused,
    NotFromThePublic,
    NotPermitted,
    TimeLimitPassed,
)
from domain.follow_up import is_public, reopens
from domain.follow_up_watch import FollowUpWatch
from domain.instruction import InstructionStatus
from tests.unit.builders import (
    DISTRICT,
    EMERGENCY,
    OFFICE,
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


def _warning(app: CommandCenter, source: str = "12345", **attributes: Any) -> UUID:
    wid = app.raise_warning(
        ctx(EMERGENCY),
        source=source,
        rule="HOTLINE-DRAIN",
        theme="other",
        level=4,
        title="A caller reports a blocked drain",
        unit=WATER,
        dedup_key=uuid4().hex,
        attributes=attributes or None,
    ).id
    app.acknowledge_warning(ctx(DISTRICT), wid)
    app.assess_warning(ctx(DISTRICT), wid, confirmed=True)
    return wid


def _closed_case(app: CommandCenter, source: str = "12345", **attributes: Any) -> UUID:
    """Issued at 10:00 with five working hours (due 17:00), closed at 11:00."""
    wid = _warning(app, source, **attributes)
    iid = app.issue_instruction(
        ctx(DISTRICT),
        lead_unit=OFFICE,
        title="Clear the blocked drain",
        deadline=beijing(13, 17, 0),
        warning_ids=[wid],
    ).id
    app.sign_for(ctx(OFFICE), iid)
    app.submit(ctx(OFFICE), iid, "cleared")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    return iid


ANSWERS: dict[str, Any] = {"contacted": True, "resolved": True, "satisfaction": "satisfied"}


@pytest.fixture
def app(calendar: WorkingCalendar) -> CommandCenter:
    with freeze_time(FRIDAY_10AM):
        center = frozen_clock_center(calendar)
        load_demo(center)
        return center


def test_a_satisfied_caller_is_recorded_and_the_case_stays_closed(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        clock.move_to(beijing(16, 9, 0))  # Monday, inside two working days
        app.follow_up(ctx(DISTRICT), iid, **{**ANSWERS, "satisfaction": "basically_satisfied"})
        i = app.instruction(iid)
        assert i.status == InstructionStatus.CLOSED
        assert (i.follow_ups, i.reopen_count) == (1, 0)
        e = last_event(app, iid)
        assert type(e).__name__ == "FollowedUp"
        assert (e.unit, e.satisfaction, e.reopened) == (OFFICE, "basically_satisfied", False)
        assert e.meta.unit == DISTRICT


def test_unresolved_and_dissatisfied_reopens_the_case_to_the_same_unit_with_a_fresh_deadline(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        clock.move_to(beijing(16, 9, 0))  # Monday 9:00
        app.follow_up(
            ctx(DISTRICT),
            iid,
            contacted=True,
            resolved=False,
            satisfaction="dissatisfied",
            note="still flooding",
        )
        i = app.instruction(iid)
        assert i.status == InstructionStatus.IN_PROGRESS
        assert i.lead == OFFICE
        assert i.assignees[OFFICE] == "signed"
        assert i.reopen_count == 1
        assert i.closed_at is None
        # Five working hours from Monday 9:00: 9-12 and 14-16 on Monday.
        assert i.deadline == beijing(16, 16, 0)
        assert last_event(app, iid).reopened is True
        # The same unit does it again, and the case closes again.
        app.submit(ctx(OFFICE), iid, "the main is cleared too")
        app.verify(ctx(DISTRICT), iid, accepted=True)
        assert app.instruction(iid).status == InstructionStatus.CLOSED
        # Closed again, it may be followed up again.
        app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
        assert app.instruction(iid).follow_ups == 2
        assert event_names(app, iid).count("FollowedUp") == 2


@pytest.mark.parametrize(
    ("resolved", "satisfaction", "reopened"),
    [
        (False, "dissatisfied", True),
        (True, "dissatisfied", False),
        (False, "basically_satisfied", False),
        (True, "satisfied", False),
    ],
)
def test_only_unresolved_and_dissatisfied_reopens(
    resolved: bool, satisfaction: str, reopened: bool
) -> None:
    assert reopens(resolved, satisfaction) is reopened


def test_a_case_is_from_the_public_by_its_source_or_a_named_reporter() -> None:
    assert is_public("12345", None)
    assert is_public(" Hotline ", {})
    assert is_public("inspector", {"reporter": "Ms Li, 138****0000"})
    assert not is_public("inspector", {"reporter": "  "})
    assert not is_public("reservoir-telemetry", {"gauge": 3})


def test_a_reporter_named_on_the_warning_makes_the_case_the_publics(
    app: CommandCenter,
) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _closed_case(app, "inspector", reporter="Ms Li")
        app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
        assert app.instruction(iid).follow_ups == 1


def test_a_case_not_from_the_public_is_refused(app: CommandCenter) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _closed_case(app, "reservoir-telemetry")
        with nothing_stored(app), pytest.raises(NotFromThePublic):
            app.follow_up(ctx(DISTRICT), iid, **ANSWERS)


def test_a_case_not_closed_is_refused(app: CommandCenter) -> None:
    with freeze_time(FRIDAY_10AM):
        wid = _warning(app)
        iid = app.issue_instruction(
            ctx(DISTRICT),
            lead_unit=OFFICE,
            title="Clear the blocked drain",
            deadline=beijing(13, 17, 0),
            warning_ids=[wid],
        ).id
        with nothing_stored(app), pytest.raises(FollowUpRefused):
            app.follow_up(ctx(DISTRICT), iid, **ANSWERS)


def test_another_unit_than_the_issuer_is_refused(app: CommandCenter) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _closed_case(app)
        with nothing_stored(app), pytest.raises(NotPermitted):
            app.follow_up(ctx(OFFICE), iid, **ANSWERS)


def test_a_follow_up_after_its_limit_is_refused(calendar: WorkingCalendar) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)  # closed Friday 10:00
        # Two working days from Friday 10:00: Tuesday 10:00. At that moment is in time.
        limit = app.instruction(iid).follow_up_deadline(app.follow_up_limits, app.calendar)
        assert limit == beijing(17, 10, 0)
        clock.move_to(beijing(17, 10, 1))
        with nothing_stored(app), pytest.raises(TimeLimitPassed):
            app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
        clock.move_to(beijing(17, 10, 0))
        app.follow_up(ctx(DISTRICT), iid, **ANSWERS)


@pytest.mark.parametrize("missing", ["contacted", "resolved", "satisfaction"])
def test_a_follow_up_without_an_answer_is_refused(app: CommandCenter, missing: str) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _closed_case(app)
        with nothing_stored(app), pytest.raises(FollowUpIncomplete, match=missing):
            app.follow_up(ctx(DISTRICT), iid, **{**ANSWERS, missing: None})


def test_an_unknown_satisfaction_is_refused(app: CommandCenter) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _closed_case(app)
        with nothing_stored(app), pytest.raises(FollowUpIncomplete):
            app.follow_up(ctx(DISTRICT), iid, **{**ANSWERS, "satisfaction": "meh"})


def test_a_case_is_followed_up_once_per_closure(app: CommandCenter) -> None:
    with freeze_time(FRIDAY_10AM):
        iid = _closed_case(app)
        app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
        with nothing_stored(app), pytest.raises(FollowUpRefused):
            app.follow_up(ctx(DISTRICT), iid, **ANSWERS)


# -- the follow-up watch ---------------------------------------------------------------


def test_the_watch_reminds_the_issuer_once_half_the_limit_has_passed(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)  # closed Friday 10:00; the limit is Tuesday 10:00
        other = _closed_case(app, "reservoir-telemetry")  # not the public's
        watch = FollowUpWatch(app)
        clock.move_to(beijing(16, 9, 59))  # Monday 9:59: less than a working day gone
        assert watch.tick() == []
        clock.move_to(beijing(16, 10, 0))  # one working day of two
        assert watch.tick() == [{"instruction_id": str(iid), "act": "remind_follow_up"}]
        e = last_event(app, iid)
        assert type(e).__name__ == "FollowUpReminded"
        assert e.due_at == beijing(17, 10, 0)
        assert e.meta.unit == DISTRICT
        clock.move_to(beijing(16, 11, 0))
        with nothing_stored(app):
            assert watch.tick() == []
            assert FollowUpWatch(app).tick() == []  # a restarted watch does it once too
        assert "FollowUpReminded" not in event_names(app, other)


def test_the_watch_leaves_a_case_followed_up_in_time(calendar: WorkingCalendar) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        app.follow_up(ctx(DISTRICT), iid, **ANSWERS)
        clock.move_to(beijing(16, 12, 0))
        with nothing_stored(app):
            assert FollowUpWatch(app).tick() == []

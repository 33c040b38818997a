"""Instructions through the application on the in-memory store, for what needs other
aggregates: dispositions, superiors, parents and children, warnings' loops, deadlines
on the calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.demo import load_demo
from domain.disposition import DispositionStatus, disposition_id
from domain.errors import (
    InvalidTransition,
    InvalidValue,
    NotPermitted,
)
from domain.instruction import InstructionStatus
from domain.meta import Context, now
from tests.unit.builders import (
    CITY,
    COMMUNITY,
    DISTRICT,
    ECOLOGY,
    OFFICE,
    OTHER_COMMUNITY,
    OTHER_OFFICE,
    SCENIC,
    SHANGHAI,
    TWO_DAYS,
    WATER,
    close_instruction,
    confirmed_warning,
    ctx,
    event_names,
    frozen_clock_center,
    issue,
    last_event,
    later,
    nothing_stored,
    raise_warning,
    signed,
)


def test_signing_for_it_opens_the_units_disposition(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    app.sign_for(ctx(OFFICE), iid)
    did = disposition_id(iid, OFFICE)
    assert app.instruction(iid).dispositions == {OFFICE: did}
    assert event_names(app, did) == ["Opened"]
    assert app.disposition(did).status == DispositionStatus.OPEN


def test_a_returned_instruction_is_redirected_by_its_issuer(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    app.return_to_issuer(ctx(OFFICE), iid, "the dam lies in Xiling")
    app.redirect(ctx(DISTRICT), iid, to_unit=OTHER_OFFICE)
    assert event_names(app, iid)[-2:] == ["ReturnedToIssuer", "Redirected"]
    assert app.instruction(iid).lead == OTHER_OFFICE
    app.sign_for(ctx(OTHER_OFFICE), iid)
    assert app.instruction(iid).status == InstructionStatus.IN_PROGRESS


def test_a_redirect_to_a_deactivated_unit_is_refused(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    app.return_to_issuer(ctx(OFFICE), iid, "not ours")
    app.deactivate_unit(ctx(CITY), "E-XLFOOD", "closed down")
    app.deactivate_unit(ctx(CITY), "HW-XL-SQ", "merged")
    with nothing_stored(app), pytest.raises(InvalidValue, match="deactivated"):
        app.redirect(ctx(DISTRICT), iid, to_unit="HW-XL-SQ")


def test_a_full_loop_records_each_step_once(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE, cooperating_units=[WATER])
    app.sign_for(ctx(OFFICE), iid)
    app.sign_for(ctx(WATER), iid)
    app.report_progress(ctx(OFFICE), iid, "on site")
    app.submit(ctx(WATER), iid, "spillway opened")
    app.submit(ctx(OFFICE), iid, "residents moved")
    app.verify(ctx(DISTRICT), iid, accepted=False, note="bank not checked")
    app.submit(ctx(OFFICE), iid, "bank checked")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    assert event_names(app, iid) == [
        "Issued",
        "SignedFor",
        "SignedFor",
        "ResultSubmitted",
        "ResultSubmitted",
        "Verified",
        "ResultSubmitted",
        "Verified",
    ]
    instruction = app.instruction(iid)
    assert instruction.status == InstructionStatus.CLOSED
    for unit in (OFFICE, WATER):
        assert app.disposition(instruction.dispositions[unit]).status == "accepted"


def test_an_extension_granted_through_the_application_moves_the_deadline(
    app: CommandCenter,
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    before = app.instruction(iid).deadline
    wanted = before + timedelta(days=2)
    app.request_extension(ctx(OFFICE), iid, deadline=wanted, reason="road flooded")
    app.decide_extension(ctx(DISTRICT), iid, granted=True)
    instruction = app.instruction(iid)
    assert instruction.deadline == wanted
    assert instruction.original_deadline == before


# -- superiors ------------------------------------------------------------------------


SUPERIOR_COMMANDS: dict[str, Callable[[CommandCenter, Context, UUID], Any]] = {
    "remind": lambda app, c, iid: app.remind(c, iid, "due today"),
    "supervise": lambda app, c, iid: app.supervise(c, iid, "the mayor asked"),
    "park": lambda app, c, iid: app.park(c, iid, "dry season"),
    "cancel": lambda app, c, iid: app.cancel_instruction(c, iid, "storm turned"),
}


@pytest.mark.parametrize("command", SUPERIOR_COMMANDS.values(), ids=SUPERIOR_COMMANDS.keys())
@pytest.mark.parametrize("by", [DISTRICT, CITY], ids=["the issuer", "a unit above it"])
def test_the_issuer_or_a_unit_above_it_may_remind_supervise_park_and_cancel(
    app: CommandCenter, command: Callable[[CommandCenter, Context, UUID], Any], by: str
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    outcome = command(app, ctx(by), iid)
    assert outcome.recorded
    assert last_event(app, iid).meta.unit == by


@pytest.mark.parametrize("command", SUPERIOR_COMMANDS.values(), ids=SUPERIOR_COMMANDS.keys())
@pytest.mark.parametrize(
    "by", [OFFICE, OTHER_OFFICE, WATER], ids=["the lead", "a stranger", "a sister department"]
)
def test_no_one_else_may_remind_supervise_park_or_cancel(
    app: CommandCenter, command: Callable[[CommandCenter, Context, UUID], Any], by: str
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    with nothing_stored(app), pytest.raises(NotPermitted):
        command(app, ctx(by), iid)


def test_a_parked_instruction_is_resumed_by_a_superior(app: CommandCenter) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    app.park(ctx(DISTRICT), iid, "dry season")
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.resume(ctx(OFFICE), iid)
    app.resume(ctx(CITY), iid, "the dry season came")
    assert app.instruction(iid).status == InstructionStatus.IN_PROGRESS


# -- forwarding and cancelling down the tree ----------------------------------------------


def test_a_forwarded_part_is_a_child_in_its_parents_loop(app: CommandCenter) -> None:
    parent = signed(app, DISTRICT, OFFICE)
    outcome = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY, title="Check the Hupan bank")
    child = app.instruction(outcome.id)
    assert outcome.created
    assert (child.parent_id, child.issuer, child.lead) == (parent, OFFICE, COMMUNITY)
    assert child.deadline == app.instruction(parent).deadline
    assert child.loop_id == app.instruction(parent).loop_id == parent
    forwarded = last_event(app, parent)
    assert (type(forwarded).__name__, forwarded.child_id) == ("Forwarded", child.id)


def test_a_child_closing_frees_its_parent(app: CommandCenter) -> None:
    parent = signed(app, DISTRICT, OFFICE)
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    with nothing_stored(app), pytest.raises(InvalidTransition, match="forwarded"):
        app.submit(ctx(OFFICE), parent, "done")
    close_instruction(app, child)
    assert event_names(app, parent)[-1] == "ChildFinished"
    app.submit(ctx(OFFICE), parent, "done")
    app.verify(ctx(DISTRICT), parent, accepted=True)
    assert app.instruction(parent).status == InstructionStatus.CLOSED


def test_a_child_cannot_be_due_after_its_parent(app: CommandCenter) -> None:
    parent = signed(app, DISTRICT, OFFICE)
    too_late = app.instruction(parent).deadline + timedelta(hours=1)
    with nothing_stored(app), pytest.raises(InvalidValue, match="due later"):
        app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY, deadline=too_late)


def test_cancelling_an_instruction_cancels_every_open_part_forwarded_from_it(
    app: CommandCenter,
) -> None:
    parent = signed(app, DISTRICT, OFFICE)
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    finished_child = app.forward(ctx(OFFICE), parent, to_unit=OTHER_COMMUNITY).id
    close_instruction(app, finished_child)
    app.sign_for(ctx(COMMUNITY), child)
    grandchild = app.forward(ctx(COMMUNITY), child, to_unit=SCENIC).id
    closed_version = app.instruction(finished_child).version

    app.cancel_instruction(ctx(DISTRICT), parent, "the storm turned away")

    for iid in (parent, child, grandchild):
        assert app.instruction(iid).status == InstructionStatus.CANCELLED
    assert last_event(app, grandchild).reason == "parent cancelled: parent cancelled: " + (
        "the storm turned away"
    )
    assert app.instruction(finished_child).version == closed_version
    assert app.instruction(parent).open_children == []
    assert app.instruction(child).open_children == []
    for did in (disposition_id(parent, OFFICE), disposition_id(child, COMMUNITY)):
        assert app.disposition(did).status == DispositionStatus.CLOSED_UNVERIFIED


def test_cancelling_a_child_frees_its_parent(app: CommandCenter) -> None:
    parent = signed(app, DISTRICT, OFFICE)
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    app.cancel_instruction(ctx(OFFICE), child, "done by ourselves")
    assert app.instruction(parent).open_children == []
    assert app.instruction(parent).status == InstructionStatus.IN_PROGRESS


def test_cancelling_a_parent_whose_child_answers_the_same_warning(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    parent = signed(app, DISTRICT, OFFICE, warning_ids=[wid])
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    app.link_instruction(ctx(OFFICE), wid, child)
    app.cancel_instruction(ctx(DISTRICT), parent, "the storm turned away")
    assert app.instruction(child).status == InstructionStatus.CANCELLED
    assert app.warning(wid).open_instructions == []


# -- loops ----------------------------------------------------------------------------


def test_an_instruction_for_a_warning_is_in_the_warnings_loop(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    assert app.warning(wid).loop_id == wid
    iid = signed(app, DISTRICT, OFFICE, warning_ids=[wid])
    child = app.forward(ctx(OFFICE), iid, to_unit=COMMUNITY).id
    for aggregate_id in (iid, child, disposition_id(iid, OFFICE)):
        assert {e.meta.loop_id for e in app.history(aggregate_id)} == {wid}
    assert app.warning(wid).instructions == [iid]


def test_an_instruction_on_its_own_is_a_loop_of_its_own(app: CommandCenter) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    assert app.instruction(iid).loop_id == iid
    assert {e.meta.loop_id for e in app.history(disposition_id(iid, OFFICE))} == {iid}


def test_every_event_on_a_warning_carries_the_warnings_loop(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    parent = signed(app, DISTRICT, OFFICE)
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    app.link_instruction(ctx(OFFICE), wid, child)
    app.cancel_instruction(ctx(DISTRICT), parent, "the storm turned away")
    assert {e.meta.loop_id for e in app.history(wid)} == {wid}


# -- deadlines on the calendar ----------------------------------------------------------

FRIDAY_4PM = "2026-03-13 08:00:00"  # 16:00 in Beijing, an ordinary Friday


def beijing(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("priority", "due_in", "deadline"),
    [
        # 1 h 30 min until 17:30, the other 30 min from 08:30 on Monday.
        ("normal", "PT2H", beijing(2026, 3, 16, 9, 0)),
        ("high", "PT2H", beijing(2026, 3, 16, 9, 0)),
        ("urgent", "PT2H", beijing(2026, 3, 13, 18, 0)),
        ("normal", "P1D", beijing(2026, 3, 16, 16, 0)),
        ("urgent", "P1D", beijing(2026, 3, 14, 16, 0)),
    ],
)
def test_a_duration_counts_working_time_unless_the_instruction_is_urgent(
    calendar: WorkingCalendar, priority: str, due_in: str, deadline: datetime
) -> None:
    with freeze_time(FRIDAY_4PM):
        app = frozen_clock_center(calendar)
        load_demo(app)
        outcome = app.issue_instruction(
            ctx(DISTRICT),
            lead_unit=OFFICE,
            title="Inspect",
            priority=priority,
            due_in=WorkingDuration.parse(due_in),
        )
        assert app.instruction(outcome.id).deadline == deadline
        assert app.history(outcome.id)[0].deadline == deadline


def test_a_deadline_already_past_is_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(InvalidValue, match="past"):
        app.issue_instruction(
            ctx(DISTRICT), lead_unit=OFFICE, title="Inspect", deadline=now() - timedelta(minutes=1)
        )


@pytest.mark.parametrize(
    "when",
    [{}, {"deadline": later(days=1), "due_in": TWO_DAYS}],
    ids=["neither", "both"],
)
def test_a_deadline_is_given_either_as_an_instant_or_as_a_duration(
    app: CommandCenter, when: dict[str, Any]
) -> None:
    with nothing_stored(app), pytest.raises(InvalidValue, match="either"):
        app.issue_instruction(ctx(DISTRICT), lead_unit=OFFICE, title="Inspect", **when)


def test_an_unknown_priority_is_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(InvalidValue, match="priority"):
        app.issue_instruction(
            ctx(DISTRICT), lead_unit=OFFICE, title="Inspect", priority="soon", due_in=TWO_DAYS
        )


@pytest.mark.parametrize(
    ("priority", "overdue"),
    [("normal", timedelta(hours=2)), ("urgent", timedelta(hours=65))],
)
def test_lateness_over_a_weekend_counts_working_time_unless_urgent(
    calendar: WorkingCalendar, priority: str, overdue: timedelta
) -> None:
    with freeze_time("2026-03-13 02:00:00") as clock:  # Friday 10:00 in Beijing
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = app.issue_instruction(
            ctx(DISTRICT),
            lead_unit=OFFICE,
            title="Inspect",
            priority=priority,
            deadline=beijing(2026, 3, 13, 17, 0),
        ).id
        clock.move_to("2026-03-16 02:00:00")  # Monday 10:00 in Beijing
        # Friday 17:00-17:30 and Monday 08:30-10:00 in working time; 65 h on the clock.
        assert app.overdue_by(iid) == overdue
        assert app.instruction(iid).is_overdue(datetime.now(UTC))


def test_an_issue_retried_after_its_deadline_passed_is_still_a_no_op(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time("2026-03-13 02:00:00") as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        retry = ctx(DISTRICT, command_id="dispatch-0043")
        due = beijing(2026, 3, 13, 11, 0)
        first = app.issue_instruction(retry, lead_unit=OFFICE, title="Inspect", deadline=due)
        clock.move_to("2026-03-13 04:00:00")
        with nothing_stored(app):
            again = app.issue_instruction(retry, lead_unit=OFFICE, title="Inspect", deadline=due)
        assert (again.id, again.position) == (first.id, None)


def test_an_extension_never_shortens_the_deadline(app: CommandCenter) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    deadlines = [app.instruction(iid).deadline]
    for days in (1, 3):
        app.request_extension(
            ctx(OFFICE), iid, deadline=deadlines[-1] + timedelta(days=days), reason="flooded"
        )
        app.decide_extension(ctx(DISTRICT), iid, granted=True)
        deadlines.append(app.instruction(iid).deadline)
    with nothing_stored(app), pytest.raises(InvalidValue):
        app.request_extension(
            ctx(OFFICE), iid, deadline=deadlines[-1] - timedelta(days=1), reason="shorter"
        )
    assert deadlines == sorted(deadlines)
    assert len(set(deadlines)) == 3


def test_an_instruction_may_answer_a_warning_not_yet_assessed(app: CommandCenter) -> None:
    # Dispatch does not wait for the assessment: in a typhoon it goes out at once.
    wid = raise_warning(app, unit=WATER)
    iid = issue(app, DISTRICT, ECOLOGY, warning_ids=[wid])
    assert app.warning(wid).open_instructions == [iid]
    assert app.instruction(iid).loop_id == wid

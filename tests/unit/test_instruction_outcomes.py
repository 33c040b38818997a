"""An instruction driven directly, events in and events out: submitted and verified,
reminded, supervised, parked, resumed, cancelled, finished, late."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from domain.calendar import WorkingCalendar
from domain.errors import (
    InvalidTransition,
    InvalidValue,
    NotPermitted,
)
from domain.instruction import AssigneeStatus, Instruction, InstructionStatus
from tests.unit.builders import (
    CITY,
    COMMUNITY,
    COOPERATING,
    DISTRICT,
    OFFICE,
    WATER,
    cancelled_one,
    closed_one,
    issued,
    issuer_meta,
    of,
    only,
    parked_one,
    signed_for,
    submitted_by_lead,
)

# -- submitting and verifying -----------------------------------------------------------


def test_the_lead_submitting_its_result_waits_for_verification() -> None:
    instruction = signed_for()
    the_meta = of(OFFICE)
    instruction.submit(OFFICE, " 40 residents moved ", the_meta)
    event = only(instruction)
    assert isinstance(event, Instruction.ResultSubmitted)
    assert event.result == "40 residents moved"
    assert instruction.status == InstructionStatus.SUBMITTED
    assert instruction.submitted_at == the_meta.occurred_at


def test_a_cooperating_unit_submitting_leaves_the_instruction_with_the_lead() -> None:
    instruction = signed_for(COOPERATING)
    instruction.submit(COOPERATING, "traffic held at the bridge", of(COOPERATING))
    assert isinstance(only(instruction), Instruction.ResultSubmitted)
    assert instruction.status == InstructionStatus.DISPATCHED
    assert instruction.assignees[COOPERATING] == AssigneeStatus.SUBMITTED


@pytest.mark.parametrize(
    ("prepare", "unit", "result", "error"),
    [
        (issued, OFFICE, "done", InvalidTransition),  # not signed for yet
        (submitted_by_lead, OFFICE, "again", InvalidTransition),  # already submitted
        (signed_for, OFFICE, "  ", InvalidValue),  # empty result
        (signed_for, WATER, "done", NotPermitted),  # not an assignee
    ],
)
def test_a_submission_out_of_turn_is_refused(
    prepare: Callable[[], Instruction], unit: str, result: str, error: type[Exception]
) -> None:
    instruction = prepare()
    with pytest.raises(error):
        instruction.submit(unit, result, of(unit))
    assert instruction.collect_events() == []


def test_the_lead_cannot_submit_while_a_forwarded_part_is_open() -> None:
    instruction = signed_for()
    instruction.forward(OFFICE, COMMUNITY, uuid4(), instruction.deadline, of(OFFICE))
    instruction.collect_events()
    with pytest.raises(InvalidTransition, match="forwarded"):
        instruction.submit(OFFICE, "done", of(OFFICE))
    assert instruction.collect_events() == []


def test_accepting_the_result_closes_the_instruction() -> None:
    instruction = signed_for(COOPERATING)
    instruction.submit(COOPERATING, "traffic held", of(COOPERATING))
    instruction.sign_for(OFFICE, uuid4(), of(OFFICE))
    instruction.submit(OFFICE, "done", of(OFFICE))
    instruction.collect_events()
    the_meta = issuer_meta()
    instruction.verify(True, None, the_meta)
    event = only(instruction)
    assert isinstance(event, Instruction.Verified)
    assert event.accepted
    assert instruction.status == InstructionStatus.CLOSED
    assert instruction.closed_at == the_meta.occurred_at
    assert set(instruction.assignees.values()) == {AssigneeStatus.ACCEPTED}


def test_rejecting_the_result_sends_it_back_for_rework() -> None:
    instruction = submitted_by_lead()
    with pytest.raises(InvalidValue):
        instruction.verify(False, None, issuer_meta())  # a rejection says why
    assert instruction.collect_events() == []
    instruction.verify(False, "the low bank was not checked", issuer_meta())
    event = only(instruction)
    assert (event.accepted, event.note) == (False, "the low bank was not checked")
    assert instruction.status == InstructionStatus.REWORK
    assert instruction.assignees[OFFICE] == AssigneeStatus.SIGNED
    assert instruction.rework_count == 1
    # The lead works it again and submits anew.
    instruction.submit(OFFICE, "low bank checked too", of(OFFICE))
    instruction.verify(True, None, issuer_meta())
    assert instruction.status == InstructionStatus.CLOSED


@pytest.mark.parametrize(
    ("prepare", "by", "error"),
    [
        (issued, DISTRICT, InvalidTransition),
        (signed_for, DISTRICT, InvalidTransition),
        (submitted_by_lead, OFFICE, NotPermitted),
        (submitted_by_lead, CITY, NotPermitted),
    ],
)
def test_only_the_issuer_verifies_and_only_a_submitted_result(
    prepare: Callable[[], Instruction], by: str, error: type[Exception]
) -> None:
    instruction = prepare()
    with pytest.raises(error):
        instruction.verify(True, None, of(by))
    assert instruction.collect_events() == []


def test_no_verification_while_a_forwarded_part_is_open() -> None:
    # A cooperating unit may still forward after the lead has submitted.
    instruction = signed_for(COOPERATING)
    instruction.sign_for(OFFICE, uuid4(), of(OFFICE))
    instruction.submit(OFFICE, "done", of(OFFICE))
    instruction.forward(COOPERATING, "HW-NG-GK", uuid4(), instruction.deadline, of(COOPERATING))
    instruction.collect_events()
    with pytest.raises(InvalidTransition, match="forwarded"):
        instruction.verify(True, None, issuer_meta())
    assert instruction.collect_events() == []


# -- the side paths: remind, supervise, park, resume, cancel -----------------------------


def test_reminders_are_counted() -> None:
    instruction = signed_for()
    instruction.remind("due at five", issuer_meta())
    instruction.remind(None, issuer_meta())
    events = instruction.collect_events()
    assert [type(e) for e in events] == [Instruction.Reminded, Instruction.Reminded]
    assert instruction.reminders == 2


def test_supervision_names_the_supervising_unit_once() -> None:
    instruction = signed_for()
    instruction.supervise("the mayor asked", of(CITY))
    event = only(instruction)
    assert isinstance(event, Instruction.Supervised)
    assert event.supervisor == CITY
    with pytest.raises(InvalidTransition, match="already under supervision"):
        instruction.supervise(None, of(CITY))
    assert instruction.collect_events() == []
    instruction.supervise(None, issuer_meta())
    assert instruction.supervised_by == DISTRICT


def test_parking_moves_it_to_the_backlog_and_resuming_restores_its_state() -> None:
    instruction = signed_for()
    instruction.park("wait for the dry season", issuer_meta())
    assert isinstance(only(instruction), Instruction.Parked)
    assert instruction.status == InstructionStatus.PARKED
    instruction.resume("dry season", issuer_meta())
    assert isinstance(only(instruction), Instruction.Resumed)
    assert instruction.status == InstructionStatus.IN_PROGRESS


def test_parking_needs_a_reason() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidValue):
        instruction.park(" ", issuer_meta())
    assert instruction.collect_events() == []


def test_resuming_an_instruction_that_is_not_parked_is_refused() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidTransition, match="only a parked"):
        instruction.resume(None, issuer_meta())
    assert instruction.collect_events() == []


PARKED_REFUSES: dict[str, Callable[[Instruction], None]] = {
    "park": lambda i: i.park("again", issuer_meta()),
    "sign for": lambda i: i.sign_for(COOPERATING, uuid4(), of(COOPERATING)),
    "return": lambda i: i.return_to_issuer(COOPERATING, "not ours", of(COOPERATING)),
    "submit": lambda i: i.submit(OFFICE, "done", of(OFFICE)),
    "forward": lambda i: i.forward(OFFICE, COMMUNITY, uuid4(), i.deadline, of(OFFICE)),
    "request an extension": lambda i: i.request_extension(
        OFFICE, i.deadline + timedelta(days=1), "flooded", of(OFFICE)
    ),
}


@pytest.mark.parametrize("command", PARKED_REFUSES.values(), ids=PARKED_REFUSES.keys())
def test_a_parked_instruction_is_not_worked_until_resumed(
    command: Callable[[Instruction], None],
) -> None:
    instruction = parked_one()
    with pytest.raises(InvalidTransition, match="parked"):
        command(instruction)
    assert instruction.collect_events() == []


def test_a_parked_instruction_can_still_be_reminded_supervised_and_cancelled() -> None:
    instruction = parked_one()
    instruction.remind(None, issuer_meta())
    instruction.supervise(None, of(CITY))
    instruction.cancel("dropped from the plan", issuer_meta())
    assert instruction.status == InstructionStatus.CANCELLED


def test_cancelling_ends_the_instruction_and_any_pending_extension() -> None:
    instruction = signed_for()
    instruction.request_extension(OFFICE, instruction.deadline + timedelta(days=1), "a", of(OFFICE))
    instruction.collect_events()
    with pytest.raises(InvalidValue):
        instruction.cancel("", issuer_meta())
    instruction.cancel("the storm turned away", issuer_meta())
    event = only(instruction)
    assert isinstance(event, Instruction.Cancelled)
    assert event.reason == "the storm turned away"
    assert instruction.status == InstructionStatus.CANCELLED
    assert instruction.pending_extension is None


EVERY_COMMAND: dict[str, Callable[[Instruction], None]] = {
    "sign for": lambda i: i.sign_for(COOPERATING, uuid4(), of(COOPERATING)),
    "return": lambda i: i.return_to_issuer(COOPERATING, "not ours", of(COOPERATING)),
    "redirect": lambda i: i.redirect(COOPERATING, WATER, issuer_meta()),
    "link to a warning": lambda i: i.link_to_warning(uuid4(), issuer_meta()),
    "forward": lambda i: i.forward(OFFICE, COMMUNITY, uuid4(), i.deadline, of(OFFICE)),
    "request an extension": lambda i: i.request_extension(
        OFFICE, i.deadline + timedelta(days=1), "flooded", of(OFFICE)
    ),
    "decide an extension": lambda i: i.decide_extension(True, None, issuer_meta()),
    "submit": lambda i: i.submit(OFFICE, "again", of(OFFICE)),
    "verify": lambda i: i.verify(True, None, issuer_meta()),
    "remind": lambda i: i.remind(None, issuer_meta()),
    "supervise": lambda i: i.supervise(None, of(CITY)),
    "park": lambda i: i.park("backlog", issuer_meta()),
    "resume": lambda i: i.resume(None, issuer_meta()),
    "cancel": lambda i: i.cancel("again", issuer_meta()),
}


@pytest.mark.parametrize("finished", [closed_one, cancelled_one], ids=["closed", "cancelled"])
@pytest.mark.parametrize("command", EVERY_COMMAND.values(), ids=EVERY_COMMAND.keys())
def test_a_finished_instruction_refuses_every_further_command(
    finished: Callable[[], Instruction], command: Callable[[Instruction], None]
) -> None:
    instruction = finished()
    version = instruction.version
    with pytest.raises(InvalidTransition):
        command(instruction)
    assert instruction.collect_events() == []
    assert instruction.version == version


def test_linking_to_a_warning_is_recorded_once() -> None:
    instruction = signed_for()
    wid = uuid4()
    instruction.link_to_warning(wid, issuer_meta())
    instruction.link_to_warning(wid, issuer_meta())
    assert isinstance(only(instruction), Instruction.LinkedToWarning)
    assert instruction.warning_ids == [wid]


# -- lateness -------------------------------------------------------------------------


def test_an_instruction_is_late_only_once_its_deadline_has_passed(
    calendar: WorkingCalendar,
) -> None:
    instruction = issued(priority="urgent")
    before = instruction.deadline - timedelta(hours=1)
    after = instruction.deadline + timedelta(hours=3)
    assert not instruction.is_overdue(before)
    assert instruction.overdue_by(before, calendar) == timedelta(0)
    assert instruction.time_left(before, calendar) == timedelta(hours=1)
    assert instruction.is_overdue(after)
    assert instruction.overdue_by(after, calendar) == timedelta(hours=3)
    assert instruction.time_left(after, calendar) == timedelta(0)


def test_a_finished_instruction_is_never_late(calendar: WorkingCalendar) -> None:
    instruction = closed_one()
    long_after = instruction.deadline + timedelta(days=30)
    assert not instruction.is_overdue(long_after)
    assert instruction.overdue_by(long_after, calendar) == timedelta(0)

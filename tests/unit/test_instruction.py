"""Instructions: dispatch, sign for or return, forward, extend, submit, verify, close.

The first half drives the aggregate directly (events in, events out); the second goes
through the application on the in-memory store, for what needs other aggregates:
dispositions, parents and children, warnings, deadlines on the calendar, idempotency
and the metadata every stored event carries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.demo import load_demo
from domain.disposition import DispositionStatus, disposition_id
from domain.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    InvalidTransition,
    InvalidValue,
    NotFound,
    NotPermitted,
)
from domain.instruction import AssigneeStatus, Instruction, InstructionStatus
from domain.meta import Actor, Context, Meta, now
from tests.unit.builders import (
    CITY,
    COMMUNITY,
    DISTRICT,
    ECOLOGY,
    OFFICE,
    OTHER_COMMUNITY,
    OTHER_OFFICE,
    SCENIC,
    TWO_DAYS,
    WATER,
    close_instruction,
    closed,
    confirmed_warning,
    ctx,
    event_names,
    frozen_clock_center,
    issue,
    last_event,
    later,
    meta,
    nothing_stored,
    raise_warning,
    signed,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
COOPERATING = "HW-NG"


def issuer_meta(command: str = "Test") -> Meta:
    return meta(DISTRICT, command)


def of(unit: str, command: str = "Test") -> Meta:
    return meta(unit, command)


def issued(**changes: Any) -> Instruction:
    the_meta = changes.pop("meta", None) or issuer_meta("IssueInstruction")
    fields: dict[str, Any] = {
        "issuer": DISTRICT,
        "lead": OFFICE,
        "cooperating": [COOPERATING],
        "title": "Inspect the dam",
        "content": "Check the spillway and the low bank",
        "priority": "normal",
        "deadline": the_meta.occurred_at + timedelta(days=2),
        "warning_ids": None,
        "parent_id": None,
        **changes,
    }
    instruction = Instruction.issue(meta=the_meta, **fields)
    instruction.collect_events()
    return instruction


def signed_for(unit: str = OFFICE) -> Instruction:
    instruction = issued()
    instruction.sign_for(unit, uuid4(), of(unit))
    instruction.collect_events()
    return instruction


def submitted_by_lead() -> Instruction:
    instruction = signed_for()
    instruction.submit(OFFICE, "done", of(OFFICE))
    instruction.collect_events()
    return instruction


def closed_one() -> Instruction:
    instruction = submitted_by_lead()
    instruction.verify(True, None, issuer_meta())
    instruction.collect_events()
    return instruction


def cancelled_one() -> Instruction:
    instruction = signed_for()
    instruction.cancel("no longer needed", issuer_meta())
    instruction.collect_events()
    return instruction


def parked_one() -> Instruction:
    instruction = signed_for()
    instruction.park("waiting for the dry season", issuer_meta())
    instruction.collect_events()
    return instruction


def only(instruction: Instruction) -> Any:
    events = instruction.collect_events()
    assert len(events) == 1, events
    return events[0]


# -- issuing --------------------------------------------------------------------------


def test_issuing_records_the_units_and_the_deadline_and_starts_the_clock() -> None:
    the_meta = issuer_meta("IssueInstruction")
    deadline = the_meta.occurred_at + timedelta(days=1)
    instruction = Instruction.issue(
        issuer=DISTRICT,
        lead=OFFICE,
        cooperating=[COOPERATING],
        title=" Inspect the dam ",
        content=None,
        priority="high",
        deadline=deadline,
        warning_ids=None,
        parent_id=None,
        meta=the_meta,
    )
    issued_event = only(instruction)
    assert isinstance(issued_event, Instruction.Issued)
    assert (issued_event.issuer, issued_event.lead, issued_event.cooperating) == (
        DISTRICT,
        OFFICE,
        [COOPERATING],
    )
    assert (issued_event.title, issued_event.deadline) == ("Inspect the dam", deadline)
    assert instruction.status == InstructionStatus.DISPATCHED
    assert instruction.issued_at == the_meta.occurred_at
    assert list(instruction.assignees) == [OFFICE, COOPERATING]
    assert set(instruction.assignees.values()) == {AssigneeStatus.DISPATCHED}


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"lead": DISTRICT}, "to itself"),
        ({"cooperating": [DISTRICT]}, "to itself"),
        ({"cooperating": [OFFICE]}, "lead unit cannot also"),
        ({"cooperating": [COOPERATING, COOPERATING]}, "named twice"),
        ({"cooperating": [f"E-{n}" for n in range(21)]}, "at most 20"),
        ({"priority": "whenever"}, "unknown priority"),
        ({"deadline": datetime(2030, 1, 1, 9, 0)}, "time-zone"),
        ({"deadline": now() - timedelta(minutes=1)}, "after the time of dispatch"),
        ({"title": " "}, "title"),
        ({"content": "x" * 10_001}, "content"),
    ],
)
def test_issuing_with_a_bad_value_is_refused(changes: dict[str, Any], what: str) -> None:
    with pytest.raises(InvalidValue, match=what):
        issued(**changes)


def test_a_deadline_before_a_backdated_dispatch_is_refused() -> None:
    dispatched = now() - timedelta(days=3)
    the_meta = Context(Actor("li", DISTRICT, "dispatcher"), occurred_at=dispatched).meta(
        "IssueInstruction", uuid4()
    )
    with pytest.raises(InvalidValue, match="after the time of dispatch"):
        issued(meta=the_meta, deadline=dispatched - timedelta(hours=1))


# -- signing for, returning, redirecting --------------------------------------------------


def test_the_lead_signing_for_it_puts_it_in_progress() -> None:
    instruction = issued()
    did = uuid4()
    the_meta = of(OFFICE)
    instruction.sign_for(OFFICE, did, the_meta)
    event = only(instruction)
    assert isinstance(event, Instruction.SignedFor)
    assert (event.unit, event.disposition_id) == (OFFICE, did)
    assert instruction.status == InstructionStatus.IN_PROGRESS
    assert instruction.signed_at == the_meta.occurred_at


def test_a_cooperating_unit_signing_for_it_leaves_it_waiting_for_the_lead() -> None:
    instruction = issued()
    instruction.sign_for(COOPERATING, uuid4(), of(COOPERATING))
    assert isinstance(only(instruction), Instruction.SignedFor)
    assert instruction.status == InstructionStatus.DISPATCHED
    assert instruction.assignees[COOPERATING] == AssigneeStatus.SIGNED


def test_a_unit_that_is_not_an_assignee_cannot_sign_for_it() -> None:
    instruction = issued()
    with pytest.raises(NotPermitted):
        instruction.sign_for(WATER, uuid4(), of(WATER))
    assert instruction.collect_events() == []


def test_signing_for_it_twice_is_refused() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidTransition, match="signed for it"):
        instruction.sign_for(OFFICE, uuid4(), of(OFFICE))
    assert instruction.collect_events() == []


def test_the_lead_returning_it_sends_it_back_to_the_issuer() -> None:
    instruction = issued()
    instruction.return_to_issuer(OFFICE, "the dam is in Xiling", of(OFFICE))
    event = only(instruction)
    assert isinstance(event, Instruction.ReturnedToIssuer)
    assert event.reason == "the dam is in Xiling"
    assert instruction.status == InstructionStatus.RETURNED


def test_returning_needs_a_reason() -> None:
    instruction = issued()
    with pytest.raises(InvalidValue):
        instruction.return_to_issuer(OFFICE, "  ", of(OFFICE))
    assert instruction.collect_events() == []


def test_an_instruction_signed_for_cannot_be_returned() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidTransition):
        instruction.return_to_issuer(OFFICE, "not ours after all", of(OFFICE))
    assert instruction.collect_events() == []


def test_a_stranger_cannot_return_it() -> None:
    instruction = issued()
    with pytest.raises(NotPermitted):
        instruction.return_to_issuer(WATER, "not ours", of(WATER))
    assert instruction.collect_events() == []


def test_redirecting_a_returned_lead_makes_the_new_unit_the_lead() -> None:
    instruction = issued()
    instruction.return_to_issuer(OFFICE, "not ours", of(OFFICE))
    instruction.collect_events()
    instruction.redirect(OFFICE, OTHER_OFFICE, issuer_meta())
    event = only(instruction)
    assert isinstance(event, Instruction.Redirected)
    assert (event.from_unit, event.to_unit) == (OFFICE, OTHER_OFFICE)
    assert instruction.lead == OTHER_OFFICE
    assert instruction.status == InstructionStatus.DISPATCHED
    assert list(instruction.assignees) == [OTHER_OFFICE, COOPERATING]


def test_redirecting_a_returned_cooperating_unit_replaces_it() -> None:
    instruction = issued()
    instruction.return_to_issuer(COOPERATING, "not ours", of(COOPERATING))
    instruction.redirect(COOPERATING, WATER, issuer_meta())
    assert instruction.cooperating == [WATER]
    assert instruction.lead == OFFICE
    assert instruction.assignees[WATER] == AssigneeStatus.DISPATCHED


@pytest.mark.parametrize(
    ("by", "from_unit", "to_unit", "error"),
    [
        (OFFICE, OFFICE, OTHER_OFFICE, NotPermitted),  # only the issuer redirects
        (DISTRICT, COOPERATING, WATER, InvalidTransition),  # it did not return it
        (DISTRICT, OFFICE, DISTRICT, InvalidValue),  # not to the issuer itself
        (DISTRICT, OFFICE, COOPERATING, InvalidValue),  # not to an assignee already
    ],
)
def test_a_redirect_that_does_not_follow_a_return_is_refused(
    by: str, from_unit: str, to_unit: str, error: type[Exception]
) -> None:
    instruction = issued()
    instruction.return_to_issuer(OFFICE, "not ours", of(OFFICE))
    instruction.collect_events()
    with pytest.raises(error):
        instruction.redirect(from_unit, to_unit, of(by))
    assert instruction.collect_events() == []


# -- forwarding -------------------------------------------------------------------------


def test_forwarding_records_the_child_as_open() -> None:
    instruction = signed_for()
    child = uuid4()
    instruction.forward(OFFICE, COMMUNITY, child, instruction.deadline, of(OFFICE))
    event = only(instruction)
    assert isinstance(event, Instruction.Forwarded)
    assert (event.unit, event.to_unit, event.child_id) == (OFFICE, COMMUNITY, child)
    assert instruction.open_children == [child]


def test_forwarding_before_signing_for_it_is_refused() -> None:
    instruction = issued()
    with pytest.raises(InvalidTransition):
        instruction.forward(OFFICE, COMMUNITY, uuid4(), instruction.deadline, of(OFFICE))
    assert instruction.collect_events() == []


def test_a_forwarded_part_cannot_be_due_after_the_whole() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidValue, match="due later"):
        instruction.forward(
            OFFICE, COMMUNITY, uuid4(), instruction.deadline + timedelta(seconds=1), of(OFFICE)
        )
    assert instruction.collect_events() == []


def test_a_finished_child_is_counted_once() -> None:
    instruction = signed_for()
    child = uuid4()
    instruction.forward(OFFICE, COMMUNITY, child, instruction.deadline, of(OFFICE))
    instruction.collect_events()
    instruction.child_finished(child, "closed", of(OFFICE))
    instruction.child_finished(child, "closed", of(OFFICE))
    assert isinstance(only(instruction), Instruction.ChildFinished)
    assert instruction.open_children == []
    assert instruction.children == [child]


# -- extensions -----------------------------------------------------------------------


def test_an_extension_is_requested_and_granted() -> None:
    instruction = signed_for()
    wanted = instruction.deadline + timedelta(days=3)
    instruction.request_extension(OFFICE, wanted, "the road is flooded", of(OFFICE))
    requested = only(instruction)
    assert isinstance(requested, Instruction.ExtensionRequested)
    assert (requested.deadline, requested.reason) == (wanted, "the road is flooded")
    instruction.decide_extension(True, None, issuer_meta())
    decided = only(instruction)
    assert isinstance(decided, Instruction.ExtensionDecided)
    assert (decided.granted, decided.deadline) == (True, wanted)
    assert instruction.deadline == wanted
    assert instruction.pending_extension is None


def test_a_denied_extension_keeps_the_deadline_and_needs_a_reason() -> None:
    instruction = signed_for()
    deadline = instruction.deadline
    instruction.request_extension(OFFICE, deadline + timedelta(days=3), "flooded", of(OFFICE))
    instruction.collect_events()
    with pytest.raises(InvalidValue):
        instruction.decide_extension(False, None, issuer_meta())
    assert instruction.collect_events() == []
    instruction.decide_extension(False, "the school needs it by Friday", issuer_meta())
    decided = only(instruction)
    assert (decided.granted, decided.deadline) == (False, deadline)
    assert instruction.deadline == deadline


@pytest.mark.parametrize(
    ("shift", "reason", "what"),
    [
        (timedelta(0), "flooded", "later than it is now"),
        (-timedelta(hours=1), "flooded", "later than it is now"),
        (timedelta(days=1), " ", "reason"),
    ],
)
def test_an_extension_that_would_not_move_the_deadline_later_is_refused(
    shift: timedelta, reason: str, what: str
) -> None:
    instruction = signed_for()
    with pytest.raises(InvalidValue, match=what):
        instruction.request_extension(OFFICE, instruction.deadline + shift, reason, of(OFFICE))
    assert instruction.collect_events() == []


def test_an_extension_with_a_naive_deadline_is_refused() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidValue, match="time-zone"):
        instruction.request_extension(
            OFFICE,
            datetime(2030, 1, 1),
            "flooded",
            of(OFFICE),
        )


def test_only_one_extension_request_waits_at_a_time() -> None:
    instruction = signed_for()
    instruction.request_extension(OFFICE, instruction.deadline + timedelta(days=1), "a", of(OFFICE))
    instruction.collect_events()
    with pytest.raises(InvalidTransition, match="already waiting"):
        instruction.request_extension(
            OFFICE, instruction.deadline + timedelta(days=2), "b", of(OFFICE)
        )
    assert instruction.collect_events() == []


def test_an_extension_is_asked_by_a_signed_assignee_and_decided_by_the_issuer() -> None:
    instruction = issued()
    with pytest.raises(InvalidTransition):
        instruction.request_extension(
            OFFICE, instruction.deadline + timedelta(days=1), "a", of(OFFICE)
        )
    with pytest.raises(NotPermitted):
        instruction.request_extension(
            WATER, instruction.deadline + timedelta(days=1), "a", of(WATER)
        )
    instruction.sign_for(OFFICE, uuid4(), of(OFFICE))
    instruction.request_extension(OFFICE, instruction.deadline + timedelta(days=1), "a", of(OFFICE))
    instruction.collect_events()
    with pytest.raises(NotPermitted):
        instruction.decide_extension(True, None, of(OFFICE))
    assert instruction.collect_events() == []


def test_deciding_with_no_request_waiting_is_refused() -> None:
    instruction = signed_for()
    with pytest.raises(InvalidTransition, match="no extension request"):
        instruction.decide_extension(True, None, issuer_meta())
    assert instruction.collect_events() == []


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


# == through the application ============================================================


@pytest.fixture
def app(memory_center: CommandCenter) -> CommandCenter:
    load_demo(memory_center)
    return memory_center


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


# -- metadata, business time, idempotency, concurrency ----------------------------------


def test_every_stored_event_says_who_did_what_when_and_in_which_loop(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    iid = closed(app, DISTRICT, OFFICE, warning_ids=[wid])
    app.close_warning(ctx(DISTRICT), wid)
    seen: set[str] = set()
    for notification in app.iter_log():
        event = app.mapper.to_domain_event(notification)
        m = event.meta
        assert isinstance(m, Meta)
        assert all(
            isinstance(value, str) and value
            for value in (m.person, m.unit, m.role, m.command, m.command_id)
        )
        assert m.occurred_at.tzinfo is not None
        assert isinstance(m.loop_id, UUID)
        seen.add(m.command)
    assert {"RaiseWarning", "IssueInstruction", "SignFor", "Submit", "Verify"} <= seen
    issued_event = app.history(iid)[0]
    assert (issued_event.meta.person, issued_event.meta.unit) == ("duty-hw", DISTRICT)
    assert issued_event.meta.cause == str(wid)


def test_the_business_time_is_kept_apart_from_the_recorded_time(app: CommandCenter) -> None:
    happened = (now() - timedelta(hours=5)).replace(microsecond=0)
    iid = issue(app, DISTRICT, OFFICE)
    app.sign_for(ctx(OFFICE, occurred_at=happened.astimezone(SHANGHAI)), iid)
    signed_event = last_event(app, iid)
    assert signed_event.meta.occurred_at == happened
    assert signed_event.timestamp > happened + timedelta(hours=4)
    assert app.instruction(iid).signed_at == happened


def test_a_business_time_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidValue, match="future"):
        ctx(OFFICE, occurred_at=now() + timedelta(hours=1))


def test_a_business_time_without_an_offset_is_refused() -> None:
    with pytest.raises(InvalidValue, match="time-zone"):
        ctx(OFFICE, occurred_at=datetime(2026, 3, 1, 8, 0))


RETRIED: dict[str, Callable[[CommandCenter, Context, UUID], Any]] = {
    "sign for": lambda app, c, iid: app.sign_for(c, iid),
    "report progress": lambda app, c, iid: app.report_progress(c, iid, "on site"),
    "submit": lambda app, c, iid: app.submit(c, iid, "done"),
    "request an extension": lambda app, c, iid: app.request_extension(
        c, iid, deadline=later(days=30), reason="flooded"
    ),
}


@pytest.mark.parametrize("command", RETRIED.values(), ids=RETRIED.keys())
def test_a_command_retried_with_the_same_command_id_is_a_no_op(
    app: CommandCenter, command: Callable[[CommandCenter, Context, UUID], Any]
) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    if command is not RETRIED["sign for"]:
        app.sign_for(ctx(OFFICE), iid)
    retry = ctx(OFFICE, command_id="client-7f3a")
    first = command(app, retry, iid)
    assert first.recorded
    with nothing_stored(app):
        again = command(app, retry, iid)
    assert again.position is None
    assert (again.id, again.version) == (first.id, first.version)


def test_issuing_again_with_the_same_command_id_is_a_no_op(app: CommandCenter) -> None:
    retry = ctx(DISTRICT, command_id="dispatch-0042")
    first = app.issue_instruction(retry, lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS)
    with nothing_stored(app):
        again = app.issue_instruction(retry, lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS)
    assert (again.id, again.position, again.created) == (first.id, None, True)


def test_the_same_command_id_on_a_different_instruction_is_refused_and_the_first_kept(
    app: CommandCenter,
) -> None:
    reused = ctx(DISTRICT, command_id="dispatch-0042")
    first = app.issue_instruction(reused, lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS)
    with nothing_stored(app), pytest.raises(CommandIdReused, match="issue an instruction"):
        app.issue_instruction(reused, lead_unit=OFFICE, title="Evacuate", due_in=TWO_DAYS)
    assert app.instruction(first.id).title == "Inspect"


def test_another_unit_reusing_a_command_id_is_refused_not_shown_the_first_units_instruction(
    app: CommandCenter,
) -> None:
    app.issue_instruction(
        ctx(DISTRICT, command_id="order-1"), lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS
    )
    with nothing_stored(app), pytest.raises(CommandIdReused) as refused:
        app.issue_instruction(
            ctx(OFFICE, command_id="order-1"), lead_unit=COMMUNITY, title="Inspect", due_in=TWO_DAYS
        )
    assert "Inspect" not in str(refused.value)  # nothing of the district's record


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.text(min_size=1, max_size=40).filter(str.strip),
    second=st.text(min_size=1, max_size=40).filter(str.strip),
)
def test_an_issue_given_again_under_its_command_id_is_answered_as_the_first_or_refused(
    app: CommandCenter, first: str, second: str
) -> None:
    """Never a different instruction answered as if it were the one asked for: the same
    title (as stored, trimmed) is the first issue again; any other is refused."""
    reused = ctx(DISTRICT, command_id=f"c-{uuid4().hex}")
    try:
        original = app.issue_instruction(reused, lead_unit=OFFICE, title=first, due_in=TWO_DAYS)
    except InvalidValue:  # a title the domain refuses (control characters): no first issue
        return
    with nothing_stored(app):
        try:
            again = app.issue_instruction(reused, lead_unit=OFFICE, title=second, due_in=TWO_DAYS)
        except CommandIdReused:
            assert first.strip() != second.strip()
        else:
            assert first.strip() == second.strip()
            assert (again.id, again.created) == (original.id, True)


def test_a_command_id_reused_for_another_step_is_refused_and_the_step_not_taken_for_done(
    app: CommandCenter,
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    reused = ctx(DISTRICT, command_id="desk-17")
    app.remind(reused, iid, "report by noon")
    with nothing_stored(app), pytest.raises(CommandIdReused, match="remind, not supervise"):
        app.supervise(reused, iid, "two days late")
    assert app.instruction(iid).supervised_by is None


def test_a_command_id_of_a_step_that_touched_another_record_is_refused_there(
    app: CommandCenter,
) -> None:
    """Verifying a forwarded part tells its parent; the same id given again for a step on
    the parent is a reuse, not a retry of what the parent already recorded under it."""
    parent = issue(app, DISTRICT, OFFICE)
    app.sign_for(ctx(OFFICE), parent)
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    app.sign_for(ctx(COMMUNITY), child)
    app.submit(ctx(COMMUNITY), child, "done")
    shared = ctx(OFFICE, command_id="office-desk-3")
    app.verify(shared, child, accepted=True)
    with nothing_stored(app), pytest.raises(CommandIdReused):
        app.remind(shared, parent)


#: Steps a district may take on the instruction it issued, any order (some refused).
DISTRICT_STEPS: dict[str, Callable[[CommandCenter, Context, UUID], Any]] = {
    "Remind": lambda app, c, iid: app.remind(c, iid, "report by noon"),
    "Supervise": lambda app, c, iid: app.supervise(c, iid, "late"),
    "Park": lambda app, c, iid: app.park(c, iid, "after the flood season"),
    "Resume": lambda app, c, iid: app.resume(c, iid, "season over"),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(DISTRICT_STEPS)), st.sampled_from(["a", "b", "c"])),
        min_size=1,
        max_size=8,
    )
)
def test_a_command_id_is_recorded_once_answered_again_only_for_its_own_step_else_refused(
    app: CommandCenter, steps: list[tuple[str, str]]
) -> None:
    """Whatever steps come under whatever ids, a step is recorded, refused, or, only when
    it is the very step its id first came with, answered as that step again: never
    silently dropped."""
    iid = signed(app, DISTRICT, OFFICE)
    prefix = uuid4().hex  # a fresh namespace of ids for each example
    first_step: dict[str, str] = {}
    for step, cid in steps:
        head = app.head_position()
        try:
            outcome = DISTRICT_STEPS[step](app, ctx(DISTRICT, command_id=f"{prefix}:{cid}"), iid)
        except CommandIdReused:
            assert first_step.get(cid) not in (None, step)
            assert app.head_position() == head
            continue
        except (InvalidTransition, InvalidValue):  # not valid now (say, resuming a live case)
            assert cid not in first_step
            assert app.head_position() == head
            continue
        if outcome.position is None:
            assert first_step.get(cid) == step  # the same step again: a retry
        else:
            assert cid not in first_step  # recorded: the id was new to this instruction
            first_step[cid] = step


def test_the_same_command_id_on_another_instruction_is_a_new_command(app: CommandCenter) -> None:
    first, second = issue(app, DISTRICT, OFFICE), issue(app, DISTRICT, OFFICE)
    shared = ctx(DISTRICT, command_id="remind-all")
    assert app.remind(shared, first).recorded
    assert app.remind(shared, second).recorded


def test_a_progress_report_retried_after_the_instruction_closed_is_still_a_no_op(
    app: CommandCenter,
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    retry = ctx(OFFICE, command_id="progress-0001")
    app.report_progress(retry, iid, "on site")
    app.submit(ctx(OFFICE), iid, "done")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    assert app.report_progress(retry, iid, "on site").position is None


def test_a_command_expecting_an_older_version_is_refused(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    seen = app.instruction(iid).version
    app.remind(ctx(DISTRICT), iid)
    with nothing_stored(app), pytest.raises(ConcurrencyConflict):
        app.sign_for(ctx(OFFICE, expected_version=seen), iid)
    assert app.sign_for(ctx(OFFICE, expected_version=seen + 1), iid).recorded


def test_commands_on_an_unknown_instruction_are_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        app.sign_for(ctx(OFFICE), uuid4())


def test_an_instruction_id_is_not_mistaken_for_another_aggregate(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    with nothing_stored(app), pytest.raises(NotFound):
        app.sign_for(ctx(OFFICE), wid)


def test_a_refused_command_leaves_the_instruction_at_its_version(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    version = app.instruction(iid).version
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.verify(ctx(DISTRICT), iid, accepted=True)
    assert app.instruction(iid).version == version
    assert len(app.history(iid)) == version


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

"""An instruction driven directly, events in and events out: issued, signed for or
returned, redirected, forwarded, extended.

The rest of its life on its own is in ``test_instruction_outcomes.py``; what needs other
aggregates goes through the application in ``test_instruction_commands.py`` and
``test_instruction_command_ids.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.errors import (
    InvalidTransition,
    InvalidValue,
    NotPermitted,
)
from domain.instruction import AssigneeStatus, Instruction, InstructionStatus
from domain.meta import Actor, Context, now
from tests.unit.builders import (
    COMMUNITY,
    COOPERATING,
    DISTRICT,
    OFFICE,
    OTHER_OFFICE,
    WATER,
    ctx,
    issued,
    issuer_meta,
    of,
    only,
    signed_for,
)

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


# -- business time ---------------------------------------------------------------------


def test_a_business_time_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidValue, match="future"):
        ctx(OFFICE, occurred_at=now() + timedelta(hours=1))


def test_a_business_time_without_an_offset_is_refused() -> None:
    with pytest.raises(InvalidValue, match="time-zone"):
        ctx(OFFICE, occurred_at=datetime(2026, 3, 1, 8, 0))

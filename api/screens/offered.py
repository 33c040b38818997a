"""Which steps of an instruction a person is offered, and which units they may address
(ADR 0056).

A button appears only when the domain would take the step: :func:`offered_steps` asks
the same questions as the aggregate's guards (:class:`~domain.instruction.Instruction`)
and the command center's unit relations (issuer or a unit above it, the direction of
the network), in one place, so that a test can hold it against the commands themselves
(``tests/property/test_offered_steps.py``). What depends only on the values typed into a
form (a reason left empty, a deadline too early) is said at the field after the post.

:func:`instructable_units` lists the units an instruction from a unit may go to by
asking :meth:`~domain.network_commands.NetworkCases.check_direction` itself of every
active unit: the issue form offers exactly those, and refuses any other at its field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from api.tokens import Principal
from domain.application import CommandCenter
from domain.disposition import Disposition, DispositionStatus, disposition_id
from domain.errors import DomainError
from domain.instruction import FINISHED, AssigneeStatus, Instruction, InstructionStatus
from domain.unit import Unit

HANDLER = "handler"
DISPATCHER = "dispatcher"

#: Every step a page may offer, by the path of its form (the API's step paths, and
#: ``forward`` and ``actions``), in the order the page shows them, with the role each
#: is taken in (the API's route for it names the same one).
ROLE_OF = {
    "sign": HANDLER,
    "return": HANDLER,
    "progress": HANDLER,
    "actions": HANDLER,
    "extension-requests": HANDLER,
    "deferral-requests": HANDLER,
    "disputes": HANDLER,
    "forward": HANDLER,
    "submit": HANDLER,
    "redirect": DISPATCHER,
    "extension-decisions": DISPATCHER,
    "deferral-decisions": DISPATCHER,
    "dispute-arbitrations": DISPATCHER,
    # The follow-up of a closed case from the public (回访, ADR 0083 and 0090).
    "follow-ups": DISPATCHER,
    # An attempt that did not reach the caller (未联系上, ADR 0093): the same rules.
    "follow-up-attempts": DISPATCHER,
    "verify": DISPATCHER,
    "remind": DISPATCHER,
    "supervise": DISPATCHER,
    "park": DISPATCHER,
    "resume": DISPATCHER,
    "cancel": DISPATCHER,
}
STEPS = tuple(ROLE_OF)
#: The states of a case its lead is handling: a deferral is decided only then.
HOLDING = (InstructionStatus.IN_PROGRESS, InstructionStatus.REWORK)
#: The states in which a dispatch is disputed, and a dispute upheld (ADR 0076).
DISPUTABLE = (InstructionStatus.DISPATCHED, InstructionStatus.IN_PROGRESS)


def may_dispute(center: CommandCenter, i: Instruction, unit: str, at: datetime) -> bool:
    """Whether ``unit`` may dispute the dispatch of ``i`` now (the domain's own rules)."""
    return (
        unit == i.lead
        and i.status in DISPUTABLE
        and i.pending_dispute is None
        and not i.children
        and unit not in i.disputed_by
        and at <= i.dispute_deadline(center.dispute_limits, center.calendar)
    )


def may_uphold(center: CommandCenter, i: Instruction) -> bool:
    """Whether the waiting dispute can be upheld (else only refused): a case new or being
    handled, and a unit to send it to."""
    return i.status in DISPUTABLE and bool(redirect_targets(center, i))


def instructable_units(
    center: CommandCenter, issuer: str, *, below_only: bool = False, exclude: Sequence[str] = ()
) -> list[Unit]:
    """The active units an instruction from ``issuer`` may go to, by the network's own
    rule: down its subtree, or across to a department of the same government
    (``below_only``: down only, as a forwarded part goes)."""
    try:
        source = center.unit(issuer)
    except DomainError:
        return []
    if not source.active:
        return []
    found: list[Unit] = []
    # One reading of the network for the whole walk: the rule asks for each unit's
    # ancestors, a read of the store each without it.
    units = {u.code: u for u in center.units()}
    for unit in units.values():
        if not unit.active or unit.code == issuer or unit.code in exclude:
            continue
        try:
            center.check_direction(source, unit, units.__getitem__)
        except (DomainError, KeyError):
            continue
        if below_only and issuer not in center.ancestors(unit.code, units.__getitem__):
            continue
        found.append(unit)
    return found


def _own_disposition_open(center: CommandCenter, i: Instruction, unit: str) -> bool:
    found = center.find(disposition_id(i.id, unit))
    return isinstance(found, Disposition) and found.status in (
        DispositionStatus.OPEN,
        DispositionStatus.SUBMITTED,
    )


def _handler_steps(center: CommandCenter, i: Instruction, unit: str, at: datetime) -> set[str]:
    """The assignee's steps: the unit's own state on the instruction decides."""
    mine = i.assignees.get(unit)
    working = i.status not in FINISHED and i.status not in (
        InstructionStatus.PARKED,
        InstructionStatus.DEFERRED,
    )
    if mine is None or not working:
        return set()
    steps: set[str] = set()
    if may_dispute(center, i, unit, at):
        steps.add("disputes")
    if mine == AssigneeStatus.DISPATCHED:
        steps |= {"sign", "return"}
    if mine in (AssigneeStatus.SIGNED, AssigneeStatus.SUBMITTED) and _own_disposition_open(
        center, i, unit
    ):
        steps |= {"progress", "actions"}
    if mine == AssigneeStatus.SIGNED:
        if i.pending_extension is None:
            steps.add("extension-requests")
        # The lead holding the case, before its deadline, with no request waiting.
        if unit == i.lead and i.pending_deferral is None and at < i.deadline:
            steps.add("deferral-requests")
        if not (unit == i.lead and i.open_children):
            steps.add("submit")
        # A part forwarded is due no later than this one, and not in the past.
        if at < i.deadline and instructable_units(center, unit, below_only=True):
            steps.add("forward")
    return steps


def _may_redirect(center: CommandCenter, i: Instruction) -> bool:
    returned = any(s == AssigneeStatus.RETURNED for s in i.assignees.values())
    return returned and bool(redirect_targets(center, i))


def redirect_targets(center: CommandCenter, i: Instruction) -> list[Unit]:
    """Where the issuer may send a returned instruction: the units it may instruct
    that are not assignees already (a forwarded part: below the issuer only)."""
    return instructable_units(
        center, i.issuer, below_only=i.parent_id is not None, exclude=list(i.assignees)
    )


def may_follow_up(center: CommandCenter, i: Instruction, unit: str, at: datetime) -> bool:
    """Whether ``unit``'s dispatcher may follow the closed case ``i`` up now (回访): the
    issuer, a whole case (not a forwarded part) from the public, not yet followed up
    since it closed, within the limit (the aggregate's own rules, ADR 0083)."""
    if (
        i.status != InstructionStatus.CLOSED
        or i.parent_id is not None
        or unit != i.issuer
        or i.followed_up_at is not None
    ):
        return False
    try:
        if at > i.follow_up_deadline(center.follow_up_limits, center.calendar):
            return False
    except DomainError:
        return False
    return center.came_from_the_public(i)


def _dispatcher_steps(center: CommandCenter, i: Instruction, unit: str, at: datetime) -> set[str]:
    """The issuer's steps, and those a unit above the issuer may take too."""
    if i.status in FINISHED:
        if may_follow_up(center, i, unit, at):
            return {"follow-ups", "follow-up-attempts"}
        return set()
    parked = i.status == InstructionStatus.PARKED
    # Deferred, the clock is stopped: resumed as a parked case is, nothing else moves.
    paused = parked or i.status == InstructionStatus.DEFERRED
    steps: set[str] = set()
    if unit == i.issuer:
        if i.pending_extension is not None and not i.is_deferred:
            steps.add("extension-decisions")
        if i.pending_deferral is not None and i.status in HOLDING:
            steps.add("deferral-decisions")
        if i.pending_dispute is not None and at <= i.arbitration_deadline(
            center.dispute_limits, center.calendar
        ):
            steps.add("dispute-arbitrations")
        if not paused:
            if i.status == InstructionStatus.SUBMITTED and not i.open_children:
                steps.add("verify")
            if _may_redirect(center, i):
                steps.add("redirect")
    if unit == i.issuer or unit in center.ancestors(i.issuer):
        steps |= {"remind", "cancel"}
        if i.supervised_by != unit:
            steps.add("supervise")
        steps.add("resume" if paused else "park")
    return steps


def offered_steps(
    center: CommandCenter, i: Instruction, principal: Principal, at: datetime
) -> list[str]:
    """The steps ``principal`` may take on ``i`` now, in the page's order: those the
    domain would accept from its unit in a role it holds (given sensible values)."""
    steps: set[str] = set()
    if HANDLER in principal.roles:
        steps |= _handler_steps(center, i, principal.unit, at)
    if DISPATCHER in principal.roles:
        steps |= _dispatcher_steps(center, i, principal.unit, at)
    return [step for step in STEPS if step in steps]

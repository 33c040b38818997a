"""Which of the warning desk's steps a person is offered, and what each one runs (ADR 0055).

A step's button appears only when the domain would take the step: :func:`offered_steps`
is the one place that says so for an early warning. It asks three things, each of the
domain's own answer: the role the step's command is recorded in (the API's
:data:`api.warnings.WARNING_STEPS` lines), the unit relation the command center checks
(the warning lies in the actor's subtree), and the state rules of
:class:`~domain.warning.EarlyWarning`, read from its statuses and its own check for
linking (:func:`steps_in_state`). A hypothesis test drives the aggregate through random
histories and holds that a step is offered exactly when its command is accepted.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union, get_args, get_origin
from uuid import UUID

from api import schemas as s
from api.steps import StepRoute
from api.tokens import Principal
from api.warnings import DUTY, WARNING_STEPS
from domain.application import CommandCenter
from domain.errors import DomainError, NotFound, NotPermitted
from domain.meta import Context
from domain.playbook_runner import DECLARES_EMERGENCY, PlaybookRunner
from domain.warning import OPEN_STATUSES, EarlyWarning, WarningStatus

#: The role that issues an instruction, and so links one to a warning
#: (``POST /v1/instructions`` in api/instructions.py).
ISSUES_INSTRUCTIONS = "dispatcher"
#: The step that is a link to the issue form, not a form of the desk's own.
INSTRUCT = "instruct"
#: Where the domain refuses a warning's own steps after it is over.
_ENDED = frozenset(
    {
        WarningStatus.FALSE_ALARM,
        WarningStatus.CANCELLED,
        WarningStatus.CLOSED,
        WarningStatus.MERGED,
    }
)
#: What a warning must be for its loop to close (domain/warning.py ``close``).
_CLOSABLE = frozenset(
    {
        WarningStatus.CONFIRMED,
        WarningStatus.FALSE_ALARM,
        WarningStatus.RESOLVED,
        WarningStatus.CANCELLED,
    }
)


class LevelChange(s.Input, kw_only=True):
    """The desk's level change: the new level and why (the API has no route for it yet;
    the command is the one the intake uses for a worse reading)."""

    level: s.WarningLevel
    reason: s.Note


#: Every step of the desk by the name its form posts to, in the order buttons appear.
DESK_STEPS: Mapping[str, StepRoute] = {
    line.path: line
    for line in (
        *WARNING_STEPS[:2],
        StepRoute(
            "level",
            DUTY,
            LevelChange,
            lambda c, ctx, wid, d: c.change_warning_level(ctx, wid, d.level, d.reason),
        ),
        *WARNING_STEPS[2:],
    )
}
#: The text field of each step's form: a value the domain refuses is said beside it.
TEXT_FIELD = {
    "assess": "note",
    "level": "reason",
    "resolve": "note",
    "cancel": "reason",
    "close": "note",
}


def body_type(line: StepRoute) -> type[s.Input]:
    """The body a step's form is read into (``X | None``: ``X``)."""
    body = line.body
    if get_origin(body) in (Union, types.UnionType):
        body = next(a for a in get_args(body) if a is not type(None))
    found: type[s.Input] = body
    return found


def steps_in_state(status: WarningStatus, open_instructions: int) -> frozenset[str]:
    """The steps a warning in ``status`` takes, by the aggregate's rules (the role and
    the unit aside)."""
    steps: set[str] = set()
    if status == WarningStatus.RAISED:
        steps.add("acknowledge")
    if status == WarningStatus.ACKNOWLEDGED:
        steps.add("assess")
    if status in OPEN_STATUSES:
        steps |= {"level", "resolve"}
    if status not in _ENDED:
        steps |= {"cancel", INSTRUCT}
    if status in _CLOSABLE and open_instructions == 0:
        steps.add("close")
    return frozenset(steps)


def offered_steps(
    center: CommandCenter,
    principal: Principal,
    *,
    unit: str,
    status: WarningStatus,
    open_instructions: int,
) -> frozenset[str]:
    """The steps on a warning of ``unit`` in ``status`` that ``principal`` is offered:
    the state allows it, the principal holds the step's role, and the warning lies in
    the principal's own subtree (reading everything is not acting everywhere: ADR 0044)."""
    if not center.is_within(unit, principal.unit):
        return frozenset()
    roles = set(principal.roles)
    return frozenset(
        step
        for step in steps_in_state(status, open_instructions)
        if (ISSUES_INSTRUCTIONS if step == INSTRUCT else DESK_STEPS[step].role) in roles
    )


def may_switch_emergency(runner: PlaybookRunner, principal: Principal, scenario: str) -> bool:
    """Whether the scenario's emergency switch is offered to ``principal``: the playbook
    runner's own rule (role, and the scenario's owner within the principal's unit)."""
    if DECLARES_EMERGENCY not in principal.roles:
        return False
    try:
        runner.check_may_switch(Context(actor=principal.actor(DECLARES_EMERGENCY)), scenario)
    except (NotPermitted, NotFound):
        return False
    return True


class EmergencySwitch(s.Reason, kw_only=True):
    """The desk's form for a scenario's emergency switch: on or off, and why."""

    on: bool


# -- merging (并单, ADR 0082 and 0090) ----------------------------------------------------

#: The merge's own steps: their forms post to ``/warnings/{id}/merge`` and ``…/unmerge``,
#: in the role of the API's routes for them (api/merging.py).
MERGE, UNMERGE = "merge", "unmerge"
MERGES_WARNINGS = "dispatcher"
#: The most open warnings a merge form offers as main cases (newest first).
MAX_MERGE_TARGETS = 50


class MergeForm(s.Input, kw_only=True):
    """The desk's merge form: the main case, why, and whether to merge warnings that
    differ all the same (the API's :class:`api.schemas.WarningMerge`)."""

    into: UUID
    reason: s.Note
    override: bool = False


@dataclass(frozen=True)
class MergeTarget:
    """A main case the merge form offers, and what tells it apart from the warning (an
    override is needed to merge them: another rule, another place, far apart in time)."""

    warning: EarlyWarning
    mismatch: tuple[str, ...]


def may_merge_now(principal: Principal) -> bool:
    """Whether ``principal`` merges at all: the API route's role."""
    return MERGES_WARNINGS in principal.roles


def merge_targets(
    center: CommandCenter,
    principal: Principal,
    warning: EarlyWarning,
    candidates: Iterable[EarlyWarning],
) -> list[MergeTarget]:
    """The ``candidates`` ``warning`` may be merged into by ``principal`` now: the
    domain's own rules of a merge (:meth:`EarlyWarning.check_can_merge_into`, with the
    override the form offers) and the command center's subtree rule for both warnings."""
    if not may_merge_now(principal) or not center.is_within(warning.unit, principal.unit):
        return []
    found = []
    for main in candidates:
        if not center.is_within(main.unit, principal.unit):
            continue
        try:
            warning.check_can_merge_into(main, override=True)
        except DomainError:
            continue
        found.append(MergeTarget(main, tuple(warning.mismatch_with(main))))
    # The same matter first: those that need no override.
    return sorted(found, key=lambda t: len(t.mismatch) > 0)


def may_be_merged(warning: EarlyWarning) -> bool:
    """Whether ``warning`` could be merged into some other open warning at all (its own
    side of the domain's rules): worth looking for main cases."""
    return warning.is_open and not warning.merged and not warning.open_instructions


def may_unmerge(
    center: CommandCenter, principal: Principal, warning: EarlyWarning, main: EarlyWarning | None
) -> bool:
    """Whether ``principal`` may take ``warning`` out of its main case ``main`` now."""
    if main is None or not may_merge_now(principal):
        return False
    if not (
        center.is_within(warning.unit, principal.unit)
        and center.is_within(main.unit, principal.unit)
    ):
        return False
    try:
        warning.check_can_unmerge(main)
    except DomainError:
        return False
    return True

"""The escalation policy file (``closedloop/escalation.toml``, ADR 0084), read and checked.

TOML decoded by msgspec into strict tables (an unknown setting is a typo, refused by
name); what the types cannot say (steps in order, the leader before the superior) is the
domain's :func:`~domain.duty_escalation.checked_ladder`. A mistake stops start-up with
the file and the entry, as the other data files do (``closedloop/catalogues.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from closedloop.catalogues import decode, read_toml
from closedloop.settings import DEFAULT_ESCALATION
from domain.duty_escalation import EscalationPolicy, Step, Target, checked_ladder
from domain.errors import EscalationPolicyError
from domain.instruction import Priority

__all__ = ["DEFAULT_ESCALATION", "load_escalation_policy"]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class StepEntry(_Strict):
    after_minutes: Annotated[int, msgspec.Meta(ge=1, le=60 * 24 * 30)]
    to: Literal["duty_leader", "superior_duty_officer"]


class LadderEntry(_Strict):
    time: Literal["working", "clock"]
    steps: list[StepEntry]


class PolicyFile(_Strict):
    normal: LadderEntry
    high: LadderEntry
    urgent: LadderEntry


def load_escalation_policy(path: Path = DEFAULT_ESCALATION) -> EscalationPolicy:
    """The policy in ``path`` (``CLOSEDLOOP_ESCALATION_POLICY``, the shipped file by
    default); a broken file is :class:`EscalationPolicyError` naming it."""
    table = read_toml(path, EscalationPolicyError, "escalation policy")
    try:
        policy = decode(table, PolicyFile, EscalationPolicyError)
        ladders = {}
        for priority in Priority:
            entry: LadderEntry = getattr(policy, priority.value)
            steps = [Step(s.after_minutes, Target(s.to)) for s in entry.steps]
            ladders[priority.value] = checked_ladder(
                priority.value, steps, clock=entry.time == "clock"
            )
    except EscalationPolicyError as e:
        raise EscalationPolicyError(f"escalation policy {path}: {e}") from None
    return EscalationPolicy(ladders)

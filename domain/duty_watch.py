"""The sign-for watch (ADR 0084): an instruction its lead unit has not signed for climbs
the escalation ladder of its priority, one step at a time, each step once.

For every open instruction whose lead unit has not signed for it (and that is not parked
or deferred, whose clocks are stopped), the watch takes each step of the ladder whose
time has come, in order: to the lead's own duty leader, then to the superior unit's duty
officer, naming who is on duty there at that moment. Each step is a command of the
system in the unit escalated to, with an id derived from the wait and the step
(``duty:<wait>:<step>``), and the wait's record keeps the steps taken: a restarted watch,
or two at once, takes each step once. A redirect starts a new wait, and a new ladder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.duty_escalation import EscalationPolicy, default_policy, escalation_id
from domain.errors import DomainError
from domain.instruction import AssigneeStatus, Instruction, InstructionStatus
from domain.meta import Actor, Context, now
from domain.roster_commands import RosterCases
from domain.watch import WATCH_PERSON, OpenInstructions


def escalation_command_id(wait: UUID, step: int) -> str:
    """The stable id of step ``step`` (from 0) of one wait's ladder."""
    return f"duty:{wait.hex}:{step}"


def waiting(i: Instruction) -> bool:
    """Whether ``i``'s lead unit is waiting to sign for it, its clock running."""
    if i.is_finished or i.status in (InstructionStatus.PARKED, InstructionStatus.DEFERRED):
        return False
    return i.assignees.get(i.lead) == AssigneeStatus.DISPATCHED


class SignForWatch:
    """Escalates the instructions not signed for within their ladder's steps."""

    def __init__(
        self,
        center: CommandCenter,
        policy: EscalationPolicy | None = None,
        open_instructions: Callable[[], Iterable[UUID]] | None = None,
    ) -> None:
        self.center = center
        self.policy = policy or default_policy()
        self.cases = RosterCases(center)
        self.open = OpenInstructions(center, open_instructions)

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Look at every open instruction once; answer the steps taken."""
        at = at or now()
        done: list[dict[str, Any]] = []
        for i in self.open.each():
            if waiting(i):
                done += self._climb(i, at)
        return done

    def _climb(self, i: Instruction, at: datetime) -> list[dict[str, Any]]:
        ladder = self.policy.ladder(i.priority.value)
        since = i.lead_since or i.issued_at
        wait = escalation_id(i.id, i.lead, since)
        record = self.cases.escalation(i.id, i.lead, since)
        taken = 0 if record is None else record.next_step
        acts: list[dict[str, Any]] = []
        for n in range(taken, len(ladder.steps)):
            due = ladder.due_at(n, since, self.center.calendar)
            if at < due:
                break
            step = ladder.steps[n]
            unit = i.lead
            if step.to.value == "superior_duty_officer":
                unit = self.center.unit(i.lead).parent or i.lead
            ctx = Context(
                Actor(person=WATCH_PERSON, unit=unit, role="system"),
                command_id=escalation_command_id(wait, n),
                cause=f"sign-for watch: step {n + 1} to {step.to.value}",
            )
            try:
                outcome = self.cases.escalate_unsigned(ctx, i.id, n, step.to, due)
            except DomainError as e:
                acts.append({"instruction_id": str(i.id), "step": n + 1, "skipped": str(e)})
                break
            if outcome.recorded:
                acts.append({"instruction_id": str(i.id), "step": n + 1, "to": unit})
        return acts

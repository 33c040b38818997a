"""Escalating an instruction not signed for (升级, ADR 0084): the policy, and the record
of the steps taken for one instruction's wait.

The policy names, per priority, the steps of the ladder: after how long since the lead
unit received the instruction (at issue, or when a redirect or an upheld dispute sent it
there) each step is due, and to whom it goes: the lead unit's own duty leader
(``duty_leader``) or the duty officer of the unit above it (``superior_duty_officer``).
Urgent instructions count clock time, the others working time on the calendar, as their
sign-for limits do; a priority's table may say otherwise.

One :class:`SignForEscalation` aggregate per wait (the instruction, its lead, the moment
the lead received it) records each step once, naming the unit and the person on duty
there at that moment (and the deputy). A redirect starts a new wait, with a ladder of
its own. The record joins the instruction's loop, so its steps are on the case's
timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.errors import EscalationPolicyError, InvalidTransition
from domain.instruction import Priority
from domain.meta import Meta, derived_id

#: At most this many steps on one priority's ladder.
MAX_STEPS = 5


class Target(StrEnum):
    DUTY_LEADER = "duty_leader"  # the lead unit's own duty leader (带班领导)
    SUPERIOR_DUTY_OFFICER = "superior_duty_officer"  # the duty officer of the unit above


@dataclass(frozen=True)
class Step:
    after_minutes: int
    to: Target


@dataclass(frozen=True)
class Ladder:
    """One priority's steps, in the order they fall due; ``clock`` counts clock time."""

    steps: tuple[Step, ...]
    clock: bool

    def due_at(self, n: int, since: datetime, calendar: WorkingCalendar) -> datetime:
        minutes = self.steps[n].after_minutes
        if self.clock:
            return since + timedelta(minutes=minutes)
        return calendar.add(since, WorkingDuration(seconds=minutes * 60))


@dataclass(frozen=True)
class EscalationPolicy:
    ladders: dict[str, Ladder]

    def ladder(self, priority: str) -> Ladder:
        return self.ladders[Priority(priority).value]


def checked_ladder(priority: str, steps: list[Step], clock: bool) -> Ladder:
    """A ladder once its steps make sense: one at least, at most :data:`MAX_STEPS`, each
    later than the one before, the superior's never before the unit's own leader's."""
    where = f"[{priority}]"
    if not steps:
        raise EscalationPolicyError(f"{where} needs at least one step")
    if len(steps) > MAX_STEPS:
        raise EscalationPolicyError(f"{where} has at most {MAX_STEPS} steps")
    last = 0
    for n, step in enumerate(steps, 1):
        if step.after_minutes < 1:
            raise EscalationPolicyError(f"{where} step {n}: after_minutes is at least 1")
        if step.after_minutes <= last:
            raise EscalationPolicyError(
                f"{where} step {n}: after_minutes {step.after_minutes} must be later than "
                f"the step before it ({last})"
            )
        last = step.after_minutes
    targets = [s.to for s in steps]
    both = Target.DUTY_LEADER in targets and Target.SUPERIOR_DUTY_OFFICER in targets
    if both and targets.index(Target.SUPERIOR_DUTY_OFFICER) < targets.index(Target.DUTY_LEADER):
        raise EscalationPolicyError(
            f"{where}: the unit's own duty leader comes before the superior unit's duty officer"
        )
    return Ladder(tuple(steps), clock)


def default_policy() -> EscalationPolicy:
    """The ladder when no file names another (the same as ``closedloop/escalation.toml``)."""
    two = (Step(120, Target.DUTY_LEADER), Step(240, Target.SUPERIOR_DUTY_OFFICER))
    return EscalationPolicy(
        {
            Priority.NORMAL.value: Ladder(two, clock=False),
            Priority.HIGH.value: Ladder(
                (Step(60, Target.DUTY_LEADER), Step(120, Target.SUPERIOR_DUTY_OFFICER)), False
            ),
            Priority.URGENT.value: Ladder(
                (Step(30, Target.DUTY_LEADER), Step(60, Target.SUPERIOR_DUTY_OFFICER)), True
            ),
        }
    )


def escalation_id(instruction_id: UUID, lead: str, since: datetime) -> UUID:
    """The id of the record of one wait: this instruction, at this lead, since then."""
    return derived_id("sign-for-escalation", f"{instruction_id}:{lead}:{since.isoformat()}")


class SignForEscalation(LoopAggregate):
    """The steps taken while one lead unit has not signed for one instruction."""

    class Opened(LoopAggregate.Created):
        instruction_id: UUID
        lead: str
        since: datetime
        priority: str

    class Escalated(LoopAggregate.Event):
        step: int  # from 1, as people count
        to: str
        unit: str
        post: str
        person: str | None
        deputy: str | None
        due_at: datetime
        #: Whether a shift of the roster covered that moment (who is named, if anyone).
        on_roster: bool

    @staticmethod
    def create_id(instruction_id: UUID, lead: str, since: datetime) -> UUID:
        return escalation_id(instruction_id, lead, since)

    @classmethod
    def open(
        cls, instruction_id: UUID, lead: str, since: datetime, priority: str, meta: Meta
    ) -> SignForEscalation:
        return cls(
            instruction_id=instruction_id, lead=lead, since=since, priority=priority, meta=meta
        )

    @event(Opened)
    def __init__(
        self, instruction_id: UUID, lead: str, since: datetime, priority: str, meta: Meta
    ) -> None:
        self.instruction_id = instruction_id
        self.lead = lead
        self.since = since
        self.priority = priority
        # step number (from 0) -> what was recorded
        self.steps: list[dict[str, object]] = []

    @property
    def next_step(self) -> int:
        return len(self.steps)

    def escalate(
        self,
        step: int,
        to: Target,
        unit: str,
        post: str,
        person: str | None,
        deputy: str | None,
        due_at: datetime,
        meta: Meta,
    ) -> bool:
        """Record step ``step``; False when it was taken already (a second watch)."""
        if step < self.next_step:
            return False
        if step > self.next_step:
            raise InvalidTransition(
                f"step {step + 1} of the escalation comes after step {self.next_step + 1}"
            )
        self._escalated(
            step=step + 1,
            to=to.value,
            unit=unit,
            post=post,
            person=person,
            deputy=deputy,
            due_at=due_at,
            on_roster=person is not None,
            meta=meta,
        )
        return True

    @event(Escalated)
    def _escalated(
        self,
        step: int,
        to: str,
        unit: str,
        post: str,
        person: str | None,
        deputy: str | None,
        due_at: datetime,
        on_roster: bool,
        meta: Meta,
    ) -> None:
        self.steps.append(
            {"to": to, "unit": unit, "post": post, "person": person, "deputy": deputy}
        )

"""The deadline watch: no deadline passes unnoticed.

For every open instruction the watch

1. reminds the assignees when the time left falls to ``remind_before`` (working time for
   normal and high priority, clock time for urgent ones, as deadlines are counted);
2. marks the instruction overdue once its deadline has passed;
3. puts it under supervision by the issuer's superior unit once it has been overdue for
   ``supervise_after`` more.

Each act is a command of the command center given by the system (person ``closedloop``,
role ``system``, in the unit entitled to act), with an id derived from the instruction,
its deadline and the act: run twice, across restarts or by two watchers at once, it
happens once. A new deadline (an extension granted) is a new deadline to watch.
Parked and deferred instructions are not watched: their clock is stopped (a deferral
resumed has a new deadline, watched anew; ADR 0071).

Which instructions are open is asked of ``open_instructions`` when the composition root
gives one (the instructions read model); otherwise it is read from the log (every
``Instruction.Issued``) and kept in memory, and a restarted watch reads the log again.

What is due is decided by :func:`acts_due`, a pure function of an instruction, a moment,
the calendar and the policy; :meth:`DeadlineWatch.tick` carries the acts out. The loop
that ticks, in a thread of its own, is the composition root's (``closedloop/workers.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.errors import DomainError
from domain.instruction import Instruction, InstructionStatus, Priority
from domain.meta import Actor, Context, derived_id, now
from domain.roster import Post
from domain.roster_commands import RosterCases

WATCH_PERSON = "closedloop"


@dataclass(frozen=True)
class WatchPolicy:
    remind_before: WorkingDuration = field(default_factory=lambda: WorkingDuration(seconds=7200))
    supervise_after: WorkingDuration = field(default_factory=lambda: WorkingDuration(days=1))
    interval: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class DueAct:
    """An act the watch owes an instruction: ``remind``, ``overdue`` or ``supervise``
    (the last by the issuer's superior unit, which the watch looks up)."""

    act: str
    note: str


def acts_due(
    i: Instruction, at: datetime, calendar: WorkingCalendar, policy: WatchPolicy
) -> list[DueAct]:
    """What is due for ``i`` at ``at``: a reminder when the time left falls to
    ``remind_before``; once past the deadline, overdue; and supervision once overdue by
    ``supervise_after`` more. Working time for normal and high priority, clock time for
    urgent instructions, as deadlines are counted."""
    deadline = calendar.to_local(i.deadline).strftime("%Y-%m-%d %H:%M")
    if at <= i.deadline:
        if i.time_left(at, calendar) <= _span(i, policy.remind_before, calendar):
            return [DueAct("remind", f"the deadline {deadline} is near")]
        return []
    due = [DueAct("overdue", f"overdue: the deadline {deadline} has passed")]
    late = i.overdue_by(at, calendar)
    if late >= _span(i, policy.supervise_after, calendar):
        due.append(DueAct("supervise", f"overdue by {late} past the deadline {deadline}"))
    return due


def _span(i: Instruction, duration: WorkingDuration, calendar: WorkingCalendar) -> timedelta:
    # Working durations compare with working time left; urgent ones with clock time.
    if i.priority == Priority.URGENT:
        return duration.clock()
    return timedelta(seconds=duration.seconds) + duration.days * calendar.day_length


class OpenInstructions:
    """The instructions a watch looks at each round: those ``listing`` names (the
    instructions view's open ones), or, with no view, every one issued on the log, read
    on from where the last round stopped; a finished one is dropped from then on."""

    def __init__(
        self, center: CommandCenter, listing: Callable[[], Iterable[UUID]] | None = None
    ) -> None:
        self.center = center
        self.listing = listing
        self._next = 1
        self._open: set[UUID] = set()

    def each(self) -> Iterator[Instruction]:
        """Each open instruction, as it stands now, in a stable order."""
        if self.listing is not None:
            self._open = set(self.listing())
        else:
            for n in self.center.iter_log(self._next):
                self._next = n.id + 1
                if n.topic.endswith("Instruction.Issued"):
                    self._open.add(n.originator_id)
        for iid in sorted(self._open):
            try:
                i = self.center.instruction(iid)
            except DomainError:
                self._open.discard(iid)
                continue
            if i.is_finished:
                self._open.discard(iid)
                continue
            yield i


class DeadlineWatch:
    """Reminds, marks overdue and escalates to supervision, each exactly once."""

    def __init__(
        self,
        center: CommandCenter,
        policy: WatchPolicy | None = None,
        open_instructions: Callable[[], Iterable[UUID]] | None = None,
    ) -> None:
        self.center = center
        self.policy = policy or WatchPolicy()
        self.open = OpenInstructions(center, open_instructions)

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Look at every open instruction once; answer what was done."""
        at = at or now()
        done: list[dict[str, Any]] = []
        for i in self.open.each():
            if i.status in (InstructionStatus.PARKED, InstructionStatus.DEFERRED):
                continue
            done += self._watch(i, at)
        return done

    def _watch(self, i: Instruction, at: datetime) -> list[dict[str, Any]]:
        key = derived_id("deadline", f"{i.id}:{i.deadline.isoformat()}").hex
        acts: list[dict[str, Any]] = []
        for due in acts_due(i, at, self.center.calendar, self.policy):
            unit = i.issuer
            if due.act == "supervise":
                superiors = self.center.ancestors(i.issuer)
                if not superiors:
                    continue
                unit = superiors[0]
            # Who is told: the lead unit of a reminder or a lateness, the superior unit
            # of a supervision; the event names whoever is on duty there at that moment.
            told = unit if due.act == "supervise" else i.lead
            held = RosterCases(self.center).on_duty(told, Post.DUTY_OFFICER.value, at)
            on_duty = held.person if held is not None else None
            acts.append(self._act(i, key, due.act, unit, due.note, on_duty))
        return [a for a in acts if a]

    def _act(
        self, i: Instruction, key: str, act: str, unit: str, note: str, on_duty: str | None
    ) -> dict[str, Any]:
        ctx = Context(
            Actor(person=WATCH_PERSON, unit=unit, role="system"),
            command_id=f"watch:{key}:{act}",
            cause=f"deadline watch: {act}",
        )
        if i.has_seen(ctx.command_id):
            return {}
        try:
            if act == "supervise":
                outcome = self.center.supervise(ctx, i.id, note, on_duty)
            elif act == "overdue":
                if i.is_marked_overdue:
                    return {}
                outcome = self.center.mark_overdue(ctx, i.id, note, on_duty)
            else:
                outcome = self.center.remind(ctx, i.id, note, on_duty)
        except DomainError as e:
            return {"instruction_id": str(i.id), "act": act, "skipped": str(e)}
        if not outcome.recorded:
            return {}
        return {"instruction_id": str(i.id), "act": act, "by": unit}

"""The check-in watch (ADR 0078): no summoned department's absence passes unnoticed.

For every open whistle and every summoned department not yet checked in, the watch

1. reminds the department once the check-in limit has passed;
2. escalates to the duty of the department's own government once twice the limit has
   passed.

Each act is a command of the system in the unit acted on, with an id derived from the
whistle, the department and the act (``checkin:<whistle>:<department>:<act>``): run
twice, across restarts or by two watchers at once, it happens once, as the deadline
watch's acts do (:mod:`domain.watch`). The whistle also keeps who was reminded and
escalated, so an act already done is a no-op even under another id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.errors import DomainError
from domain.meta import Actor, Context, now
from domain.roster import Post
from domain.roster_commands import RosterCases
from domain.watch import WATCH_PERSON
from domain.whistle import Whistle


def acts_due(w: Whistle, at: datetime) -> list[tuple[str, str]]:
    """(act, department) due on ``w`` at ``at``: ``remind`` from the limit on,
    ``escalate`` from twice the limit on, for each department not yet there."""
    if not w.is_open:
        return []
    due: list[tuple[str, str]] = []
    for d in w.not_arrived():
        if at >= w.due_at and d not in w.reminded:
            due.append(("remind", d))
        if at >= w.blown_at + 2 * w.limit and d not in w.escalated:
            due.append(("escalate", d))
    return due


class CheckInWatch:
    """Reminds and escalates absent departments, each exactly once."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center
        self._next = 1
        self._open: set[UUID] = set()

    def _catch_up(self) -> None:
        # A restarted watch reads the log again from the start: what it did before is on
        # the whistles, and its acts' ids make a second doing a no-op.
        for n in self.center.iter_log(self._next):
            self._next = n.id + 1
            if n.topic.endswith("Whistle.Blown"):
                self._open.add(n.originator_id)

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Look at every open whistle once; answer what was done."""
        at = at or now()
        self._catch_up()
        done: list[dict[str, Any]] = []
        for wid in sorted(self._open):
            try:
                w = self.center.whistle(wid)
            except DomainError:
                self._open.discard(wid)
                continue
            if not w.is_open:
                self._open.discard(wid)
                continue
            for act, department in acts_due(w, at):
                done.append(self._act(w, act, department))
        return [d for d in done if d]

    def _act(self, w: Whistle, act: str, department: str) -> dict[str, Any]:
        unit = department
        if act == "escalate":
            unit = self.center.unit(department).parent or department
        ctx = Context(
            Actor(person=WATCH_PERSON, unit=unit, role="system"),
            command_id=f"checkin:{w.id.hex}:{department}:{act}",
            cause=f"check-in watch: {act}",
        )
        if w.has_seen(ctx.command_id):
            return {}
        # Who is on duty at the unit told, at this moment (ADR 0090).
        held = RosterCases(self.center).on_duty(unit, Post.DUTY_OFFICER.value, now())
        on_duty = held.person if held is not None else None
        try:
            if act == "remind":
                outcome = self.center.remind_absent(ctx, w.id, department, on_duty)
            else:
                outcome = self.center.escalate_absent(ctx, w.id, department, on_duty)
        except DomainError as e:
            return {"whistle_id": str(w.id), "act": act, "skipped": str(e)}
        if not outcome.recorded:
            return {}
        return {"whistle_id": str(w.id), "act": act, "department": department, "to": unit}

"""The follow-up watch (ADR 0083): no caller of a closed case from the public is
forgotten. Once half the follow-up limit has passed since the closure and the caller
has not been followed up, the watch reminds the issuer, once per closure.

The act is a command of the system in the issuing unit, with an id derived from the case
and its closure (``follow-up-watch:<case>:<closed at>``): run twice, across restarts or
by two watchers at once, it happens once, as the deadline watch's acts do
(:mod:`domain.watch`); the case also keeps that it was reminded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.errors import DomainError
from domain.instruction import Instruction, InstructionStatus
from domain.meta import Actor, Context, now
from domain.roster import Post
from domain.roster_commands import RosterCases
from domain.watch import WATCH_PERSON


def reminder_command_id(i: Instruction) -> str:
    """The stable id of the one reminder of ``i``'s follow-up for its closure in force."""
    closed = i.closed_at.isoformat() if i.closed_at is not None else ""
    return f"follow-up-watch:{i.id.hex}:{closed}"


class FollowUpWatch:
    """Reminds the issuer of each closed public case not yet followed up."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center
        self._next = 1
        self._closed: set[UUID] = set()

    def _catch_up(self) -> None:
        # A case closes at an accepted verification; a reopened one closes again so.
        for n in self.center.iter_log(self._next):
            self._next = n.id + 1
            if n.topic.endswith("Instruction.Verified"):
                self._closed.add(n.originator_id)

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Look at every closed case still to be followed up; answer the reminders."""
        at = at or now()
        self._catch_up()
        done: list[dict[str, Any]] = []
        limits, calendar = self.center.follow_up_limits, self.center.calendar
        for iid in sorted(self._closed):
            try:
                i = self.center.instruction(iid)
            except DomainError:
                self._closed.discard(iid)
                continue
            if i.status != InstructionStatus.CLOSED:
                continue  # rejected at verification, or reopened: it will close again
            if (
                i.parent_id is not None
                or i.followed_up_at is not None
                or i.follow_up_reminded
                or at > i.follow_up_deadline(limits, calendar)
                or not self.center.came_from_the_public(i)
            ):
                self._closed.discard(iid)
                continue
            if at < i.follow_up_reminder_at(limits, calendar):
                continue
            ctx = Context(
                Actor(person=WATCH_PERSON, unit=i.issuer, role="system"),
                command_id=reminder_command_id(i),
                cause="follow-up watch: remind the follow-up",
            )
            # Who is on duty at the issuer at this moment (ADR 0090).
            held = RosterCases(self.center).on_duty(i.issuer, Post.DUTY_OFFICER.value, at)
            try:
                outcome = self.center.remind_follow_up(
                    ctx, iid, held.person if held is not None else None
                )
            except DomainError as e:
                done.append({"instruction_id": str(iid), "skipped": str(e)})
                continue
            self._closed.discard(iid)
            if outcome.recorded:
                done.append({"instruction_id": str(iid), "act": "remind_follow_up"})
        return done

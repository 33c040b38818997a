"""The notice watch: the units that have not confirmed a notice's receipt by its limit
are reminded, once (ADR 0077).

As the deadline watch (``domain/watch.py``), each reminder is a command of the system
(person ``closedloop``, role ``system``, in the sending unit) whose id is derived from
the notice alone (``notice-watch:<notice id>:remind``): run twice, across restarts or by
two watchers at once, the reminder is recorded once, and the notice itself refuses a
second reminder (it keeps whom it reminded). The notices are found in the log (every
``Notice.Sent``); a restarted watch reads the log again and finds every reminder sent.

The reminder names, for each late unit, who holds its duty officer's post at that moment
on its roster (ADR 0098), as the other watches' steps name the person on duty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.errors import DomainError
from domain.meta import Actor, Context, now
from domain.notice import Notice
from domain.notice_commands import NoticeCases
from domain.roster import Post
from domain.roster_commands import RosterCases

WATCH_PERSON = "closedloop"


def reminder_command_id(nid: UUID) -> str:
    """The stable id of the one reminder of notice ``nid``."""
    return f"notice-watch:{nid.hex}:remind"


class NoticeWatch:
    """Reminds each notice's unconfirmed units once its limit has passed."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center
        self.cases = NoticeCases(center)
        self.rosters = RosterCases(center)
        self._next = 1
        self._open: set[UUID] = set()

    def _catch_up(self) -> None:
        for n in self.center.iter_log(self._next):
            self._next = n.id + 1
            if n.topic.endswith("Notice.Sent"):
                self._open.add(n.originator_id)

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        """Look at every notice not yet settled; answer the reminders sent."""
        at = at or now()
        self._catch_up()
        done: list[dict[str, Any]] = []
        for nid in sorted(self._open):
            notice = self.center.unit_of_work.find(Notice, nid)
            if notice is None:
                self._open.discard(nid)
                continue
            if notice.reminded or not notice.unconfirmed():
                # Reminded already, or every unit confirmed: nothing more to watch.
                self._open.discard(nid)
                continue
            units = notice.reminder_due(at)
            if not units:
                continue
            ctx = Context(
                Actor(person=WATCH_PERSON, unit=notice.sender, role="system"),
                command_id=reminder_command_id(nid),
                cause="notice watch: remind late receipts",
            )
            # Who is on duty at each late unit at this moment (ADR 0098): the event
            # names them, as the other watches' steps do (ADRs 0090, 0094).
            on_duty = {unit: self._on_duty(unit, at) for unit in units}
            try:
                outcome = self.cases.remind_late(ctx, nid, at, on_duty)
            except DomainError as e:
                done.append({"notice_id": str(nid), "skipped": str(e)})
                continue
            self._open.discard(nid)
            if outcome.recorded:
                done.append({"notice_id": str(nid), "reminded": units})
        return done

    def _on_duty(self, unit: str, at: datetime) -> str | None:
        held = self.rosters.on_duty(unit, Post.DUTY_OFFICER.value, at)
        return held.person if held is not None else None

"""The silence watch (ADR 0085): a silence whose end has come is lifted, then expired.

For every live silence whose end has passed, the watch first lets the intake raise what
is still beyond its limit (:meth:`~domain.intake.Intake.lift`), then records the expiry
as the system's act. Both have ids derived from the silence and its end
(``silence:<id>:<end>:expire``, and the raises' from the silence and the reading): run
twice, across restarts or by two watchers at once, each happens once. Lifting comes
first so that a crash between the two lifts again, never forgets to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import DomainError
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.watch import WATCH_PERSON


class SilenceWatch:
    """Lifts and expires silences whose end has come, each exactly once."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        at = at or now()
        done: list[dict[str, Any]] = []
        cases = self.intake.silences
        for sid, entry in sorted(cases.live().items()):
            if at < entry["ends_at"]:
                continue
            try:
                silence = cases.silence(UUID(sid))
                done += self.intake.lift(silence)
                ctx = Context(
                    Actor(person=WATCH_PERSON, unit=silence.scope, role="system"),
                    command_id=f"silence:{silence.id.hex}:{silence.ends_at.isoformat()}:expire",
                    cause="silence watch: the silence's end has come",
                )
                outcome = cases.expire_silence(ctx, silence.id)
            except DomainError as e:
                done.append({"silence_id": sid, "act": "expire", "skipped": str(e)})
                continue
            if outcome.recorded:
                done.append({"silence_id": sid, "act": "expire"})
        return done

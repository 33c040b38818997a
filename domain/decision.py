"""What a decision names and what a command answers (ADR 0033), and the two checks of a
command's identity every use case makes: If-Match, and a command id reused for another
command (ADR 0025)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from domain.errors import CommandIdReused, ConcurrencyConflict
from domain.meta import Context


@dataclass
class Decision:
    """What a decision did: the aggregate it was about and every aggregate it touched."""

    primary: Aggregate
    touched: list[Any]
    created: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What a command did.

    ``id`` and ``version`` name the aggregate the command was about (for ``forward``,
    the new child instruction). ``position`` is the log position of the last event
    written, for read-your-writes; it is ``None`` when nothing was written because the
    command had already been applied (a retry with the same command id).
    """

    id: UUID
    version: int
    position: int | None
    created: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: The aggregate's status after the command (``closed``, ``active``...), so that an
    #: answer need not read the aggregate again.
    status: str = ""
    #: A secret the command made and shows this once (a subscription's signing
    #: secret, registered or rotated); the record holds only what protects it.
    secret: str | None = None

    @property
    def recorded(self) -> bool:
        return self.position is not None


@dataclass(eq=False)
class PendingCommand:
    """A command decided from memory whose events are on their way to the store: what
    :meth:`domain.unit_of_work.UnitOfWork.finish` needs to answer it once they are
    written (ADR 0029)."""

    decision: Decision
    #: The events, as the store takes them, and the read set it is to check (ADR 0027).
    stored: list[StoredEvent]
    reads: list[tuple[UUID, int]]


def check_version(ctx: Context, aggregate: Aggregate) -> None:
    """Refuse a command whose If-Match names another version than the record's."""
    if ctx.expected_version is not None and aggregate.version != ctx.expected_version:
        raise ConcurrencyConflict(
            f"the record is at version {aggregate.version}, "
            f"not at version {ctx.expected_version} as expected"
        )


def step_words(command: str) -> str:
    """A command's name as words: ``ReportProgress`` → ``report progress``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", command).lower()


def check_same_command(command: str, *recorded_and_given: tuple[Any, Any]) -> None:
    """Refuse a command that reuses the id of a different one (:class:`CommandIdReused`).

    Only what a genuine retry cannot change is compared (who gave it, what it names and
    is called): a deadline given as ``due_in`` is counted from the moment, and the record
    may have moved on since (redirected, repeated), so neither tells a retry apart. The
    message names nothing of the first command's record: whoever gave the id again may
    not be entitled to read it.
    """
    if any(recorded != given for recorded, given in recorded_and_given):
        # The id is not quoted: the API puts the client's id in its unit's namespace,
        # and the field the client gave is named beside the message.
        raise CommandIdReused(
            f"this command id was already used to {command} with other content; "
            "a new command needs a new command id"
        )

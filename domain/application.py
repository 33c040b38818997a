"""The command center's use cases, over one event store (ADR 0002).

:class:`CommandCenter` is the application service: each method is one command of the
closed loop. It loads the aggregates a command touches, checks the rules that need
more than one aggregate (the network's directions, a parent and its children, a warning
and its instructions), lets the aggregates decide, and saves every change of one command
in one atomic write. A write that loses a race (another writer saved first) is decided
again on the new state: if the command is still valid it goes through, otherwise its
domain error is reported. Nothing is ever silently overwritten (ADR 0007).

The use cases stand in a module per family (``network_commands``, ``warning_commands``,
``instruction_commands``); the machinery of a command, its read strategies included, is
the :class:`~domain.unit_of_work.UnitOfWork` (ADR 0033). This module puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from eventsourcing.persistence import Transcoder

# Aggregates that moved module keep their old topics registered when their new module is
# imported (ADR 0033). Every process that reads the log builds a CommandCenter, so they
# are imported here: a follower decoding an old event must not depend on which other
# modules its process happened to import.
from domain import (  # noqa: F401
    access_token,
    idempotency_record,
    notice,
    observation_batch,
    token_roster,
)
from domain.calendar import WorkingCalendar
from domain.cap_senders import CapSenders
from domain.decision import Outcome, PendingCommand
from domain.disposition import Disposition
from domain.follow_up import FollowUpLimits
from domain.instruction import DisputeLimits, Instruction
from domain.merge_commands import MergeCases
from domain.meta import MetaAsDict
from domain.network import Network
from domain.unit import Unit
from domain.unit_of_work import MAX_ATTEMPTS, NotInMemory, ReadStrategy, UnitOfWork
from domain.warning import EarlyWarning
from domain.warning_key import WarningKey
from domain.whistle import DEFAULT_CHECK_IN_LIMIT, Whistle
from domain.whistle_commands import WhistleCases

__all__ = [
    "MAX_ATTEMPTS",
    "CommandCenter",
    "NotInMemory",
    "Outcome",
    "PendingCommand",
    "ReadStrategy",
]

#: Records that change seldom and that nearly every command reads: the units and the
#: roster. A first attempt takes them from this process's cache without asking the store,
#: when the store checks at the write that they had not moved on (ADR 0027).
REFERENCE = (Unit, Network)


class CommandCenter(WhistleCases, MergeCases):
    """Closed Loop's application: units, warnings, instructions, dispositions, whistles."""

    name = "closedloop"
    # Long-lived aggregates (a warning repeated all through a typhoon, the roster of a
    # city's units) are rebuilt from a snapshot plus the events after it.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        EarlyWarning: 100,
        Instruction: 100,
        Disposition: 100,
        Unit: 100,
        Network: 100,
        WarningKey: 100,
        CapSenders: 100,
        Whistle: 100,
    }
    env: ClassVar[dict[str, str]] = {
        # Aggregates are cached and fast-forwarded from the store on every read, so a
        # cached copy is never staler than the store (ADR 0007).
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        calendar: WorkingCalendar | None = None,
        dispute_limits: DisputeLimits | None = None,
        check_in_limit: timedelta = DEFAULT_CHECK_IN_LIMIT,
        follow_up_limits: FollowUpLimits | None = None,
    ) -> None:
        super().__init__(env)
        self.calendar = calendar or WorkingCalendar()
        self.dispute_limits = dispute_limits or DisputeLimits()
        #: How long after closure a case from the public is followed up (ADR 0083).
        self.follow_up_limits = follow_up_limits or FollowUpLimits()
        #: How long a department summoned by a whistle has to check in (ADR 0078).
        self.check_in_limit = check_in_limit
        self.unit_of_work = UnitOfWork(self, reference=REFERENCE)
        self._closers: list[Callable[[], object]] = []

    def close_with(self, close: Callable[[], object]) -> None:
        """Run ``close`` when the application closes: what lives beside its store (the
        readings store's pool) ends with it, in whichever process or test made both."""
        self._closers.append(close)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
        super().close()

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        transcoder.register(MetaAsDict())  # type: ignore[attr-defined]

    # -- commands decided from memory, written without a thread waiting (ADR 0029) ----

    @property
    def writes_later(self) -> bool:
        """Whether a command can be decided from memory and its write awaited without a
        thread blocked on it (``decide_in_memory``; ADR 0029)."""
        return self.unit_of_work.writes_later

    def decide_in_memory(self, command: Callable[[], Outcome]) -> Outcome | PendingCommand | None:
        """Run ``command`` (a call of one of the command methods) on what this process
        holds in memory, without reading or writing the store.

        Answers the pending command, to be handed to :meth:`write_later` and answered by
        :meth:`finish`; an outcome when the command had nothing to write; or None when the
        decision needed the store, and nothing was done: run the command the usual way.
        A domain error is raised as the usual way would raise it.
        """
        return self.unit_of_work.decide_in_memory(command)

    def write_later(self, pending: PendingCommand, on_done: Callable[[Any], None]) -> None:
        """Hand the pending command's events to the store; ``on_done`` is called with the
        write, in the store's writing thread, once it is written, refused or failed."""
        self.unit_of_work.write_later(pending, on_done)

    def finish(
        self, pending: PendingCommand, positions: Callable[[], Sequence[int]]
    ) -> Outcome | None:
        """The outcome of a pending command from its write's result (``positions``
        answers the log positions, or raises what the write met); None when the store
        refused the write: something the decision read had moved on, or its new id was
        taken. The command is then to be run again the usual way, which decides on the
        store's state and answers as it always does (If-Match included)."""
        return self.unit_of_work.finish(pending, positions)

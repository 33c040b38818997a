"""The one command path: load, decide, save, decide again on conflict (ADRs 0007, 0033).

A :class:`UnitOfWork` runs a *decision* (a function that loads aggregates, lets them
decide and names what it touched) and saves every change of it in one atomic write. A
write that loses a race is decided again on the new state; nothing is ever silently
overwritten (ADR 0007). Within one decision each aggregate is loaded once (an identity
map), and every version read is remembered, so that a store that checks a command's
reads when it writes (ADR 0027) can be handed them.

How a decision reads is a :class:`ReadStrategy`, chosen per attempt: the store; or the
units and the roster from this process's cache, checked by the store at the write (ADR
0027); or memory alone, the write then handed to the store without a thread waiting on
it (ADR 0029). What the store offers for those is said by two protocols,
:class:`ChecksReads` and :class:`WritesLater`, that the PostgreSQL recorder satisfies.

Every command of every aggregate takes this path: the closed loop's use cases, the
tokens, the idempotency records, the subscriptions and the intake's own records. What
a decision names and a command answers is in :mod:`domain.decision`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from copy import deepcopy
from enum import Enum
from functools import cached_property
from typing import Any, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.base import LoopAggregate
from domain.decision import Decision, Outcome, PendingCommand, check_version, step_words
from domain.errors import CommandIdReused, ConcurrencyConflict, DomainError, NotFound
from domain.meta import Context

TAggregate = TypeVar("TAggregate", bound=Aggregate)
T = TypeVar("T")

#: How many times a command is decided again after losing a race before giving up.
MAX_ATTEMPTS = 8


# -- what the store may offer ---------------------------------------------------------


@runtime_checkable
class ChecksReads(Protocol):
    """A recorder that checks, when it writes a command's events, that the versions the
    command read are still the latest (ADR 0027); ``checks_reads`` says it does."""

    checks_reads: bool

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Sequence[tuple[UUID, int]] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None: ...


@runtime_checkable
class WritesLater(Protocol):
    """A recorder that takes a command's events and calls back once they are written,
    with no thread of the caller's waiting on the write (ADR 0029)."""

    def insert_events_later(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Sequence[tuple[UUID, int]] = (),
        on_done: Callable[[Any], None],
    ) -> None: ...


class ReadStrategy(Enum):
    """How the attempt of a decision under way reads the aggregates it needs."""

    #: Every aggregate from the store (through the cache the library fast-forwards).
    STORE = "store"
    #: Units and the roster from this process's cache, the rest from the store; the
    #: store checks at the write that the cached ones had not moved on (ADR 0027).
    CACHED_REFERENCE = "cached reference"
    #: Units and the roster from the cache and nothing else: any other read refuses
    #: with :class:`NotInMemory`, and the write is handed over, not made (ADR 0029).
    MEMORY_ONLY = "memory only"


class NotInMemory(Exception):
    """A decision under :attr:`ReadStrategy.MEMORY_ONLY` needed the store. It stops the
    decision wherever it stands; :meth:`UnitOfWork.decide_in_memory` is the one place
    that catches it, and answers that the command must run the usual way."""


class _Scope(threading.local):
    """Per thread: what the decision under way has loaded and seen. The class
    attributes are what a thread sees before its first decision."""

    #: Each aggregate the decision loaded, by id (an identity map); None between decisions.
    loaded: dict[UUID, Any] | None = None
    #: The version of each aggregate the decision read, for the store to check.
    read_versions: dict[UUID, int]
    strategy = ReadStrategy.STORE
    first_attempt = False
    #: The command's new id was assumed free without asking the store.
    assumed_new = False
    #: Units and the roster were taken from the cache.
    used_cache = False
    #: ``decide_in_memory`` is under way on this thread.
    in_memory = False
    #: The command decided from memory, for ``decide_in_memory`` to hand back.
    pending: PendingCommand | None = None


def _cached_copy(repository: Repository[UUID], aggregate_id: UUID, *, wait: bool = True) -> Any:
    """A copy of the aggregate as this process last saw it, or None if not cached; the
    store is not asked.

    Taken under the lock the library's repository holds while it fast-forwards a cached
    aggregate in place, so the copy is never half of one version and half of the next.
    That lock is a private of eventsourcing 9.5 (pinned by a test). It is held through
    a read of the store: with ``wait`` false, a busy lock answers None rather than
    waiting for that read (the event loop must not).
    """
    if repository.cache is None:
        return None
    lock = repository._use_fastforward_lock(aggregate_id)
    try:
        if not lock.acquire(blocking=wait):
            return None
        try:
            try:
                aggregate = repository.cache.get(aggregate_id)
            except KeyError:
                return None
            return deepcopy(aggregate)
        finally:
            lock.release()
    finally:
        repository._disuse_fastforward_lock(aggregate_id)


class UnitOfWork:
    """Runs decisions on one application's store: the identity map, the read strategy
    of each attempt, the save, the retry on conflict and the command id's idempotency."""

    def __init__(self, app: Application[UUID], reference: tuple[type[Aggregate], ...] = ()) -> None:
        self.app = app
        #: Records that change seldom and that nearly every command reads (the units and
        #: the roster): the ones a first attempt may take from the cache (ADR 0027).
        self.reference = reference
        self._scope = _Scope()

    # -- what the store offers ----------------------------------------------------------

    # Asked at every attempt; the recorder is the application's for its whole life, so
    # each is answered once.

    @cached_property
    def checks_reads(self) -> bool:
        """Whether the store checks a command's read set when it writes (ADR 0027)."""
        recorder = self.app.recorder
        return isinstance(recorder, ChecksReads) and bool(recorder.checks_reads)

    @cached_property
    def writes_later(self) -> bool:
        """Whether a command can be decided from memory and its write awaited without a
        thread blocked on it (ADR 0029)."""
        return self.checks_reads and isinstance(self.app.recorder, WritesLater)

    def _strategy(self, attempt: int) -> ReadStrategy:
        if attempt > 1:
            # A retry reads the store: what failed may be a cached unit out of date.
            if self._scope.in_memory:
                raise NotInMemory
            return ReadStrategy.STORE
        if self._scope.in_memory:
            return ReadStrategy.MEMORY_ONLY
        return ReadStrategy.CACHED_REFERENCE if self.checks_reads else ReadStrategy.STORE

    # -- running a decision ---------------------------------------------------------------

    def execute(
        self, decide: Callable[[], Decision], *, expected_version: int | None = None
    ) -> Outcome:
        """Decide and save, deciding again on the new state when the write loses a race.

        ``expected_version`` is the client's If-Match: a lost race is then reported
        (:class:`ConcurrencyConflict`) rather than decided again.
        """
        scope = self._scope
        for attempt in range(1, MAX_ATTEMPTS + 1):
            strategy = self._strategy(attempt)
            # Within one decision each aggregate is loaded once (an identity map): a
            # warning reached twice, through a parent and its child, is one object, not
            # two copies racing each other on the same version.
            scope.loaded = {}
            scope.read_versions = {}
            scope.strategy = strategy
            scope.first_attempt = attempt == 1
            scope.assumed_new = False
            scope.used_cache = False
            try:
                decision = decide()
            except DomainError:
                if not (scope.assumed_new or scope.used_cache) or attempt == MAX_ATTEMPTS:
                    raise
                # Refused while assuming the command is new: if it is a repeat, its
                # first run may be what changed the state it was refused on (a warning
                # it closed), and it must be answered as the first time. Refused on a
                # unit taken from the cache: the unit may have changed since. Either
                # way, decide again, reading the store.
                continue
            finally:
                scope.loaded = None
                scope.strategy = ReadStrategy.STORE
            assumed_new = scope.assumed_new
            used_cache = scope.used_cache
            decision.touched = list({id(a): a for a in decision.touched}.values())
            if not any(a.pending_events for a in decision.touched):
                return self._outcome(decision, None)
            if strategy is ReadStrategy.MEMORY_ONLY:
                # Not written here: decide_in_memory hands it to the store's queue.
                scope.pending = self._pending(decision)
                return self._outcome(decision, None)
            try:
                if self.checks_reads:
                    recordings = self.app.save(*decision.touched, reads=self._read_set(decision))
                else:
                    recordings = self.app.save(*decision.touched)
            except IntegrityError:
                # Someone else wrote first, or something the decision read has changed.
                # With If-Match the client asked for exactly the version it saw, so
                # report; otherwise decide again on the new state. A decision that only
                # assumed its new id was free, or took units from the cache, is decided
                # again either way: the id may be taken by this very command, sent
                # twice, and a cached unit may be what was out of date.
                if expected_version is not None and not (assumed_new or used_cache):
                    raise ConcurrencyConflict(
                        "the record changed while your command was being saved"
                    ) from None
                if attempt == MAX_ATTEMPTS:
                    raise ConcurrencyConflict(
                        "the record kept changing while your command was being saved; try again"
                    ) from None
                continue
            # Answered before the objects go to the cache, where another thread may
            # fast-forward them in place.
            outcome = self._outcome(decision, max(r.notification.id for r in recordings))
            self._cache(decision)
            return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    def command(
        self,
        ctx: Context,
        cls: type[TAggregate],
        aggregate_id: UUID,
        what: str,
        act: Callable[[Any], list[Any] | None],
        command: str | None = None,
        *,
        load: Callable[[], Any] | None = None,
    ) -> Outcome:
        """Run a command on one aggregate (plus whatever else ``act`` returns to save).

        The command id seen before on the aggregate is a retry, answered as done (ADR
        0025); ``command`` names the events ``act`` records, so that the same id seen
        with another command is a reuse, refused. ``load`` replaces the plain load when
        the aggregate has its own rule for being found (a deleted subscription is not).
        """

        def decide() -> Decision:
            aggregate: Any = load() if load else self.load(cls, aggregate_id, what)
            if aggregate.has_seen(ctx.command_id):
                first = aggregate.command_seen(ctx.command_id)
                if command is not None and first is not None and first != command:
                    raise CommandIdReused(
                        f"this command id was already used on this {what} for another "
                        f"step ({step_words(first)}, not {step_words(command)}); a new command "
                        "needs a new command id"
                    )
                return Decision(aggregate, [])
            check_version(ctx, aggregate)
            if isinstance(aggregate, LoopAggregate):
                aggregate.check_business_time(ctx.occurred_at)
            others = act(aggregate) or []
            return Decision(aggregate, [aggregate, *others])

        return self.execute(decide, expected_version=ctx.expected_version)

    def again_on_conflict(self, step: Callable[[], T], gave_up: str) -> T:
        """Run a step made of several commands again, whole, while its last write loses a
        race; each command in it is idempotent by its command id, so what already went
        through is answered as done the second time."""
        for _ in range(MAX_ATTEMPTS):
            try:
                return step()
            except IntegrityError:
                continue
        raise ConcurrencyConflict(gave_up)

    @staticmethod
    def _outcome(decision: Decision, position: int | None) -> Outcome:
        primary = decision.primary
        return Outcome(
            primary.id,
            primary.version,
            position,
            decision.created,
            decision.extra,
            str(getattr(primary, "status", "")),
        )

    def _read_set(self, decision: Decision) -> list[tuple[UUID, int]]:
        """What the decision read and does not write, at the versions it saw: for the
        store to check at the write (ADR 0027)."""
        written = {a.id for a in decision.touched}
        seen = self._scope.read_versions
        return [(i, v) for i, v in seen.items() if i not in written]

    def _cache(self, decision: Decision) -> None:
        """What was just saved is what the next command will read: cached now, it is
        fast-forwarded from here on instead of rebuilt from its snapshot and events. The
        decision's objects are not touched after this point."""
        cache = self.app.repository.cache
        if cache is not None:
            for aggregate in decision.touched:
                cache.put(aggregate.id, aggregate)

    # -- commands decided from memory, written without a thread waiting (ADR 0029) ----

    def decide_in_memory(self, command: Callable[[], Outcome]) -> Outcome | PendingCommand | None:
        """Run ``command`` under :attr:`ReadStrategy.MEMORY_ONLY`: the pending command,
        an outcome when it had nothing to write, or None when it needed the store."""
        if not self.writes_later:
            return None
        scope = self._scope
        scope.in_memory = True
        scope.pending = None
        try:
            outcome = command()
        except NotInMemory:
            return None
        finally:
            scope.in_memory = False
        pending, scope.pending = scope.pending, None
        return pending if pending is not None else outcome

    def _pending(self, decision: Decision) -> PendingCommand:
        reads = self._read_set(decision)
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.collect_events(*decision.touched)
        intervals = self.app.snapshotting_intervals or {}
        for event in processing.events:
            aggregate = processing.aggregates.get(event.originator_id)
            interval = intervals.get(type(aggregate)) if aggregate else None
            if interval and event.originator_version % interval == 0:
                # Taking the snapshot is a write of its own: leave it to the usual way.
                raise NotInMemory
        stored = [self.app.mapper.to_stored_event(e) for e in processing.events]
        return PendingCommand(decision, stored, reads)

    def write_later(self, pending: PendingCommand, on_done: Callable[[Any], None]) -> None:
        """Hand the pending command's events to the store; ``on_done`` is called with the
        write, in the store's writing thread, once it is written, refused or failed."""
        recorder = self.app.recorder
        if not isinstance(recorder, WritesLater):
            raise TypeError("this store does not take writes to finish later (writes_later)")
        recorder.insert_events_later(pending.stored, reads=pending.reads, on_done=on_done)

    def finish(
        self, pending: PendingCommand, positions: Callable[[], Sequence[int]]
    ) -> Outcome | None:
        """The outcome of a pending command from its write's result; None when the store
        refused the write (see :meth:`domain.application.CommandCenter.finish`)."""
        try:
            written = positions()
        except IntegrityError:
            return None
        outcome = self._outcome(pending.decision, max(written))
        self._cache(pending.decision)
        return outcome

    # -- reading within a decision --------------------------------------------------------

    def load(self, cls: type[TAggregate], aggregate_id: UUID, what: str) -> TAggregate:
        aggregate = self.find(cls, aggregate_id)
        if aggregate is None:
            raise NotFound(f"{what} not found")
        return aggregate

    def find(self, cls: type[TAggregate], aggregate_id: UUID) -> TAggregate | None:
        """The aggregate, or None when nothing is recorded under this id (one read)."""
        scope = self._scope
        loaded = scope.loaded
        if loaded is not None and aggregate_id in loaded:
            aggregate: Any = loaded[aggregate_id]
        else:
            aggregate = None
            # Outside a decision too (a read before it starts), memory only means it.
            memory_only = scope.in_memory
            trusts_cache = loaded is not None and scope.strategy is not ReadStrategy.STORE
            if trusts_cache and cls in self.reference:
                aggregate = _cached_copy(self.app.repository, aggregate_id, wait=not memory_only)
                scope.used_cache = scope.used_cache or aggregate is not None
            if aggregate is None:
                if memory_only:
                    raise NotInMemory
                if not self._may_exist(aggregate_id):
                    return None
                try:
                    aggregate = self.app.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    return None
            if loaded is not None:
                loaded[aggregate_id] = aggregate
                # What the decision saw, for the store to check when it writes.
                scope.read_versions[aggregate_id] = aggregate.version
        return aggregate if isinstance(aggregate, cls) else None

    def find_repeat(self, cls: type[TAggregate], new_id: UUID) -> TAggregate | None:
        """What an earlier run of this command created under ``new_id``, or None.

        Ids derived from command ids are nearly always new, so on the first attempt the
        store is not asked (one read fewer for every such command): the id is assumed
        free, and if it was taken after all the save fails on it and the decision runs
        again, this time reading (see :meth:`execute`).
        """
        scope = self._scope
        if scope.first_attempt and scope.loaded is not None and not self.is_cached(new_id):
            scope.assumed_new = True
            return None
        return self.find(cls, new_id)

    def _may_exist(self, aggregate_id: UUID) -> bool:
        """False when nothing is recorded under this id, for one read of the events table.

        A miss through the repository costs a read of the snapshots table as well, and
        every new id a command checks first (a new warning, instruction, disposition) is
        a miss. Aggregates are never deleted, so a cached one exists.
        """
        if self.is_cached(aggregate_id):
            return True
        return bool(self.app.recorder.select_events(aggregate_id, limit=1))

    def is_cached(self, aggregate_id: UUID) -> bool:
        cache = self.app.repository.cache
        if cache is None:
            return False
        try:
            cache.get(aggregate_id)
        except KeyError:
            return False
        return True

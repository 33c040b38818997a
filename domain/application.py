"""The command center's use cases, over one event store (ADR 0002).

:class:`CommandCenter` is the application service: each method is one command of the
closed loop. It loads the aggregates a command touches, checks the rules that need
more than one aggregate (the network's directions, a parent and its children, a warning
and its instructions), lets the aggregates decide, and saves every change of one command
in one atomic write. A write that loses a race (another writer saved first) is decided
again on the new state: if the command is still valid it goes through, otherwise its
domain error is reported. Nothing is ever silently overwritten (ADR 0007).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent, Transcoder

from domain.base import LoopAggregate
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.disposition import Disposition, disposition_id
from domain.errors import (
    AlreadyExists,
    CommandIdReused,
    ConcurrencyConflict,
    DirectionRefused,
    DomainError,
    InvalidValue,
    NotFound,
    NotPermitted,
)
from domain.instruction import Instruction, Priority, instruction_id
from domain.meta import CLOCK_SKEW, Context, Meta, MetaAsDict, now
from domain.network import NETWORK_ID, Network
from domain.unit import Kind, Level, Unit, check_code, check_name, check_placement, unit_id
from domain.warning import EarlyWarning, warning_id
from domain.warning_key import WarningKey, condition_key, warning_key_id

TAggregate = TypeVar("TAggregate", bound=Aggregate)

#: How many times a command is decided again after losing a race before giving up.
MAX_ATTEMPTS = 8


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

    @property
    def recorded(self) -> bool:
        return self.position is not None


def _cached_copy(repository: Repository[UUID], aggregate_id: UUID, *, wait: bool = True) -> Any:
    """A copy of the aggregate as this process last saw it, or None if not cached; the
    store is not asked.

    Taken under the lock the library's repository holds while it fast-forwards a cached
    aggregate in place, so the copy is never half of one version and half of the next.
    That lock is held through a read of the store: with ``wait`` false, a busy lock
    answers None rather than waiting for that read (the event loop must not).
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


#: Records that change seldom and that nearly every command reads: the units and the
#: roster. A first attempt takes them from this process's cache without asking the store,
#: when the store checks at the write that they had not moved on (ADR 0027).
_REFERENCE: tuple[type[LoopAggregate], ...] = (Unit, Network)


@dataclass
class _Decision:
    primary: LoopAggregate
    touched: list[LoopAggregate]
    created: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _DecisionScope(threading.local):
    """Per thread: what the decision under way has loaded and seen (see ``_execute``).
    The class attributes are what a thread sees before its first decision."""

    #: Each aggregate the decision loaded, by id (an identity map); None between decisions.
    loaded: dict[UUID, Any] | None = None
    #: The version of each aggregate the decision read, for the store to check (set by
    #: each decision, as ``loaded`` is).
    read_versions: dict[UUID, int]
    first_attempt = False
    #: The command's new id was assumed free without asking the store.
    assumed_new = False
    #: Units and the roster may be taken from the cache (ADR 0027), and were.
    trusts_cache = False
    used_cache = False
    #: Decided from memory alone: reading the store raises NotInMemory (ADR 0029).
    in_memory = False


class NotInMemory(Exception):
    """A decision tried from memory alone needed the store (``decide_in_memory``)."""


@dataclass(eq=False)
class PendingCommand:
    """A command decided from memory whose events are on their way to the store: what
    :meth:`CommandCenter.finish` needs to answer it once they are written (ADR 0029)."""

    decision: _Decision
    #: The events, as the store takes them, and the read set it is to check (ADR 0027).
    stored: list[StoredEvent]
    reads: list[tuple[UUID, int]]


class _Deferred(Exception):
    """Carries a decision made from memory out of the command method (internal)."""

    def __init__(self, pending: PendingCommand) -> None:
        super().__init__()
        self.pending = pending


class CommandCenter(Application[UUID]):
    """Closed Loop's application: units, warnings, instructions and dispositions."""

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
    ) -> None:
        super().__init__(env)
        self.calendar = calendar or WorkingCalendar()
        # Per thread: the aggregates loaded by the decision under way (see _execute).
        self._decision_scope = _DecisionScope()

    @property
    def _checks_reads(self) -> bool:
        """Whether the store checks a command's read set when it writes (ADR 0027)."""
        return bool(getattr(self.recorder, "checks_reads", False))

    @property
    def writes_later(self) -> bool:
        """Whether a command can be decided from memory and its write awaited without a
        thread blocked on it (``decide_in_memory``; ADR 0029)."""
        return self._checks_reads and hasattr(self.recorder, "insert_events_later")

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        transcoder.register(MetaAsDict())  # type: ignore[attr-defined]

    # -- the machinery of a command ----------------------------------------------------

    def _execute(self, ctx: Context, decide: Callable[[], _Decision]) -> Outcome:
        checks_reads = self._checks_reads
        scope = self._decision_scope
        for attempt in range(1, MAX_ATTEMPTS + 1):
            # Within one decision each aggregate is loaded once (an identity map): a
            # warning reached twice, through a parent and its child, is one object, not
            # two copies racing each other on the same version.
            scope.loaded = {}
            scope.read_versions = {}
            scope.first_attempt = attempt == 1
            scope.assumed_new = False
            scope.trusts_cache = checks_reads and attempt == 1
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
            assumed_new = scope.assumed_new
            used_cache = scope.used_cache
            decision.touched = list({id(a): a for a in decision.touched}.values())
            if not any(a.pending_events for a in decision.touched):
                return self._outcome(decision, None)
            if scope.in_memory:
                raise _Deferred(self._pending(decision))
            try:
                if checks_reads:
                    recordings = self.save(*decision.touched, reads=self._read_set(decision))
                else:
                    recordings = self.save(*decision.touched)
            except IntegrityError:
                # Someone else wrote first, or something the decision read has changed.
                # With If-Match the client asked for exactly the version it saw, so
                # report; otherwise decide again on the new state. A decision that only
                # assumed its new id was free, or took units from the cache, is decided
                # again either way: the id may be taken by this very command, sent
                # twice, and a cached unit may be what was out of date.
                if ctx.expected_version is not None and not (assumed_new or used_cache):
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

    @staticmethod
    def _outcome(decision: _Decision, position: int | None) -> Outcome:
        primary = decision.primary
        return Outcome(
            primary.id,
            primary.version,
            position,
            decision.created,
            decision.extra,
            str(getattr(primary, "status", "")),
        )

    # -- commands decided from memory, written without a thread waiting (ADR 0029) ----

    def decide_in_memory(self, command: Callable[[], Outcome]) -> Outcome | PendingCommand | None:
        """Run ``command`` (a call of one of the command methods) on what this process
        holds in memory, without reading or writing the store.

        Answers the pending command, to be handed to :meth:`write_later` and answered by
        :meth:`finish`; an outcome when the command had nothing to write; or None when the
        decision needed the store, and nothing was done: run the command the usual way.
        A domain error is raised as the usual way would raise it.
        """
        if not self.writes_later:
            return None
        scope = self._decision_scope
        scope.in_memory = True
        try:
            return command()
        except _Deferred as deferred:
            return deferred.pending
        except NotInMemory:
            return None
        finally:
            scope.in_memory = False

    def _read_set(self, decision: _Decision) -> list[tuple[UUID, int]]:
        """What the decision read and does not write, at the versions it saw: for the
        store to check at the write (ADR 0027)."""
        written = {a.id for a in decision.touched}
        seen = self._decision_scope.read_versions
        return [(i, v) for i, v in seen.items() if i not in written]

    def _pending(self, decision: _Decision) -> PendingCommand:
        reads = self._read_set(decision)
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.collect_events(*decision.touched)
        for event in processing.events:
            aggregate = processing.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate else None
            if interval and event.originator_version % interval == 0:
                # Taking the snapshot is a write of its own: leave it to the usual way.
                raise NotInMemory
        stored = [self.mapper.to_stored_event(e) for e in processing.events]
        return PendingCommand(decision, stored, reads)

    def write_later(self, pending: PendingCommand, on_done: Callable[[Any], None]) -> None:
        """Hand the pending command's events to the store; ``on_done`` is called with the
        write, in the store's writing thread, once it is written, refused or failed."""
        later = getattr(self.recorder, "insert_events_later")  # noqa: B009 - see writes_later
        later(pending.stored, reads=pending.reads, on_done=on_done)

    def finish(
        self, pending: PendingCommand, positions: Callable[[], Sequence[int]]
    ) -> Outcome | None:
        """The outcome of a pending command from its write's result (``positions``
        answers the log positions, or raises what the write met); None when the store
        refused the write: something the decision read had moved on, or its new id was
        taken. The command is then to be run again the usual way, which decides on the
        store's state and answers as it always does (If-Match included)."""
        try:
            written = positions()
        except IntegrityError:
            return None
        outcome = self._outcome(pending.decision, max(written))
        self._cache(pending.decision)
        return outcome

    def _cache(self, decision: _Decision) -> None:
        """What was just saved is what the next command will read: cached now, it is
        fast-forwarded from here on instead of rebuilt from its snapshot and events. The
        decision's objects are not touched after this point."""
        if self.repository.cache is not None:
            for aggregate in decision.touched:
                self.repository.cache.put(aggregate.id, aggregate)

    def _load(self, cls: type[TAggregate], aggregate_id: UUID, what: str) -> TAggregate:
        aggregate = self._find(cls, aggregate_id)
        if aggregate is None:
            raise NotFound(f"{what} not found")
        return aggregate

    def _find(self, cls: type[TAggregate], aggregate_id: UUID) -> TAggregate | None:
        """The aggregate, or None when nothing is recorded under this id (one read)."""
        scope = self._decision_scope
        loaded = scope.loaded
        if loaded is not None and aggregate_id in loaded:
            aggregate: Any = loaded[aggregate_id]
        else:
            aggregate = None
            in_memory = scope.in_memory
            if loaded is not None and scope.trusts_cache and cls in _REFERENCE:
                aggregate = _cached_copy(self.repository, aggregate_id, wait=not in_memory)
                scope.used_cache = scope.used_cache or aggregate is not None
            if aggregate is None:
                if in_memory:
                    raise NotInMemory
                if not self._may_exist(aggregate_id):
                    return None
                try:
                    aggregate = self.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    return None
            if loaded is not None:
                loaded[aggregate_id] = aggregate
                # What the decision saw, for the store to check when it writes.
                scope.read_versions[aggregate_id] = aggregate.version
        return aggregate if isinstance(aggregate, cls) else None

    def _may_exist(self, aggregate_id: UUID) -> bool:
        """False when nothing is recorded under this id, for one read of the events table.

        A miss through the repository costs a read of the snapshots table as well, and
        every new id a command checks first (a new warning, instruction, disposition) is
        a miss. Aggregates are never deleted, so a cached one exists.
        """
        if self._is_cached(aggregate_id):
            return True
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _find_repeat(self, cls: type[TAggregate], new_id: UUID) -> TAggregate | None:
        """What an earlier run of this command created under ``new_id``, or None.

        Ids derived from command ids are nearly always new, so on the first attempt the
        store is not asked (one read fewer for every such command): the id is assumed
        free, and if it was taken after all the save fails on it and the decision runs
        again, this time reading (see ``_execute``).
        """
        scope = self._decision_scope
        if scope.first_attempt and not self._is_cached(new_id):
            scope.assumed_new = True
            return None
        return self._find(cls, new_id)

    def _is_cached(self, aggregate_id: UUID) -> bool:
        cache = self.repository.cache
        if cache is None:
            return False
        try:
            cache.get(aggregate_id)
        except KeyError:
            return False
        return True

    def find(self, aggregate_id: UUID) -> LoopAggregate | None:
        """Whatever is on the record under this id, as it is now, or None."""
        return self._find(LoopAggregate, aggregate_id)

    @staticmethod
    def _check_version(ctx: Context, aggregate: LoopAggregate) -> None:
        if ctx.expected_version is not None and aggregate.version != ctx.expected_version:
            raise ConcurrencyConflict(
                f"the record is at version {aggregate.version}, "
                f"not at version {ctx.expected_version} as expected"
            )

    def _command(
        self,
        ctx: Context,
        cls: type[TAggregate],
        aggregate_id: UUID,
        what: str,
        act: Callable[[Any], list[LoopAggregate] | None],
        command: str | None = None,
    ) -> Outcome:
        """Run a command on one aggregate (plus whatever else ``act`` returns to save).

        ``command`` names the events ``act`` records on the aggregate: the same id seen
        here before with another command is a reuse, refused, not a retry (ADR 0025).
        """

        def decide() -> _Decision:
            aggregate: Any = self._load(cls, aggregate_id, what)
            if aggregate.has_seen(ctx.command_id):
                first = aggregate.command_seen(ctx.command_id)
                if command is not None and first is not None and first != command:
                    raise CommandIdReused(
                        f"this command id was already used on this {what} for another "
                        f"step ({_step(first)}, not {_step(command)}); a new command "
                        "needs a new command id"
                    )
                return _Decision(aggregate, [])
            self._check_version(ctx, aggregate)
            others = act(aggregate) or []
            return _Decision(aggregate, [aggregate, *others])

        return self._execute(ctx, decide)

    # -- the network -------------------------------------------------------------------

    def unit(self, code: str) -> Unit:
        """The unit with this code, as it is now."""
        check_code(code)
        return self._load(Unit, unit_id(code), f"unit {code}")

    def units(self) -> list[Unit]:
        """Every unit ever registered, in the order they joined (deactivated ones too)."""
        roster = self._find(Network, NETWORK_ID)
        if roster is None:
            return []
        return [self.unit(code) for code in roster.codes]

    def has_units(self) -> bool:
        """Whether any unit was ever registered (one read of the roster, not of every unit)."""
        return self._find(Network, NETWORK_ID) is not None

    def ancestors(self, code: str) -> list[str]:
        """The codes above a unit, from its parent up to the city."""
        chain: list[str] = []
        current = self.unit(code)
        while current.parent is not None:
            if current.parent in chain or len(chain) > 16:  # a corrupt tree must not hang us
                break
            chain.append(current.parent)
            current = self.unit(current.parent)
        return chain

    def _is_above(self, code: str, unit: Unit) -> bool:
        """Whether ``code`` is an ancestor of ``unit``, walking up only as far as needed."""
        current = unit
        for _ in range(17):  # a corrupt tree must not hang us
            if current.parent is None:
                return False
            if current.parent == code:
                return True
            current = self.unit(current.parent)
        return False

    def is_within(self, code: str, ancestor: str) -> bool:
        """Whether ``code`` is ``ancestor`` itself or lies in its subtree."""
        return code == ancestor or ancestor in self.ancestors(code)

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.units() if u.parent == code]

    def register_unit(
        self,
        ctx: Context,
        *,
        code: str,
        name: str,
        level: str,
        kind: str,
        parent: str | None,
        name_en: str | None = None,
    ) -> Outcome:
        check_code(code)
        name = check_name(name)
        name_en = check_name(name_en, "English name") if name_en else ""
        if level not in set(Level):
            raise InvalidValue(f"unknown level {level!r}; one of: {', '.join(Level)}")
        if kind not in set(Kind):
            raise InvalidValue(f"unknown kind {kind!r}; one of: {', '.join(Kind)}")
        new_id = unit_id(code)

        def decide() -> _Decision:
            existing = self._find(Unit, new_id)
            if existing is not None:
                if existing.has_seen(ctx.command_id):
                    return _Decision(existing, [], created=True)
                raise AlreadyExists(f"unit code {code} is already registered")
            parent_unit = self.unit(parent) if parent is not None else None
            check_placement(Level(level), Kind(kind), parent_unit)
            meta = ctx.meta("RegisterUnit", new_id)
            unit = Unit(
                code=code,
                name=name,
                name_en=name_en,
                level=level,
                kind=kind,
                parent=parent,
                meta=meta,
            )
            roster = self._find(Network, NETWORK_ID)
            if roster is None:
                roster = Network(meta=ctx.meta("StartNetwork", NETWORK_ID))
            roster.join(code, ctx.meta("RegisterUnit", NETWORK_ID))
            return _Decision(unit, [unit, roster], created=True)

        return self._execute(ctx, decide)

    def update_unit(
        self,
        ctx: Context,
        code: str,
        *,
        name: str | None = None,
        name_en: str | None = None,
        parent: str | None = None,
        active: bool | None = None,
        reason: str | None = None,
    ) -> Outcome:
        """Rename, move, deactivate or reactivate a unit: any of them, decided together and
        saved together, so that one refused part leaves the unit as it was."""

        def act(unit: Unit) -> None:
            if name is not None or name_en is not None:
                unit.rename(name or unit.name, name_en, ctx.meta("RenameUnit", unit.id))
            if parent is not None:
                new_parent = self.unit(parent)
                if parent == code or code in self.ancestors(parent):
                    raise InvalidValue(
                        f"unit {code} cannot be moved under itself or its own subtree"
                    )
                unit.move(new_parent, ctx.meta("MoveUnit", unit.id))
            if active is False:
                active_children = [c.code for c in self.children(code) if c.active]
                if active_children:
                    raise InvalidValue(
                        f"unit {code} still has active units under it "
                        f"({', '.join(active_children[:5])}); move or deactivate them first"
                    )
                unit.deactivate(reason or "", ctx.meta("DeactivateUnit", unit.id))
            elif active is True and not unit.active:
                self._reactivate(unit, ctx.meta("ReactivateUnit", unit.id))

        return self._command(ctx, Unit, unit_id(check_code(code)), f"unit {code}", act)

    def rename_unit(
        self, ctx: Context, code: str, name: str, name_en: str | None = None
    ) -> Outcome:
        return self.update_unit(ctx, code, name=name, name_en=name_en)

    def move_unit(self, ctx: Context, code: str, parent: str) -> Outcome:
        return self.update_unit(ctx, code, parent=parent)

    def deactivate_unit(self, ctx: Context, code: str, reason: str) -> Outcome:
        return self.update_unit(ctx, code, active=False, reason=reason)

    def reactivate_unit(self, ctx: Context, code: str) -> Outcome:
        """Unlike ``update_unit(active=True)``, refuses a unit that is already active."""
        return self._command(
            ctx,
            Unit,
            unit_id(check_code(code)),
            f"unit {code}",
            lambda u: self._reactivate(u, ctx.meta("ReactivateUnit", u.id)),
        )

    def _reactivate(self, unit: Unit, meta: Meta) -> None:
        if unit.parent is not None and not self.unit(unit.parent).active:
            raise InvalidValue(f"reactivate unit {unit.parent} above it first")
        unit.reactivate(meta)

    def unit_history(self, code: str) -> list[Any]:
        """Every change of a unit: registration, names, parents, (de)activation."""
        self.unit(code)
        return list(self.events.get(unit_id(code)))

    def unit_as_of(self, code: str, when: datetime) -> Unit | None:
        """The unit as it stood at a past moment (by recorded time), or None if not yet."""
        aggregate = self.as_of(unit_id(check_code(code)), when)
        return aggregate if isinstance(aggregate, Unit) else None

    def _require_active(self, code: str) -> Unit:
        unit = self.unit(code)
        if not unit.active:
            raise InvalidValue(f"unit {code} is deactivated; it cannot take instructions")
        return unit

    def check_direction(self, issuer: Unit, target: Unit) -> None:
        """Instructions go down the network, or across to a department of the same
        government; never up, never sideways to another government's units."""
        if self._is_above(issuer.code, target):
            return
        if issuer.kind == Kind.GOVERNMENT:
            government: str | None = issuer.code
        elif issuer.kind == Kind.DEPARTMENT:
            government = issuer.parent
        else:
            government = None
        if (
            target.kind == Kind.DEPARTMENT
            and government is not None
            and target.parent == government
        ):
            return
        raise DirectionRefused(
            f"an instruction from {issuer.code} cannot go to {target.code}: instructions go "
            "down the network or across to a department of the same government, never up"
        )

    # -- warnings ----------------------------------------------------------------------

    def warning(self, warning_id_: UUID) -> EarlyWarning:
        return self._load(EarlyWarning, warning_id_, "warning")

    def raise_warning(
        self,
        ctx: Context,
        *,
        source: str,
        rule: str,
        theme: str,
        level: int,
        title: str,
        unit: str,
        description: str | None = None,
        location: str | None = None,
        observed_at: datetime | None = None,
        dedup_key: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Outcome:
        """Raise a warning, or count a repeat on the open one with the same key.

        ``Outcome.created`` tells which: True for a new warning, False for a repeat.
        Without a deduplication key, the key is the source, rule, unit and location.
        """
        new_id = warning_id(ctx.command_id)
        if observed_at is not None:
            # Checked here, not only in EarlyWarning.raise_: a repeat never reaches it.
            if observed_at.tzinfo is None:
                raise InvalidValue("the observed time must carry a time-zone offset")
            if observed_at > now() + CLOCK_SKEW:
                raise InvalidValue("the observed time cannot lie in the future")
        observed = observed_at or ctx.business_time()
        key = dedup_key if dedup_key is not None else f"{source}|{rule}|{unit}|{location or ''}"
        scoped_key = condition_key(unit, rule, key)

        def decide() -> _Decision:
            again = self._find(EarlyWarning, new_id)
            if again is not None:  # the same raise again: answer as the first time
                # Not the source: the API fills it in from the token when the body
                # has none, and two instances of one monitoring system, each with a
                # token of its own, retry each other's raises.
                _check_same_command(
                    "raise a warning",
                    (again.rule, rule.strip()),
                    (again.unit, unit),
                    (again.title, title.strip()),
                )
                return _Decision(again, [], created=True)
            self._require_active(unit)
            key_id = warning_key_id(scoped_key)
            pointer = self._find(WarningKey, key_id)
            if pointer is not None:
                current = self.warning(pointer.warning_id)
                for wid in [pointer.warning_id, *reversed(pointer.earlier_warnings())]:
                    seen = current if wid == current.id else self.warning(wid)
                    if seen.has_seen(ctx.command_id):  # a retried repeat
                        return _Decision(seen, [], created=False)
                if current.is_open:
                    meta = ctx.meta("RaiseWarning", current.loop_id)
                    current.repeat(observed, level, meta)
                    if level < current.level:  # a worse reading escalates the open warning
                        current.change_level(level, f"repeat observed at level {level}", meta)
                    return _Decision(current, [current], created=False)
            meta = ctx.meta("RaiseWarning", new_id)
            warning = EarlyWarning.raise_(
                source=source,
                rule=rule,
                theme=theme,
                level=level,
                title=title,
                description=description,
                location=location,
                unit=unit,
                observed_at=observed,
                dedup_key=key,
                attributes=attributes,
                meta=meta,
            )
            if pointer is None:
                pointer = WarningKey(dedup_key=scoped_key, warning_id=new_id, meta=meta)
            else:
                pointer.repoint(new_id, meta)
            return _Decision(warning, [warning, pointer], created=True)

        return self._execute(ctx, decide)

    def _on_warning(
        self, ctx: Context, wid: UUID, command: str, act: Callable[[EarlyWarning, Meta], None]
    ) -> Outcome:
        return self._command(
            ctx,
            EarlyWarning,
            wid,
            "warning",
            lambda w: act(w, ctx.meta(command, w.loop_id)),
            command,
        )

    def change_warning_level(self, ctx: Context, wid: UUID, level: int, reason: str) -> Outcome:
        return self._on_warning(
            ctx, wid, "ChangeWarningLevel", lambda w, m: w.change_level(level, reason, m)
        )

    def acknowledge_warning(self, ctx: Context, wid: UUID) -> Outcome:
        return self._on_warning(ctx, wid, "AcknowledgeWarning", lambda w, m: w.acknowledge(m))

    def assess_warning(
        self, ctx: Context, wid: UUID, *, confirmed: bool, note: str | None = None
    ) -> Outcome:
        return self._on_warning(
            ctx, wid, "AssessWarning", lambda w, m: w.assess(confirmed, note, m)
        )

    def resolve_warning(self, ctx: Context, wid: UUID, note: str | None = None) -> Outcome:
        return self._on_warning(ctx, wid, "ResolveWarning", lambda w, m: w.resolve(note, m))

    def cancel_warning(self, ctx: Context, wid: UUID, reason: str) -> Outcome:
        return self._on_warning(ctx, wid, "CancelWarning", lambda w, m: w.cancel(reason, m))

    def close_warning(self, ctx: Context, wid: UUID, note: str | None = None) -> Outcome:
        return self._on_warning(ctx, wid, "CloseWarning", lambda w, m: w.close(note, m))

    def link_instruction(self, ctx: Context, wid: UUID, iid: UUID) -> Outcome:
        """Link an instruction already issued to a warning: the warning then closes only
        once that instruction is finished too. Only the instruction's issuer may link it."""

        def act(w: EarlyWarning) -> list[LoopAggregate]:
            i = self.instruction(iid)
            i.check_issuer(ctx.actor.unit, "link it to a warning")
            w.link_instruction(i.id, ctx.meta("LinkInstruction", w.loop_id, str(i.id)))
            i.link_to_warning(w.id, ctx.meta("LinkInstruction", i.loop_id, str(w.id)))
            return [i]

        return self._command(ctx, EarlyWarning, wid, "warning", act, "LinkInstruction")

    # -- instructions ------------------------------------------------------------------

    def instruction(self, iid: UUID) -> Instruction:
        return self._load(Instruction, iid, "instruction")

    def disposition(self, did: UUID) -> Disposition:
        return self._load(Disposition, did, "disposition")

    def deadline_for(self, priority: str, start: datetime, due_in: WorkingDuration) -> datetime:
        """A deadline from a duration: clock time when urgent, working time otherwise."""
        if priority == Priority.URGENT:
            return start + due_in.clock()
        return self.calendar.add(start, due_in)

    def _resolve_deadline(
        self,
        priority: str,
        start: datetime,
        deadline: datetime | None,
        due_in: WorkingDuration | None,
    ) -> datetime:
        if (deadline is None) == (due_in is None):
            raise InvalidValue("give either a deadline or a duration (due_in), not both or neither")
        if priority not in set(Priority):
            raise InvalidValue(f"unknown priority {priority!r}; one of: urgent, high, normal")
        if deadline is not None:
            if deadline.tzinfo is None:
                raise InvalidValue("the deadline must carry a time-zone offset")
            if deadline <= now():
                raise InvalidValue("the deadline lies in the past")
            return deadline.astimezone(start.tzinfo)
        assert due_in is not None
        return self.deadline_for(priority, start, due_in)

    def issue_instruction(
        self,
        ctx: Context,
        *,
        lead_unit: str,
        title: str,
        content: str | None = None,
        priority: str = Priority.NORMAL,
        deadline: datetime | None = None,
        due_in: WorkingDuration | None = None,
        cooperating_units: list[str] | None = None,
        warning_ids: list[UUID] | None = None,
        parent_id: UUID | None = None,
    ) -> Outcome:
        """Issue an instruction from the actor's unit; the clock starts now."""
        new_id = instruction_id(ctx.command_id)
        start = ctx.business_time()

        def decide() -> _Decision:
            again = self._find_repeat(Instruction, new_id)
            if again is not None:  # the same command again: answer as the first time
                _check_same_command(
                    "issue an instruction",
                    (again.issuer, ctx.actor.unit),
                    (again.title, title.strip()),
                    (again.parent_id, parent_id),
                )
                return _Decision(again, [], created=True)
            resolved = self._resolve_deadline(priority, start, deadline, due_in)
            issuer = self._require_active(ctx.actor.unit)
            for code in [lead_unit, *(cooperating_units or [])]:
                self.check_direction(issuer, self._require_active(code))
            touched: list[LoopAggregate] = []
            loop_id = new_id
            parent: Instruction | None = None
            if parent_id is not None:
                parent = self.instruction(parent_id)
                # If-Match on a forward names the parent's version.
                self._check_version(ctx, parent)
                parent.check_can_forward(issuer.code, resolved)
                if issuer.code not in self.ancestors(lead_unit):
                    raise DirectionRefused(
                        f"unit {issuer.code} can forward only to a unit below it, "
                        f"and {lead_unit} is not"
                    )
                loop_id = parent.loop_id
            warnings = [self.warning(w) for w in dict.fromkeys(warning_ids or [])]
            for w in warnings:
                w.check_can_link()
            if parent is None and warnings:
                loop_id = warnings[0].loop_id
            meta = ctx.meta("IssueInstruction", loop_id, cause=_cause(parent_id, warning_ids))
            instruction = Instruction.issue(
                issuer=issuer.code,
                lead=lead_unit,
                cooperating=cooperating_units,
                title=title,
                content=content,
                priority=priority,
                deadline=resolved,
                warning_ids=[w.id for w in warnings],
                parent_id=parent_id,
                meta=meta,
            )
            touched.append(instruction)
            if parent is not None:
                parent.forward(
                    issuer.code, lead_unit, new_id, resolved, ctx.meta("Forward", parent.loop_id)
                )
                touched.append(parent)
            for w in warnings:
                w.link_instruction(new_id, ctx.meta("IssueInstruction", w.loop_id))
                touched.append(w)
            return _Decision(instruction, touched, created=True)

        return self._execute(ctx, decide)

    def forward(
        self,
        ctx: Context,
        iid: UUID,
        *,
        to_unit: str,
        title: str | None = None,
        content: str | None = None,
        deadline: datetime | None = None,
        due_in: WorkingDuration | None = None,
        priority: str | None = None,
    ) -> Outcome:
        """Pass an instruction (or part of it) down to a unit below: a child instruction.

        Title, content, priority and deadline default to the parent's.
        """
        parent = self.instruction(iid)
        if deadline is None and due_in is None:
            deadline = parent.deadline
        return self.issue_instruction(
            ctx,
            lead_unit=to_unit,
            title=title or parent.title,
            content=content if content is not None else parent.content,
            priority=priority or parent.priority,
            deadline=deadline,
            due_in=due_in,
            parent_id=iid,
        )

    def _on_instruction(
        self,
        ctx: Context,
        iid: UUID,
        command: str,
        act: Callable[[Instruction, Meta], list[LoopAggregate] | None],
    ) -> Outcome:
        return self._command(
            ctx,
            Instruction,
            iid,
            "instruction",
            lambda i: act(i, ctx.meta(command, i.loop_id)),
            command,
        )

    def sign_for(self, ctx: Context, iid: UUID) -> Outcome:
        """The actor's unit accepts the instruction; its disposition opens."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            did = disposition_id(i.id, ctx.actor.unit)
            i.sign_for(ctx.actor.unit, did, meta)
            if self._find(Disposition, did) is not None:  # signed before, returned, back again
                return []
            return [Disposition(instruction_id=i.id, unit=ctx.actor.unit, meta=meta)]

        return self._on_instruction(ctx, iid, "SignFor", act)

    def return_to_issuer(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        return self._on_instruction(
            ctx, iid, "Return", lambda i, m: i.return_to_issuer(ctx.actor.unit, reason, m)
        )

    def redirect(
        self, ctx: Context, iid: UUID, *, to_unit: str, from_unit: str | None = None
    ) -> Outcome:
        """The issuer sends a returned instruction to another unit (by default the lead's)."""

        def act(i: Instruction, meta: Meta) -> None:
            issuer = self._require_active(i.issuer)
            target = self._require_active(to_unit)
            if i.parent_id is not None and issuer.code not in self.ancestors(to_unit):
                # A forwarded part goes down only, as it did when it was forwarded.
                raise DirectionRefused(
                    f"unit {issuer.code} can forward only to a unit below it, and {to_unit} is not"
                )
            self.check_direction(issuer, target)
            i.redirect(from_unit or i.lead, to_unit, meta)

        return self._on_instruction(ctx, iid, "Redirect", act)

    def _on_disposition_of(
        self, ctx: Context, iid: UUID, command: str, act: Callable[[Disposition, Meta], None]
    ) -> Outcome:
        """A command that only adds to the actor's own disposition (no contention)."""
        did = disposition_id(iid, ctx.actor.unit)
        if self._find(Disposition, did) is None:
            # Never signed for: let the instruction say why this unit cannot report.
            self.instruction(iid).check_can_report(ctx.actor.unit)

        def on_disposition(d: Disposition) -> None:
            instruction = self.instruction(iid)
            # The client named the instruction: its If-Match is the instruction's version.
            self._check_version(ctx, instruction)
            instruction.check_can_report(ctx.actor.unit)
            act(d, ctx.meta(command, d.loop_id))

        on_own_record = replace(ctx, expected_version=None)
        return self._command(
            on_own_record, Disposition, did, "disposition", on_disposition, command
        )

    def report_progress(self, ctx: Context, iid: UUID, note: str) -> Outcome:
        return self._on_disposition_of(
            ctx, iid, "ReportProgress", lambda d, m: d.report_progress(note, m)
        )

    def record_action(
        self, ctx: Context, did: UUID, text: str, evidence: list[str] | None = None
    ) -> Outcome:
        def act(d: Disposition) -> None:
            instruction = self.instruction(d.instruction_id)
            if d.unit == ctx.actor.unit:
                instruction.check_can_report(ctx.actor.unit)
            d.record_action(text, evidence, ctx.meta("RecordAction", d.loop_id))

        return self._command(ctx, Disposition, did, "disposition", act, "RecordAction")

    def request_extension(
        self, ctx: Context, iid: UUID, *, deadline: datetime, reason: str
    ) -> Outcome:
        return self._on_instruction(
            ctx,
            iid,
            "RequestExtension",
            lambda i, m: i.request_extension(ctx.actor.unit, deadline, reason, m),
        )

    def decide_extension(
        self, ctx: Context, iid: UUID, *, granted: bool, note: str | None = None
    ) -> Outcome:
        return self._on_instruction(
            ctx, iid, "DecideExtension", lambda i, m: i.decide_extension(granted, note, m)
        )

    def submit(self, ctx: Context, iid: UUID, result: str) -> Outcome:
        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            unit = ctx.actor.unit
            i.submit(unit, result, meta)
            d = self.disposition(i.dispositions[unit])
            d.submit(result.strip(), ctx.meta("Submit", d.loop_id))
            return [d]

        return self._on_instruction(ctx, iid, "Submit", act)

    def verify(
        self, ctx: Context, iid: UUID, *, accepted: bool, note: str | None = None
    ) -> Outcome:
        """Accepted closes the instruction (and tells its parent and warnings); rejected
        sends it back to the lead unit for rework."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            submitted = [u for u, s in i.assignees.items() if s == "submitted"]
            i.verify(accepted, note, meta)
            touched: list[LoopAggregate] = []
            for unit in submitted if accepted else [i.lead]:
                d = self.disposition(i.dispositions[unit])
                d.record_verification(accepted, (note or "").strip(), ctx.meta("Verify", d.loop_id))
                touched.append(d)
            if accepted:
                # A cooperating unit that never submitted: its disposition ends with the case.
                for unit, did in i.dispositions.items():
                    if unit not in submitted:
                        d = self.disposition(did)
                        d.end("instruction closed", ctx.meta("Verify", d.loop_id, str(i.id)))
                        touched.append(d)
                touched += self._tell_finished(ctx, i, "closed")
            return touched

        return self._on_instruction(ctx, iid, "Verify", act)

    def _tell_finished(self, ctx: Context, i: Instruction, outcome: str) -> list[LoopAggregate]:
        """A finished instruction frees its parent and its warnings to close."""
        touched: list[LoopAggregate] = []
        if i.parent_id is not None:
            parent = self.instruction(i.parent_id)
            parent.child_finished(
                i.id, outcome, ctx.meta("ChildFinished", parent.loop_id, str(i.id))
            )
            touched.append(parent)
        return touched + self._tell_warnings(ctx, i, outcome)

    def _tell_warnings(self, ctx: Context, i: Instruction, outcome: str) -> list[LoopAggregate]:
        touched: list[LoopAggregate] = []
        for wid in i.warning_ids:
            w = self.warning(wid)
            w.instruction_finished(
                i.id, outcome, ctx.meta("InstructionFinished", w.loop_id, str(i.id))
            )
            touched.append(w)
        return touched

    def _check_issuer_or_superior(self, i: Instruction, unit: str, doing: str) -> None:
        if unit != i.issuer and unit not in self.ancestors(i.issuer):
            raise NotPermitted(f"only the issuing unit {i.issuer} or a unit above it may {doing}")

    def remind(self, ctx: Context, iid: UUID, note: str | None = None) -> Outcome:
        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "remind")
            i.remind(note, meta)

        return self._on_instruction(ctx, iid, "Remind", act)

    def mark_overdue(self, ctx: Context, iid: UUID, note: str | None = None) -> Outcome:
        """Record that an open instruction's deadline has passed (the deadline watch)."""

        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "mark it overdue")
            i.mark_overdue(note, meta)

        return self._on_instruction(ctx, iid, "MarkOverdue", act)

    def supervise(self, ctx: Context, iid: UUID, note: str | None = None) -> Outcome:
        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "put it under supervision")
            i.supervise(note, meta)

        return self._on_instruction(ctx, iid, "Supervise", act)

    def park(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "park it")
            i.park(reason, meta)

        return self._on_instruction(ctx, iid, "Park", act)

    def resume(self, ctx: Context, iid: UUID, note: str | None = None) -> Outcome:
        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "resume it")
            i.resume(note, meta)

        return self._on_instruction(ctx, iid, "Resume", act)

    def cancel_instruction(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        """Cancel an instruction and, with it, every open instruction forwarded from it."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            self._check_issuer_or_superior(i, ctx.actor.unit, "cancel it")
            return self._cancel_tree(ctx, i, reason, meta, top=True)

        return self._on_instruction(ctx, iid, "CancelInstruction", act)

    def _cancel_tree(
        self, ctx: Context, i: Instruction, reason: str, meta: Meta, *, top: bool
    ) -> list[LoopAggregate]:
        touched: list[LoopAggregate] = []
        for child_id in list(i.open_children):
            child = self.instruction(child_id)
            if child.is_finished:
                continue
            child_meta = ctx.meta("CancelInstruction", child.loop_id, cause=str(i.id))
            touched.append(child)
            touched += self._cancel_tree(
                ctx, child, f"parent cancelled: {reason}", child_meta, top=False
            )
            i.child_finished(child.id, "cancelled", meta)
        i.cancel(reason, meta)
        for did in i.dispositions.values():
            d = self.disposition(did)
            d.end("instruction cancelled", ctx.meta("CancelInstruction", d.loop_id, str(i.id)))
            touched.append(d)
        # A child's parent is told by the loop above, which is cancelling it.
        finished = self._tell_finished if top else self._tell_warnings
        return touched + finished(ctx, i, "cancelled")

    # -- reading -----------------------------------------------------------------------

    def history(self, aggregate_id: UUID) -> list[Any]:
        """The raw events of one aggregate, oldest first."""
        events = list(self.events.get(aggregate_id))
        if not events:
            raise NotFound("nothing on the record under this id")
        return events

    def as_of_version(self, aggregate_id: UUID, version: int) -> LoopAggregate:
        if version < 1:
            raise InvalidValue("versions start at 1")
        aggregate: Any = self.repository.get(aggregate_id, version=version)
        assert isinstance(aggregate, LoopAggregate)
        return aggregate

    def as_of(self, aggregate_id: UUID, when: datetime) -> LoopAggregate | None:
        """The aggregate as it stood at a past moment (by recorded time)."""
        version = None
        for e in self.history(aggregate_id):
            if e.timestamp <= when:
                version = e.originator_version
        return None if version is None else self.as_of_version(aggregate_id, version)

    def head_position(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def iter_log(self, start: int = 1, batch: int = 1000) -> Iterator[Any]:
        """Every event in log order: the one ordered log of all aggregates (ADR 0002)."""
        while True:
            # The recorder, not the notification log: the log caps a read at its
            # section size (10), far too small for a follower catching up.
            notifications = self.recorder.select_notifications(start, batch)
            if not notifications:
                return
            yield from notifications
            start = notifications[-1].id + 1

    def overdue_by(self, iid: UUID, at: datetime | None = None) -> timedelta:
        return self.instruction(iid).overdue_by(at or now(), self.calendar)


def _step(command: str) -> str:
    """A command's name as words: ``ReportProgress`` → ``report progress``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", command).lower()


def _check_same_command(command: str, *recorded_and_given: tuple[Any, Any]) -> None:
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


def _cause(parent_id: UUID | None, warning_ids: list[UUID] | None) -> str | None:
    if parent_id is not None:
        return str(parent_id)
    if warning_ids:
        return str(warning_ids[0])
    return None

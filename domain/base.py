"""What every aggregate of the closed loop shares: its loop, and the commands it has seen.

Every event carries a :class:`~domain.meta.Meta`. Applying an event also remembers its
command id, so that a retried command (same id) is recognised and becomes a no-op
instead of a second event (ADR 0003), and the command's name with it, so that an id
reused for another command is refused rather than taken for a retry (ADR 0025). The
memory is bounded: a retry comes within minutes, not after thousands of further
commands on the same aggregate.
"""

from __future__ import annotations

from copy import deepcopy
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import BusinessTimeRefused
from domain.meta import Meta

#: How many recent command ids an aggregate remembers for idempotency.
REMEMBERED_COMMANDS = 256

TLoopAggregate = TypeVar("TLoopAggregate", bound="LoopAggregate")


class _RemembersCommand:
    """Mix-in for events: after applying, note the event's command id on the aggregate."""

    meta: Meta

    def _remember(self, aggregate: Any) -> None:
        commands = _recent_commands(aggregate)
        command_id = self.meta.command_id
        if command_id in commands:
            # Seen again (a command's second event here, or a cascade under the same
            # id): the most recent now, still under the command it first came with (a
            # step may add events of other names here, a verification closing the case).
            commands[command_id] = commands.pop(command_id)
        else:
            commands[command_id] = self.meta.command
            if len(commands) > REMEMBERED_COMMANDS:
                del commands[next(iter(commands))]  # the least recently seen


#: The aggregate's memory of recent commands: command id -> the command's name, least
#: recently seen first (ADRs 0003, 0025). Bookkeeping, not part of what the record says.
COMMANDS = "recent_command_names"
#: Where a snapshot taken before ADR 0025 kept the ids alone, oldest first.
_LEGACY_COMMANDS = "recent_commands"
#: The latest business time on the record (its creation's, or a later step's): no
#: step reported after it may say it happened before it (issue 19). Missing on an
#: aggregate restored from a snapshot taken before it was kept, until its next event.
LATEST_BUSINESS_TIME = "latest_business_time"
BOOKKEEPING = frozenset({COMMANDS, _LEGACY_COMMANDS, LATEST_BUSINESS_TIME})


def _recent_commands(aggregate: Any) -> dict[str, str | None]:
    """The aggregate's memory, made on first use: a Created event reaches here before the
    aggregate has it, and one restored from a snapshot taken before the names were kept
    has its ids only (taken over, names unknown, and the old list dropped)."""
    state = aggregate.__dict__
    commands: dict[str, str | None] | None = state.get(COMMANDS)
    if commands is None:
        commands = state[COMMANDS] = dict.fromkeys(state.pop(_LEGACY_COMMANDS, ()))
    return commands


class LoopAggregate(Aggregate):
    """An aggregate that belongs to a loop and remembers the commands applied to it."""

    loop_id: UUID
    recent_command_names: dict[str, str | None]

    class Created(Aggregate.Created, _RemembersCommand):
        meta: Meta

        def mutate(self, aggregate: Any) -> Any:
            # The library rebases Created on our Event, whose mutate remembers the command.
            aggregate = super().mutate(aggregate)
            aggregate.loop_id = self.meta.loop_id
            return aggregate

    class Event(Aggregate.Event, _RemembersCommand):
        meta: Meta

        def mutate(self, aggregate: Any) -> Any:
            aggregate = super().mutate(aggregate)
            self._remember(aggregate)
            state = aggregate.__dict__
            latest = state.get(LATEST_BUSINESS_TIME)
            if latest is None or self.meta.occurred_at > latest:
                state[LATEST_BUSINESS_TIME] = self.meta.occurred_at
            return aggregate

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # The repository copies every aggregate it hands out of its cache. Most of an
        # aggregate's state is immutable scalars (str, UUID, datetime, enums) and flat
        # lists or dicts of them; copying those shallowly is as safe and several times
        # faster than the generic deepcopy. Anything else is deep-copied as before.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        state = clone.__dict__
        for name, value in self.__dict__.items():
            if _is_scalar(value):
                state[name] = value
            elif _is_flat(value):
                state[name] = value.copy()
            else:
                state[name] = deepcopy(value, memo)
        return clone

    def check_business_time(self, at: datetime | None) -> None:
        """Refuse a step whose reported business time precedes the record's latest one:
        its creation's, and the step's before it."""
        latest: datetime | None = self.__dict__.get(LATEST_BUSINESS_TIME)
        if at is not None and latest is not None and at < latest:
            raise BusinessTimeRefused(
                f"occurred_at {at.isoformat()} lies before {latest.isoformat()}, the business "
                "time of the step before it on this record; a step cannot happen earlier"
            )

    def has_seen(self, command_id: str) -> bool:
        """Whether a command with this id was already applied here (a retry)."""
        return command_id in _recent_commands(self)

    def command_seen(self, command_id: str) -> str | None:
        """The name of the command this id was applied here with; None if not known."""
        return _recent_commands(self).get(command_id)


_SCALARS = (str, int, float, UUID, date, Enum)


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, _SCALARS)


def _is_flat(value: object) -> bool:
    """A plain list or dict holding scalars only."""
    if type(value) is list:
        return all(_is_scalar(v) for v in value)
    if type(value) is dict:
        return all(_is_scalar(v) for v in value.values())
    return False

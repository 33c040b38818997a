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
from datetime import date
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.meta import Meta

#: How many recent command ids an aggregate remembers for idempotency.
REMEMBERED_COMMANDS = 256

TLoopAggregate = TypeVar("TLoopAggregate", bound="LoopAggregate")


class _RemembersCommand:
    """Mix-in for events: after applying, note the event's command id on the aggregate."""

    meta: Meta

    def _remember(self, aggregate: Any) -> None:
        # Created events reach here before the aggregate has the attributes; a snapshot
        # taken before the names were kept has the ids only (their names stay unknown).
        state = aggregate.__dict__
        seen: list[str] = state.setdefault("recent_commands", [])
        names: dict[str, str] = state.setdefault("recent_command_names", {})
        command_id = self.meta.command_id
        if not seen or seen[-1] != command_id:
            seen.append(command_id)
            if len(seen) > REMEMBERED_COMMANDS:
                dropped = seen[:-REMEMBERED_COMMANDS]
                del seen[:-REMEMBERED_COMMANDS]
                for forgotten in dropped:
                    # An id may be in the list twice (a cascade: two verifications under
                    # one id each telling the same warning): its name stays with the copy
                    # still remembered.
                    if forgotten not in seen:
                        names.pop(forgotten, None)
        # The command the id first came with on this aggregate: a step of it may add
        # events of other names here (a verification closing the case), never first.
        names.setdefault(command_id, self.meta.command)


class LoopAggregate(Aggregate):
    """An aggregate that belongs to a loop and remembers the commands applied to it."""

    loop_id: UUID
    recent_commands: list[str]
    recent_command_names: dict[str, str]

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

    def has_seen(self, command_id: str) -> bool:
        """Whether a command with this id was already applied here (a retry)."""
        return command_id in self.recent_commands

    def command_seen(self, command_id: str) -> str | None:
        """The name of the command this id was applied here with; None if not known."""
        names: dict[str, str] = self.__dict__.get("recent_command_names", {})
        return names.get(command_id)


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

"""What every family of use cases stands on: the unit of work, and the reads of the record.

:class:`UseCases` is the root of :class:`~domain.application.CommandCenter`'s families
(the network, the warnings, the instructions and dispositions, each a module of its
own). It gives them short names for the one command path of
:class:`~domain.unit_of_work.UnitOfWork` and reads the record as it stood (history, a
past version, the log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from domain.base import LoopAggregate
from domain.calendar import WorkingCalendar
from domain.decision import Decision, Outcome, check_version
from domain.errors import InvalidValue, NotFound
from domain.meta import Context
from domain.unit_of_work import UnitOfWork

TAggregate = TypeVar("TAggregate", bound=Aggregate)


class UseCases(Application[UUID]):
    """The shortcuts every use case takes to the unit of work, and the reads of the record."""

    #: The one command path (set by the command center when it is built).
    unit_of_work: UnitOfWork
    calendar: WorkingCalendar

    # -- the command path -------------------------------------------------------------

    def _execute(self, ctx: Context, decide: Callable[[], Decision]) -> Outcome:
        return self.unit_of_work.execute(decide, expected_version=ctx.expected_version)

    def _command(
        self,
        ctx: Context,
        cls: type[TAggregate],
        aggregate_id: UUID,
        what: str,
        act: Callable[[Any], list[LoopAggregate] | None],
        command: str | None = None,
    ) -> Outcome:
        return self.unit_of_work.command(ctx, cls, aggregate_id, what, act, command)

    def _load(self, cls: type[TAggregate], aggregate_id: UUID, what: str) -> TAggregate:
        return self.unit_of_work.load(cls, aggregate_id, what)

    def _find(self, cls: type[TAggregate], aggregate_id: UUID) -> TAggregate | None:
        return self.unit_of_work.find(cls, aggregate_id)

    def _find_repeat(self, cls: type[TAggregate], new_id: UUID) -> TAggregate | None:
        return self.unit_of_work.find_repeat(cls, new_id)

    @staticmethod
    def _check_version(ctx: Context, aggregate: LoopAggregate) -> None:
        check_version(ctx, aggregate)

    def find(self, aggregate_id: UUID) -> LoopAggregate | None:
        """Whatever is on the record under this id, as it is now, or None."""
        return self._find(LoopAggregate, aggregate_id)

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

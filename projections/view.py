"""The base class of every projection: a view built from the log into the view store.

Exactly-once: a batch of events and the view's tracking position are written in one
transaction, and the transaction first locks the view's tracking row, so that two
runners on one PostgreSQL database serialize per view and the second one skips what
the first applied (:meth:`View.process_in`). The runner applies a batch to every view in
one such transaction, and a view may keep its rows in memory for the batch
(:mod:`projections.buffers`, ADR 0016).
"""

from __future__ import annotations

import inspect
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from functools import singledispatchmethod
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from projections.store import Tx, ViewStore, tracking_name

#: Per view class, per event type: the branch of its ``apply`` (None: ignored).
_BRANCHES: dict[type, dict[type, Callable[[Any, Any, Tx], None] | None]] = {}

_TABLE_NAME = re.compile(r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)


class View(Projection[ViewStore]):
    """A projection that builds some tables of a :class:`ViewStore` from the log.

    Subclasses set ``name``, ``create_statements`` and ``version`` and write
    :meth:`apply`, one branch per event type; anything else is ignored. ``apply`` is
    deterministic: no clock, only the event's fields (``event.timestamp``, the
    recorded time; ``event.meta.occurred_at``, the business time).

    When ``apply`` is a ``singledispatchmethod``, events of a type it has no branch
    for are not handed to it at all (its fallback ignores them). A view may also
    override :meth:`apply_batch` to change its rows in memory and write each once per
    batch (ADR 0016).
    """

    name: str = ""
    create_statements: ClassVar[list[str]] = []
    #: Bump when the tables change: the runner then drops and rebuilds the view.
    version: ClassVar[int] = 1
    #: The log position of the event being applied (set by :meth:`apply_batch`).
    at: int = 0
    #: The ``singledispatchmethod`` whose branches say which events the view follows.
    dispatcher: ClassVar[str] = "apply"

    @property
    def store(self) -> ViewStore:
        return self.view

    @property
    def tracking_name(self) -> str:
        return tracking_name(self.name)

    @classmethod
    def tables(cls) -> list[str]:
        """The tables the view creates, in creation order."""
        return [m.group(1) for s in cls.create_statements if (m := _TABLE_NAME.search(s))]

    @classmethod
    def branch(cls, event_type: type) -> Callable[[Any, Any, Tx], None] | None:
        """The function that applies events of ``event_type`` (called with the view, the
        event and the transaction), or None when the view ignores them."""
        known = _BRANCHES.setdefault(cls, {})
        if event_type not in known:
            method = inspect.getattr_static(cls, cls.dispatcher, None)
            if isinstance(method, singledispatchmethod):
                found = method.dispatcher.dispatch(event_type)
                # The fallback of a dispatching ``apply`` ignores the event.
                known[event_type] = None if found is method.dispatcher.registry[object] else found
            else:
                known[event_type] = getattr(cls, cls.dispatcher)
        return known[event_type]

    @abstractmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Change the view for one event (a no-op for events it does not follow)."""

    def apply_batch(self, events: Sequence[tuple[Any, int]], tx: Tx) -> None:
        """Change the view for events in log order (each with its position), inside ``tx``.

        By default :meth:`apply` for each event that the view follows.
        """
        branch = self.branch
        for event, position in events:
            # The branch itself, not the dispatching method: binding it costs per call.
            if (apply := branch(type(event))) is not None:
                self.at = position
                apply(self, event, tx)

    def position(self) -> int:
        return self.view.max_tracking_id(self.tracking_name) or 0

    def process_in(
        self, tx: Tx, events: Sequence[tuple[Any, int]], expected: int | None = None
    ) -> int:
        """Apply events (each with its log position) and set the position, inside ``tx``.

        The view's tracking row is locked first and events at or before its position
        are skipped (another runner applied them): an event is applied once. A view
        found behind ``expected`` (the position its runner last knew) was reset under
        it, by a rebuild: nothing is applied, or the events before this batch would be
        missing from it for good; the runner reads again from the position answered.
        Answers the view's position afterwards.
        """
        current = self.view.lock_position(tx, self.tracking_name)
        if expected is not None and current < expected:
            return current
        todo = [(e, p) for e, p in events if p > current] if events[0][1] <= current else events
        if not todo:
            return current
        self.apply_batch(todo, tx)
        last = todo[-1][1]
        self.view.set_position(tx, self.tracking_name, last)
        return last

    def process_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        """:meth:`process_in` in a transaction of its own."""
        if not events:
            return self.position()
        with self.view.transaction(bulk=True) as tx:
            return self.process_in(tx, events)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking.notification_id)])

"""The read side as the API and the CLI see it: the view store, the runner when it runs
in this process, read-your-writes waits, each principal's last write (ADR 0045), the
per-view status, and the streaming replica reads may go to (ADR 0072)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from domain.application import CommandCenter
from projections.leadership import PROJECTIONS, copies_of, leaders
from projections.registry import view_classes, view_names
from projections.replica import Replica
from projections.runner import Runner, status, wait_in_store
from projections.sessions import SessionPositions
from projections.store import Tx, ViewStore, tracking_name

T = TypeVar("T")


class ReadModels:
    """The view store, and the runner that feeds it when it runs in this process."""

    def __init__(
        self,
        center: CommandCenter,
        store: ViewStore,
        runner: Runner | None,
        *,
        replica: Replica | None = None,
        replica_wait: float = 1.0,
    ) -> None:
        self.center = center
        self.store = store
        self.runner = runner
        #: The standby reads go to while it serves, and how long a read waits for it to
        #: replay the reader's own write before it reads the primary instead.
        self.replica = replica
        self.replica_wait = replica_wait
        #: Each principal's last write, for the session's reads (its thread starts at
        #: the first write noted).
        self.sessions = SessionPositions(store)

    @classmethod
    def beside(cls, center: CommandCenter, *, run: bool = True, **runner_args: Any) -> ReadModels:
        """The views beside ``center``'s store; with ``run``, fed by a runner in this process."""
        store = ViewStore.for_env(center.env)
        runner = Runner(center, store, **runner_args) if run else None
        return cls(center, store, runner)

    def with_replica(
        self, url: str, *, max_lag: float, wait: float, statement_timeout: float = 0.0
    ) -> ReadModels:
        """These views, read from the standby at ``url`` while it serves (ADR 0072)."""
        self.replica = Replica.at_url(
            url, self.store, max_lag=max_lag, statement_timeout=statement_timeout
        )
        self.replica_wait = wait
        return self

    def start(self) -> None:
        self._start_views()
        if self.replica is not None:
            # After the views' tables exist: the replica serves once it has them too.
            self.replica.start()

    def _start_views(self) -> None:
        if self.runner is not None:
            self.runner.start()
        else:
            # Another process feeds the views; this one only needs their tables to read.
            self.store.create_own_tables()
            with self.store.transaction() as tx:
                tx.lock_schema_changes()
                for cls in view_classes():
                    for statement in cls.create_statements:
                        tx.execute(statement)

    def stop(self) -> None:
        self.sessions.close()
        if self.replica is not None:
            self.replica.stop()
        if self.runner is not None:
            self.runner.stop()
        self.store.close()

    def wait(self, names: Iterable[str], position: int, timeout: float) -> bool:
        """Whether the views reach ``position`` within ``timeout`` seconds."""
        names = list(names)
        if self.runner is not None:
            return self.runner.wait_for(names, position, timeout)
        return wait_in_store(self.store, names, position, timeout)

    def choose(self, names: Iterable[str], position: int, timeout: float) -> ViewStore | None:
        """The store a read of ``names`` that must see ``position`` reads (0: any), or
        None when the views do not reach it within ``timeout`` seconds.

        The primary's views first, as without a replica; then, while the standby serves,
        its copies, for at most :attr:`replica_wait`; past that, the primary's.
        """
        names = list(names)
        if position > 0 and not self.wait(names, position, timeout):
            return None
        replica = self.replica
        if replica is None:
            return self.store
        if replica.serving and (position <= 0 or replica.wait(names, position, self.replica_wait)):
            return replica.store
        replica.fallbacks += 1
        return self.store

    def for_reading(self) -> ViewStore:
        """The store a read that waits for no position reads: the standby while it serves."""
        replica = self.replica
        return replica.store if replica is not None and replica.serving else self.store

    def on(self, store: ViewStore, work: Callable[[ViewStore], T]) -> T:
        """``work`` on ``store`` (reads of its own, in as many transactions or threads as
        it likes: a report's halves, ADR 0023); work on the standby that fails for its
        being away is done again, whole, on the primary (ADR 0089)."""
        replica = self.replica
        if replica is None or store is not replica.store:
            return work(store)
        try:
            return work(store)
        except Exception as e:
            if not replica.lost(e):
                raise
        replica.fallbacks += 1
        return work(self.store)

    def read(self, store: ViewStore, query: Callable[[Tx], T]) -> T:
        """``query`` in one read of ``store``; a read of the standby that fails for its
        being away is read again from the primary (no 500, no 503, ADR 0072)."""
        if self.replica is not None and store is self.replica.store:
            return self.replica.read(query)
        with store.read() as tx:
            return query(tx)

    def reached(self, names: Iterable[str], store: ViewStore | None = None) -> int:
        """The position every one of the named views has read the log up to (in
        ``store``'s copy, when it is the standby)."""
        names = list(names)
        if self.replica is not None and store is self.replica.store:
            return self.replica.reached(names)
        if self.runner is not None:
            return min((self.runner.positions.get(n, 0) for n in names), default=0)
        positions = self.store.positions()
        return min((positions.get(tracking_name(n), 0) for n in names), default=0)

    def status(self) -> list[dict[str, Any]]:
        """Per view its position, lag and heartbeat, and which copy leads it (ADR 0074)."""
        rows = status(self.store, self.center.head_position(), view_names())
        led = leaders(copies_of(self.store, PROJECTIONS))
        for row in rows:
            row["leader"] = led.get(row["view"])
        return rows

    def copies(self) -> list[dict[str, Any]]:
        """The live copies of the followers that share their work, and what each leads."""
        return copies_of(self.store)

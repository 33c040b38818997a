"""The read side as the API and the CLI see it: the view store, the runner when it runs
in this process, read-your-writes waits, each principal's last write (ADR 0045) and the
per-view status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.application import CommandCenter
from projections.leadership import PROJECTIONS, copies_of, leaders
from projections.registry import view_classes, view_names
from projections.runner import Runner, status, wait_in_store
from projections.sessions import SessionPositions
from projections.store import ViewStore, tracking_name


class ReadModels:
    """The view store, and the runner that feeds it when it runs in this process."""

    def __init__(self, center: CommandCenter, store: ViewStore, runner: Runner | None) -> None:
        self.center = center
        self.store = store
        self.runner = runner
        #: Each principal's last write, for the session's reads (its thread starts at
        #: the first write noted).
        self.sessions = SessionPositions(store)

    @classmethod
    def beside(cls, center: CommandCenter, *, run: bool = True, **runner_args: Any) -> ReadModels:
        """The views beside ``center``'s store; with ``run``, fed by a runner in this process."""
        store = ViewStore.for_env(center.env)
        runner = Runner(center, store, **runner_args) if run else None
        return cls(center, store, runner)

    def start(self) -> None:
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
        if self.runner is not None:
            self.runner.stop()
        self.store.close()

    def wait(self, names: Iterable[str], position: int, timeout: float) -> bool:
        """Whether the views reach ``position`` within ``timeout`` seconds."""
        names = list(names)
        if self.runner is not None:
            return self.runner.wait_for(names, position, timeout)
        return wait_in_store(self.store, names, position, timeout)

    def reached(self, names: Iterable[str]) -> int:
        """The position every one of the named views has read the log up to."""
        names = list(names)
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

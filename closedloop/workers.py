"""The work done beside answering requests: playbooks and the deadline watch.

``closedloop serve`` runs it in the server process by default; ``closedloop watch run``
runs it on its own (for a PostgreSQL deployment with several API processes). Both loops
are safe to run twice at once or to restart at any moment: every act is a command whose
id is derived from what caused it, so a repeated act is a no-op on the record.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.intake import Intake
from domain.watch import DeadlineWatch, WatchPolicy
from projections.store import ViewStore

log = logging.getLogger("closedloop.workers")
watch_log = logging.getLogger("closedloop.watch")

#: The intake's place in the log, kept in the view store's tracking table.
INTAKE_TRACKING = "closedloop/intake-playbooks"


def run_until_stopped(
    starts: list[Callable[[], Any]], stops: list[Callable[[], Any]], started: str
) -> int:
    """A process of its own: call ``starts``, say ``started``, wait for SIGTERM or SIGINT
    (Ctrl-C), then call ``stops`` in order; the exit status 0."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        for start in starts:
            start()
        print(started, flush=True)
        done.wait()
    finally:
        for stop in stops:
            stop()
    return 0


def open_instructions(store: ViewStore) -> Callable[[], list[UUID]]:
    """The open instructions, from the instructions view (not a scan of the log)."""

    def query() -> list[UUID]:
        with store.read() as tx:
            rows = tx.execute("SELECT id FROM instructions WHERE finished = 0")
        return [UUID(row[0]) for row in rows]

    return query


class Background:
    """Two daemon loops: playbooks for new and confirmed warnings, and the deadline watch."""

    def __init__(
        self,
        center: CommandCenter,
        store: ViewStore,
        intake: Intake,
        policy: WatchPolicy | None = None,
        interval: float = 5.0,
    ) -> None:
        self.center = center
        self.store = store
        self.intake = intake
        self.watch = DeadlineWatch(center, policy, open_instructions(store))
        self.interval = interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.store.create_own_tables()
        self._stop.clear()
        for name, target in (("playbooks", self._follow), ("deadline-watch", self._watch)):
            thread = threading.Thread(target=target, name=f"closedloop-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        # No parameters: Litestar hands its app to a shutdown hook that takes one.
        self._stop.set()
        for thread in self._threads:
            thread.join(10.0)
        self._threads.clear()

    def follow_once(self) -> int:
        """Run the playbooks for what the log holds since the last round; answer the
        position reached. The position is saved after the acts, so a crash repeats
        acts, and repeated acts are no-ops (derived command ids)."""
        start = (self.store.max_tracking_id(INTAKE_TRACKING) or 0) + 1
        reached = self.intake.follow(start) - 1
        if reached >= start:
            with self.store.transaction() as tx:
                self.store.lock_position(tx, INTAKE_TRACKING)
                self.store.set_position(tx, INTAKE_TRACKING, reached)
        return reached

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.follow_once()
            except Exception:
                # A store briefly away must not end the loop; the next round retries.
                log.exception("the playbook follower could not finish a round")
            self._stop.wait(self.interval)

    def _watch(self) -> None:
        """Tick until stopped; the pause between ticks is the policy's interval."""
        while not self._stop.is_set():
            try:
                self.watch.tick()
            except Exception:
                # A store that is briefly away must not end the watch; the next tick retries.
                watch_log.exception("the deadline watch could not finish a round")
            self._stop.wait(self.watch.policy.interval.total_seconds())

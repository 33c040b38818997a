"""The work done beside answering requests: playbooks and the deadline watch.

``closedloop serve`` runs it in the server process by default; ``closedloop watch run``
runs it on its own (for a PostgreSQL deployment with several API processes). Both loops
are safe to run twice at once or to restart at any moment: every act is a command whose
id is derived from what caused it, so a repeated act is a no-op on the record.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from closedloop.escalation_config import load_escalation_policy
from domain.application import CommandCenter
from domain.duty_escalation import EscalationPolicy
from domain.duty_watch import SignForWatch
from domain.follow_up_watch import FollowUpWatch
from domain.heartbeat import HeartbeatWatch
from domain.inhibition_watch import InhibitionWatch
from domain.intake import Intake
from domain.notice_watch import NoticeWatch
from domain.silence_watch import SilenceWatch
from domain.watch import DeadlineWatch, WatchPolicy
from domain.whistle_watch import CheckInWatch
from projections.follower import Follower
from projections.leadership import Leadership
from projections.outage import until_reachable
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
            # A follower started while the database is away or full waits for it, as a
            # running one does, instead of exiting (ADR 0047).
            until_reachable(start, started.split(" ")[0], done.is_set)
            if done.is_set():
                return 0
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


class Rounds(Follower):
    """A round of ``work`` every ``every`` seconds, whatever it found; after an error,
    the next round at the same pace: a store briefly away must not end the loop."""

    def __init__(
        self, name: str, work: Callable[[], object], every: float, logger: logging.Logger
    ) -> None:
        super().__init__(
            name=f"closedloop-{name}",
            label=name,
            log=logger,
            poll_interval=every,
            backoff=(every, every),
        )
        self.work = work

    def step(self) -> int:
        self.work()
        # The pace is the interval's, not the work's: every round waits it.
        return 0


#: Seconds between two rounds of the readings' retention.
RETENTION_EVERY = 3600.0


class Background:
    """Three daemon loops: playbooks for new and confirmed warnings, the deadline watch,
    and the readings' retention."""

    def __init__(
        self,
        center: CommandCenter,
        store: ViewStore,
        intake: Intake,
        policy: WatchPolicy | None = None,
        interval: float = 5.0,
        escalation_policy: EscalationPolicy | None = None,
    ) -> None:
        self.center = center
        self.store = store
        self.intake = intake
        self.watch = DeadlineWatch(center, policy, open_instructions(store))
        #: Late receipts of notices are reminded in the deadline watch's rounds (ADR 0077),
        #: and absent departments of a whistle reminded and escalated (ADR 0078).
        self.notice_watch = NoticeWatch(center)
        self.check_ins = CheckInWatch(center)
        #: Silent feeds raised and resolved, and silences lifted at their end (ADR 0085).
        self.heartbeats = HeartbeatWatch(intake)
        self.silences = SilenceWatch(intake)
        #: Inhibited warnings released once their inhibitor ends first (ADR 0087).
        self.inhibitions = InhibitionWatch(intake)
        #: Closed cases from the public still to be followed up are reminded (ADR 0083).
        self.follow_ups = FollowUpWatch(center)
        #: Instructions not signed for climb their escalation ladder (ADR 0084); the
        #: policy file is checked here, at start, and a broken one stops the process.
        self.sign_for = SignForWatch(
            center, escalation_policy or load_escalation_policy(), open_instructions(store)
        )
        self.interval = interval
        self.loops: list[Follower] = []
        #: With several copies of ``watch run`` on PostgreSQL, which loops this copy
        #: leads (ADR 0074); None: both, always.
        self.leadership: Leadership | None = None

    #: The loops, by the name each is led by.
    PIECES = ("playbooks", "deadline-watch")

    def share(self, leadership: Leadership) -> None:
        """Run only the loops ``leadership`` says this copy leads (before :meth:`start`)."""
        if leadership.divided:
            self.leadership = leadership

    def start(self) -> None:
        self.store.create_own_tables()
        # The pause between two ticks of the watch is its policy's interval.
        self.loops = [
            Rounds("playbooks", self.follow_once, self.interval, log),
            Rounds(
                "deadline-watch",
                self.watch_round,
                self.watch.policy.interval.total_seconds(),
                watch_log,
            ),
            # Readings past retention are rolled up and dropped once an hour (ADR 0073).
            Rounds("readings-retention", self.intake.apply_retention, RETENTION_EVERY, log),
        ]
        for loop in self.loops:
            if self.leadership is not None:
                loop.leading = functools.partial(self.leadership.leads, loop.label)
                # Given the loop, it runs a round at once, not at the end of its pace.
                self.leadership.on_change.append(loop.poke)
            loop.start()

    def watch_round(self) -> list[dict[str, Any]]:
        """One round of the deadline watch, then of the notice watch, the whistles'
        check-in watch, the silence watch, the heartbeats, the inhibition watch, the follow-up watch
        and the sign-for escalations: one
        loop, led by one copy, so that the reminders, escalations and raises of all are
        sent by the same leader."""
        return [
            *self.watch.tick(),
            *self.notice_watch.tick(),
            *self.check_ins.tick(),
            *self.silences.tick(),
            *self.heartbeats.tick(),
            *self.inhibitions.tick(),
            *self.follow_ups.tick(),
            *self.sign_for.tick(),
        ]

    def stop(self) -> None:
        # No parameters: Litestar hands its app to a shutdown hook that takes one.
        for loop in self.loops:
            loop.halt()
        for loop in self.loops:
            loop.join(10.0)
        self.loops = []

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

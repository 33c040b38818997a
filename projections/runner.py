"""The projection runner: follows the event log and feeds every view, exactly once.

One thread reads the log in batches (``recorder.select_notifications``: the notification
log caps a read at 10), decodes each event once (:mod:`projections.decoding`) and hands
the batch to every view that is behind, all of them in one transaction in which each
view writes its changes and its position (ADR 0016). On
SQLite it polls; on PostgreSQL it LISTENs on the channel the library NOTIFYs after each
write and polls as well at a fallback interval, because a lost notification must never
stall a view (library issue #305). After a store error it backs off and tries again
(the loop of :mod:`projections.follower`, ADR 0039).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Self

from domain.application import CommandCenter
from projections.decoding import event_decoder
from projections.follower import Follower
from projections.registry import build_views
from projections.store import ViewStore, tracking_name
from projections.values import from_iso
from projections.view import View
from telemetry import series, tracing

log = logging.getLogger("closedloop.projections")

#: Events per transaction: large enough that a rebuild is not dominated by commits.
BATCH = 1000
HEARTBEAT_EVERY = 1.0
#: After a short batch, how long the runner lets the next events gather (seconds).
SETTLE = 0.02
#: The most traces one batch continues with a span each (ADR 0070): a rebuild of a
#: traced log must not make a span per event.
TRACES_PER_BATCH = 32


class Runner(Follower):
    """Feeds ``views`` from ``center``'s log until :meth:`stop`.

    Its loop is a :class:`~projections.follower.Follower`'s: a step that found nothing
    waits ``poll_interval`` (a poke or a NOTIFY ends it early), a batch shorter than
    ``batch`` lets the next events gather for ``settle``, a store error is tried again
    after 0.2 s, doubling up to 10 s.
    """

    #: A full batch is read at most: always a number here.
    batch: int

    def __init__(
        self,
        center: CommandCenter,
        store: ViewStore,
        views: Sequence[View] | None = None,
        *,
        poll_interval: float = 0.1,
        listen: bool = True,
        batch: int = BATCH,
        settle: float = SETTLE,
    ) -> None:
        super().__init__(
            name="closedloop-projections",
            log=log,
            poll_interval=poll_interval,
            settle=settle,
            batch=batch,
        )
        self.center = center
        self.store = store
        self.views: list[View] = (
            list(views) if views is not None else build_views(store, center.calendar)
        )
        self.listen = listen and store.dialect == "postgres"
        self.positions: dict[str, int] = {}
        self._advanced = threading.Condition()
        self._listener: Listener | None = None
        self._last_beat = 0.0
        self._decode = event_decoder(center.mapper)
        #: The runner's label in its series: its one view (the outbox's) or "views".
        self.label = self.views[0].name if len(self.views) == 1 else "views"

    # -- lifecycle ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the views' tables (and rebuild a view whose version changed)."""
        for view in self.views:
            if self.store.ensure(view):
                log.info(
                    "view %s (version %s) builds from the first event", view.name, view.version
                )
        self.positions = {view.name: view.position() for view in self.views}

    def start(self) -> Self:
        self.prepare()
        super().start()
        channel = getattr(self.center.recorder, "channel_name", None)
        if self.listen and channel is not None:
            self._listener = Listener(self.store, channel, self.poke).start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        # Both asked first, then both awaited: the one stop takes the longer of the two.
        followers = [f for f in (self._listener, self) if f is not None]
        for follower in followers:
            follower.halt()
        for follower in followers:
            follower.join(timeout)
        self._listener = None

    # -- the loop ----------------------------------------------------------------------

    def step(self) -> int:
        """Apply one batch of events to the views behind; answers how many were read."""
        start = min(self.positions.values(), default=0) + 1
        notifications = self.center.recorder.select_notifications(start, self.batch)
        if not notifications:
            return 0
        to_domain_event = self._decode
        self.apply([(to_domain_event(n), n.id) for n in notifications])
        return len(notifications)

    def apply(self, events: Sequence[tuple[Any, int]]) -> None:
        """Feed decoded events (in log order, with their positions) to every view behind.

        One transaction for the batch and all the views: each view locks its tracking
        row (always in the registry's order, so two runners cannot deadlock), skips
        what it already has, and writes its changes and its position.
        """
        counts = series.recording()
        started = time.perf_counter()
        began = time.time_ns()
        advanced: dict[str, int] = {}
        with self.store.transaction(bulk=True) as tx:
            for view in self.views:
                behind = self.positions.get(view.name, 0)
                todo = events if events[0][1] > behind else [e for e in events if e[1] > behind]
                if todo:
                    advanced[view.name] = view.process_in(tx, todo, expected=behind)
        # Only what was committed counts as applied.
        self.positions.update(advanced)
        with self._advanced:
            self._advanced.notify_all()
        if counts is not None:
            counts.batch_seconds.labels(self.label).observe(time.perf_counter() - started)
            counts.events_applied.labels(self.label).inc(len(events))
        if tracing.tracing():
            self._continue_traces(events, began, advanced)

    def _continue_traces(
        self, events: Sequence[tuple[Any, int]], began: int, advanced: dict[str, int]
    ) -> None:
        """A span for each trace the batch's events were stored in (ADR 0070), from the
        batch's start to now: the projection that applied the command's events."""
        seen: dict[str, int] = {}
        for event, position in events:
            meta = getattr(event, "meta", None)
            parent = getattr(meta, "traceparent", None)
            if parent and parent not in seen:
                seen[parent] = position
                if len(seen) >= TRACES_PER_BATCH:
                    break
        tracer = tracing.tracer()
        for parent, position in seen.items():
            span = tracer.start_span(
                f"apply {self.label}",
                context=tracing.continued(parent),
                start_time=began,
                attributes={
                    "closedloop.position": position,
                    "closedloop.batch": len(events),
                    "closedloop.views": sorted(advanced),
                },
            )
            span.end()

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Apply everything recorded so far (for rebuilds and tests); answers the position.

        A second thread reads and decodes the next batch while this one applies the
        last: during a rebuild the database works on one while Python decodes the other.
        """
        if not self.positions:
            self.prepare()
        batches: queue.Queue[list[tuple[Any, int]] | BaseException | None] = queue.Queue(2)
        done = threading.Event()

        def read() -> None:
            try:
                position = min(self.positions.values(), default=0)
                to_domain_event = self._decode
                select = self.center.recorder.select_notifications
                while not done.is_set():
                    notifications = select(position + 1, self.batch)
                    if not notifications:
                        break
                    position = notifications[-1].id
                    batches.put([(to_domain_event(n), n.id) for n in notifications])
                batches.put(None)
            except BaseException as e:
                batches.put(e)

        reader = threading.Thread(target=read, name="closedloop-projections-read", daemon=True)
        with _fewer_collections():
            reader.start()
            try:
                while (events := batches.get()) is not None:
                    if isinstance(events, BaseException):
                        raise events
                    self.apply(events)
                    if progress is not None:
                        progress(len(events))
            finally:
                done.set()
                # Unblock a reader waiting on a full queue, then let it end.
                while reader.is_alive():
                    with contextlib.suppress(queue.Empty):
                        batches.get(timeout=0.05)
        return min(self.positions.values(), default=0)

    def beat(self) -> None:
        """The views' heartbeat in the store, at most every ``HEARTBEAT_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT_EVERY:
            return
        self._last_beat = now
        self.store.beat([v.name for v in self.views], datetime.now(UTC))

    # -- read-your-writes --------------------------------------------------------------

    def wait_for(self, names: Iterable[str] | None, position: int, timeout: float) -> bool:
        """Whether the named views (all when None) reach ``position`` within ``timeout``."""
        wanted = list(names) if names is not None else [v.name for v in self.views]
        if all(self.positions.get(n, 0) >= position for n in wanted):
            # Most reads of a session ask for what the views already have: no wake-up.
            return True
        deadline = time.monotonic() + timeout
        self.poke()
        with self._advanced:
            while True:
                if all(self.positions.get(n, 0) >= position for n in wanted):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._advanced.wait(min(remaining, 0.05))


class Listener(Follower):
    """Pokes the runner on each NOTIFY of the store's channel; polling goes on beside it,
    whatever happens here (a lost notification must never stall a view).

    A step is one LISTEN session, held until the runner stops; a connection lost is
    tried again every 2 s.
    """

    def __init__(self, store: ViewStore, channel: str, poke: Callable[[], None]) -> None:
        super().__init__(
            name="closedloop-projections-listen",
            label="projections",
            log=log,
            # A session ends only at a stop or an error: no pause between two.
            poll_interval=0.0,
            backoff=(2.0, 2.0),
        )
        self.store = store
        self.channel = channel
        self.notified = poke

    def step(self) -> int:
        from psycopg import sql

        with self.store.connect(autocommit=True) as conn:  # type: ignore[attr-defined]
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            while not self.stopping:
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    self.notified()
        return 0

    def report(self, error: BaseException, wait: float) -> None:
        log.warning("projections: LISTEN %s failed (%s); polling meanwhile", self.channel, error)


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_restore: tuple[tuple[int, ...], bool] | None = None


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector, mostly out of the way of a catch-up.

    A catch-up holds two batches of thousands of decoded events at a time, and the
    collector's default thresholds promote them to the oldest generation and then
    traverse every object of the process again and again, though reference counting
    alone frees them (events hold no cycles). Measured on a rebuild of 40,000 events,
    about a fifth of its time (ADR 0022). For the catch-up, what the process held
    before is set aside (``gc.freeze``) and the youngest generation is collected at
    100,000 allocations instead of 700; both are undone afterwards. The settings are
    the process's: catch-ups that overlap (in threads) share one quiet spell, undone
    when the last ends, and a process that froze objects itself keeps them frozen.
    The server's runner steps batch by batch and never comes here.
    """
    global _quiet_depth, _quiet_restore
    with _quiet_lock:
        if _quiet_depth == 0:
            thresholds = gc.get_threshold()
            freezes = gc.get_freeze_count() == 0
            _quiet_restore = (thresholds, freezes)
            if freezes:
                gc.freeze()
            gc.set_threshold(max(thresholds[0], 100_000), *thresholds[1:])
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_restore is not None:
                saved, froze = _quiet_restore
                gc.set_threshold(*saved)
                if froze:
                    gc.unfreeze()
                _quiet_restore = None


def wait_in_store(store: ViewStore, names: Iterable[str], position: int, timeout: float) -> bool:
    """:meth:`Runner.wait_for` when the runner is another process: poll the positions."""
    deadline = time.monotonic() + timeout
    wanted = [tracking_name(n) for n in names]
    while True:
        positions = store.positions()
        if all(positions.get(n, 0) >= position for n in wanted):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def status(store: ViewStore, head: int, names: Iterable[str]) -> list[dict[str, Any]]:
    """Per view: its position, the log's head, the lag and the heartbeat's age."""
    positions = store.positions()
    state = store.state()
    now = datetime.now(UTC)
    rows = []
    for name in names:
        position = positions.get(tracking_name(name), 0)
        beat = from_iso(state.get(name, (0, None))[1])
        rows.append(
            {
                "view": name,
                "position": position,
                "head": head,
                "lag": max(head - position, 0),
                "heartbeat_age": None if beat is None else (now - beat).total_seconds(),
            }
        )
    return rows

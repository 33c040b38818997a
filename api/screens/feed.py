"""The board's live stream: one poller per process, fanned out to every screen (ADR 0054).

A hall has dozens of screens, and a deployment several workers and servers; none of
them is told when another writes. So each process asks its view store, every
:data:`POLL` seconds, how far the board's views have read the log (one number, from
memory when the runner runs here); one :class:`BoardFeed` per process does that for all
the screens connected to it, and wakes each of them when the number moves. The number
is the log position, so it means the same on every server: it is each event's ``id``,
and a browser that comes back with ``Last-Event-ID`` (or ``since``, for its first
connection) gets a fresh board at once if anything changed since, else nothing but
heartbeats until something does.

A screen's board is the same for every screen of one subtree and language:
:class:`Snapshots` builds it once per position (and once a minute, for the figures
that move with the clock: overdue now, today), whichever of those screens asks first,
and the others take the same text. A stream holds a queue of nothing: a screen that
fell behind gets the newest board, never the ones it missed, so nothing grows with time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio.to_thread

log = logging.getLogger("closedloop.screens")

#: Seconds between two looks at the views' position.
POLL = 0.1
#: Seconds between heartbeats on a quiet stream (proxies close silent connections
#: after 30 to 60 s; the page counts a stream silent for three beats as lost).
BEAT = 10.0
#: The least seconds between two boards sent on one stream (a storm moves the log
#: hundreds of times a second; a screen needs its board within 2 s, not each step).
COALESCE = 0.25
#: Seconds after which a board is built again though the log did not move.
REFRESH = 60.0
#: Seconds a stream lives before it ends and the browser comes back (with its
#: ``Last-Event-ID``, so it misses nothing): the page guard then asks again whether the
#: session still speaks for someone, so a revoked token or an ended session stops its
#: screen within this time; and a restarted or added server takes its share of screens.
LIFETIME = 300.0
#: How long, in ms, a browser waits before it reconnects (the stream's ``retry``).
RETRY_MS = 2000
#: Boards kept built: one per subtree and language shown on some screen.
KEPT = 256

Key = tuple[str | None, str]

#: The ASGI scope extension under which a stream leaves its :class:`Ending`: the server
#: calls it as it stops (``closedloop.connections``), and the stream ends cleanly
#: instead of holding the server's shutdown for as long as the screen stays.
STREAM_END = "closedloop.stream_end"


class Ending:
    """Ends one stream from outside: it finishes its last message and completes."""

    def __init__(self) -> None:
        self.ended = False
        self.wake: asyncio.Event | None = None

    def __call__(self) -> None:
        self.ended = True
        if self.wake is not None:
            self.wake.set()


def message(event: str, data: str, event_id: int | None = None) -> bytes:
    """One Server-Sent Event: each line of ``data`` on a ``data:`` line of its own."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in (data.splitlines() or [""])]
    return ("\n".join(lines) + "\n\n").encode()


#: A comment (for proxies) and a ``beat`` event (for the page's watchdog: EventSource
#: shows a page no comment); it carries no id, so the browser's last id stays.
HEARTBEAT = b": beat\nevent: beat\ndata: 1\n\n"


class BoardFeed:
    """The views' position, watched by one task while any stream listens."""

    def __init__(self, reached: Callable[[], int], poll: float = POLL) -> None:
        self._reached = reached
        self._poll = poll
        self.position = -1
        self._listeners: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    async def subscribe(self) -> asyncio.Event:
        """A wake-up for one stream; the first one starts the poller, after one look
        (so that a new stream compares its ``since`` with the position as it is)."""
        wake = asyncio.Event()
        self._listeners.add(wake)
        if self._task is None or self._task.done():
            self.position = await anyio.to_thread.run_sync(self._reached)
            self._task = asyncio.get_running_loop().create_task(self._watch())
        return wake

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._listeners.discard(wake)

    async def _watch(self) -> None:
        # Ends by itself once no stream listens: nothing runs for a board nobody sees.
        while self._listeners and not self.closed:
            await asyncio.sleep(self._poll)
            try:
                position = await anyio.to_thread.run_sync(self._reached)
            except Exception as e:  # the store away: the screens keep their board and wait
                log.warning("board feed: the views' position could not be read: %s", e)
                continue
            if position != self.position:
                self.position = position
                for wake in list(self._listeners):
                    wake.set()

    def close(self) -> None:
        """The server stops: every stream ends."""
        self.closed = True
        for wake in list(self._listeners):
            wake.set()


@dataclass
class _Built:
    position: int
    minute: int
    html: str
    at: float = field(default_factory=time.monotonic)


class Snapshots:
    """Boards built once per subtree, language and position, shared by their screens."""

    def __init__(self, build: Callable[[Key], tuple[int, str]]) -> None:
        self._build = build
        self._kept: OrderedDict[Key, _Built] = OrderedDict()
        self._building: dict[Key, asyncio.Future[_Built]] = {}

    async def get(self, key: Key, at_least: int) -> tuple[int, str]:
        """The board of ``key`` at position ``at_least`` or later, built this minute."""
        minute = int(time.time() // REFRESH)
        kept = self._kept.get(key)
        if kept is not None and kept.position >= at_least and kept.minute == minute:
            self._kept.move_to_end(key)
            return kept.position, kept.html
        running = self._building.get(key)
        if running is None:
            running = asyncio.get_running_loop().create_future()
            # Read, so that an error nobody else waited for is not reported as lost.
            running.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._building[key] = running
            try:
                position, html = await anyio.to_thread.run_sync(self._build, key)
                built = _Built(position, minute, html)
                self._kept[key] = built
                self._kept.move_to_end(key)
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
                running.set_result(built)
            except BaseException as e:
                running.set_exception(e)
                raise
            finally:
                del self._building[key]
        built = await asyncio.shield(running)
        return built.position, built.html


async def board_events(
    feed: BoardFeed,
    snapshots: Snapshots,
    key: Key,
    since: int | None,
    ending: Ending | None = None,
) -> AsyncIterator[bytes]:
    """The stream of one screen: a board whenever the log moved past what it shows
    (at once when ``since`` is not where the log stands), heartbeats in between; it
    ends when the feed closes or ``ending`` is called."""
    ending = ending or Ending()
    wake = await feed.subscribe()
    ending.wake = wake
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        shown = since if since is not None and since == feed.position else None
        shown_minute = int(time.time() // REFRESH)
        last_beat = started = time.monotonic()
        while not (feed.closed or ending.ended) and time.monotonic() - started < LIFETIME:
            wake.clear()
            minute = int(time.time() // REFRESH)
            if shown is None or feed.position > shown or minute != shown_minute:
                position, html = await snapshots.get(key, max(feed.position, 0))
                yield message("board", html, position)
                shown, shown_minute = position, minute
                last_beat = time.monotonic()
                await asyncio.sleep(COALESCE)
                continue
            wait = max(0.0, BEAT - (time.monotonic() - last_beat))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(wait, REFRESH))
            if not wake.is_set() and time.monotonic() - last_beat >= BEAT and not ending.ended:
                yield HEARTBEAT
                last_beat = time.monotonic()
    finally:
        feed.unsubscribe(wake)

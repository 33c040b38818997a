"""A bounded queue in front of the API: a server that is too busy says so at once.

Issue 18 sent 300 clients at once at one server: nothing was turned away, every request
waited its turn for a thread and a connection, and answers took up to 24 s, ``/health``
up to 10.6 s. Here at most ``in_flight`` requests are answered at once; up to ``queued``
more wait for a turn, each at most ``wait`` seconds; any other gets a 503 with
``Retry-After`` at once (ADR 0047). ``/health`` and ``/metrics`` skip the queue: they
are how an operator sees that it is full.

A request taken is answered within ``deadline`` seconds (ADR 0051): if its answer has
not begun by then, it is answered 503 with ``Retry-After`` and its handler is left to
end in its thread, its answer dropped. Statement timeouts bound a database that answers
slowly; only this bounds one that does not answer at all (its server process stopped, a
connection whose peer is gone without a word). The handler keeps its turn until it
ends, so that handlers stuck on such a database never outnumber ``in_flight``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import RETRY_AFTER, ProblemError

#: Paths answered whatever the queue holds. ``/board/stream`` is a hall screen's live
#: stream, open for days: counted as in flight, 32 screens would take every turn and
#: starve the API. A stream costs a coroutine and a socket, and its boards are built
#: once per subtree for all of them (ADR 0054); the connection bound still holds.
OUTSIDE_THE_QUEUE = frozenset({"/health", "/metrics", "/board/stream"})


@dataclass
class Admission:
    """The bound on requests answered at once and waiting, with what it counted."""

    in_flight: int = 32
    queued: int = 64
    wait: float = 5.0
    #: Seconds a request taken may go without its answer beginning (0: no limit).
    deadline: float = 0.0
    #: Requests being answered now, waiting for a turn now, and turned away since start;
    #: and those answered 503 at the deadline since start.
    busy: int = 0
    waiting: int = 0
    turned_away: int = 0
    too_late: int = 0
    _turns: asyncio.Semaphore | None = field(default=None, repr=False)

    def describe(self) -> str:
        return (
            f"{self.busy} of {self.in_flight} requests being answered, "
            f"{self.waiting} of {self.queued} waiting, {self.turned_away} turned away, "
            f"{self.too_late} past the {self.deadline:g} s deadline"
        )

    def _refuse(self, why: str) -> ProblemError:
        self.turned_away += 1
        return ProblemError(
            503,
            f"the server is busy ({why}); try again in {RETRY_AFTER} s",
            code="busy",
            headers={"Retry-After": str(RETRY_AFTER)},
        )

    async def _take_turn(self) -> None:
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.in_flight)
        if not self._turns.locked():
            await self._turns.acquire()
            return
        if self.waiting >= self.queued:
            raise self._refuse(f"{self.waiting} requests already wait for a turn")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._turns.acquire(), self.wait)
        except TimeoutError:
            raise self._refuse(f"no turn came within {self.wait:g} s") from None
        finally:
            self.waiting -= 1

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware: a request takes a turn before anything else is done."""

        async def admit(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["path"] in OUTSIDE_THE_QUEUE:
                await app(scope, receive, send)
                return
            await self._take_turn()
            self.busy += 1
            if not self.deadline:
                try:
                    await app(scope, receive, send)
                finally:
                    self._give_back()
                return
            await self._within_the_deadline(app, scope, receive, send)

        return admit

    def _give_back(self, _: object = None) -> None:
        assert self._turns is not None
        self.busy -= 1
        self._turns.release()

    async def _within_the_deadline(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send
    ) -> None:
        # One task, one future and one timer per request: an asyncio.wait() of two
        # tasks cost about 15 times the middleware's own time.
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()
        begun = cut = False

        def settle(_: object = None) -> None:
            if not settled.done():
                settled.set_result(None)

        async def send_unless_cut(message: Message) -> None:
            nonlocal begun
            if cut:
                return  # answered 503 already: the late answer goes nowhere
            if message["type"] == "http.response.start":
                begun = True
                settle()
            await send(message)

        handler: asyncio.Future[None] = asyncio.ensure_future(app(scope, receive, send_unless_cut))
        handler.add_done_callback(settle)
        timer = loop.call_later(self.deadline, settle)
        try:
            await settled
        except asyncio.CancelledError:
            handler.cancel()  # the server is stopping or the client went away
            raise
        finally:
            timer.cancel()
        if handler.done() or begun:
            try:
                await handler
            finally:
                self._give_back()
            return
        cut = True
        self.too_late += 1
        # The turn is given back when the handler ends; its error, if any, is the
        # store's, already answered.
        handler.add_done_callback(lambda done: done.cancelled() or done.exception())
        handler.add_done_callback(self._give_back)
        raise ProblemError(
            503,
            f"no answer could be had within {self.deadline:g} s (the database may be hung); "
            f"try again in {RETRY_AFTER} s",
            code="store-unavailable",
            headers={"Retry-After": str(RETRY_AFTER)},
        )

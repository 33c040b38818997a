"""A bounded queue in front of the API: a server that is too busy says so at once.

Issue 18 sent 300 clients at once at one server: nothing was turned away, every request
waited its turn for a thread and a connection, and answers took up to 24 s, ``/health``
up to 10.6 s. Here at most ``in_flight`` requests are answered at once; up to ``queued``
more wait for a turn, each at most ``wait`` seconds; any other gets a 503 with
``Retry-After`` at once (ADR 0047). ``/health`` and ``/metrics`` skip the queue: they
are how an operator sees that it is full.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

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
    #: Requests being answered now, waiting for a turn now, and turned away since start.
    busy: int = 0
    waiting: int = 0
    turned_away: int = 0
    _turns: asyncio.Semaphore | None = field(default=None, repr=False)

    def describe(self) -> str:
        return (
            f"{self.busy} of {self.in_flight} requests being answered, "
            f"{self.waiting} of {self.queued} waiting, {self.turned_away} turned away"
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
            assert self._turns is not None
            self.busy += 1
            try:
                await app(scope, receive, send)
            finally:
                self.busy -= 1
                self._turns.release()

        return admit

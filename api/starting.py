"""A server that listens at once, and says it is starting while the database is away
(issue 18, ADR 0051).

A server worker builds its application (the command center, the views' pools, the
Litestar app) before it can answer anything, and the build waits while the database is
unreachable or full (ADR 0047). uvicorn calls the application's factory and runs its
start-up before it listens, so a server whose only worker was starting answered nothing
at all meanwhile: its clients saw a refused or a hanging connection, not a 503, and its
``/health`` did not say what was wrong.

:class:`Starting` is the ASGI application uvicorn is given instead. It builds the real
one in a thread of its own and:

- if the build goes through at once (the database is there), it runs the real
  application's start-up and only then lets uvicorn listen, as before;
- if the build waits for the database, it lets uvicorn listen at once and answers every
  request, ``/health`` included, 503 with ``Retry-After`` and what the start waits for;
  as soon as the build is done it runs the real application's start-up, and from then on
  every request goes to it;
- a build that fails otherwise (a bad setting, a bug) fails the start, as before; if it
  fails after uvicorn listens, the process is asked to stop (SIGTERM), so that its
  supervisor sees it end rather than a server answering 503 for good.

The real application's lifespan is driven here, message by message, as uvicorn would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from api.problems import PROBLEM_MEDIA_TYPE, RETRY_AFTER
from api.schemas import Problem
from projections.outage import what_is_wrong

log = logging.getLogger("closedloop.starting")

# ASGI as uvicorn speaks it, the lifespan included (Litestar's own types leave it out).
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: What builds the real application; it tells ``waiting`` of each outage it waits out.
Build = Callable[[Callable[[BaseException], object]], ASGIApp]


class Starting:
    """The ASGI application of a server worker while, and after, it starts."""

    def __init__(self, build: Build) -> None:
        self._build = build
        #: The real application once built, and once started: only then is it answering.
        self._made: ASGIApp | None = None
        self._app: ASGIApp | None = None
        #: The outage the build last waited on, in a few words; None before any.
        self.waiting_for: str | None = None
        self._failure: BaseException | None = None
        self._settled = asyncio.Event()
        self._built = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The real application's lifespan: what it is sent, and what it answers.
        self._to_app: asyncio.Queue[Any] = asyncio.Queue()
        self._from_app: asyncio.Queue[Any] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    @property
    def answering(self) -> bool:
        """Whether the real application has started and answers every request."""
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._run_lifespan(scope, receive, send)
        elif self._app is not None:
            await self._app(scope, receive, send)
        elif scope["type"] == "http":
            await self._unavailable(send)
        else:
            # A WebSocket while starting: 1013, "try again later".
            await send({"type": "websocket.close", "code": 1013})

    # -- while starting -----------------------------------------------------------------

    async def _unavailable(self, send: Send) -> None:
        why = f": {self.waiting_for}" if self.waiting_for else ""
        body = msgspec.json.encode(
            Problem(
                type="urn:closedloop:problem:store-unavailable",
                title="Service Unavailable",
                status=503,
                detail=f"the server is starting{why}; try again in {RETRY_AFTER} s",
            )
        )
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _waiting(self, error: BaseException) -> None:
        """Told by the build, in its thread, of an outage it waits out."""
        self.waiting_for = what_is_wrong(error)
        self._tell(self._settled.set)

    def _tell(self, what: Callable[[], object]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped
            self._loop.call_soon_threadsafe(what)

    def _build_in_thread(self) -> None:
        try:
            self._made = self._build(self._waiting)
        except BaseException as e:  # the start failed: said on the event loop
            self._failure = e
        self._tell(self._built.set)
        self._tell(self._settled.set)

    # -- the lifespan -------------------------------------------------------------------

    async def _run_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._build_in_thread, name="closedloop-start", daemon=True).start()
        await self._settled.wait()
        going_on: asyncio.Task[None] | None = None
        if self._built.is_set():
            # Built at once: the real start-up before uvicorn listens, as without this.
            failed = self._failure or await self._start_app(scope)
            if failed is not None:
                await send({"type": "lifespan.startup.failed", "message": str(failed)})
                return
        else:
            going_on = asyncio.create_task(self._start_when_built(scope))
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        if going_on is not None and not going_on.done():
            going_on.cancel()  # stopped while still waiting for the database
        if self._lifespan is not None and not self._lifespan.done():
            await self._to_app.put({"type": "lifespan.shutdown"})
            await self._answer()
        await send({"type": "lifespan.shutdown.complete"})

    async def _start_when_built(self, scope: Scope) -> None:
        await self._built.wait()
        failed = self._failure or await self._start_app(scope)
        if failed is None:
            log.warning("the server has started: the database is back")
            return
        log.critical("the server could not start: %s; stopping", failed, exc_info=failed)
        os.kill(os.getpid(), signal.SIGTERM)

    async def _start_app(self, scope: Scope) -> BaseException | None:
        """The real application's start-up; its error, or None once it has started (only
        then does a request reach it)."""
        app = self._made
        assert app is not None
        self._lifespan = asyncio.ensure_future(
            app(dict(scope), self._to_app.get, self._from_app.put)
        )
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._answer()
        if answer.get("type") != "lifespan.startup.complete":
            return RuntimeError(answer.get("message") or "the application's start-up failed")
        self._app = app
        return None

    async def _answer(self) -> dict[str, Any]:
        """The real application's next lifespan message; {} if its lifespan ended
        without one (it raised)."""
        assert self._lifespan is not None
        answer = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({answer, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return dict(answer.result())
        answer.cancel()
        if not self._lifespan.cancelled() and self._lifespan.exception() is not None:
            log.error("the application's lifespan failed", exc_info=self._lifespan.exception())
        return {}

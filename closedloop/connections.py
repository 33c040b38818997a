"""The server's answer to slow clients (issue 19, ADR 0043): header, body and keep-alive
timeouts and a bound on open connections, added to uvicorn's h11 protocol.

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) but not a request
on its way in: that timer starts only after a response, and any byte received cancels
it, so a connection that sends half a request and then nothing stays open for good.
Issue 19 found one still open after 150 s, and at about 20,000 of them (the limit of open
files) normal requests timed out. uvicorn's ``limit_concurrency`` does not help: past its
count it answers 503 to every request, the normal client's too.

:class:`GuardedH11Protocol` is uvicorn's ``H11Protocol`` with three more rules:

- **headers**: from the moment a connection waits for a request (it opened, or its last
  response was sent) that request's headers must be in within ``header_timeout``,
  however slowly its bytes drip. A connection that sent part of a request is then
  answered 408 (a problem) and closed; one that sent nothing is closed quietly, as an
  idle keep-alive connection is.
- **body**: from the headers to the end of the body, at most ``body_timeout``. The
  application then sees the client gone (``http.disconnect``), and the client is answered
  408 if no response had started.
- **connections**: a connection that makes the server's count pass ``max_connections``
  cuts the connection that has waited longest for a request's headers (a slow client,
  as a rule, or an idle keep-alive one), so that descriptors never run out and a normal
  client's connection is still taken; if none is waiting (every one is being answered),
  the new one is answered 503 and closed.

And one for the server's stop: a long-lived stream (the board's) is asked to end, so
that it does not hold the shutdown for as long as its screen stays.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from weakref import WeakKeyDictionary

import h11
import msgspec
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from api.problems import PROBLEM_MEDIA_TYPE
from api.schemas import Problem
from api.screens.feed import STREAM_END

#: Descriptors kept back from ``max_connections`` for the store's pool, files and logs.
RESERVED_FILES = 128


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a server waits for a request's parts, and how many connections it keeps."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: int = 5
    max_connections: int = 2000

    def within_open_files(self) -> ConnectionLimits:
        """These limits, ``max_connections`` lowered to what this process may open
        (``ulimit -n``) less :data:`RESERVED_FILES`: past that, accepting fails anyway."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft - RESERVED_FILES >= self.max_connections:
            return self
        return ConnectionLimits(
            self.header_timeout,
            self.body_timeout,
            self.keep_alive,
            max(1, soft - RESERVED_FILES),
        )


class GuardedConfig(uvicorn.Config):
    """uvicorn's configuration serving :class:`GuardedH11Protocol` with ``limits``; it is
    pickled to the worker processes of ``serve --workers N`` with them."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(
            app, http=GuardedH11Protocol, timeout_keep_alive=limits.keep_alive, **kwargs
        )
        self.connection_limits = limits


#: Each server's connections that wait for a request's headers, the longest waiting first.
_WAITING: WeakKeyDictionary[ServerState, dict[GuardedH11Protocol, None]] = WeakKeyDictionary()

_HEADERS, _BODY, _ANSWERING = "headers", "body", "answering"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body timeouts and a connection bound."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ConnectionLimits = getattr(config, "connection_limits", ConnectionLimits())
        self._waiting = _WAITING.setdefault(server_state, {})
        self._phase = _ANSWERING
        self._timer: asyncio.TimerHandle | None = None
        #: Whether bytes of the awaited request have come (a 408 is owed, not a quiet close).
        self._begun = False
        #: A WebSocket's protocol took the connection over: its timers are not ours.
        self._handed_over = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            oldest = next(iter(self._waiting), None)
            if oldest is None:
                self._answer(503, "the server has as many connections as it keeps; try again")
                return
            oldest._cut()
        self._follow()

    def data_received(self, data: bytes) -> None:
        if self._phase == _HEADERS and data:
            self._begun = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._handed_over = True
        self._leave(_ANSWERING)
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave(_ANSWERING)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # A long-lived stream (a hall screen's board, ADR 0054) would hold the server's
        # shutdown for as long as the screen stays: the stream is asked to end, and
        # completes its response; the connection then closes as any other.
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            ending = (cycle.scope.get("extensions") or {}).get(STREAM_END)
            if callable(ending):
                ending()
        super().shutdown()

    # -- the phases of a request, each with its own timer -------------------------------

    def _follow(self) -> None:
        """Start the timer of the phase h11 is in, if it has just entered it; a phase
        that goes on keeps its timer running, however many bytes arrive."""
        if self._handed_over or self.transport.is_closing():
            return
        state = self.conn.their_state
        phase = _HEADERS if state is h11.IDLE else _BODY if state is h11.SEND_BODY else _ANSWERING
        if phase == self._phase:
            return
        self._leave(phase)
        if phase == _HEADERS:
            self._begun = False
            self._waiting[self] = None
            self._timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)
        elif phase == _BODY:
            self._timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def _leave(self, phase: str) -> None:
        self._phase = phase
        self._waiting.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if not self._begun:
            self._close()
            return
        seconds = f"{self.limits.header_timeout:g}"
        self._answer(408, f"the request's headers did not arrive within {seconds} s")

    def _body_late(self) -> None:
        self._timer = None
        cycle = self.cycle
        started = cycle is not None and cycle.response_started
        if cycle is not None:
            # The application's receive() answers http.disconnect, and what it sends
            # afterwards goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        if started:
            self._close()
            return
        seconds = f"{self.limits.body_timeout:g}"
        self._answer(408, f"the request's body did not arrive within {seconds} s")

    def _cut(self) -> None:
        """Make room for a new connection: this one has waited longest for headers."""
        if self._begun:
            self._answer(503, "the server has as many connections as it keeps; try again")
        else:
            self._close()

    def _close(self) -> None:
        self._leave(_ANSWERING)
        if not self.transport.is_closing():
            self.transport.close()

    def _answer(self, status: int, detail: str) -> None:
        """A problem written straight to the socket, then the connection closed: the
        request (if any) never reached the application, which has nothing to answer."""
        self._leave(_ANSWERING)
        if self.transport.is_closing():
            return
        phrase = HTTPStatus(status).phrase
        code = "request-timeout" if status == 408 else "unavailable"
        body = msgspec.json.encode(
            Problem(
                type=f"urn:closedloop:problem:{code}",
                title=phrase,
                status=status,
                detail=detail,
                errors=[],
            )
        )
        retry = "retry-after: 1\r\n" if status == 503 else ""
        head = (
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: {PROBLEM_MEDIA_TYPE}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n{retry}"
            "x-content-type-options: nosniff\r\ncache-control: no-store\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()

"""Each request counted and traced, each command too (ADR 0070).

:func:`observe_requests` is the outermost of the API's middleware: it counts a request
by its method, its route's template (``/v1/warnings/{wid}``, never the raw path: a
label per id would grow without end) and its status class, times it, and, when the
process traces, makes the request's server span, continuing a ``traceparent`` the
client sent. A path no route takes never reaches it (it has no template to count by).
:func:`commanded` does the same for one command given over the API: a span the command's
events keep the trace of, and its kind and outcome counted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry.trace import SpanKind, Status, StatusCode

from domain.errors import ConcurrencyConflict, DomainError
from telemetry import series, tracing


def observe_requests(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: count, time and trace every request that reaches a route."""

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        counts = series.recording()
        if scope["type"] != ScopeType.HTTP or (counts is None and not tracing.tracing()):
            await app(scope, receive, send)
            return
        method = scope["method"]
        route = scope.get("path_template") or "unmatched"
        answered = [500]

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            if tracing.tracing():
                await _traced(app, scope, receive, noting, method, route, answered)
            else:
                await app(scope, receive, noting)
        finally:
            if counts is not None:
                counts.requests.labels(method, route, series.status_class(answered[0])).inc()
                counts.request_seconds.labels(method, route).observe(time.perf_counter() - started)

    return observed


async def _traced(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    method: str,
    route: str,
    answered: list[int],
) -> None:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    with tracing.tracer().start_as_current_span(
        f"{method} {route}",
        context=tracing.from_headers(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as span:
        await app(scope, receive, send)
        span.set_attribute("http.response.status_code", answered[0])
        if answered[0] >= 500:
            span.set_status(Status(StatusCode.ERROR))


class Observed:
    """What :func:`commanded` learns of the command it wraps: ``recorded`` is set once
    the command answered, whether it wrote; left None, the command is not counted here
    (a try from memory handed over to the usual way, which counts it)."""

    recorded: bool | None = None


@contextlib.contextmanager
def commanded(kind: str) -> Iterator[Observed]:
    """Around one command: its span (when tracing) and its kind and outcome counted."""
    counts = series.recording()
    seen = Observed()
    span_cm: Any = (
        tracing.tracer().start_as_current_span(f"command {kind}", attributes={"command": kind})
        if tracing.tracing()
        else contextlib.nullcontext()
    )
    started = time.perf_counter()
    outcome: str | None = "failed"
    try:
        with span_cm:
            yield seen
        outcome = None if seen.recorded is None else "recorded" if seen.recorded else "unchanged"
    except ConcurrencyConflict:
        outcome = "conflict"
        raise
    except Exception as e:
        if _refused(e):
            outcome = "refused"
        raise
    finally:
        if counts is not None and outcome is not None:
            counts.commands.labels(kind, outcome).inc()
            counts.command_seconds.labels(kind).observe(time.perf_counter() - started)


@contextlib.contextmanager
def taken_in(door: str) -> Iterator[None]:
    """Around one message at an intake door (``observations``, ``cap``): counted as
    accepted, refused (a 4xx, a rule of the domain) or failed."""
    counts = series.recording()
    outcome = "failed"
    try:
        yield
        outcome = "accepted"
    except Exception as e:
        if _refused(e):
            outcome = "refused"
        raise
    finally:
        if counts is not None:
            counts.intake.labels(door, outcome).inc()


def _refused(error: Exception) -> bool:
    """A rule of the domain, or a problem answered at the edge (an If-Match, a field):
    the caller's to mend, not a failure of ours."""
    return isinstance(error, DomainError) or 400 <= _status(error) < 500


def _status(error: Exception) -> int:
    """The status a problem raised at the edge answers (500 for anything else)."""
    status = getattr(error, "status", None) or getattr(error, "status_code", None)
    return status if isinstance(status, int) else 500

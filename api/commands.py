"""How every command goes through the edge: context, idempotency key, If-Match, receipt.

A handler says what to do with a :class:`~domain.meta.Context`; :func:`run` builds the
context from the token, the role its route's ``opt`` names and the request, replays
the first answer of a repeated ``Idempotency-Key``, and answers the receipt with the
resource's ``ETag``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import msgspec
from litestar import Request, Response
from litestar.concurrency import sync_to_thread

from api.access import Services, actor_of
from api.idempotency import MAX_KEY, command_id_for, request_hash
from api.observing import commanded
from api.problems import ProblemError, invalid
from api.schemas import DURATION_FORM, Input, Receipt
from api.tokens import Principal
from domain.application import Outcome
from domain.calendar import CalendarError, WorkingDuration
from domain.meta import Context, now
from telemetry import tracing

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')
log = logging.getLogger("closedloop.api")


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header.strip())
    if match is None:
        raise ProblemError(
            412, f'If-Match {header!r} names no version this API handed out (e.g. "3")'
        )
    return int(match.group(1))


def duration(text: str | None, field: str = "due_in") -> WorkingDuration | None:
    if text is None:
        return None
    try:
        return WorkingDuration.parse(text)
    except CalendarError as e:
        # Of the form the schema states, but zero or longer than ten years: a comparison.
        code = "duration-refused" if re.fullmatch(DURATION_FORM, text) else None
        raise invalid(field, str(e), code=code) from None


def future(value: datetime | None, field: str) -> datetime | None:
    """Refuse at the edge what the domain would refuse, so the field can be named."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise invalid(field, "the time must carry a time-zone offset (e.g. +08:00)")
    if value <= now():
        raise invalid(field, "the time lies in the past", code="time-past")
    return value


def _id(outcome: Outcome) -> str:
    return str(outcome.id)


class Edge(Protocol):
    """Where a command comes in: the services, who asks and the request
    (:class:`api.http.Call` is one)."""

    @property
    def services(self) -> Services: ...

    @property
    def principal(self) -> Principal: ...

    @property
    def request(self) -> Request[Any, Any, Any]: ...


def run(
    edge: Edge,
    data: Input | None,
    act: Callable[[Context], Outcome],
    *,
    id_of: Callable[[Outcome], str] = _id,
    creates: bool = False,
) -> Response[Any]:
    """Run one command and answer its receipt (201 when it created the resource)."""
    services, request, principal = edge.services, edge.request, edge.principal
    key = request.headers.get("idempotency-key")
    fingerprint = ""
    if key is not None:
        if not key.strip() or len(key) > MAX_KEY:
            raise invalid("Idempotency-Key", f"an idempotency key is 1 to {MAX_KEY} characters")
        # Only a keyed request is compared with an earlier one.
        body = msgspec.json.encode(data) if data is not None else b""
        fingerprint = request_hash(request.method, request.url.path, body)
        replay = services.idempotency.find(principal.token_id, key)
        if replay is not None:
            if replay.request_hash != fingerprint:
                raise invalid(
                    "Idempotency-Key",
                    "this idempotency key was used with another request; use a new key",
                )
            return Response(
                content=replay.body,
                status_code=replay.status,
                headers=replay.headers,
                media_type="application/json",
            )

    with commanded(command_kind(request)) as seen:
        outcome = act(_context(request, principal, data, key))
        seen.recorded = outcome.recorded
    note_write(services, principal, outcome.position)
    status, content, headers = _receipt(services, outcome, id_of, creates)
    if key is not None:
        services.idempotency.record(principal.token_id, key, fingerprint, status, content, headers)
    return _response(status, content, headers)


async def run_from_memory(
    edge: Edge, data: Input | None, act: Callable[[Context], Outcome], *, creates: bool = False
) -> Response[Any]:
    """:func:`run`, for a command that is usually decided on what the server holds in
    memory (the units): decided right here on the event loop, its write awaited without
    a worker thread blocked on it (ADR 0029). When the decision needs the store, or the
    store refuses the write (something it read had moved on), the command runs the
    usual way in a worker thread, from the start; nothing of the first try is kept.
    A request with an ``Idempotency-Key`` always goes the usual way (the key is read and
    recorded in the store).
    """
    services, request, principal = edge.services, edge.request, edge.principal
    center = services.center
    if request.headers.get("idempotency-key") is None and center.writes_later:
        outcome: Outcome | None = None
        with commanded(command_kind(request)) as seen:
            ctx = _context(request, principal, data, None)
            decided = center.decide_in_memory(lambda: act(ctx))
            if isinstance(decided, Outcome):
                outcome = decided
            elif decided is not None:
                loop = asyncio.get_running_loop()
                written: asyncio.Future[Any] = loop.create_future()

                def hand_back(write: Any) -> None:  # in the store's writing thread
                    loop.call_soon_threadsafe(_settle, written, write)

                center.write_later(decided, hand_back)
                outcome = center.finish(decided, (await written).result)
            if outcome is None:
                # Counted, and traced, by the usual way it now takes.
                seen.recorded = None
            else:
                seen.recorded = outcome.recorded
        if outcome is not None:
            await note_write_later(services, principal, outcome.position)
            return _response(*_receipt(services, outcome, _id, creates))
    return await sync_to_thread(run, edge, data, act, creates=creates)


def command_kind(request: Request[Any, Any, Any]) -> str:
    """The command a route gives, as its resource and handler name
    (``warnings.raise_warning``, ``instructions.sign_for``): a label of a few dozen
    values, the same on every server (ADR 0070)."""
    template = str(request.scope.get("path_template") or request.url.path)
    words = [w for w in template.split("/") if w and not w.startswith("{") and w != "v1"]
    return f"{words[0] if words else 'api'}.{request.route_handler.handler_name.rstrip('_')}"


def _settle(written: asyncio.Future[Any], write: Any) -> None:
    if not written.done():  # the client may have gone: its write stands all the same
        written.set_result(write)


# -- the session's last write (ADR 0045) ------------------------------------------------


def note_write(services: Services, principal: Principal, position: int | None) -> None:
    """Before the receipt is answered: note that ``principal`` wrote up to ``position``,
    so that its next read, on any server, waits for the views to have read it.

    A command that wrote nothing notes nothing. A note that cannot be written does not
    undo the command, recorded already: its receipt is answered, with its ``position``
    for a read to name, and the failure is logged.
    """
    sessions = services.sessions
    if sessions is None or position is None:
        return
    try:
        sessions.note_and_wait(principal.token_id, position)
    except Exception as e:
        _unnoted(principal, position, e)


async def note_write_later(services: Services, principal: Principal, position: int | None) -> None:
    """:func:`note_write` from the event loop: the note is awaited, no thread blocked."""
    sessions = services.sessions
    if sessions is None or position is None:
        return
    loop = asyncio.get_running_loop()
    noted: asyncio.Future[BaseException | None] = loop.create_future()

    def done(error: BaseException | None) -> None:  # in the notes' writing thread
        loop.call_soon_threadsafe(_settle, noted, error)

    sessions.note(principal.token_id, position, done)
    error = await noted
    if error is not None:
        _unnoted(principal, position, error)


def _unnoted(principal: Principal, position: int, error: BaseException) -> None:
    log.warning(
        "the last write of %s (position %d) was not noted for its session's reads: %s",
        principal.token_id,
        position,
        error,
    )


def _context(
    request: Request[Any, Any, Any],
    principal: Principal,
    data: Input | None,
    key: str | None,
) -> Context:
    if data is not None and data.command_id is not None:
        # A client's command ids are its unit's namespace: two units never collide.
        command_id = f"{principal.unit}:{data.command_id}"
    elif key is not None:
        command_id = command_id_for(principal.token_id, key)
    else:
        command_id = None
    ctx_args: dict[str, Any] = {
        "actor": actor_of(request, principal),
        "occurred_at": data.occurred_at if data is not None else None,
        "expected_version": expected_version(request),
    }
    if command_id is not None:
        ctx_args["command_id"] = command_id
    # The command's span, when this process traces: its events keep it (ADR 0070).
    ctx_args["traceparent"] = tracing.traceparent()
    return Context(**ctx_args)


def _receipt(
    services: Services,
    outcome: Outcome,
    id_of: Callable[[Outcome], str],
    creates: bool,
) -> tuple[int, bytes, dict[str, str]]:
    """The receipt's status, body and headers."""
    if outcome.recorded and services.reads.runner is not None:
        # The views of this process catch up now rather than at the next poll, so that a
        # client's next read usually finds its own write without asking to wait.
        services.reads.runner.poke()
    receipt = Receipt(
        id=id_of(outcome),
        status=outcome.status,
        version=outcome.version,
        position=outcome.position,
        created=outcome.created,
    )
    status = 201 if creates and outcome.created else 200
    return status, msgspec.json.encode(receipt), {"ETag": etag(outcome.version)}


def _response(status: int, content: bytes, headers: dict[str, str]) -> Response[Any]:
    return Response(
        content=content, status_code=status, headers=headers, media_type="application/json"
    )

"""How every command goes through the edge: context, idempotency key, If-Match, receipt.

A handler names the role it acts in and what to do with a :class:`~domain.meta.Context`;
:func:`run` builds the context from the token and the request, replays the first answer
of a repeated ``Idempotency-Key``, and answers the receipt with the resource's ``ETag``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response

from api.access import Services
from api.idempotency import MAX_KEY, command_id_for, request_hash
from api.problems import ProblemError, invalid
from api.schemas import Input, Receipt
from api.tokens import Principal
from domain.application import Outcome
from domain.calendar import CalendarError, WorkingDuration
from domain.meta import Context, now

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


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
        raise invalid(field, str(e)) from None


def future(value: datetime | None, field: str) -> datetime | None:
    """Refuse at the edge what the domain would refuse, so the field can be named."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise invalid(field, "the time must carry a time-zone offset (e.g. +08:00)")
    if value <= now():
        raise invalid(field, "the time lies in the past")
    return value


def run(
    services: Services,
    request: Request[Any, Any, Any],
    principal: Principal,
    role: str,
    data: Input | None,
    act: Callable[[Context], Outcome],
    *,
    id_of: Callable[[Outcome], str] = lambda o: str(o.id),
    creates: bool = False,
) -> Response[Any]:
    """Run one command and answer its receipt (201 when it created the resource)."""
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

    if data is not None and data.command_id is not None:
        # A client's command ids are its unit's namespace: two units never collide.
        command_id = f"{principal.unit}:{data.command_id}"
    elif key is not None:
        command_id = command_id_for(principal.token_id, key)
    else:
        command_id = None
    ctx_args: dict[str, Any] = {
        "actor": principal.actor(role),
        "occurred_at": data.occurred_at if data is not None else None,
        "expected_version": expected_version(request),
    }
    if command_id is not None:
        ctx_args["command_id"] = command_id
    outcome = act(Context(**ctx_args))
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
    headers = {"ETag": etag(outcome.version)}
    content = msgspec.json.encode(receipt)
    if key is not None:
        services.idempotency.record(principal.token_id, key, fingerprint, status, content, headers)
    return Response(
        content=content, status_code=status, headers=headers, media_type="application/json"
    )

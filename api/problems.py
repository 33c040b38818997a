"""Every error as an RFC 9457 problem (``application/problem+json``).

Domain errors map to their status here, in one table; Litestar's own exceptions (routing,
validation, body size, authentication) are rendered the same way; anything else is a bug
of ours, logged and answered as a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from api.schemas import FieldError, Problem
from domain.errors import (
    AlreadyExists,
    CommandIdReused,
    ConcurrencyConflict,
    DomainError,
    InvalidTransition,
    InvalidValue,
    NotFound,
    NotPermitted,
)
from projections.outage import is_outage, what_is_wrong

log = logging.getLogger("closedloop.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Seconds a client is asked to wait before trying again while the database is away.
RETRY_AFTER = 2

_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (InvalidValue, 422),
    (InvalidTransition, 409),
    (NotPermitted, 403),  # DirectionRefused included
    (AlreadyExists, 409),
]

_CODES = {
    400: "malformed",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    409: "conflict",
    412: "precondition-failed",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-value",
    429: "too-many-requests",
    500: "internal-error",
    503: "unavailable",
}


class ProblemError(Exception):
    """Raised by the API layer itself to answer a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.code = code
        self.headers = headers or {}


def invalid(field: str, message: str, code: str | None = None) -> ProblemError:
    """A 422 naming ``field``; ``code`` names a refusal that depends on the state of things
    rather than on the request's shape (:data:`api.contract.BEYOND_SCHEMA`)."""
    return ProblemError(422, message, errors=[FieldError(field=field, message=message)], code=code)


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body = Problem(
        type=f"urn:closedloop:problem:{code or _CODES.get(status, 'error')}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=errors or [],
    )
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    return problem(exc.status, exc.detail, code=exc.code, errors=exc.errors, headers=exc.headers)


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, ConcurrencyConflict):
        # With If-Match the client asked for a version; without, retries were exhausted.
        status = 412 if "if-match" in request.headers else 409
        return problem(status, str(exc), code=exc.code)
    if isinstance(exc, CommandIdReused):
        # The field at fault is known: the body's command id.
        errors = [FieldError(field="command_id", message=str(exc))]
        return problem(422, str(exc), code=exc.code, errors=errors)
    # An error that knows the field at fault (the business time's) names it.
    field: str | None = getattr(exc, "field", None)
    errors = [FieldError(field=field, message=str(exc))] if field is not None else []
    for cls, status in _DOMAIN_STATUS:
        if isinstance(exc, cls):
            return problem(status, str(exc), code=exc.code, errors=errors)
    return problem(422, str(exc), code=exc.code)


_FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`")


def _field_errors(extra: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        key = str(item.get("key") or "")
        named = _FIELD_IN_MESSAGE.search(message)
        if key in ("", "data") and named:
            key = named.group(1)
        errors.append(FieldError(field=key or "body", message=message))
    return errors


def on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
        return problem(422, detail, errors=errors)
    status = exc.status_code
    detail = exc.detail
    if status == 400 and detail.startswith("JSON is malformed"):
        detail = f"the body is not valid JSON ({detail.removeprefix('JSON is malformed: ')})"
    if status >= 500:
        log.error("server error on %s %s: %s", request.method, request.url.path, detail)
        detail = "the server could not answer; the error is logged"
    return problem(status, detail, headers=exc.headers)


def on_undecodable(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    # Litestar hands the body's bytes to msgspec, which reads JSON as UTF-8 and raises
    # UnicodeDecodeError (not a DecodeError Litestar would turn into a 400) on bytes
    # that are not UTF-8; nothing else in a request decodes bytes this way.
    return problem(400, f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start})")


def outage(exc: BaseException) -> Response[Any]:
    """The database away, restarting or out of connections: a 503 the client may retry
    after ``Retry-After`` (ADR 0047); a command it did not acknowledge may or may not be
    written, and sent again with the same ``command_id`` it is written once."""
    return problem(
        503,
        f"{what_is_wrong(exc)}; try again in {RETRY_AFTER} s",
        code="store-unavailable",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def on_outage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return outage(exc)


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_outage(exc):
        # Raised from an outage (a write cut short with the database gone, say).
        return on_outage(request, exc)
    if isinstance(exc, RecursionError):
        # Only a body nested thousands deep gets the decoder this far.
        return problem(400, "the body is nested too deeply to be read")
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "the server could not answer; the error is logged")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: on_problem,
    DomainError: on_domain_error,
    HTTPException: on_http_exception,
    UnicodeDecodeError: on_undecodable,
    OperationalError: on_outage,
    InterfaceError: on_outage,
    psycopg.OperationalError: on_outage,
    psycopg.InterfaceError: on_outage,
    Exception: on_unexpected,
}

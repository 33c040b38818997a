"""Who is asking, and what they may see: the bearer token, the role, the unit's subtree.

Authentication and the role check run as a guard, before the body is even read, so a
request without a valid token or role is refused without touching anything. The unit
rules of each act (issuer, assignee, superior, direction) are the domain's. Reading is
scoped here: outside the auditor's and admin's roles, a unit sees what concerns its own
subtree, and anything else answers 404, as if it did not exist (ADR 0008). Acting is
never widened by reading: a token that reads everything still acts on a warning only
under its own unit (:func:`warning_to_act_on`, ADR 0044).
The same guard holds the abuse limits (ADR 0043): failed authentications per
address, writes per token, both answered 429 with ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from api.accounts import AccountBook
from api.idempotency import IdempotencyBook
from api.problems import ProblemError
from api.rate_limits import RateLimits
from api.tokens import SCREEN, Principal, TokenBook, TokenRefused
from api.views import Views
from domain.application import CommandCenter
from domain.errors import NotFound, NotPermitted
from domain.evaluation import EvaluationPolicy
from domain.instruction import Instruction
from domain.meta import Actor
from domain.warning import EarlyWarning
from projections.service import ReadModels
from projections.sessions import SessionPositions

_JSON_TYPES = ("application/json",)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Services:
    """Everything a handler needs, built once per application."""

    center: CommandCenter
    reads: ReadModels
    tokens: TokenBook
    #: People's accounts and their one-time sign-in addresses (ADR 0052).
    accounts: AccountBook
    idempotency: IdempotencyBook
    views: Views
    #: The longest a read waits for the views to reach a client's position (seconds).
    read_wait: float = 5.0
    #: Failed authentications per address, writes per token (ADR 0043).
    limits: RateLimits = field(default_factory=RateLimits)
    #: Each principal's last write, when its reads wait for it (ADR 0045); None when
    #: only a position the client names is waited for.
    sessions: SessionPositions | None = None
    #: The comprehensive evaluation's weights and bands (ADR 0086); None: the shipped ones.
    evaluation: EvaluationPolicy | None = None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The guard of every route but the public ones (health, schema)."""
    if handler.opt.get("public") or connection.url.path.startswith("/schema"):
        return
    if handler.opt.get("page"):
        return  # a page: its own guard finds the session (api/screens/guard.py)
    # Query filters reach SQL as text; PostgreSQL refuses a NUL in text, so refuse it here.
    if "\x00" in connection.url.path or any(
        "\x00" in key or "\x00" in value for key, value in connection.query_params.multi_items()
    ):
        raise ProblemError(400, "the address cannot contain a NUL character")
    services: Services = connection.app.state.services
    limits = services.limits
    address = connection.client.host if connection.client else "unknown"
    # An address that has spent its failures is refused before any token it sends is
    # looked up: guessing costs the guesser, not the store (ADR 0043).
    wait = limits.address_wait(address)
    if wait is not None:
        raise too_many(
            wait,
            "too many failed authentications from this address; try again later",
            code="too-many-failed-authentications",
        )
    header = connection.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="closedloop"'}
    if scheme.lower() != "bearer" or not secret.strip():
        limits.failed(address)
        raise ProblemError(
            401, "a bearer token is needed (Authorization: Bearer cl_…)", headers=challenge
        )
    secret = secret.strip()
    # A token seen valid moments ago is answered from memory, on the event loop; only a
    # lookup on the store goes to a worker thread (ADR 0017).
    try:
        principal = services.tokens.remembered(secret) or await anyio.to_thread.run_sync(
            services.tokens.authenticate, secret
        )
    except TokenRefused as e:
        raise ProblemError(401, _refusal(e, services), code=e.code, headers=challenge) from None
    if principal is None:
        limits.failed(address)
        raise ProblemError(401, "the token is unknown or was revoked", headers=challenge)
    # A hall's kiosk reads what is marked for screens (opt={"screen": True}) and
    # nothing else, whatever a route's own role rule says (ADR 0052).
    if set(principal.roles) <= {SCREEN} and not handler.opt.get("screen"):
        raise ProblemError(
            403,
            "a screen's token or account reads only the board of warnings",
            code="screen-reads-only-the-board",
        )
    role = handler.opt.get("role")
    if role is not None and role not in principal.roles:
        raise ProblemError(
            403,
            f"only the {role.replace('_', ' ')} role may do this; this token has: "
            f"{', '.join(principal.roles)}",
            code="role-required",
        )
    method = connection.scope.get("method")
    if method in _WRITES:
        wait = limits.write_wait(principal.token_id)
        if wait is not None:
            raise too_many(
                wait,
                "this token has made too many changes lately; try again later",
                code="write-rate-exceeded",
            )
    if method in ("POST", "PUT", "PATCH"):
        has_body = connection.headers.get("content-length", "0") != "0" or (
            "transfer-encoding" in connection.headers
        )
        content_type = connection.headers.get("content-type", "")
        # A handler may take other media types (CAP's XML); the rest take JSON only.
        accepted = handler.opt.get("media_types")
        media = content_type.split(";", 1)[0].strip().lower()
        ok = media in accepted if accepted else _is_json(content_type)
        if (has_body or content_type) and not ok:
            wanted = ", ".join(accepted) if accepted else "JSON (application/json)"
            raise ProblemError(415, f"send {wanted}, not {content_type or 'an untyped body'}")
    connection.state.principal = principal


def _refusal(refused: TokenRefused, services: Services) -> str:
    """Why a token on the record is refused, an expiry shown in the calendar's zone."""
    if refused.expires_at is None:
        return refused.detail
    at = refused.expires_at.astimezone(services.views.zone).isoformat()
    return f"{refused.detail} (at {at}); ask an admin for a new one"


def too_many(wait: int, detail: str, *, code: str) -> ProblemError:
    """A 429 problem that says when to try again (``Retry-After``, in seconds)."""
    return ProblemError(
        429, f"{detail} (in {wait} s)", code=code, headers={"Retry-After": str(wait)}
    )


def current_principal(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Principal:
    """The token's holder, found by the guard.

    It names ``services`` without using it: Litestar resolves independent dependencies
    of a request together in an anyio task group, which cost about a tenth of the event
    loop's time per request under load; one depending on the other, they are resolved
    one after the other, with no task group.
    """
    principal: Principal = request.state.principal
    return principal


def actor_of(request: Request[Any, Any, Any], principal: Principal) -> Actor:
    """The principal acting in the role the route's ``opt`` names: the one the guard
    checked, so that a handler never names its role a second time."""
    role: str = request.route_handler.opt["role"]
    return principal.actor(role)


def current_services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


# -- scoping of reads ------------------------------------------------------------------


def can_see_unit_case(center: CommandCenter, principal: Principal, codes: list[str]) -> bool:
    """Before a command: decided on the units as recorded, not on a view that may lag."""
    if principal.reads_everything:
        return True
    return any(center.is_within(code, principal.unit) for code in codes)


def visible_warning(
    services: Services, principal: Principal, warning: EarlyWarning
) -> EarlyWarning:
    if not can_see_unit_case(services.center, principal, [warning.unit]):
        raise NotFound("warning not found")
    return warning


def warning_to_act_on(
    services: Services, principal: Principal, warning: EarlyWarning, role: str
) -> EarlyWarning:
    """Before a step on a warning (or linking one): the warning lies in the actor's own
    subtree. Reading everything is the auditor's and admin's, not the acting role's: a
    token holding one of them beside ``role`` sees the warning (403, not 404), and still
    acts only under its own unit (ADR 0044)."""
    visible_warning(services, principal, warning)
    if not services.center.is_within(warning.unit, principal.unit):
        raise NotPermitted(
            f"a {role.replace('_', ' ')} of {principal.unit} acts only on warnings of the "
            f"units under it, and {warning.unit} is not"
        )
    return warning


def visible_instruction(
    services: Services, principal: Principal, instruction: Instruction
) -> Instruction:
    codes = [instruction.issuer, *instruction.assignees]
    if not can_see_unit_case(services.center, principal, codes):
        raise NotFound("instruction not found")
    return instruction


def scope_of(principal: Principal) -> str | None:
    """The unit whose subtree bounds a list, or None for everything."""
    return None if principal.reads_everything else principal.unit

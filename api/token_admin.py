"""Bearer tokens over HTTP: ``/v1/tokens``, for the admin role.

The same acts as ``closedloop token create|list|revoke``, for an admin who has no shell
on the server. An admin manages the tokens of its own unit's subtree; a token outside it
answers 404, as if it did not exist. The secret is in the answer to its creation and
nowhere else: not in the list, not in the store (only its SHA-256), and not in an
idempotency record, which is why a creation refuses an ``Idempotency-Key``. A token
revoked here is refused from the very next request by the server process that took the
revocation, and by its other worker processes within the token trust period (ADR 0017).
A token may be given an expiry (``expires_at``, with its zone); past it the token is
refused with 401 ``token-expired``. When the server has a longest lifetime
(``CLOSEDLOOP_TOKEN_MAX_DAYS``) a later expiry is refused and none means the longest
(ADR 0042).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from api import schemas as s
from api.access import Services
from api.http import READ, WRITE, Svc, Who, check_times
from api.problems import invalid
from api.tokens import ROLES, IssuedToken, Principal, check_expiry
from domain.errors import InvalidValue, NotFound, NotPermitted, check_printable
from domain.meta import now

ADMIN = {"role": "admin"}

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
#: The roles, stated in the schema too; an unknown one is refused naming the roles.
Role = Annotated[
    str, msgspec.Meta(min_length=1, max_length=20, extra_json_schema={"enum": list(ROLES)})
]


class TokenCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A token for one person of one unit, with one or more roles."""

    user: Name
    # A unit's code as the units' own schema states it: a code that cannot be one is
    # refused by the schema, not later by the domain.
    unit: s.Code
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=len(ROLES))]
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    #: When the token stops being honoured (RFC 3339 with an offset); none: until revoked,
    #: or the server's longest lifetime when it has one.
    expires_at: datetime | None = None


class TokenRevocation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None


class TokenEntry(msgspec.Struct, kw_only=True):
    """A token as listed: everything but its secret."""

    token_id: str
    user: str
    unit: str
    roles: list[str]
    label: str
    issued_at: str
    expires_at: str | None
    revoked: bool


class TokenIssued(msgspec.Struct, kw_only=True):
    """A new token: ``token`` is its secret, shown this once."""

    token: str
    token_id: str
    user: str
    unit: str
    roles: list[str]
    label: str
    expires_at: datetime | None


def _entry(entry: dict[str, Any], zone: tzinfo) -> TokenEntry:
    """A roster entry as listed (its aggregate id left out), its expiry in ``zone``."""
    listed = msgspec.convert(entry, TokenEntry)
    if listed.expires_at is not None:
        listed.expires_at = datetime.fromisoformat(listed.expires_at).astimezone(zone).isoformat()
    return listed


def _printable(value: str, field: str) -> None:
    """The domain's check of free text, answered as a 422 that names the field."""
    try:
        check_printable(value, f"the {field}")
    except InvalidValue as e:
        raise invalid(field, str(e)) from None


def _manages(services: Services, principal: Principal, unit: str) -> bool:
    return services.center.is_within(unit, principal.unit)


def listed_tokens(services: Services, principal: Principal) -> list[TokenEntry]:
    """The tokens of the admin's subtree, revoked ones included, oldest first."""
    return [
        _entry(e, services.views.zone)
        for e in services.tokens.list()
        if _manages(services, principal, e["unit"])
    ]


def issue_token_for(services: Services, principal: Principal, data: TokenCreate) -> IssuedToken:
    """Issue a token for ``data`` if ``principal`` (an admin) manages its unit; a refusal
    names the field at fault. The API and the administration page both issue here."""
    _printable(data.user, "user")
    _printable(data.label, "label")
    unknown = [r for r in data.roles if r not in ROLES]
    if unknown:
        raise invalid("roles", f"unknown role(s) {', '.join(unknown)}; one of: {', '.join(ROLES)}")
    check_times(expires_at=data.expires_at)
    try:
        check_expiry(data.expires_at, now(), services.tokens.max_lifetime)
    except InvalidValue as e:
        # A time that has passed depends on the clock, not the request's shape.
        past = data.expires_at is not None and data.expires_at <= now()
        raise invalid("expires_at", str(e), code="time-past" if past else None) from None
    # A unit that does not exist answers 404 here, through its ancestors.
    if not _manages(services, principal, data.unit):
        raise NotPermitted(f"an admin of {principal.unit} issues tokens only to units under it")
    return services.tokens.issue(
        user=data.user,
        unit=data.unit,
        roles=list(data.roles),
        label=data.label,
        issued_by=f"{principal.user} ({principal.token_id})",
        expires_at=data.expires_at,
    )


def revoke_token_for(
    services: Services, principal: Principal, token_id: str, reason: str | None
) -> TokenEntry:
    """Revoke a token of the admin's subtree (any other is not found), saying why."""
    entry = next((e for e in services.tokens.list() if e["token_id"] == token_id), None)
    if entry is None or not _manages(services, principal, entry["unit"]):
        raise NotFound(f"no token {token_id}")
    reason = reason or "revoked by an admin"
    _printable(reason, "reason")
    services.tokens.revoke(token_id, by=f"{principal.user} ({principal.token_id})", reason=reason)
    return _entry({**entry, "revoked": True}, services.views.zone)


class TokenController(Controller):
    path = "/v1/tokens"
    tags = ("tokens",)
    opt = ADMIN

    @get("/", sync_to_thread=True, responses=READ)
    def list_tokens(self, services: Svc, principal: Who) -> list[TokenEntry]:
        """The tokens of the admin's subtree, revoked ones included, oldest first."""
        return listed_tokens(services, principal)

    @post("/", sync_to_thread=True, responses=WRITE)
    def create_token(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        data: JSONBody[TokenCreate],
    ) -> Response[TokenIssued]:
        if request.headers.get("idempotency-key") is not None:
            raise invalid(
                "Idempotency-Key",
                "a token's secret is shown once and kept nowhere, so a creation cannot be "
                "answered again; send it without an Idempotency-Key",
            )
        issued = issue_token_for(services, principal, data)
        body = TokenIssued(
            token=issued.secret,
            token_id=issued.token_id,
            user=issued.user,
            unit=issued.unit,
            roles=list(issued.roles),
            label=issued.label,
            expires_at=issued.expires_at.astimezone(services.views.zone)
            if issued.expires_at is not None
            else None,
        )
        # The secret must not linger in a cache between here and the admin.
        return Response(body, status_code=201, headers={"Cache-Control": "no-store"})

    @post("/{token_id:str}/revoke", sync_to_thread=True, status_code=200, responses=WRITE)
    def revoke_token(
        self,
        services: Svc,
        principal: Who,
        token_id: FromPath[str],
        data: JSONBody[TokenRevocation | None] = None,
    ) -> TokenEntry:
        reason = data.reason if data is not None else None
        return revoke_token_for(services, principal, token_id, reason)


TOKEN_HANDLERS = [TokenController]

"""People's accounts over HTTP: ``/v1/accounts``, for the admin role (ADR 0052).

The same acts as ``closedloop account create|password|close|list``. An admin keeps the
accounts of its own unit's subtree; one outside it answers 404, as if it did not exist.
A password is given in the body or, left out, generated and shown in the answer this
once; it is never listed, never stored (only its Argon2id hash, which no answer shows)
and never kept in an idempotency record, which is why a request that may carry one
refuses an ``Idempotency-Key``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from api import schemas as s
from api.access import Services
from api.accounts import AccountWritten
from api.http import READ, WRITE, Call, Cursor, Limit, On, Svc, Who
from api.problems import invalid
from api.token_admin import ADMIN, Role, _manages, _printable
from api.tokens import ROLES, Principal
from domain.account import MAX_PASSWORD, MAX_USERNAME, MIN_PASSWORD, MIN_USERNAME, Account
from domain.errors import NotFound, NotPermitted
from domain.limits import MAX_NAME, MAX_NOTE
from domain.roles import unknown_roles
from projections.queries import BadCursor, decode_cursor, encode_cursor

#: The domain's rule of a username, stated for the schema: Python's ``\w`` is Unicode's
#: letters and digits (and ``_``), as the domain reads it.
Username = Annotated[
    str,
    msgspec.Meta(
        min_length=MIN_USERNAME,
        max_length=MAX_USERNAME,
        pattern=rf"^[\w.@-]{{{MIN_USERNAME},{MAX_USERNAME}}}$",
    ),
]
Password = Annotated[str, msgspec.Meta(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
#: Some text that is not only spaces.
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME, pattern=r"\S")]


class AccountCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An account for one person of one unit; no password: one is generated."""

    username: Username
    name: Text
    unit: s.Code
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=len(ROLES))]
    password: Password | None = None


class PasswordChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new password; none: one is generated and shown once."""

    password: Password | None = None


class AccountClosure(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE, pattern=r"\S")]


class AccountEntry(msgspec.Struct, kw_only=True):
    """An account as shown: everything but its password's hash."""

    username: str
    #: The account's version on the record: one more at each change.
    version: int
    name: str
    unit: str
    roles: list[str]
    opened_at: datetime
    closed: bool
    closed_reason: str | None


class AccountPage(msgspec.Struct, kw_only=True):
    items: list[AccountEntry]
    next_cursor: str | None


class AccountAnswer(msgspec.Struct, kw_only=True):
    """An account after a change; ``password`` is the generated one, shown this once."""

    account: AccountEntry
    password: str | None


def _entry(account: Account, zone: tzinfo) -> AccountEntry:
    return AccountEntry(
        username=account.username,
        name=account.name,
        unit=account.unit,
        roles=list(account.roles),
        opened_at=account.created_on.astimezone(zone),
        closed=account.closed,
        closed_reason=account.closed_reason or None,
        version=account.version,
    )


def _answer(written: AccountWritten, services: Services, status: int) -> Response[AccountAnswer]:
    body = AccountAnswer(
        account=_entry(written.account, services.views.zone), password=written.password
    )
    # A generated password must not linger in a cache between here and the admin.
    return Response(body, status_code=status, headers={"Cache-Control": "no-store"})


def _no_idempotency_key(request: Request[Any, Any, Any]) -> None:
    if request.headers.get("idempotency-key") is not None:
        raise invalid(
            "Idempotency-Key",
            "a generated password is shown once and kept nowhere, so this request cannot "
            "be answered again; send it without an Idempotency-Key",
        )


def _managed(services: Services, principal: Principal, username: str) -> Account:
    """The account, if it lies in the admin's subtree; 404 otherwise, as if it did not exist."""
    account = services.accounts.find(username)
    if account is None or not _manages(services, principal, account.unit):
        raise NotFound(f"no account {username}")
    return account


def open_account_for(call: Call, data: AccountCreate) -> AccountWritten:
    """Open ``data``'s account if the admin manages its unit (the API's and the
    administration page's one way to open an account)."""
    services, principal = call.services, call.principal
    _printable(data.name, "name")
    unknown = unknown_roles(list(data.roles))
    if unknown:
        raise invalid("roles", f"unknown role(s) {', '.join(unknown)}; one of: {', '.join(ROLES)}")
    # A unit that does not exist answers 404 here, through its ancestors.
    if not _manages(services, principal, data.unit):
        raise NotPermitted(f"an admin of {principal.unit} opens accounts only for units under it")
    return services.accounts.open(
        username=data.username,
        name=data.name,
        unit=data.unit,
        roles=list(data.roles),
        password=data.password,
        by=call.actor,
    )


def change_password_for(call: Call, username: str, password: str | None) -> AccountWritten:
    """A new password (generated when none is given) for an account of the subtree."""
    account = _managed(call.services, call.principal, username)
    return call.services.accounts.change_password(account.username, password, by=call.actor)


def close_account_for(call: Call, username: str, reason: str) -> Account:
    """Close an account of the subtree, saying why."""
    account = _managed(call.services, call.principal, username)
    _printable(reason, "reason")
    return call.services.accounts.close(account.username, reason, by=call.actor)


def listed_accounts(services: Services, principal: Principal) -> list[AccountEntry]:
    """Every account of the admin's subtree, closed ones included, oldest first."""
    return [
        _entry(services.accounts.account(username), services.views.zone)
        for username, unit in services.accounts.units_of_accounts().items()
        if _manages(services, principal, unit)
    ]


class AccountController(Controller):
    path = "/v1/accounts"
    tags = ("accounts",)
    opt = ADMIN

    @get("/", sync_to_thread=True, responses=READ)
    def list_accounts(
        self, services: Svc, principal: Who, cursor: Cursor = None, limit: Limit = 50
    ) -> AccountPage:
        """The accounts of the admin's subtree, closed ones included, oldest first."""
        try:
            start = decode_cursor(cursor) if cursor is not None else 0
        except BadCursor as e:
            raise invalid("cursor", str(e), code="cursor-unknown") from None
        listed = list(services.accounts.units_of_accounts().items())
        items: list[AccountEntry] = []
        next_cursor = None
        for index in range(start, len(listed)):
            username, unit = listed[index]
            if not _manages(services, principal, unit):
                continue
            if len(items) == limit:
                next_cursor = encode_cursor(index)
                break
            items.append(_entry(services.accounts.account(username), services.views.zone))
        return AccountPage(items=items, next_cursor=next_cursor)

    @post("/", sync_to_thread=True, responses=WRITE)
    def create_account(self, call: On, data: JSONBody[AccountCreate]) -> Response[AccountAnswer]:
        _no_idempotency_key(call.request)
        return _answer(open_account_for(call, data), call.services, 201)

    @get("/{username:str}", sync_to_thread=True, responses=READ)
    def get_account(self, services: Svc, principal: Who, username: FromPath[str]) -> AccountEntry:
        return _entry(_managed(services, principal, username), services.views.zone)

    @post("/{username:str}/password", sync_to_thread=True, status_code=200, responses=WRITE)
    def change_password(
        self, call: On, username: FromPath[str], data: JSONBody[PasswordChange | None] = None
    ) -> Response[AccountAnswer]:
        _no_idempotency_key(call.request)
        password = data.password if data is not None else None
        return _answer(change_password_for(call, username, password), call.services, 200)

    @post("/{username:str}/close", sync_to_thread=True, status_code=200, responses=WRITE)
    def close_account(
        self, call: On, username: FromPath[str], data: JSONBody[AccountClosure]
    ) -> AccountEntry:
        return _entry(close_account_for(call, username, data.reason), call.services.views.zone)


ACCOUNT_HANDLERS = [AccountController]

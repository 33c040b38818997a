"""``/admin/accounts``: the people's accounts of an admin's subtree (issue 20, ADR 0058).

The list shows each account (never its password's hash) with a form for a new password
and one that closes it, while it is open (:func:`~api.screens.admin_steps.account_steps`);
the create form opens one. A new account's password and a reset one are generated and
shown on the page that answers the form, once: not kept in the session, not in an
address, never cached; sending the form again generates another, and only the last one
shown is valid. Every act goes through the same checks as ``/v1/accounts``
(:mod:`api.account_admin`); an account outside the subtree is the not-found page.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request, Response
from litestar.params import FromPath
from litestar.response import Redirect

from api.account_admin import (
    AccountClosure,
    AccountCreate,
    change_password_for,
    close_account_for,
    listed_accounts,
    open_account_for,
)
from api.accounts import AccountWritten
from api.http import Call, On
from api.screens.admin_common import admin_form, admin_page, checked_act, draw, redraw
from api.screens.admin_steps import UnitTree, account_steps
from api.screens.errors import FormRefused
from api.screens.forms import body_of, fields_of
from api.screens.pages import Page
from api.tokens import ROLES

#: Where a refusal that names no field is shown on the create form.
CREATE_FIELDS = {
    "already-exists": "username",
    "username-refused": "username",
    "not-permitted": "unit",
    "not-found": "unit",
    "invalid-value": "unit",
}


def _accounts_page(
    request: Request[Any, Any, Any], call: Call, *, status: int = 200, page: Page | None = None
) -> Response[str]:
    services, principal = call.services, call.principal
    accounts = listed_accounts(services, principal)
    steps = {a.username: account_steps(services.accounts.account(a.username)) for a in accounts}
    units = UnitTree.of(call.center.units()).active_within(principal.unit)
    return draw(
        request,
        "admin_accounts.html.j2",
        "accounts",
        status=status,
        page=page,
        accounts=accounts,
        steps=steps,
        units=units,
        roles=ROLES,
    )


def _shown(request: Request[Any, Any, Any], written: AccountWritten, status: int) -> Response[str]:
    """The answer with the generated password, this once."""
    return draw(
        request,
        "admin_account_password.html.j2",
        "accounts",
        status=status,
        account=written.account,
        password=written.password,
        headers={"Referrer-Policy": "no-referrer"},
    )


@admin_page("/admin/accounts")
def accounts_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The subtree's accounts and the form that opens one."""
    return _accounts_page(request, call)


@admin_form("/admin/accounts", status_code=201)
async def create_account(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    """Open an account; its generated password is shown on the answer, once."""
    fields = await fields_of(request)
    fields.pop("password", None)  # the page always generates one
    try:
        data = body_of(fields, AccountCreate)
        written = await to_thread.run_sync(checked_act, call, open_account_for, CREATE_FIELDS, data)
    except FormRefused as e:
        return await redraw(
            _accounts_page, request, call, status=e.status, errors=e.errors, fields=fields
        )
    return _shown(request, written, 201)


@admin_form("/admin/accounts/{username:str}/password", status_code=200)
async def reset_password(
    request: Request[Any, Any, Any], call: On, username: FromPath[str]
) -> Response[Any]:
    """A new generated password for an open account, shown on the answer, once."""
    await fields_of(request)
    try:
        written = await to_thread.run_sync(
            checked_act, call, change_password_for, {}, username, None
        )
    except FormRefused as e:
        errors = {f"account-{username}": _said(e)}
        return await redraw(_accounts_page, request, call, status=e.status, errors=errors)
    return _shown(request, written, 200)


@admin_form("/admin/accounts/{username:str}/close")
async def close_account(
    request: Request[Any, Any, Any], call: On, username: FromPath[str]
) -> Response[Any]:
    """Close an account, saying why; its sessions end."""
    fields = await fields_of(request)
    try:
        reason = body_of(fields, AccountClosure).reason
        await to_thread.run_sync(checked_act, call, close_account_for, {}, username, reason)
    except FormRefused as e:
        errors = {f"account-{username}": _said(e)}
        return await redraw(_accounts_page, request, call, status=e.status, errors=errors)
    return Redirect("/admin/accounts", status_code=303)


def _said(refusal: FormRefused) -> str:
    return next(iter(refusal.errors.values()))


ACCOUNT_PAGE_HANDLERS = [accounts_page, create_account, reset_password, close_account]

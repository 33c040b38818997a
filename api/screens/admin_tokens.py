"""``/admin/tokens``: the API tokens of an admin's subtree (issue 20, ADR 0058, 0067).

The list shows every token of the subtree without its secret (the store keeps only its
SHA-256), its expiry in the calendar's zone; a live one has a revoke form asking why.
Issuing answers the secret on the page that answers the form itself, once: it is not
kept in the session, not put in an address, and the page is never cached. The form is
read and checked exactly as ``POST /v1/tokens`` (:func:`api.token_admin.issue_token_for`).

The same form sent again (a reload of the answer, a second click) carries the same
command id; the store remembers the ids issued for (an idempotency record holding the
token's id only), so any server process answers the second time that the token was
issued and its secret shown already, rather than issuing a second token (ADR 0067).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from anyio import to_thread
from litestar import Request, Response
from litestar.params import FromPath
from litestar.response import Redirect

from api.access import Services
from api.http import Call, On
from api.screens.admin_common import admin_form, admin_page, checked_act, draw, redraw
from api.screens.admin_steps import UnitTree
from api.screens.errors import FormRefused
from api.screens.forms import body_of, fields_of
from api.screens.pages import Page, page_of
from api.token_admin import (
    TokenCreate,
    TokenRevocation,
    issue_token_for,
    listed_tokens,
    revoke_token_for,
)
from api.tokens import ROLES, IssuedToken

#: The longest command id remembered (the pages' own are 32 hexadecimal digits).
MAX_COMMAND_ID = 100
#: Where a refusal that names no field is shown on the issue form.
ISSUE_FIELDS = {"not-permitted": "unit", "invalid-value": "unit", "not-found": "unit"}


def _form_key(command_id: str) -> str:
    """The idempotency key an issuing form is remembered by, beside the API's own keys
    (which a token's creation refuses: their record keeps the answer, and this answer
    holds a secret). The record keeps only the token's id."""
    return f"page:issue-token:{command_id}"


def _earlier(services: Services, holder: str, command_id: str) -> str | None:
    """The token an issuing form with this command id already issued, on any server."""
    found = services.idempotency.find(holder, _form_key(command_id))
    return found.body.decode() if found is not None else None


def _remember(services: Services, holder: str, command_id: str, token_id: str) -> None:
    services.idempotency.record(holder, _form_key(command_id), "", 201, token_id.encode(), {})


def _local_expiry(fields: dict[str, Any], zone: ZoneInfo) -> None:
    """A browser's ``datetime-local`` has no zone: it is a time in the calendar's zone."""
    values = fields.get("expires_at") or []
    text = values[0].strip() if values and isinstance(values[0], str) else ""
    if not text:
        return
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return  # the body's own check names the field
    if when.tzinfo is None:
        fields["expires_at"] = [when.replace(tzinfo=zone).isoformat()]


def _tokens_page(
    request: Request[Any, Any, Any], call: Call, *, status: int = 200, page: Page | None = None
) -> Response[str]:
    services, principal = call.services, call.principal
    units = UnitTree.of(call.center.units()).active_within(principal.unit)
    return draw(
        request,
        "admin_tokens.html.j2",
        "tokens",
        status=status,
        page=page,
        tokens=list(reversed(listed_tokens(services, principal))),
        units=units,
        roles=ROLES,
    )


@admin_page("/admin/tokens")
def tokens_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The subtree's tokens, newest first, and the form that issues one."""
    return _tokens_page(request, call)


@admin_form("/admin/tokens", status_code=201)
async def issue_token(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    """Issue a token; the answer shows its secret this once."""
    fields = await fields_of(request)
    services = call.services
    command_id = (fields.get("command_id") or [""])[0]
    if len(command_id) > MAX_COMMAND_ID:
        command_id = ""  # not one of our forms' ids: nothing to remember it by
    holder = call.principal.token_id
    if command_id and (earlier := await to_thread.run_sync(_earlier, services, holder, command_id)):
        return draw(request, "admin_token_issued.html.j2", "tokens", issued=None, earlier=earlier)
    _local_expiry(fields, services.views.zone)
    try:
        data = body_of(fields, TokenCreate)
        issued = await to_thread.run_sync(checked_act, call, _issue, ISSUE_FIELDS, data)
    except FormRefused as e:
        return await redraw(
            _tokens_page, request, call, status=e.status, errors=e.errors, fields=fields
        )
    if command_id:
        await to_thread.run_sync(_remember, services, holder, command_id, issued.token_id)
    return draw(
        request,
        "admin_token_issued.html.j2",
        "tokens",
        status=201,
        issued=issued,
        earlier=None,
        headers={"Referrer-Policy": "no-referrer"},
    )


@admin_form("/admin/tokens/{token_id:str}/revoke")
async def revoke_token(
    request: Request[Any, Any, Any], call: On, token_id: FromPath[str]
) -> Response[Any]:
    """Revoke a token of the subtree, saying why; one outside it is not found."""
    fields = await fields_of(request)
    try:
        reason = body_of(fields, TokenRevocation).reason
        if not reason:
            # The page asks why, for the record: a revocation is read in audits.
            raise FormRefused({"reason": page_of(request).t("page.admin.tokens.reason_needed")})
        await to_thread.run_sync(checked_act, call, _revoke, {}, token_id, reason)
    except FormRefused as e:
        # Each token's row has its own form: the message goes beside that one's field.
        errors = {f"reason-{token_id}": v for v in e.errors.values()}
        return await redraw(_tokens_page, request, call, status=e.status, errors=errors)
    return Redirect("/admin/tokens", status_code=303)


def _issue(call: Call, data: TokenCreate) -> IssuedToken:
    return issue_token_for(call.services, call.principal, data)


def _revoke(call: Call, token_id: str, reason: str | None) -> None:
    revoke_token_for(call.services, call.principal, token_id, reason)


TOKEN_PAGE_HANDLERS = [tokens_page, issue_token, revoke_token]

"""Who is at the browser, and what a page may do for them (ADR 0053).

Every page route carries ``opt={"page": True}``; the API's bearer guard leaves it to
:func:`page_guard`, which finds the session behind the cookie, asks the token book or the
account book who its subject is now (a revoked token, a closed account or a deactivated
unit ends it), and puts that :class:`~api.tokens.Principal` where the API's handlers find
theirs. A page then reads and acts through the same :class:`~api.http.Call` as the API,
with the same roles, the same subtree and the same 404 for what lies outside it.

A page route's ``opt`` may say ``role`` (only a holder of it may open it: 403), ``screen``
(a hall screen may open it; every other page is not found for a screen) and
``signed_out`` (it answers without a session: the sign-in page). Every ``POST`` must carry
the session's CSRF token in its form's ``csrf`` field, checked here, before the handler
reads anything else: without it the answer is 403 and nothing is stored.
"""

from __future__ import annotations

import secrets
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.access import Services
from api.problems import ProblemError
from api.screens.pages import is_kiosk
from api.screens.sessions import Session, SessionBook
from api.tokens import Principal, TokenRefused
from domain.errors import NotFound

SESSION_COOKIE = "cl_session"
#: The subject of a session opened with an API token: the token's SHA-256, never its secret.
TOKEN_SUBJECT = "token:"  # noqa: S105 (a prefix, not a secret)
#: The subject of a session opened with a password or a one-time ticket.
ACCOUNT_SUBJECT = "account:"


class SignInNeeded(Exception):
    """No live session: the browser goes to the sign-in page, and back afterwards."""


class PageRefused(Exception):
    """A page or a form this person may not use: 403, said on a page of its own."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def subject_of(principal: Principal, token_digest: str | None = None) -> str:
    """What a session records of whom it speaks for."""
    if token_digest is not None:
        return TOKEN_SUBJECT + token_digest
    return principal.token_id  # an account's principal: "account:<id>"


def who_is(services: Services, subject: str) -> Principal | None:
    """The subject of a session as it stands now, or None when it may no longer act."""
    try:
        if subject.startswith(TOKEN_SUBJECT):
            return services.tokens.authenticate_digest(subject.removeprefix(TOKEN_SUBJECT))
        if subject.startswith(ACCOUNT_SUBJECT):
            found: Principal | None = services.accounts.principal_of(
                subject.removeprefix(ACCOUNT_SUBJECT)
            )
            return found
    except TokenRefused:
        return None
    return None


def sessions_of(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionBook:
    book: SessionBook = connection.app.state.screen_sessions
    return book


async def page_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The guard of every page route."""
    # As for the API (api/access.py): PostgreSQL refuses a NUL in text, so it is refused here.
    if "\x00" in connection.url.path or any(
        "\x00" in key or "\x00" in value for key, value in connection.query_params.multi_items()
    ):
        raise ProblemError(400, "the address cannot contain a NUL character")
    services: Services = connection.app.state.services
    book = sessions_of(connection)
    secret = connection.cookies.get(SESSION_COOKIE, "")
    session: Session | None = None
    principal: Principal | None = None
    if secret:
        session = await anyio.to_thread.run_sync(book.find, secret)
        if session is not None:
            principal = await anyio.to_thread.run_sync(who_is, services, session.subject)
            if principal is None:
                await anyio.to_thread.run_sync(book.end, secret)
    if principal is None or session is None:
        if handler.opt.get("signed_out"):
            return
        raise SignInNeeded()
    connection.state.principal = principal
    connection.state.csrf = session.csrf
    if handler.opt.get("signed_out"):
        return  # the sign-in pages check their own form's token
    if is_kiosk(principal) and not handler.opt.get("screen"):
        # A hall screen sees its board and nothing else, as if nothing else were there.
        raise NotFound("page not found")
    role = handler.opt.get("role")
    if role is not None and role not in principal.roles:
        raise PageRefused("role")
    if connection.scope.get("method") == "POST":
        form = await Request(connection.scope, connection.receive).form()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not secrets.compare_digest(
            sent.encode(), session.csrf.encode()
        ):
            raise PageRefused("csrf")

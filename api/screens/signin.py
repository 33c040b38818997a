"""Signing in and out, the language, and where each person lands (ADR 0053).

A person signs in at ``/sign-in`` with their username and password, or by pasting an API
token (as the token's person), or by a one-time address ``make run`` prints; a hall
screen signs in once and stays for days. The sign-in form has no session to carry a CSRF
token yet, so it carries the value of a cookie of its own (``SameSite=Strict``: another
site's form cannot send it). Wrong passwords are counted per address (five a minute by
default, then 429 with ``Retry-After``), before any password is hashed.
"""

from __future__ import annotations

import secrets
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath
from litestar.response import Redirect

from api.access import Services
from api.rate_limits import RateLimits
from api.screens.guard import SESSION_COOKIE, subject_of
from api.screens.pages import (
    LANGUAGE_COOKIE,
    Page,
    is_kiosk,
    local_path,
    page_of,
    render,
)
from api.screens.sessions import SessionBook
from api.tokens import Principal, TokenRefused, secret_hash
from texts.catalogue import LANGUAGES

SIGN_IN_COOKIE = "cl_signin"
#: Where each role lands after signing in, the first role held deciding.
HOMES = (
    ("screen", "/board"),
    ("handler", "/inbox"),
    ("dispatcher", "/inbox"),
    ("duty_officer", "/warnings"),
    ("monitor", "/warnings"),
    ("auditor", "/audit"),
    ("admin", "/admin"),
)
PAGE = {"page": True}
SIGNED_OUT = {"page": True, "signed_out": True}


def home_of(principal: Principal) -> str:
    for role, path in HOMES:
        if role in principal.roles:
            return path
    return "/board"


def _secure(request: Request[Any, Any, Any]) -> bool:
    return request.url.scheme == "https"


def _form_cookie(request: Request[Any, Any, Any], value: str) -> Cookie:
    return Cookie(
        key=SIGN_IN_COOKIE,
        value=value,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/sign-in",
        max_age=3600,
    )


def _sign_in_page(
    request: Request[Any, Any, Any], *, status: int = 200, page: Page | None = None, **extra: Any
) -> Response[str]:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    page = page or page_of(request)
    page.csrf = token
    response = render(
        request,
        "sign_in.html.j2",
        status=status,
        page=page,
        next=local_path(request.query_params.get("next"), ""),
        **extra,
    )
    response.cookies.append(_form_cookie(request, token))
    return response


@get("/sign-in", opt=SIGNED_OUT, include_in_schema=False, sync_to_thread=False)
def sign_in_form(request: Request[Any, Any, Any]) -> Response[str]:
    """The sign-in page (a signed-in person is sent on to their page)."""
    principal = request.state.get("principal")
    if principal is not None:
        return Redirect(home_of(principal), status_code=303)
    return _sign_in_page(request)


def _opened(
    request: Request[Any, Any, Any], principal: Principal, subject: str, target: str
) -> Response[Any]:
    book: SessionBook = request.app.state.screen_sessions
    secret, _session = book.open(subject, kiosk=is_kiosk(principal))
    response: Response[Any] = Redirect(local_path(target, home_of(principal)), status_code=303)
    response.cookies.append(
        Cookie(
            key=SESSION_COOKIE,
            value=secret,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/",
        )
    )
    response.cookies.append(Cookie(key=SIGN_IN_COOKIE, value="", max_age=0, path="/sign-in"))
    return response


def _who_signs_in(
    services: Services, fields: dict[str, str]
) -> tuple[Principal | None, str | None, str]:
    """(the principal, the session's subject, the field at fault when there is none)."""
    token = fields.get("token", "").strip()
    if token:
        try:
            principal = services.tokens.authenticate(token)
        except TokenRefused:
            principal = None
        if principal is None:
            return None, None, "token"
        return principal, subject_of(principal, secret_hash(token)), ""
    username = fields.get("username", "").strip()
    password = fields.get("password", "")
    if not username:
        return None, None, "username"
    if not password:
        return None, None, "password"
    principal = services.accounts.verify(username, password)
    if principal is None:
        return None, None, "password"
    return principal, subject_of(principal), ""


@post("/sign-in", opt=SIGNED_OUT, include_in_schema=False, status_code=303)
async def sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign in with a username and password, or with a pasted API token."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    sent, kept = fields.get("csrf", ""), request.cookies.get(SIGN_IN_COOKIE, "")
    page = page_of(request, values={"username": fields.get("username", "")[:64]})
    if not kept or not secrets.compare_digest(sent.encode(), kept.encode()):
        page.errors["form"] = page.t("page.sign_in.expired")
        return _sign_in_page(request, status=403, page=page)
    limits: RateLimits = request.app.state.sign_in_limits
    address = request.client.host if request.client else "unknown"
    wait = limits.address_wait(address)
    if wait is not None:
        page.errors["form"] = page.t("page.sign_in.too_many", seconds=wait)
        response = _sign_in_page(request, status=429, page=page)
        response.headers["Retry-After"] = str(wait)
        return response
    services: Services = request.app.state.services
    principal, subject, wrong = await anyio.to_thread.run_sync(_who_signs_in, services, fields)
    if principal is None or subject is None:
        limits.failed(address)
        page.errors[wrong] = page.t(f"page.sign_in.wrong_{wrong}")
        return _sign_in_page(request, status=401, page=page)
    target = local_path(fields.get("next"), home_of(principal))
    return await anyio.to_thread.run_sync(_opened, request, principal, subject, target)


@get("/sign-in/once/{secret:str}", opt=SIGNED_OUT, include_in_schema=False, sync_to_thread=True)
def sign_in_once(request: Request[Any, Any, Any], secret: FromPath[str]) -> Response[Any]:
    """A one-time sign-in address: it signs its person in once, then never again."""
    services: Services = request.app.state.services
    principal = services.accounts.redeem_ticket(secret) if len(secret) <= 128 else None
    if principal is None:
        page = page_of(request)
        page.errors["form"] = page.t("page.sign_in.ticket_used")
        return _sign_in_page(request, status=404, page=page)
    return _opened(request, principal, subject_of(principal), home_of(principal))


@post("/sign-out", opt=PAGE, include_in_schema=False, status_code=303, sync_to_thread=True)
def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign out: the session ends on every server at once."""
    book: SessionBook = request.app.state.screen_sessions
    book.end(request.cookies.get(SESSION_COOKIE, ""))
    response: Response[Any] = Redirect("/sign-in", status_code=303)
    response.cookies.append(Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/"))
    return response


@get("/language/{language:str}", opt=SIGNED_OUT, include_in_schema=False, sync_to_thread=False)
def choose_language(request: Request[Any, Any, Any], language: FromPath[str]) -> Response[Any]:
    """Switch the pages' language (a preference, kept in a cookie) and go back."""
    target = local_path(request.query_params.get("next"))
    response: Response[Any] = Redirect(target, status_code=303)
    if language in LANGUAGES:
        response.cookies.append(
            Cookie(
                key=LANGUAGE_COOKIE,
                value=language,
                samesite="lax",
                path="/",
                max_age=400 * 24 * 3600,
                secure=_secure(request),
            )
        )
    return response


@get("/", opt=SIGNED_OUT, include_in_schema=False, sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Response[Any]:
    """The front door: each person's own page, or the sign-in page."""
    principal = request.state.get("principal")
    target = home_of(principal) if principal is not None else "/sign-in"
    return Redirect(target, status_code=303)


@get("/me", opt={**PAGE, "screen": True}, include_in_schema=False, sync_to_thread=False)
def me(request: Request[Any, Any, Any]) -> Response[str]:
    """Who is signed in here: person, unit, roles, and when the session ends."""
    return render(request, "me.html.j2")


SIGN_IN_HANDLERS = [sign_in_form, sign_in, sign_in_once, sign_out, choose_language, home, me]

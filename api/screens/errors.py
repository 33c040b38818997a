"""What a page answers when something is refused or goes wrong: a page, in words.

The API answers problems in JSON (RFC 9457); a person at a browser gets the same status
on a page in their language, with what to do next: sign in (and come back), go back, try
again shortly. The statuses are the API's, so a page never answers 500 for what the API
answers 4xx. These handlers sit on the screens' router, closer to the pages than the
application's own, so they answer for the pages alone.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect

from api.problems import RETRY_AFTER, ProblemError
from api.screens.guard import PageRefused, SignInNeeded
from api.screens.pages import page_of, render
from domain.errors import ConcurrencyConflict, DomainError, NotFound, NotPermitted
from projections.outage import is_outage
from texts.catalogue import catalogue

log = logging.getLogger("closedloop.screens")


class FormRefused(Exception):
    """A form the engine refused: {field: message}, the field ``form`` for the whole."""

    def __init__(self, errors: dict[str, str], status: int = 422) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.status = status


def refusal_text(request: Request[Any, Any, Any], error: DomainError | ProblemError) -> str:
    """A refusal in the page's language when the catalogue has words for its code
    (``problem.<code>``), else the engine's own sentence."""
    code = getattr(error, "code", None)
    if code and catalogue().has(f"problem.{code}"):
        return page_of(request).t(f"problem.{code}")
    return str(error.detail if isinstance(error, ProblemError) else error)


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    title_id: str,
    detail: str = "",
    headers: dict[str, str] | None = None,
) -> Response[str]:
    return render(
        request,
        "error.html.j2",
        status=status,
        headers=headers,
        status_code=status,
        title_id=title_id,
        detail=detail,
    )


def on_sign_in_needed(request: Request[Any, Any, Any], exc: SignInNeeded) -> Response[Any]:
    back = request.url.path if request.method == "GET" else ""
    if request.method == "GET" and request.url.query:
        back += "?" + request.url.query
    target = "/sign-in" + (f"?next={quote(back, safe='/')}" if back else "")
    # Never cached: the same address answers the page once signed in.
    return Redirect(target, status_code=303, headers={"Cache-Control": "no-store"})


def on_refused(request: Request[Any, Any, Any], exc: PageRefused) -> Response[str]:
    return error_page(request, 403, f"page.error.{exc.reason}")


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[str]:
    if isinstance(exc, NotFound):
        return error_page(request, 404, "page.error.not_found")
    if isinstance(exc, NotPermitted):
        return error_page(request, 403, "page.error.refused", refusal_text(request, exc))
    status = 409 if isinstance(exc, ConcurrencyConflict) else 422
    return error_page(request, status, "page.error.refused", refusal_text(request, exc))


def on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[str]:
    if exc.status == 404:
        return error_page(request, 404, "page.error.not_found")
    title = "page.error.busy" if exc.status in (429, 503) else "page.error.refused"
    return error_page(request, exc.status, title, refusal_text(request, exc), exc.headers)


def on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[str]:
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        return on_sign_in_needed(request, SignInNeeded())
    if status == 404:
        return error_page(request, 404, "page.error.not_found")
    if status >= 500:
        log.error("server error on page %s: %s", request.url.path, exc.detail)
        return error_page(request, status, "page.error.server")
    return error_page(request, status, "page.error.refused", str(exc.detail))


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    if is_outage(exc):
        log.warning("store unavailable on page %s: %s", request.url.path, exc)
        return error_page(request, 503, "page.error.busy", "", {"Retry-After": str(RETRY_AFTER)})
    log.exception("unexpected error on page %s", request.url.path)
    return error_page(request, 500, "page.error.server")


def on_form_refused(request: Request[Any, Any, Any], exc: FormRefused) -> Response[str]:
    """A form refused that its handler did not draw again: its messages on a page."""
    detail = "; ".join(exc.errors.values())
    return error_page(request, exc.status, "page.error.refused", detail)


PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {
    SignInNeeded: on_sign_in_needed,
    FormRefused: on_form_refused,
    PageRefused: on_refused,
    DomainError: on_domain_error,
    ProblemError: on_problem,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}


#: The API's own paths: their 404 is a problem in JSON whoever asks.
_API_PATHS = ("/v1/", "/schema", "/health", "/metrics", "/static/")


def pages_or(api_handler: Any) -> Any:
    """The application's handler of HTTP errors, except that an address nobody serves,
    asked for by a browser (it accepts HTML) outside the API's paths, gets the not-found
    page rather than a problem in JSON."""

    def handle(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        path = request.url.path
        if (
            exc.status_code == 404
            and not path.startswith(_API_PATHS)
            and "text/html" in request.headers.get("accept", "")
        ):
            return error_page(request, 404, "page.error.not_found")
        response: Response[Any] = api_handler(request, exc)
        return response

    return handle

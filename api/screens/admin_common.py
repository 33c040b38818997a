"""What the administration pages share: their route option, their drawing and how their
forms run a command (issue 20, ADR 0058)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from api.http import Call
from api.problems import ProblemError
from api.screens.forms import act, refusal
from api.screens.pages import Page, page_of, render
from domain.application import Outcome
from domain.errors import DomainError, NotFound
from domain.meta import Context
from notifiers.outbox import TYPE_NAMES

E = TypeVar("E", bound=Exception)
R = TypeVar("R")

#: An admin's page: the guard answers the 403 page to every other role, and the page's
#: commands are recorded in the admin role.
ADMIN_PAGE = {"page": True, "role": "admin"}
#: The fields a form sends several values of (checkboxes), shown again as lists.
LISTS = ("roles",)
#: How msgspec says that a required field is missing (an empty field is left out).
_MISSING = "missing required field"


def admin_page(path: str) -> HTTPRouteHandler:
    """The route of an administration page (drawn in a worker thread: it reads the store)."""
    return get(path, opt=ADMIN_PAGE, include_in_schema=False, sync_to_thread=True)


def admin_form(path: str, status_code: int = 303) -> HTTPRouteHandler:
    """The route an administration form posts to (303 to the page that shows its result)."""
    return post(path, opt=ADMIN_PAGE, include_in_schema=False, status_code=status_code)


#: A command whose API checks run first: (call, body) -> the command itself.
Checked = Callable[[Call, Any], Callable[[Context], Outcome]]


def draw(
    request: Request[Any, Any, Any],
    template: str,
    section: str,
    *,
    status: int = 200,
    page: Page | None = None,
    **context: Any,
) -> Response[str]:
    """An administration page, its menu marking ``section``."""
    return render(
        request,
        template,
        status=status,
        page=page,
        section=section,
        notifications=frozenset(TYPE_NAMES),
        **context,
    )


def worded(page: Page, errors: dict[str, str]) -> dict[str, str]:
    """A form's messages, a required field left empty said in the page's language."""
    return {
        field: page.t("page.admin.required") if _MISSING in message else message
        for field, message in errors.items()
    }


def refused(
    request: Request[Any, Any, Any], errors: dict[str, str], fields: dict[str, Any] | None = None
) -> Page:
    """The page of a refused form: its messages at their fields, its values as sent."""
    values: dict[str, Any] = dict(first_values(fields or {}))
    for name in LISTS:
        values[name] = (fields or {}).get(name) or []
    page = page_of(request, values=values)
    page.errors = worded(page, errors)
    return page


async def redraw(
    draw_page: Callable[..., Response[str]],
    request: Request[Any, Any, Any],
    call: Call,
    *args: Any,
    status: int,
    errors: dict[str, str],
    fields: dict[str, Any] | None = None,
) -> Response[str]:
    """``draw_page`` again (in a worker thread: it reads the store), with a refused
    form's messages at their fields and its values as sent."""
    page = refused(request, errors, fields)
    return await to_thread.run_sync(
        lambda: draw_page(request, call, *args, status=status, page=page)
    )


def first_values(fields: dict[str, Any]) -> dict[str, str]:
    """A form's fields as sent, one value each, to show again beside the messages."""
    return {k: v[0] for k, v in fields.items() if v and isinstance(v[0], str) and k != "csrf"}


def at_field(error: E, fields: dict[str, str]) -> E:
    """A domain refusal that names no field, put at the one ``fields`` gives for its
    code (the page's form has a field where the API's body had none to name)."""
    code = getattr(error, "code", None) if isinstance(error, DomainError) else None
    if code in fields and getattr(error, "field", None) is None:
        error.field = fields[code]  # type: ignore[attr-defined]
    return error


def checked_act(call: Call, act: Callable[..., R], fields: dict[str, str], *args: Any) -> R:
    """Run one of the API's acts that is not a command of the log (tokens, accounts):
    a refusal comes back as the form's, at its field and in words. A unit the form
    names that does not exist is said at its field when ``fields`` places not-found."""
    try:
        return act(call, *args)
    except NotFound as e:
        if "not-found" not in fields:
            raise
        raise refusal(call.request, at_field(e, fields)) from None
    except (DomainError, ProblemError) as e:
        raise refusal(call.request, at_field(e, fields)) from None


async def run_checked(
    call: Call, data: Any, checked: Checked, fields: dict[str, str], then: str
) -> Response[Any]:
    """Check and run a command in a worker thread (the library is synchronous), then 303
    to ``then``. The API's checks run inside :func:`~api.screens.forms.act`, so their
    refusals come back at a field too: a domain refusal that names none is put at the
    field ``fields`` gives for its code."""

    def command(ctx: Context) -> Outcome:
        try:
            return checked(call, data)(ctx)
        except DomainError as e:
            raise at_field(e, fields) from None

    return await to_thread.run_sync(lambda: act(call, data, command, then=then))

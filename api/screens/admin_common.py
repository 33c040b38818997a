"""What the administration pages share: their route option, their drawing and how their
forms run a command (issue 20, ADR 0058)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from api.http import Call
from api.screens.forms import act
from api.screens.pages import Page, page_of, render
from domain.application import Outcome
from domain.errors import DomainError
from domain.meta import Context
from notifiers.outbox import TYPE_NAMES

#: An admin's page: the guard answers the 403 page to every other role, and the page's
#: commands are recorded in the admin role.
ADMIN_PAGE = {"page": True, "role": "admin"}
#: The sections of the administration, in the order of its menu.
SECTIONS = ("units", "tokens", "accounts", "webhooks")
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
    services = request.app.state.services
    accounts = getattr(services, "accounts", None) is not None
    return render(
        request,
        template,
        status=status,
        page=page,
        section=section,
        accounts=accounts and hasattr(services.accounts, "create"),
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
    page = page_of(request, values=first_values(fields or {}))
    page.errors = worded(page, errors)
    return page


def first_values(fields: dict[str, Any]) -> dict[str, str]:
    """A form's fields as sent, one value each, to show again beside the messages."""
    return {k: v[0] for k, v in fields.items() if v and isinstance(v[0], str) and k != "csrf"}


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
            if getattr(e, "field", None) is None and e.code in fields:
                e.field = fields[e.code]  # type: ignore[attr-defined]
            raise

    return await to_thread.run_sync(lambda: act(call, data, command, then=then))

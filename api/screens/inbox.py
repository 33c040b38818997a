"""``/inbox``: a unit's instructions on the duty desk, with their countdowns (ADR 0056).

The same read as the API's ``GET /v1/units/{code}/inbox``: the instructions the unit
must act on and those it issued, soonest deadline first, paged, under the same rule
(the person's own unit or one below it; any other is the not-found page). The desk
narrows it by status, priority, overdue and words of the title.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get

from api.http import On, paged, view_store
from api.schemas import InboxItem
from api.screens.desk import Countdown, countdown, unit_names
from api.screens.pages import Page, page_of, render
from domain.errors import NotFound
from domain.instruction import InstructionStatus, Priority
from domain.meta import now
from projections import queries as q
from projections.store import ViewStore
from projections.units import subtree_paths

PAGE_SIZE = 20
MAX_SEARCH = 100
#: The filters of the inbox, as its form names them.
FILTERS = ("unit", "status", "priority", "overdue", "q", "finished")


@dataclass(frozen=True)
class Line:
    """One instruction of the inbox as the page shows it."""

    item: InboxItem
    countdown: Countdown


def _filters(request: Request[Any, Any, Any], page: Page) -> dict[str, str]:
    """The filters asked for; one that cannot be is said at its field and not applied."""
    asked = {k: str(request.query_params.get(k, "")).strip() for k in FILTERS}
    allowed = {
        "status": {s.value for s in InstructionStatus},
        "priority": {p.value for p in Priority},
        "overdue": {"1"},
        "finished": {"1"},
    }
    for name, values in allowed.items():
        if asked[name] and asked[name] not in values:
            page.errors[name] = page.t("page.idesk.error.filter")
            asked[name] = ""
    if len(asked["q"]) > MAX_SEARCH or "\x00" in asked["q"]:
        page.errors["q"] = page.t("page.idesk.error.search", most=MAX_SEARCH)
        asked["q"] = ""
    return asked


def _openable(store: ViewStore, principal: Any) -> list[str]:
    """The inboxes this person may open: its own unit's and those below it (every one
    for a reader of everything), in the tree's order, from the units view."""
    with store.read() as tx:
        if principal.reads_everything:
            rows = tx.execute("SELECT code, path FROM units")
            paths = {str(c): str(p) for c, p in rows}
        else:
            paths = subtree_paths(tx, principal.unit)
    return sorted(paths, key=paths.__getitem__)


def _read(call: On, code: str, f: dict[str, str], cursor: str | None) -> Any:
    services, principal = call.services, call.principal
    at = now()
    call.caught_up(None, "units", "instructions")
    with view_store(call.services, call.request).read() as tx:
        if q.unit(tx, code) is None or not (
            principal.reads_everything or q.within(tx, [code], principal.unit)
        ):
            raise NotFound(f"unit {code} not found")
        query = partial(
            q.inbox,
            tx,
            code,
            include_finished=f["finished"] == "1" or f["status"] in ("closed", "cancelled"),
            status=f["status"] or None,
            priority=f["priority"] or None,
            overdue_at=at if f["overdue"] == "1" else None,
            title=f["q"] or None,
        )
        rows, next_cursor = paged(query, cursor, PAGE_SIZE)
    return services.views.inbox(code, rows, at, services.center.calendar, next_cursor), at


@get("/inbox", opt={"page": True}, include_in_schema=False, sync_to_thread=True)
def inbox_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """A unit's inbox: what it must act on, what it issued, each with its countdown."""
    page = page_of(request)
    f = _filters(request, page)
    code = f["unit"] or call.principal.unit
    cursor = request.query_params.get("cursor") or None
    box, at = _read(call, code, f, cursor)
    calendar = call.center.calendar

    def lines(items: list[InboxItem]) -> list[Line]:
        return [
            Line(
                item,
                countdown(
                    status=item.status,
                    priority=item.priority,
                    issued_at=item.issued_at,
                    deadline=item.deadline,
                    now=at,
                    calendar=calendar,
                    # Deferred: the clock is stopped with this much left (ADR 0071).
                    stopped_left=(
                        timedelta(seconds=item.time_left_seconds)
                        if item.status == InstructionStatus.DEFERRED
                        else None
                    ),
                ),
            )
            for item in items
        ]

    principal = call.principal
    openable = _openable(call.services.reads.store, principal)
    kept = {k: v for k, v in f.items() if v}
    more = urlencode({**kept, "cursor": box.next_cursor}) if box.next_cursor else None
    return render(
        request,
        "idesk_inbox.html.j2",
        status=422 if page.errors else 200,
        page=page,
        box=box,
        assigned=lines(box.assigned),
        issued=lines(box.issued),
        filters=f,
        unit=code,
        openable=openable,
        names=unit_names(call.services.reads.store, page.language),
        statuses=[s.value for s in InstructionStatus],
        priorities=[p.value for p in Priority],
        more=more,
        first=urlencode(kept) if cursor else None,
    )


INBOX_HANDLERS = [inbox_page]

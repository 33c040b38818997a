"""The auditor's room: a loop's timeline, any of its records as of a past time or
version, the chain's verification with its last signed checkpoint, and a period's
export (issue 20, ADR 0057).

Every read goes through the API's own functions (:mod:`api.audit`, :mod:`api.history`)
with the session's principal, so the room shows exactly what that person's token would
read: a loop outside their subtree is the not-found page, a member of a loop they may
not read is left out of its timeline, the verification is the auditor's and admin's,
the export the auditor's whole and an admin's own subtree, redacted for both (ADR 0042).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from api.audit import export_of, last_checkpoint, verification_of, visible_timeline
from api.history import past_state
from api.http import LARGEST, On, check_times
from api.problems import ProblemError
from api.schemas import showable
from api.screens.errors import FormRefused
from api.screens.pages import Page, page_of, render
from domain.errors import NotFound
from projections import queries as q

PAGE = {"page": True}
#: A record's kind as the loop index names it, and as the history's routes do.
HISTORY_KIND = {"warning": "warnings", "instruction": "instructions", "disposition": "dispositions"}
#: The fields of a past state whose value is a code of the domain, and its family.
STATE_WORDS = {"theme": "theme", "level": "level", "priority": "priority"}
STATUS_FAMILY = {
    "warning": "warning_status",
    "instruction": "instruction_status",
    "disposition": "disposition_status",
}
RECENT = 12


def local_instant(text: str, zone: ZoneInfo, field: str, page: Page) -> datetime:
    """A time typed in a form: a wall time in the calendar's zone (what a
    ``datetime-local`` field sends) or an RFC 3339 time with its offset."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FormRefused({field: page.t("page.audit.bad_time")}) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if not showable(value):
        raise FormRefused({field: page.t("page.audit.bad_time")})
    return value


def _whole(text: str, field: str, page: Page) -> int:
    """A version or a log position typed in a form: a whole number from 1."""
    cleaned = text.strip()
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 19:
        raise FormRefused({field: page.t("page.audit.bad_number")})
    number = int(cleaned)
    if not 1 <= number <= LARGEST:
        raise FormRefused({field: page.t("page.audit.bad_number")})
    return number


def _asked(request: Request[Any, Any, Any], *names: str) -> dict[str, str]:
    """The query's fields that were filled in (an empty field is not asked for)."""
    query = request.query_params
    return {n: str(query.get(n)).strip() for n in names if str(query.get(n) or "").strip()}


# -- the room ----------------------------------------------------------------------------


def _recent_loops(call: On) -> list[dict[str, Any]]:
    """The newest warnings and instructions this person may read, each with its loop."""
    warnings, _ = call.page(None, ["warnings"], q.warnings, None, RECENT)
    instructions, _ = call.page(None, ["instructions"], q.instructions, None, RECENT)
    rows = [
        {**w, "kind": "warning", "status_family": "warning_status", "at": w["raised_at"]}
        for w in warnings
    ] + [
        {**i, "kind": "instruction", "status_family": "instruction_status", "at": i["issued_at"]}
        for i in instructions
    ]
    # One line per loop: its root (the warning or instruction it began with) when this
    # person may read it, else the newest of its records they may read.
    rows.sort(key=lambda r: (str(r["id"]) == str(r["loop_id"]), str(r["at"])), reverse=True)
    loops: dict[str, dict[str, Any]] = {}
    for row in rows:
        loops.setdefault(str(row["loop_id"]), row)
    return sorted(loops.values(), key=lambda r: str(r["at"]), reverse=True)[:RECENT]


def _export_window(request: Request[Any, Any, Any], call: On, page: Page) -> dict[str, Any]:
    """The export's slice from the room's form: recorded times and/or log positions."""
    asked = _asked(request, "since", "until", "from_position", "to_position")
    zone = call.services.views.zone
    window: dict[str, Any] = {}
    for name in ("since", "until"):
        if name in asked:
            window[name] = local_instant(asked[name], zone, name, page)
    for name, key in (("from_position", "start"), ("to_position", "stop")):
        if name in asked:
            window[key] = _whole(asked[name], name, page)
    if "since" in window and "until" in window and window["until"] <= window["since"]:
        raise FormRefused({"until": page.t("page.audit.until_before_since")})
    check_times(since=window.get("since"), until=window.get("until"))
    return window


def _room(
    request: Request[Any, Any, Any], call: On, page: Page, status: int = 200, **extra: Any
) -> Response[str]:
    principal = call.principal
    call.caught_up(None, "warnings", "instructions")
    return render(
        request,
        "audit.html.j2",
        status=status,
        page=page,
        loops=_recent_loops(call),
        checkpoint=last_checkpoint(call.services),
        may_verify=principal.reads_everything,
        export_scope=(
            None
            if not principal.reads_everything
            else ("" if "auditor" in principal.roles else principal.unit)
        ),
        **extra,
    )


@get("/audit", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def audit_room(call: On, request: Request[Any, Any, Any]) -> Response[Any]:
    """The room: open a loop, the newest loops, the chain's last signed checkpoint, its
    verification (on request: it reads the whole log) and the export's form."""
    page = page_of(request)
    asked = _asked(request, "loop", "verify")
    if "loop" in asked:
        try:
            return Redirect(f"/loops/{UUID(asked['loop'])}", status_code=303)
        except ValueError:
            page.errors["loop"] = page.t("page.audit.bad_loop")
            page.values = asked
            return _room(request, call, page, 422)
    verification = None
    if "verify" in asked:
        verification = verification_of(call.services, call.principal, request.app.state)
    return _room(request, call, page, verification=verification)


@get("/audit/export", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def audit_export(call: On, request: Request[Any, Any, Any]) -> Response[Any]:
    """The export of a period for the session's principal: the API's NDJSON, the same
    scope and redaction (ADR 0042), as a file to keep."""
    page = page_of(request)
    try:
        window = _export_window(request, call, page)
        lines: Iterator[bytes] = export_of(call.services, call.principal, **window)
    except FormRefused as e:
        page = page_of(request, errors=e.errors, values=dict(request.query_params))
        return _room(request, call, page, e.status)
    except ProblemError as e:
        if e.status == 403:
            raise
        named = {err.field: err.message for err in e.errors} or {"since": str(e.detail)}
        page = page_of(request, errors=named, values=dict(request.query_params))
        return _room(request, call, page, 422)
    return Stream(
        lines,
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": 'attachment; filename="closedloop-export.ndjson"',
            "Cache-Control": "no-store",
        },
    )


# -- one loop ----------------------------------------------------------------------------


def _state_rows(kind: str, state: Mapping[str, Any], page: Page) -> list[tuple[str, str]]:
    """A past state as (field, value) lines: codes as words, times in the zone."""
    rows = []
    for name, value in state.items():
        if name == "status" and kind in STATUS_FAMILY:
            shown = page.w(STATUS_FAMILY[kind], value)
        elif name in STATE_WORDS and value is not None:
            shown = page.w(STATE_WORDS[name], value)
        elif isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value:
            shown = page.local(value)
        elif value is None:
            shown = "—"
        else:
            shown = str(value)
        rows.append((name, shown))
    return rows


def _past(
    request: Request[Any, Any, Any], call: On, page: Page, members: dict[str, str]
) -> dict[str, Any] | None:
    """The record asked for as it stood at the time or version asked for, or None when
    none was asked; a value that cannot be read is a :class:`FormRefused` at its field."""
    asked = _asked(request, "record", "version", "as_of")
    if "record" not in asked:
        return None
    record = asked["record"]
    if record not in members:
        raise FormRefused({"record": page.t("page.loop.bad_record")})
    if ("version" in asked) == ("as_of" in asked):
        raise FormRefused({"version": page.t("page.loop.time_or_version")})
    version = _whole(asked["version"], "version", page) if "version" in asked else None
    zone = call.services.views.zone
    at = local_instant(asked["as_of"], zone, "as_of", page) if "as_of" in asked else None
    kind = members[record]
    try:
        past = past_state(
            call.services, call.principal, HISTORY_KIND[kind], UUID(record), at, version
        )
    except NotFound:
        # The record is one this person may read (it is in the list): it had no such
        # version, or did not exist yet at that time.
        field = "version" if version is not None else "as_of"
        raise FormRefused({field: page.t(f"page.loop.no_{field}")}) from None
    return {"kind": kind, "past": past, "rows": _state_rows(kind, past.state, page)}


@get("/loops/{loop_id:uuid}", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def loop_page(call: On, request: Request[Any, Any, Any], loop_id: FromPath[UUID]) -> Response[str]:
    """One loop's timeline and, on request, one of its records as of a past moment."""
    call.caught_up(None, "loops")
    timeline = visible_timeline(call.services, call.principal, loop_id)
    members: dict[str, str] = {}
    for entry in timeline.entries:
        members.setdefault(str(entry.aggregate_id), entry.kind)
    page = page_of(request, values=dict(request.query_params))
    status = 200
    past = None
    try:
        past = _past(request, call, page, members)
    except FormRefused as e:
        page.errors = e.errors
        status = e.status
    return render(
        request,
        "loop.html.j2",
        status=status,
        page=page,
        t=timeline,
        members=members,
        past=past,
        head=call.center.head_position(),
    )


AUDIT_ROOM_HANDLERS = [audit_room, audit_export, loop_page]

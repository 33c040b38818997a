"""Notices and their receipts on pages (通知, 签收回执; ADR 0077, 0090).

``/notices`` lists what this person's subtree sent or was sent (as ``GET /v1/notices``)
and, for a dispatcher, the send form: title, text, kind, the time to confirm by (in the
calendar's zone) and either every unit under the sender or the units ticked.
``/notices/{id}`` shows the notice, the confirm-receipt button for a duty officer of an
addressed unit that has not confirmed, and the receipt report: on time, late and missing
per level of the network, each level a link to its units line by line (``?level=``).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath

from api.http import Call, On
from api.notices import (
    NoticeCreate,
    NoticeSummary,
    ReceiptConfirmation,
    receipt_report,
    sending,
    visible_notice,
)
from api.screens.desk import local_input, require, time_of
from api.screens.errors import FormRefused
from api.screens.forms import FIRST, Redraw, act, act_and_show, body_of, posted
from api.screens.pages import page_of
from domain.meta import now
from domain.notice import Notice, NoticeKind
from domain.notice_commands import CONFIRMS, SENDS, NoticeCases
from domain.unit import Level
from projections import notices as nv

PAGE = {"page": True}


def may_confirm(call: Call, n: Notice) -> bool:
    """A duty officer of an addressed unit that has not confirmed yet."""
    principal = call.principal
    return (
        CONFIRMS in principal.roles
        and principal.unit in n.addressees
        and principal.unit not in n.receipts
    )


def _draw_list(request: Request[Any, Any, Any], call: Call, again: Redraw = FIRST) -> Response[str]:
    rows, _ = call.page(None, ("units", "notices"), partial(nv.notices, addressee=None), None, 100)
    notices = [
        NoticeSummary(**{**r, "reminded": bool(r["reminded"])})
        for r in ({k: v for k, v in row.items() if k != "position"} for row in rows)
    ]
    center, principal = call.center, call.principal
    sends = SENDS in principal.roles
    below = (
        [
            u
            for u in center.units()
            if u.active and u.code != principal.unit and center.is_within(u.code, principal.unit)
        ]
        if sends
        else []
    )
    zone = call.services.views.zone
    return again.render(
        request,
        "notices.html.j2",
        notices=notices,
        may_send=sends and bool(below),
        below=below,
        kinds=[k.value for k in NoticeKind],
        default_by=local_input(now() + timedelta(hours=2), zone),
    )


@get("/notices", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def notices_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The notices this person's subtree sent or was sent, and the send form."""
    return _draw_list(request, call)


def _draw_notice(
    request: Request[Any, Any, Any], call: Call, nid: UUID, again: Redraw = FIRST
) -> Response[str]:
    n = visible_notice(call, nid)
    wanted = request.query_params.get("level")
    level = wanted if wanted in {lv.value for lv in Level} else None
    report = receipt_report(call, n, level)
    return again.render(
        request,
        "notice.html.j2",
        n=n,
        report=report,
        level=level,
        may_confirm=may_confirm(call, n),
    )


@get("/notices/{nid:uuid}", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def notice_page(request: Request[Any, Any, Any], call: On, nid: FromPath[UUID]) -> Response[str]:
    """One notice, its confirm button and its receipt report."""
    return _draw_notice(request, call, nid)


def _send(request: Request[Any, Any, Any], call: Call, fields: dict[str, Any]) -> Response[Any]:
    page = page_of(request)
    zone = call.services.views.zone.key
    try:
        require(fields, page, "title", "body", "confirm_by")
        if (fields.get("kind") or [""])[0] not in set(NoticeKind):
            raise FormRefused({"kind": page.t("page.notice.error.kind")})
        by = time_of(fields, "confirm_by", zone, page)
        chosen = [v for v in fields.get("addressees", []) if v.strip()]
        if (fields.get("to") or ["all"])[0] == "chosen" and not chosen:
            raise FormRefused({"addressees": page.t("page.notice.error.addressees")})
        wanted = {k: v for k, v in fields.items() if k in ("command_id", "title", "body", "kind")}
        wanted["confirm_by"] = [by]
        if (fields.get("to") or ["all"])[0] == "chosen":
            wanted["addressees"] = chosen
        data = body_of(wanted, NoticeCreate)
        if data.confirm_by <= now():
            raise FormRefused({"confirm_by": page.t("page.notice.error.past")})
        return act_and_show(call, data, sending(call, data), listed="/notices")
    except FormRefused as e:
        return _draw_list(request, call, Redraw.refused(e, "send", fields, lists=("addressees",)))


def _confirm(
    request: Request[Any, Any, Any], call: Call, nid: UUID, fields: dict[str, Any]
) -> Response[Any]:
    visible_notice(call, nid)
    try:
        data = body_of(fields, ReceiptConfirmation)
        return act(
            call,
            data,
            lambda ctx: NoticeCases(call.center).confirm_receipt(ctx, nid),
            then=f"/notices/{nid}",
        )
    except FormRefused as e:
        return _draw_notice(request, call, nid, Redraw.refused(e, "receipt"))


@post("/notices", opt={"page": True, "role": SENDS}, include_in_schema=False, status_code=303)
async def send_notice(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    """Send the notice of the form, then show it."""
    return await posted(request, _send, call)


@post(
    "/notices/{nid:uuid}/receipt",
    opt={"page": True, "role": CONFIRMS},
    include_in_schema=False,
    status_code=303,
)
async def confirm_receipt(
    request: Request[Any, Any, Any], call: On, nid: FromPath[UUID]
) -> Response[Any]:
    """The person's unit confirms receipt, now."""
    return await posted(request, _confirm, call, nid)


NOTICE_PAGE_HANDLERS = [notices_page, notice_page, send_notice, confirm_receipt]

"""``/v1/notices``: notices sent down the network and their receipts (通知, 签收回执;
ADR 0077).

A dispatcher sends a notice from its unit to every unit under it (no ``addressees``) or
to a chosen set of its subtree; a duty officer of an addressed unit confirms receipt;
the receipt report counts on time, late and missing per level of the network, drillable
by unit, as JSON or CSV. A notice is seen by the sender's subtree and by the addressees'
(and by those who read everything); any other caller is answered 404, as for a notice
never sent. The rules are the domain's (``domain/notice_commands.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.commands import future
from api.contract import Published, also_answered
from api.http import READ, WRITE, Call, Cursor, Limit, MinPosition, On
from api.renderings import csv_text
from api.schemas import Code, Input
from domain.application import Outcome
from domain.errors import NoticeNotFound
from domain.meta import Context, now
from domain.notice import MAX_ADDRESSEES, MAX_BODY, MAX_TITLE, Notice, NoticeKind
from domain.notice_commands import CONFIRMS, SENDS, NoticeCases
from domain.unit import Level
from projections import notices as nv

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BODY)]


class NoticeCreate(Input, kw_only=True):
    """A notice from the caller's unit: to ``addressees`` (units of its subtree), or,
    without them, to every unit under it. Each confirms receipt by ``confirm_by``."""

    title: Title
    body: Body
    kind: NoticeKind
    confirm_by: datetime
    addressees: (
        Annotated[list[Code], msgspec.Meta(min_length=1, max_length=MAX_ADDRESSEES)] | None
    ) = None


class ReceiptConfirmation(Input, kw_only=True):
    """Nothing but the command's own id: the unit and the time are the caller's and now."""


class NoticeSummary(msgspec.Struct, kw_only=True):
    id: UUID
    sender: str
    title: str
    kind: str
    confirm_by: str
    sent_at: str
    addressed: int
    confirmed: int
    late: int
    reminded: bool
    version: int


class NoticePage(msgspec.Struct, kw_only=True):
    items: list[NoticeSummary]
    next_cursor: str | None


class ReceiptLine(msgspec.Struct, kw_only=True):
    unit: str
    level: str
    status: str
    confirmed_by: str | None
    confirmed_at: datetime | None
    reminded: bool
    #: Who was on duty at the unit when it was reminded, as the reminder recorded it
    #: (ADR 0098); None: not reminded, nobody on its roster then, or reminded before.
    reminded_on_duty: str | None = None


class NoticeOut(msgspec.Struct, kw_only=True):
    id: UUID
    sender: str
    title: str
    body: str
    kind: str
    confirm_by: datetime
    sent_at: datetime
    addressees: list[str]
    receipts: list[ReceiptLine]
    version: int


class LevelCount(msgspec.Struct, kw_only=True):
    level: str
    addressed: int
    on_time: int
    late: int
    missing: int


class ReceiptReport(msgspec.Struct, kw_only=True):
    """On time: confirmed by the limit; late: confirmed after it; missing: not confirmed
    (yet, while ``limit_passed`` is false). on_time + late + missing = addressed."""

    notice_id: UUID
    sender: str
    title: str
    confirm_by: datetime
    limit_passed: bool
    totals: LevelCount
    levels: list[LevelCount]
    units: list[ReceiptLine]


def _visible(call: Call, notice: Notice) -> Notice:
    principal = call.principal
    center = call.center
    if principal.reads_everything:
        return notice
    mine = principal.unit
    if center.is_within(notice.sender, mine) or any(
        center.is_within(u, mine) for u in notice.addressees
    ):
        return notice
    raise NoticeNotFound(f"no notice {notice.id} was sent")


def visible_notice(call: Call, nid: UUID) -> Notice:
    """The notice, if the caller may see it (not found otherwise, as one never sent)."""
    return _visible(call, NoticeCases(call.center).notice(nid))


def _level(call: Call, code: str) -> str:
    return str(call.center.unit(code).level)


def _lines(call: Call, n: Notice, level: str | None = None) -> list[ReceiptLine]:
    out = []
    for unit in n.addressees:
        at_level = _level(call, unit)
        if level is not None and at_level != level:
            continue
        r = n.receipts.get(unit)
        out.append(
            ReceiptLine(
                unit=unit,
                level=at_level,
                status=n.status_of(unit).value,
                confirmed_by=r["person"] if r else None,
                confirmed_at=r["confirmed_at"] if r else None,
                reminded=unit in n.reminded,
                reminded_on_duty=n.on_duty_when_reminded(unit),
            )
        )
    return out


def receipt_report(call: Call, n: Notice, level: str | None) -> ReceiptReport:
    """The report of ``n``'s receipts: per level of the network in its order, the units
    of ``level`` (all of them without it) line by line."""
    every = _lines(call, n)
    counts: dict[str, dict[str, int]] = {}
    for line in every:
        c = counts.setdefault(line.level, {"addressed": 0, "on_time": 0, "late": 0, "missing": 0})
        c["addressed"] += 1
        c[line.status] += 1
    levels = [LevelCount(level=lv.value, **counts[lv.value]) for lv in Level if lv.value in counts]
    totals = {
        k: sum(c[k] for c in counts.values()) for k in ("addressed", "on_time", "late", "missing")
    }
    return ReceiptReport(
        notice_id=n.id,
        sender=n.sender,
        title=n.title,
        confirm_by=n.confirm_by,
        limit_passed=now() > n.confirm_by,
        totals=LevelCount(level="all", **totals),
        levels=levels,
        units=[line for line in every if level is None or line.level == level],
    )


def _cell(value: Any) -> str:
    return (
        "" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    )


def report_csv(report: ReceiptReport) -> str:
    """The receipt report's units, a spreadsheet's rows none of which runs as a formula."""
    header = [
        "unit",
        "level",
        "status",
        "confirmed_by",
        "confirmed_at",
        "reminded",
        "reminded_on_duty",
    ]
    rows = [
        [
            _cell(line.unit),
            line.level,
            line.status,
            _cell(line.confirmed_by),
            _cell(line.confirmed_at),
            "yes" if line.reminded else "no",
            _cell(line.reminded_on_duty),
        ]
        for line in report.units
    ]
    return csv_text(header, rows)


def sending(call: Call, data: NoticeCreate) -> Callable[[Context], Outcome]:
    """The command that sends the notice ``data`` describes: the API's and the page's."""
    return lambda ctx: NoticeCases(call.center).send(
        ctx,
        title=data.title,
        body=data.body,
        kind=str(data.kind),
        confirm_by=data.confirm_by,
        addressees=data.addressees,
    )


_CSV = also_answered(Published, **{"text/csv": Schema(type=OpenAPIType.STRING)})


class NoticeController(Controller):
    path = "/v1/notices"
    tags = ("notices",)

    @post("/", sync_to_thread=True, opt={"role": SENDS}, responses=WRITE)
    def send_notice(self, call: On, data: JSONBody[NoticeCreate]) -> Response[Any]:
        # A limit already past is refused at the edge, naming the field (``time-past``).
        future(data.confirm_by, "confirm_by")

        return call.run(data, sending(call, data), creates=True)

    @get("/", sync_to_thread=True, responses=READ)
    def list_notices(
        self,
        call: On,
        addressee: Annotated[str | None, QueryParameter(max_length=64)] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> NoticePage:
        """The notices the caller's subtree sent or received, newest first;
        ``addressee`` keeps those addressed to one unit (its inbox)."""
        rows, next_cursor = call.page(
            min_position,
            ("units", "notices"),
            partial(nv.notices, addressee=addressee),
            cursor,
            limit,
        )
        items = [
            NoticeSummary(**{**r, "reminded": bool(r["reminded"])})
            for r in ({k: v for k, v in row.items() if k != "position"} for row in rows)
        ]
        return NoticePage(items=items, next_cursor=next_cursor)

    @get("/{nid:uuid}", sync_to_thread=True, responses=READ)
    def read_notice(self, call: On, nid: FromPath[UUID]) -> NoticeOut:
        n = visible_notice(call, nid)
        return NoticeOut(
            id=n.id,
            sender=n.sender,
            title=n.title,
            body=n.body,
            kind=n.kind,
            confirm_by=n.confirm_by,
            sent_at=n.sent_at,
            addressees=list(n.addressees),
            receipts=_lines(call, n),
            version=n.version,
        )

    @post("/{nid:uuid}/receipt", sync_to_thread=True, opt={"role": CONFIRMS}, responses=WRITE)
    def confirm_receipt(
        self, call: On, nid: FromPath[UUID], data: JSONBody[ReceiptConfirmation | None] = None
    ) -> Response[Any]:
        """The caller's unit confirms receipt of the notice, now."""
        visible_notice(call, nid)
        return call.run(data, lambda ctx: NoticeCases(call.center).confirm_receipt(ctx, nid))

    @get("/{nid:uuid}/receipts", sync_to_thread=True, responses=READ, operation_class=_CSV)
    def receipts(
        self,
        call: On,
        nid: FromPath[UUID],
        level: FromQuery[Level | None] = None,
        format: FromQuery[Literal["json", "csv"]] = "json",
    ) -> Response[Any]:
        """The receipt report: on time, late and missing per level; the units of
        ``level`` (all without it) line by line; ``format=csv`` for a spreadsheet."""
        report = receipt_report(
            call, visible_notice(call, nid), None if level is None else str(level)
        )
        if format == "csv":
            return Response(report_csv(report), media_type="text/csv; charset=utf-8")
        return Response(msgspec.json.encode(report), media_type="application/json")


NOTICE_HANDLERS = [NoticeController]

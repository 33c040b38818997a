"""``/v1/whistles``: whistle and check-in (吹哨报到, ADR 0078).

An office or community blows a whistle on a matter at a place, summoning departments;
each summoned department checks in at the scene; the whistling unit closes it. A
whistle is seen by the whistling unit's subtree (the unit and those above it) and by
the summoned departments (and those above them). The figures per department, JSON or
CSV, are at ``/v1/reports/whistles/{code}``.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api import schemas as s
from api.access import can_see_unit_case, scope_of
from api.contract import Published, also_answered
from api.http import READ, WRITE, Call, Cursor, Limit, MinPosition, On, check_times
from api.problems import invalid
from api.renderings import csv_file, csv_text
from domain.errors import NotFound, NotPermitted
from domain.limits import MAX_LOCATION, MAX_SHORT
from domain.meta import Context
from domain.whistle import MAX_SUMMONED, Whistle, WhistleStatus
from projections import whistles as q
from projections.units import is_within, unit_path

#: The views a whistle's answers are read from.
VIEWS = ("units", "whistles")


class WhistleCreate(s.Input, kw_only=True):
    unit: s.Code
    matter: s.Title
    place: Annotated[str, msgspec.Meta(max_length=MAX_LOCATION)]
    departments: Annotated[list[s.Code], msgspec.Meta(max_length=MAX_SUMMONED)]
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    warning_id: UUID | None = None
    instruction_id: UUID | None = None


class CheckIn(s.Input, kw_only=True):
    #: Who came to the scene for the department.
    person: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SHORT)]


class Summons(msgspec.Struct, kw_only=True):
    department: str
    person: str | None
    arrived_at: str | None
    seconds: float | None
    late: bool
    reminded: bool
    escalated_to: str | None
    absent: bool


class WhistleOut(msgspec.Struct, kw_only=True):
    id: UUID
    unit: str
    matter: str
    place: str
    latitude: float | None
    longitude: float | None
    warning_id: str | None
    instruction_id: str | None
    limit_minutes: int
    blown_at: str
    due_at: str
    status: str
    closed_at: str | None
    version: int
    summons: list[Summons]


class WhistlePage(msgspec.Struct, kw_only=True):
    items: list[WhistleOut]
    next_cursor: str | None = None


class DepartmentFigures(msgspec.Struct, kw_only=True):
    department: str
    summoned: int
    on_time: int
    late: int
    absent: int
    mean_seconds_to_check_in: float | None


class WhistleFigures(msgspec.Struct, kw_only=True):
    unit: str
    departments: list[DepartmentFigures]


def whistle_out(row: dict[str, Any]) -> WhistleOut:
    summons = [
        Summons(
            department=str(r["department"]),
            person=r["person"],
            arrived_at=r["arrived_at"],
            seconds=None if r["seconds"] is None else float(r["seconds"]),
            late=bool(r["late"]),
            reminded=bool(r["reminded"]),
            escalated_to=r["escalated_to"],
            absent=bool(r["absent"]),
        )
        for r in row["summons"]
    ]
    fields = {k: v for k, v in row.items() if k not in ("summons", "position")}
    fields["id"] = UUID(str(fields["id"]))
    return WhistleOut(**fields, summons=summons)


def _units_of(w: Whistle) -> list[str]:
    return [w.unit, *w.departments]


def visible_whistle(call: Call, wid: UUID) -> Whistle:
    """The whistle, if the caller may see it (404 otherwise, as for one not there)."""
    try:
        w = call.center.whistle(wid)
    except NotFound:
        raise NotFound("whistle not found") from None
    if not can_see_unit_case(call.center, call.principal, _units_of(w)):
        raise NotFound("whistle not found")
    return w


def whistle_row(call: Call, wid: UUID, min_position: int | None = None) -> dict[str, Any]:
    """The whistle's row in the views, if the caller may see it: as the unit that blew it
    or one of the departments summoned (404 otherwise, as for one not there)."""
    return call.visible_row(
        min_position,
        VIEWS,
        lambda tx: q.whistle(tx, str(wid)),
        lambda row: [row["unit"], *(r["department"] for r in row["summons"])],
        "whistle not found",
    )


def acts_for(call: Call, unit: str, doing: str) -> None:
    """Acting on a whistle is the acting role's own subtree's, whatever else it reads."""
    if not call.center.is_within(unit, call.principal.unit):
        raise NotPermitted(
            f"a {call.actor.role.replace('_', ' ')} of {call.principal.unit} {doing} only "
            f"for units under it, and {unit} is not"
        )


class WhistleController(Controller):
    path = "/v1/whistles"
    tags = ("whistles",)

    @post("/", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def blow_whistle(self, call: On, data: JSONBody[WhistleCreate]) -> Response[s.Receipt]:
        """Blow a whistle: summon departments to a place."""
        center = call.center
        center.unit(data.unit)
        acts_for(call, data.unit, "blows whistles")

        def act(ctx: Context) -> Any:
            return center.blow_whistle(
                ctx,
                unit=data.unit,
                matter=data.matter,
                place=data.place,
                departments=list(data.departments),
                latitude=data.latitude,
                longitude=data.longitude,
                warning_id=data.warning_id,
                instruction_id=data.instruction_id,
            )

        return call.run(data, act, creates=True)

    @get("/", sync_to_thread=True, responses=READ)
    def list_whistles(
        self,
        call: On,
        status: FromQuery[WhistleStatus | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> WhistlePage:
        """The whistles the caller may see, newest first."""
        rows, next_cursor = call.page(
            min_position,
            VIEWS,
            partial(q.whistles, status=None if status is None else str(status)),
            cursor,
            limit,
        )
        return WhistlePage(items=[whistle_out(r) for r in rows], next_cursor=next_cursor)

    @get("/{wid:uuid}", sync_to_thread=True, responses=READ)
    def get_whistle(self, call: On, wid: FromPath[UUID], min_position: MinPosition = None) -> Any:
        """One whistle and its summons."""
        return whistle_out(whistle_row(call, wid, min_position))

    @post("/{wid:uuid}/check-in", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def check_in(
        self, call: On, wid: FromPath[UUID], data: JSONBody[CheckIn]
    ) -> Response[s.Receipt]:
        """The caller's department checks in at the scene, naming who came."""
        visible_whistle(call, wid)
        return call.run(data, lambda ctx: call.center.check_in(ctx, wid, data.person))

    @post("/{wid:uuid}/close", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def close_whistle(
        self, call: On, wid: FromPath[UUID], data: JSONBody[s.Remark | None] = None
    ) -> Response[s.Receipt]:
        """End the whistle; the departments that never came are counted absent."""
        w = visible_whistle(call, wid)
        acts_for(call, w.unit, "closes whistles")
        note = data.note if data else None
        return call.run(data, lambda ctx: call.center.close_whistle(ctx, wid, note))


class WhistleReportController(Controller):
    path = "/v1/reports/whistles"
    tags = ("reports", "whistles")

    @get(
        "/{code:str}",
        sync_to_thread=True,
        responses=READ,
        # The CSV beside the JSON, chosen by ``?format=``.
        operation_class=also_answered(Published, **{"text/csv": Schema(type=OpenAPIType.STRING)}),
    )
    def whistle_figures(
        self,
        call: On,
        code: FromPath[str],
        blown_from: FromQuery[datetime | None] = None,
        blown_to: FromQuery[datetime | None] = None,
        format: Annotated[
            str | None,
            QueryParameter(max_length=8, schema_extra={"enum": ["json", "csv"]}),
        ] = None,
        min_position: MinPosition = None,
    ) -> Response[Any]:
        """Per department, the whistles seen from ``code``'s subtree (blown in it or
        summoning a department in it): summoned, on time, late, absent, mean seconds to
        check in; ``?format=csv`` for a spreadsheet."""
        check_times(blown_from=blown_from, blown_to=blown_to)
        if format not in (None, "json", "csv"):
            raise invalid("format", f"format must be json or csv, not {format!r}")
        call.caught_up(min_position, *VIEWS)
        scope = scope_of(call.principal)

        def read(tx: Any) -> list[dict[str, Any]] | None:
            if unit_path(tx, code) is None:
                return None
            if scope is not None and not is_within(tx, code, scope):
                return None
            return q.figures(tx, visible_to=code, blown_from=blown_from, blown_to=blown_to)

        rows = call.read(read)
        if rows is None:
            raise NotFound(f"unit {code} not found")
        if format == "csv":
            return csv_file(figures_csv(rows), f"whistles-{code}.csv")
        out = WhistleFigures(unit=code, departments=[DepartmentFigures(**r) for r in rows])
        return Response(msgspec.json.encode(out), media_type="application/json")


CSV_COLUMNS = ("department", "summoned", "on_time", "late", "absent", "mean_seconds_to_check_in")


def figures_csv(rows: list[dict[str, Any]]) -> str:
    """Every cell quoted and none read as a formula (a code is written by people)."""
    cells = [["" if r[c] is None else str(r[c]) for c in CSV_COLUMNS] for r in rows]
    return csv_text(CSV_COLUMNS, cells)

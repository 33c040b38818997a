"""Whistle and check-in on pages (吹哨报到; ADR 0078, 0090).

``/whistles`` lists the whistles this person may see (as ``GET /v1/whistles``) and, for a
dispatcher of a sub-district office or a community, the form that blows one: the matter,
the place and the departments to summon (only those the domain lets the unit summon:
:meth:`~domain.whistle_commands.WhistleCases.summonable`). ``/whistles/{id}`` shows one
whistle: each summoned department's line (who came and when, on time or late, reminded,
escalated, absent), the check-in button for a handler of a summoned department not yet
there while the whistle is open, and the close button for a dispatcher of the whistling
unit or one above it. Every button is shown only when the domain would take its step.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath

from api import schemas as s
from api.http import Call, On
from api.screens.desk import require
from api.screens.errors import FormRefused
from api.screens.forms import FIRST, Redraw, act, act_and_show, body_of, posted
from api.screens.pages import page_of
from api.whistles import (
    VIEWS,
    CheckIn,
    WhistleCreate,
    acts_for,
    visible_whistle,
    whistle_out,
    whistle_row,
)
from domain.errors import DomainError
from domain.unit import Kind, Unit
from domain.whistle import Whistle
from domain.whistle_commands import WHISTLING_LEVELS
from projections import whistles as q

PAGE = {"page": True}
DISPATCHER = "dispatcher"
HANDLER = "handler"


def may_blow(call: Call) -> bool:
    """A dispatcher of an office or a community blows the whistle for its own unit."""
    principal = call.principal
    if DISPATCHER not in principal.roles:
        return False
    try:
        unit = call.center.unit(principal.unit)
    except DomainError:
        return False
    return unit.active and unit.kind == Kind.GOVERNMENT and unit.level in WHISTLING_LEVELS


def summonable(call: Call) -> list[Unit]:
    """The active departments the person's unit may summon."""
    center = call.center
    code = call.principal.unit
    return [
        u
        for u in center.units()
        if u.active and u.kind == Kind.DEPARTMENT and center.summonable(code, u.code)
    ]


def may_check_in(call: Call, w: Whistle) -> bool:
    """A handler of a summoned department not yet there, the whistle open."""
    principal = call.principal
    return (
        HANDLER in principal.roles
        and w.is_open
        and principal.unit in w.departments
        and principal.unit not in w.check_ins
    )


def may_close(call: Call, w: Whistle) -> bool:
    """A dispatcher of the whistling unit or one above it, the whistle open."""
    principal = call.principal
    return (
        DISPATCHER in principal.roles
        and w.is_open
        and call.center.is_within(w.unit, principal.unit)
    )


def _refused(e: FormRefused, form: str, fields: dict[str, Any]) -> Redraw:
    return Redraw.refused(e, form, fields, lists=("departments",))


def _draw_list(request: Request[Any, Any, Any], call: Call, again: Redraw = FIRST) -> Response[str]:
    rows, _ = call.page(None, VIEWS, partial(q.whistles, status=None), None, 100)
    blow = may_blow(call)
    return again.render(
        request,
        "whistles.html.j2",
        whistles=[whistle_out(r) for r in rows],
        may_blow=blow,
        departments=summonable(call) if blow else [],
    )


@get("/whistles", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def whistles_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The whistles this person may see, and the form that blows one."""
    return _draw_list(request, call)


def _draw_whistle(
    request: Request[Any, Any, Any], call: Call, wid: UUID, again: Redraw = FIRST
) -> Response[str]:
    row = whistle_row(call, wid)
    w = call.center.whistle(wid)
    return again.render(
        request,
        "whistle.html.j2",
        w=whistle_out(row),
        may_check_in=may_check_in(call, w),
        may_close=may_close(call, w),
    )


@get("/whistles/{wid:uuid}", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def whistle_page(request: Request[Any, Any, Any], call: On, wid: FromPath[UUID]) -> Response[str]:
    """One whistle: who was summoned, who came, and the steps this person may take."""
    return _draw_whistle(request, call, wid)


def _blow(request: Request[Any, Any, Any], call: Call, fields: dict[str, Any]) -> Response[Any]:
    page = page_of(request)
    try:
        if not may_blow(call):
            raise FormRefused({"form": page.t("page.whistle.error.may_not_blow")}, 403)
        require(fields, page, "matter", "place")
        if not [v for v in fields.get("departments", []) if v.strip()]:
            raise FormRefused({"departments": page.t("page.whistle.error.departments")})
        wanted = {**fields, "unit": [call.principal.unit]}
        data = body_of(wanted, WhistleCreate)
        acts_for(call, data.unit, "blows whistles")
        return act_and_show(
            call,
            data,
            lambda ctx: call.center.blow_whistle(
                ctx,
                unit=data.unit,
                matter=data.matter,
                place=data.place,
                departments=list(data.departments),
            ),
            listed="/whistles",
        )
    except FormRefused as e:
        return _draw_list(request, call, _refused(e, "blow", fields))


def _check_in(
    request: Request[Any, Any, Any], call: Call, wid: UUID, fields: dict[str, Any]
) -> Response[Any]:
    visible_whistle(call, wid)
    page = page_of(request)
    try:
        require(fields, page, "person")
        data = body_of(fields, CheckIn)
        return act(
            call,
            data,
            lambda ctx: call.center.check_in(ctx, wid, data.person),
            then=f"/whistles/{wid}",
        )
    except FormRefused as e:
        return _draw_whistle(request, call, wid, _refused(e, "check-in", fields))


def _close(
    request: Request[Any, Any, Any], call: Call, wid: UUID, fields: dict[str, Any]
) -> Response[Any]:
    w = visible_whistle(call, wid)
    try:
        acts_for(call, w.unit, "closes whistles")
        data = body_of(fields, s.Remark)
        return act(
            call,
            data,
            lambda ctx: call.center.close_whistle(ctx, wid, data.note),
            then=f"/whistles/{wid}",
        )
    except (FormRefused, DomainError) as e:
        refused = e if isinstance(e, FormRefused) else FormRefused({"form": str(e)}, 403)
        return _draw_whistle(request, call, wid, _refused(refused, "close", fields))


@post("/whistles", opt={"page": True, "role": DISPATCHER}, include_in_schema=False, status_code=303)
async def blow_whistle(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    """Blow a whistle from the form, then show it."""
    return await posted(request, _blow, call)


@post(
    "/whistles/{wid:uuid}/check-in",
    opt={"page": True, "role": HANDLER},
    include_in_schema=False,
    status_code=303,
)
async def check_in(request: Request[Any, Any, Any], call: On, wid: FromPath[UUID]) -> Response[Any]:
    """The department checks in at the scene, naming who came."""
    return await posted(request, _check_in, call, wid)


@post(
    "/whistles/{wid:uuid}/close",
    opt={"page": True, "role": DISPATCHER},
    include_in_schema=False,
    status_code=303,
)
async def close_whistle(
    request: Request[Any, Any, Any], call: On, wid: FromPath[UUID]
) -> Response[Any]:
    """End the whistle; who never came is absent."""
    return await posted(request, _close, call, wid)


WHISTLE_PAGE_HANDLERS = [whistles_page, whistle_page, blow_whistle, check_in, close_whistle]

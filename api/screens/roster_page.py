"""A unit's duty roster on a page (值班, 交接班; ADR 0084, 0090).

``/units/{code}/roster`` shows who holds each post now (the duty officer, 值班员, and the
duty leader, 带班领导) with their deputies, and the shifts of the week from today, each
with its handovers, every time in the calendar's zone. It is seen by whom the API's
``GET /v1/units/{code}/roster`` answers (the unit's subtree and the units under it; any
other person gets the not-found page). Two forms, each shown only when the domain would
take it:

- **hand over** (交接班): to the duty officer of the unit who is on duty at a post now,
  or its deputy (the roster's own rule, :meth:`DutyRoster.hand_over`);
- **add a shift**: to a duty officer of the unit or of a unit above it. A refused shift
  is said at the field it concerns: an overlap with another shift of the post at the
  start time, naming that shift; a shift that ends before it starts, in the past or
  lasts too long at the end time; the person as their own deputy at the deputy.

``/roster`` goes to the roster of the person's own unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.http import Call, On
from api.rosters import HandoverCreate, ShiftIn, ShiftsCreate, _visible
from api.screens.desk import local_input, require, time_of
from api.screens.errors import FormRefused
from api.screens.forms import FIRST, Redraw, act, body_of, posted
from api.screens.pages import Page, page_of
from domain.errors import ShiftRefused
from domain.meta import Context, now
from domain.roster import LONGEST_SHIFT, DutyRoster, OnDuty, Post, ShiftPlan, overlapping
from domain.roster_commands import KEEPS, RosterCases

PAGE = {"page": True}
KEEPER = {"page": True, "role": KEEPS}
#: How far the page looks ahead: the week from the start of today.
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class PostNow:
    """One post of the unit now: who holds it (None: nobody), and whether this person
    may hand it over."""

    post: str
    holder: OnDuty | None
    may_hand_over: bool
    #: The post's next shift after now (who takes over, and when).
    next_shift: dict[str, Any] | None = None


def may_hand_over(
    principal_unit: str, person: str, roles: tuple[str, ...], unit: str, holder: OnDuty | None
) -> bool:
    """The roster's rule for a handover: the unit's own duty officer, on duty at the post
    now or its deputy (api/rosters.py, domain/roster_commands.py)."""
    return (
        holder is not None
        and KEEPS in roles
        and principal_unit == unit
        and person in (holder.person, holder.deputy)
    )


def may_arrange(call: Call, unit: str) -> bool:
    """A duty officer of the unit or of a unit above it arranges its shifts."""
    principal = call.principal
    return KEEPS in principal.roles and call.center.is_within(unit, principal.unit)


def _person(call: Call) -> str:
    return call.principal.actor(KEEPS).person


def _draw(
    request: Request[Any, Any, Any],
    call: Call,
    code: str,
    again: Redraw = FIRST,
    *,
    open_form: str | None = None,
) -> Response[str]:
    _visible(call, code)
    center = call.center
    cases = RosterCases(center)
    roster = cases.roster(code)
    at = now()
    zone = call.services.views.zone
    local_now = at.astimezone(zone)
    start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    principal = call.principal
    person = _person(call)
    upcoming = sorted(
        (s for s in (roster.shifts.values() if roster is not None else []) if s["starts_at"] > at),
        key=lambda s: s["starts_at"],
    )
    posts = [
        PostNow(
            p.value,
            held := cases.on_duty(code, p.value, at),
            may_hand_over(principal.unit, person, principal.roles, code, held),
            next((s for s in upcoming if s["post"] == p.value), None),
        )
        for p in Post
    ]
    shifts = [] if roster is None else roster.shifts_between(start, start + WEEK)
    # Each shift under the day it starts (one begun before today: under today).
    days: list[tuple[datetime, list[tuple[str, dict[str, Any]]]]] = [
        (start + timedelta(days=n), []) for n in range(WEEK.days)
    ]
    for sid, s in shifts:
        begins = max(s["starts_at"].astimezone(zone), start)
        days[min((begins - start).days, WEEK.days - 1)][1].append((sid, s))
    return again.render(
        request,
        "roster.html.j2",
        unit=code,
        posts=posts,
        days=days,
        now=at,
        may_arrange=may_arrange(call, code),
        open_form=open_form,
        posts_choice=[p.value for p in Post],
        default_start=local_input(at + timedelta(minutes=5), zone),
        default_end=local_input(at + timedelta(hours=12), zone),
        person=person,
    )


@get("/roster", opt=PAGE, include_in_schema=False)
async def my_roster(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    """The roster of the person's own unit."""
    return Redirect(f"/units/{call.principal.unit}/roster", status_code=303)


@get("/units/{code:str}/roster", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def roster_page(request: Request[Any, Any, Any], call: On, code: FromPath[str]) -> Response[str]:
    """The unit's posts now and its shifts this week, with the forms this person may use."""
    return _draw(request, call, code)


# -- the forms ---------------------------------------------------------------------------


def _shift_field(
    roster: DutyRoster | None, plan: ShiftPlan, at: datetime, page: Page
) -> tuple[str, str]:
    """Where a refused shift's reason belongs, and the words for it: the domain refused
    it; this names the field by the same rules (domain/roster.py)."""
    for s in roster.shifts.values() if roster is not None else []:
        if overlapping(plan, s):
            return "starts_at", page.t(
                "page.roster.error.overlap",
                person=s["person"],
                starts=page.local(s["starts_at"]),
                ends=page.local(s["ends_at"]),
            )
    if plan.person.strip() == plan.deputy.strip():
        return "deputy", page.t("page.roster.error.own_deputy")
    if plan.ends_at <= plan.starts_at:
        return "ends_at", page.t("page.roster.error.ends_first")
    if plan.ends_at - plan.starts_at > LONGEST_SHIFT:
        return "ends_at", page.t("page.roster.error.too_long", days=LONGEST_SHIFT.days)
    if plan.ends_at <= at:
        return "ends_at", page.t("page.roster.error.past")
    return "form", ""


def _arrange(
    request: Request[Any, Any, Any], call: Call, code: str, fields: dict[str, Any]
) -> Response[Any]:
    _visible(call, code)
    page = page_of(request)
    zone = call.services.views.zone.key
    try:
        require(fields, page, "person", "deputy", "starts_at", "ends_at")
        if (fields.get("post") or [""])[0] not in set(Post):
            raise FormRefused({"post": page.t("page.roster.error.post")})
        shift = {
            "post": fields["post"][0],
            "person": fields["person"][0],
            "deputy": fields["deputy"][0],
            "starts_at": time_of(fields, "starts_at", zone, page),
            "ends_at": time_of(fields, "ends_at", zone, page),
        }
        wanted = body_of({k: [v] for k, v in shift.items() if v is not None}, ShiftIn)
        command_id = (fields.get("command_id") or [None])[0]
        data = ShiftsCreate(command_id=command_id, shifts=[wanted])
        plan = ShiftPlan(
            str(wanted.post), wanted.person, wanted.deputy, wanted.starts_at, wanted.ends_at
        )
        cases = RosterCases(call.center)

        def command(ctx: Context) -> Any:
            try:
                return cases.arrange_shifts(ctx, code, [plan])
            except ShiftRefused as e:
                field, words = _shift_field(cases.roster(code), plan, now(), page)
                said = ShiftRefused(words or str(e))
                said.field = field  # type: ignore[attr-defined]  # read by forms.refusal
                raise said from None

        return act(call, data, command, then=f"/units/{code}/roster")
    except FormRefused as e:
        return _draw(request, call, code, Redraw.refused(e, "shift", fields), open_form="shift")


def _hand_over(
    request: Request[Any, Any, Any], call: Call, code: str, fields: dict[str, Any]
) -> Response[Any]:
    _visible(call, code)
    page = page_of(request)
    place = (fields.get("post") or [""])[0]
    form = f"handover-{place}" if place in set(Post) else "handover"
    try:
        require(fields, page, "to_person")
        data = body_of(fields, HandoverCreate)
        cases = RosterCases(call.center)

        def command(ctx: Context) -> Any:
            try:
                return cases.hand_over(ctx, code, str(data.post), data.to_person, data.note)
            except ShiftRefused as e:
                e.field = "to_person"  # type: ignore[attr-defined]  # read by forms.refusal
                raise

        return act(call, data, command, then=f"/units/{code}/roster")
    except FormRefused as e:
        return _draw(request, call, code, Redraw.refused(e, form, fields), open_form=form)


@post("/units/{code:str}/roster/shifts", opt=KEEPER, include_in_schema=False, status_code=303)
async def arrange_shift(
    request: Request[Any, Any, Any], call: On, code: FromPath[str]
) -> Response[Any]:
    """Put one shift on the unit's roster, then the roster again."""
    return await posted(request, _arrange, call, code)


@post("/units/{code:str}/roster/handovers", opt=KEEPER, include_in_schema=False, status_code=303)
async def hand_over(
    request: Request[Any, Any, Any], call: On, code: FromPath[str]
) -> Response[Any]:
    """Hand the post over (交接班), then the roster again."""
    return await posted(request, _hand_over, call, code)


ROSTER_PAGE_HANDLERS = [my_roster, roster_page, arrange_shift, hand_over]

"""``/v1/units/{code}/roster``: a unit's duty roster, its handovers, and who is on duty
(值班, 交接班; ADR 0084).

A duty officer arranges the shifts of its unit or of a unit under it; the person on duty
hands the post over; anyone who may see the unit asks who is on duty at a moment. A unit
is seen by the callers of its subtree's units above it and of the units under it (a
community asks who keeps its office's watch): any other caller is answered 404. Times
are answered in the calendar's zone. The rules are the domain's
(``domain/roster.py``, ``domain/roster_commands.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.http import READ, WRITE, Call, On
from api.schemas import Input, showable
from domain.application import Outcome
from domain.errors import InvalidValue, NotFound
from domain.limits import MAX_NOTE, MAX_SHORT
from domain.meta import Context, now
from domain.roster import MAX_SHIFTS_AT_ONCE, Post, ShiftPlan
from domain.roster_commands import KEEPS, RosterCases

Person = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SHORT)]


class ShiftIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    post: Post
    person: Person
    deputy: Person
    starts_at: datetime
    ends_at: datetime


class ShiftsCreate(Input, kw_only=True):
    """Shifts put on the unit's roster, all or none."""

    shifts: Annotated[list[ShiftIn], msgspec.Meta(min_length=1, max_length=MAX_SHIFTS_AT_ONCE)]


class HandoverCreate(Input, kw_only=True):
    """The caller, on duty at ``post`` now, hands it to ``to_person``."""

    post: Post
    to_person: Person
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] | None = None


class ShiftOut(msgspec.Struct, kw_only=True):
    shift_id: str
    post: str
    person: str
    deputy: str
    starts_at: str
    ends_at: str
    handovers: list[dict[str, str]]


class RosterOut(msgspec.Struct, kw_only=True):
    unit: str
    shifts: list[ShiftOut]
    version: int


class PostHolder(msgspec.Struct, kw_only=True):
    person: str
    deputy: str
    shift_id: str
    starts_at: str
    ends_at: str
    handed_over: bool


class OnDutyOut(msgspec.Struct, kw_only=True):
    """Who holds each post of the unit at ``at``; null where no shift covers it."""

    unit: str
    at: str
    duty_officer: PostHolder | None
    duty_leader: PostHolder | None


def _moment(at: datetime | None, name: str) -> datetime:
    if at is None:
        return now()
    if at.tzinfo is None:
        raise InvalidValue(f"{name} must carry a time-zone offset")
    if not showable(at):
        # Shown in the calendar's zone, a moment at year 1's start or year 9999's end
        # would overflow: a client's mistake, answered as one.
        raise InvalidValue(f"{name} lies outside the times the center can show")
    return at


def _local(call: Call, at: datetime) -> str:
    return call.center.calendar.to_local(at).isoformat()


def _visible(call: Call, code: str) -> None:
    center = call.center
    try:
        center.unit(code)
    except InvalidValue:
        # A code no unit could have is answered as a unit that is not there.
        raise NotFound(f"no unit {code!r} is on the record") from None
    principal = call.principal
    if principal.reads_everything:
        return
    mine = principal.unit
    if center.is_within(code, mine) or code in center.ancestors(mine):
        return
    raise NotFound(f"no unit {code} is within reach of {mine}")


class RosterController(Controller):
    path = "/v1/units/{code:str}"
    tags = ("rosters",)

    @post("/roster/shifts", sync_to_thread=True, opt={"role": KEEPS}, responses=WRITE)
    def arrange_shifts(
        self, call: On, code: FromPath[str], data: JSONBody[ShiftsCreate]
    ) -> Response[Any]:
        """Put shifts on the unit's roster (refused whole if one overlaps another)."""
        _visible(call, code)
        plans = [
            ShiftPlan(str(s.post), s.person, s.deputy, s.starts_at, s.ends_at) for s in data.shifts
        ]

        def act(ctx: Context) -> Outcome:
            return RosterCases(call.center).arrange_shifts(ctx, code, plans)

        return call.run(data, act, creates=True)

    @post("/roster/handovers", sync_to_thread=True, opt={"role": KEEPS}, responses=WRITE)
    def hand_over(
        self, call: On, code: FromPath[str], data: JSONBody[HandoverCreate]
    ) -> Response[Any]:
        """The caller, on duty at the post now, hands the watch over (交接班)."""
        _visible(call, code)

        def act(ctx: Context) -> Outcome:
            return RosterCases(call.center).hand_over(
                ctx, code, str(data.post), data.to_person, data.note
            )

        return call.run(data, act)

    @get("/roster", sync_to_thread=True, responses=READ)
    def read_roster(
        self,
        call: On,
        code: FromPath[str],
        start: FromQuery[datetime | None] = None,
        days: FromQuery[Annotated[int, msgspec.Meta(ge=1, le=62)]] = 7,
    ) -> RosterOut:
        """The unit's shifts from ``start`` (now by default) over ``days`` days."""
        _visible(call, code)
        roster = RosterCases(call.center).roster(code)
        begin = _moment(start, "start")
        if roster is None:
            return RosterOut(unit=code, shifts=[], version=0)
        end = begin + timedelta(days=days)
        shifts = [
            ShiftOut(
                shift_id=sid,
                post=s["post"],
                person=s["person"],
                deputy=s["deputy"],
                starts_at=_local(call, s["starts_at"]),
                ends_at=_local(call, s["ends_at"]),
                handovers=[
                    {
                        "from_person": h["from_person"],
                        "to_person": h["to_person"],
                        "at": _local(call, h["at"]),
                        "note": h["note"],
                    }
                    for h in s["handovers"]
                ],
            )
            for sid, s in roster.shifts_between(begin, end)
        ]
        return RosterOut(unit=code, shifts=shifts, version=roster.version)

    @get("/on-duty", sync_to_thread=True, responses=READ)
    def on_duty(
        self, call: On, code: FromPath[str], at: FromQuery[datetime | None] = None
    ) -> OnDutyOut:
        """Who is on duty at the unit at ``at`` (now by default)."""
        _visible(call, code)
        moment = _moment(at, "at")
        cases = RosterCases(call.center)
        holders: dict[str, PostHolder | None] = {}
        for place in Post:
            held = cases.on_duty(code, place.value, moment)
            holders[place.value] = (
                None
                if held is None
                else PostHolder(
                    person=held.person,
                    deputy=held.deputy,
                    shift_id=held.shift_id,
                    starts_at=_local(call, held.starts_at),
                    ends_at=_local(call, held.ends_at),
                    handed_over=held.handed_over,
                )
            )
        return OnDutyOut(
            unit=code,
            at=_local(call, moment),
            duty_officer=holders["duty_officer"],
            duty_leader=holders["duty_leader"],
        )


ROSTER_HANDLERS = [RosterController]

"""``/v1/units``: the network of units, its inboxes, and its admins' changes to it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from litestar import Controller, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api import schemas as s
from api.http import READ, WRITE, Call, Cursor, Limit, MinPosition, On, paged, with_etag
from api.problems import invalid
from domain.application import Outcome
from domain.errors import InvalidValue, NotFound, NotPermitted
from domain.meta import Context, now
from domain.unit import check_code
from projections import queries as q
from projections.store import Tx


class UnitController(Controller):
    path = "/v1/units"
    tags = ("units",)

    @get("/", sync_to_thread=True, responses=READ)
    def list_units(self, call: On, min_position: MinPosition = None) -> list[s.Unit]:
        call.caught_up(min_position, "units")
        services = call.services
        return [services.views.unit_row(r) for r in call.read(q.units)]

    @get("/{code:str}", sync_to_thread=True, responses=READ)
    def get_unit(
        self, call: On, code: FromPath[str], min_position: MinPosition = None
    ) -> Response[s.Unit]:
        call.caught_up(min_position, "units")
        services = call.services
        row = call.read(partial(q.unit, code=_code(code)))
        if row is None:
            raise NotFound(f"unit {code} not found")
        return with_etag(services.views.unit_row(row), row["version"])

    @get("/{code:str}/inbox", sync_to_thread=True, responses=READ)
    def inbox(
        self,
        call: On,
        code: FromPath[str],
        include_finished: FromQuery[bool] = False,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> s.Inbox:
        """A unit's instructions: those it must act on (as an assignee) and those it
        issued, soonest deadline first, with time left or overdue in working time.

        Paged like every list: at most ``limit`` of each of the two lists, and
        ``next_cursor`` for the page after (null once both lists are done)."""
        call.caught_up(min_position, "units", "instructions")
        services, principal = call.services, call.principal

        def inbox_page(tx: Tx) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
            if q.unit(tx, _code(code)) is None or not (
                principal.reads_everything or q.within(tx, [code], principal.unit)
            ):
                raise NotFound(f"unit {code} not found")
            return paged(
                partial(q.inbox, tx, code, include_finished=include_finished), cursor, limit
            )

        rows, next_cursor = call.read(inbox_page)
        return services.views.inbox(code, rows, now(), services.center.calendar, next_cursor)

    @post("/", sync_to_thread=True, opt={"role": "admin"}, responses=WRITE)
    def register_unit(self, call: On, data: JSONBody[s.UnitCreate]) -> Response[s.Receipt]:
        return call.run(data, registering(call, data), id_of=lambda o: data.code, creates=True)

    @patch("/{code:str}", sync_to_thread=True, opt={"role": "admin"}, responses=WRITE)
    def update_unit(
        self, call: On, code: FromPath[str], data: JSONBody[s.UnitUpdate]
    ) -> Response[s.Receipt]:
        return call.run(data, updating(call, code, data), id_of=lambda o: code)


def registering(call: Call, data: s.UnitCreate) -> Callable[[Context], Outcome]:
    """The registration of ``data``'s unit, once the admin's authority over the place it
    joins is checked (the API and the administration page register through here)."""
    center = call.services.center
    if data.parent is not None or center.has_units():
        _check_admin_over(call, data.parent)

    def act(ctx: Context) -> Outcome:
        return center.register_unit(
            ctx,
            code=data.code,
            name=data.name,
            name_en=data.name_en,
            level=str(data.level),
            kind=str(data.kind),
            parent=data.parent,
        )

    return act


def updating(call: Call, code: str, data: s.UnitUpdate) -> Callable[[Context], Outcome]:
    """A rename, move, deactivation or reactivation of ``code``, once the admin's
    authority over it (and, for a move, over both places) is checked."""
    center = call.services.center
    _check_admin_over(call, _code(code))
    if data.parent is not None:
        # A move needs authority over both places: where the unit stands and where it
        # goes (issue 19, "who may act on what" 4).
        _check_admin_over(call, center.unit(code).parent)
        _check_admin_over(call, data.parent)
    if data.active is False and not (data.reason or "").strip():
        raise invalid("reason", "say why the unit is deactivated")

    def act(ctx: Context) -> Outcome:
        outcome = center.update_unit(
            ctx,
            code,
            name=data.name,
            name_en=data.name_en,
            parent=data.parent,
            active=data.active,
            reason=data.reason,
        )
        if data.active is False:
            # Its tokens stop at once here, as a revocation's do (api/tokens.py).
            call.services.tokens.forget()
        return outcome

    return act


def _code(code: str) -> str:
    try:
        return check_code(code)
    except InvalidValue:
        raise NotFound(f"unit {code} not found") from None


def _check_admin_over(call: Call, code: str | None) -> None:
    """An admin manages the units of its own subtree."""
    if code is None:
        raise NotPermitted("only an admin at the top of the network may register a city")
    center, principal = call.services.center, call.principal
    center.unit(code)
    if not center.is_within(code, principal.unit):
        raise NotPermitted(f"an admin of {principal.unit} manages only the units under it")

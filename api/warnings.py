"""``/v1/warnings``: raise a warning, list and read them, and its duty officer's steps.

A warning's detail is also a CAP 1.2 message (``Accept: application/cap+xml``) and a
past state (``?as_of=`` or ``?version=``, answered as ``/as-of`` is: ADR 0035).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api import schemas as s
from api.access import warning_to_act_on
from api.history import AT_MOST_ONE_PAST, past_response
from api.http import (
    READ,
    WRITE,
    AsOf,
    AtVersion,
    Call,
    Cursor,
    Limit,
    MinPosition,
    On,
    check_times,
    with_etag,
)
from api.intake import cap_response, wants_cap
from api.steps import StepRoute, note_of, step_routes
from domain.application import Outcome
from domain.errors import NotPermitted
from domain.meta import Context
from domain.warning import Theme, WarningStatus
from projections import queries as q

DUTY = "duty_officer"


class WarningController(Controller):
    path = "/v1/warnings"
    tags = ("warnings",)

    @post("/", sync_to_thread=True, opt={"role": "monitor"}, responses=WRITE)
    def raise_warning(self, call: On, data: JSONBody[s.WarningCreate]) -> Response[s.Receipt]:
        center, principal = call.center, call.principal
        center.unit(data.unit)
        if not center.is_within(data.unit, principal.unit):
            raise NotPermitted(
                f"a monitor of {principal.unit} raises warnings only for units under it"
            )

        def act(ctx: Context) -> Outcome:
            return center.raise_warning(
                ctx,
                source=data.source or principal.user,
                rule=data.rule,
                theme=str(data.theme),
                level=data.level,
                title=data.title,
                unit=data.unit,
                description=data.description,
                location=data.location,
                observed_at=data.observed_at,
                dedup_key=data.dedup_key,
                attributes=data.attributes,
            )

        return call.run(data, act, creates=True)

    @get("/", sync_to_thread=True, responses=READ)
    def list_warnings(
        self,
        call: On,
        status: FromQuery[WarningStatus | None] = None,
        level: Annotated[int | None, QueryParameter(ge=1, le=4)] = None,
        theme: FromQuery[Theme | None] = None,
        unit: Annotated[str | None, QueryParameter(max_length=64)] = None,
        raised_from: FromQuery[datetime | None] = None,
        raised_to: FromQuery[datetime | None] = None,
        inhibited: FromQuery[bool | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> s.WarningPage:
        check_times(raised_from=raised_from, raised_to=raised_to)
        rows, next_cursor = call.page(
            min_position,
            ("units", "warnings"),
            partial(
                q.warnings,
                status=status,
                level=level,
                theme=theme,
                unit=unit,
                raised_from=raised_from,
                raised_to=raised_to,
                inhibited=inhibited,
            ),
            cursor,
            limit,
        )
        return s.WarningPage(
            items=[call.services.views.warning_row(r) for r in rows], next_cursor=next_cursor
        )

    @get("/{wid:uuid}", sync_to_thread=True, responses=READ, operation_class=AT_MOST_ONE_PAST)
    def get_warning(
        self,
        call: On,
        wid: FromPath[UUID],
        min_position: MinPosition = None,
        as_of: AsOf = None,
        version: AtVersion = None,
    ) -> Response[Any]:
        services, principal = call.services, call.principal
        if as_of is not None or version is not None:
            return past_response(call, "warnings", wid, as_of, version)
        if wants_cap(call.request):
            return cap_response(services, principal, wid)
        row = call.visible_row(
            min_position,
            ("units", "warnings"),
            lambda tx: q.warning(tx, str(wid)),
            lambda row: [row["unit"]],
            "warning not found",
        )
        return with_etag(services.views.warning(row), row["version"])


def _visible(call: Call, wid: UUID) -> object:
    return warning_to_act_on(
        call.services, call.principal, call.center.warning(wid), call.actor.role
    )


#: The duty officer's steps, each on a warning the officer's unit can see; the warning
#: desk's pages run the same lines (api/screens/warning_desk.py).
WARNING_STEPS = (
    StepRoute(
        "acknowledge",
        DUTY,
        s.Input | None,
        lambda c, ctx, wid, d: c.acknowledge_warning(ctx, wid),
    ),
    StepRoute(
        "assess",
        DUTY,
        s.Assessment,
        lambda c, ctx, wid, d: c.assess_warning(ctx, wid, confirmed=d.confirmed, note=d.note),
    ),
    StepRoute(
        "resolve",
        DUTY,
        s.Remark | None,
        lambda c, ctx, wid, d: c.resolve_warning(ctx, wid, note_of(d)),
    ),
    StepRoute(
        "cancel", DUTY, s.Reason, lambda c, ctx, wid, d: c.cancel_warning(ctx, wid, d.reason)
    ),
    StepRoute(
        "close",
        DUTY,
        s.Remark | None,
        lambda c, ctx, wid, d: c.close_warning(ctx, wid, note_of(d)),
    ),
)
WarningSteps = step_routes("warnings", "wid", ("warnings",), _visible, WARNING_STEPS)

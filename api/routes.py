"""The v1 resources: thin handlers that check the scope, run a command, answer a view.

Nearly every handler runs in a worker thread (``sync_to_thread=True``): the event store
library is synchronous. Issuing an instruction is decided on the event loop when the
units in memory are all it needs (``run_from_memory``, ADR 0029). The role a handler
needs is in its ``opt``; the guard checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, patch, post
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api import schemas as s
from api.access import Services, scope_of, visible_instruction, visible_warning
from api.commands import duration, etag, future, run, run_from_memory
from api.problems import PROBLEM_MEDIA_TYPE, ProblemError, invalid
from api.tokens import Principal
from domain.application import Outcome
from domain.disposition import Disposition
from domain.errors import InvalidValue, NotFound, NotPermitted
from domain.instruction import InstructionStatus
from domain.meta import Context, now
from domain.warning import Theme, WarningStatus
from projections import queries as q
from projections.queries import BadCursor

Svc = NamedDependency[Services]
Who = NamedDependency[Principal]


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(
            data_container=s.Problem,
            description="a problem (RFC 9457)",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for code in statuses
    }


READ = _problems(400, 401, 404, 422)
WRITE = _problems(400, 401, 403, 404, 409, 412, 413, 415, 422)

#: The largest whole number the stores keep (a BIGINT): positions and versions stop here.
LARGEST = 2**63 - 1

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="items per page")]
Cursor = Annotated[str | None, QueryParameter(max_length=200, description="from the last page")]


AsOf = Annotated[
    datetime | None, QueryParameter(description="the state as it was at this recorded time")
]
AtVersion = Annotated[
    int | None, QueryParameter(ge=1, le=LARGEST, description="the state at this version")
]


def _past(
    services: Services,
    principal: Principal,
    kind: str,
    aid: UUID,
    at: datetime | None,
    version: int | None,
) -> Response[Any]:
    """``?as_of=`` or ``?version=``: the state then, rebuilt from the events (audit)."""
    from api.audit import past_state  # the audit routes import this module

    past = past_state(services, principal, kind, aid, at, version)
    return Response(content=past, headers={"ETag": etag(past.version)})


def _json(content: Any, version: int) -> Response[Any]:
    return Response(content=content, headers={"ETag": etag(version)})


def _page_args(cursor: str | None, limit: int) -> dict[str, Any]:
    return {"cursor": cursor, "limit": limit}


def _bad_cursor(e: BadCursor) -> ProblemError:
    return invalid("cursor", str(e))


MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=LARGEST,
        description="wait (boundedly) until the views have read the log up to this position: "
        "the `position` of a command's receipt (read-your-writes); or header X-Min-Position",
    ),
]


def caught_up(
    services: Services,
    request: Request[Any, Any, Any],
    min_position: int | None,
    *views: str,
    wait: Callable[[int], bool] | None = None,
) -> None:
    """Wait for the views a read uses to reach the position the client asks for.

    ``wait`` replaces the wait on the read models for views kept elsewhere (the outbox).
    A position past the log's head is the client's mistake (422), never a 503.
    """
    wanted = min_position
    header = request.headers.get("x-min-position")
    if wanted is None and header is not None:
        if not header.strip().isdigit():
            raise invalid("X-Min-Position", "a log position is a whole number")
        wanted = int(header)
    if wanted is None:
        return
    head = services.center.head_position()
    if wanted > head:
        # No write answered this position: waiting for it would only time out.
        raise invalid("min_position", f"the log holds no position {wanted} (its head is {head})")
    reached = (
        wait(wanted) if wait is not None else services.reads.wait(views, wanted, services.read_wait)
    )
    if not reached:
        raise ProblemError(
            503,
            f"the {', '.join(views)} view(s) have not read the log up to position {wanted} "
            f"within {services.read_wait:g} s; try again shortly",
            code="view-behind",
            headers={"Retry-After": "1"},
        )


# -- units -----------------------------------------------------------------------------


class UnitController(Controller):
    path = "/v1/units"
    tags = ("units",)

    @get("/", sync_to_thread=True, responses=READ)
    def list_units(
        self, services: Svc, request: Request[Any, Any, Any], min_position: MinPosition = None
    ) -> list[s.Unit]:
        caught_up(services, request, min_position, "units")
        with services.reads.store.read() as tx:
            return [services.views.unit_row(r) for r in q.units(tx)]

    @get("/{code:str}", sync_to_thread=True, responses=READ)
    def get_unit(
        self,
        services: Svc,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        min_position: MinPosition = None,
    ) -> Response[s.Unit]:
        caught_up(services, request, min_position, "units")
        with services.reads.store.read() as tx:
            row = q.unit(tx, _code(code))
        if row is None:
            raise NotFound(f"unit {code} not found")
        return _json(services.views.unit_row(row), row["version"])

    @get("/{code:str}/inbox", sync_to_thread=True, responses=READ)
    def inbox(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        include_finished: FromQuery[bool] = False,
        min_position: MinPosition = None,
    ) -> s.Inbox:
        """A unit's instructions: those it must act on (as an assignee) and those it
        issued, soonest deadline first, with time left or overdue in working time."""
        caught_up(services, request, min_position, "units", "instructions")
        with services.reads.store.read() as tx:
            if q.unit(tx, _code(code)) is None or not (
                principal.reads_everything or q.within(tx, [code], principal.unit)
            ):
                raise NotFound(f"unit {code} not found")
            rows = q.inbox(tx, code, include_finished=include_finished)
        return services.views.inbox(code, rows, now(), services.center.calendar)

    @post("/", sync_to_thread=True, opt={"role": "admin"}, responses=WRITE)
    def register_unit(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        data: JSONBody[s.UnitCreate],
    ) -> Response[s.Receipt]:
        center = services.center
        if data.parent is not None or center.has_units():
            _check_admin_over(services, principal, data.parent)

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

        return run(
            services,
            request,
            principal,
            "admin",
            data,
            act,
            id_of=lambda o: data.code,
            creates=True,
        )

    @patch("/{code:str}", sync_to_thread=True, opt={"role": "admin"}, responses=WRITE)
    def update_unit(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        code: FromPath[str],
        data: JSONBody[s.UnitUpdate],
    ) -> Response[s.Receipt]:
        center = services.center
        _check_admin_over(services, principal, _code(code))
        if data.active is False and not (data.reason or "").strip():
            raise invalid("reason", "say why the unit is deactivated")

        def act(ctx: Context) -> Outcome:
            return center.update_unit(
                ctx,
                code,
                name=data.name,
                name_en=data.name_en,
                parent=data.parent,
                active=data.active,
                reason=data.reason,
            )

        return run(
            services,
            request,
            principal,
            "admin",
            data,
            act,
            id_of=lambda o: code,
        )


def _code(code: str) -> str:
    from domain.unit import check_code

    try:
        return check_code(code)
    except InvalidValue:
        raise NotFound(f"unit {code} not found") from None


def _check_admin_over(services: Services, principal: Principal, code: str | None) -> None:
    """An admin manages the units of its own subtree."""
    if code is None:
        raise NotPermitted("only an admin at the top of the network may register a city")
    services.center.unit(code)
    if not services.center.is_within(code, principal.unit):
        raise NotPermitted(f"an admin of {principal.unit} manages only the units under it")


# -- warnings --------------------------------------------------------------------------


class WarningController(Controller):
    path = "/v1/warnings"
    tags = ("warnings",)

    @post("/", sync_to_thread=True, opt={"role": "monitor"}, responses=WRITE)
    def raise_warning(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        data: JSONBody[s.WarningCreate],
    ) -> Response[s.Receipt]:
        center = services.center
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

        return run(
            services,
            request,
            principal,
            "monitor",
            data,
            act,
            creates=True,
        )

    @get("/", sync_to_thread=True, responses=READ)
    def list_warnings(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        status: FromQuery[WarningStatus | None] = None,
        level: Annotated[int | None, QueryParameter(ge=1, le=4)] = None,
        theme: FromQuery[Theme | None] = None,
        unit: Annotated[str | None, QueryParameter(max_length=64)] = None,
        raised_from: FromQuery[datetime | None] = None,
        raised_to: FromQuery[datetime | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> s.WarningPage:
        for name, value in (("raised_from", raised_from), ("raised_to", raised_to)):
            if value is not None and value.tzinfo is None:
                raise invalid(name, "the time must carry a time-zone offset (e.g. +08:00)")
        caught_up(services, request, min_position, "units", "warnings")
        try:
            with services.reads.store.read() as tx:
                rows, next_cursor = q.warnings(
                    tx,
                    visible_to=scope_of(principal),
                    status=status,
                    level=level,
                    theme=theme,
                    unit=unit,
                    raised_from=raised_from,
                    raised_to=raised_to,
                    **_page_args(cursor, limit),
                )
        except BadCursor as e:
            raise _bad_cursor(e) from None
        return s.WarningPage(
            items=[services.views.warning_row(r) for r in rows], next_cursor=next_cursor
        )

    @get("/{wid:uuid}", sync_to_thread=True, responses=READ)
    def get_warning(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        min_position: MinPosition = None,
        as_of: AsOf = None,
        version: AtVersion = None,
    ) -> Response[Any]:
        from api.intake import cap_response, wants_cap  # the intake imports this module

        if as_of is not None or version is not None:
            return _past(services, principal, "warnings", wid, as_of, version)
        if wants_cap(request.headers.get("accept", "")):
            return cap_response(services, principal, wid)
        caught_up(services, request, min_position, "units", "warnings")
        with services.reads.store.read() as tx:
            row = q.warning(tx, str(wid))
            if row is None or not (
                principal.reads_everything or q.within(tx, [row["unit"]], principal.unit)
            ):
                raise NotFound("warning not found")
        return _json(services.views.warning(row), row["version"])

    def _step(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        data: JSONBody[s.Input | None],
        act: Any,
    ) -> Response[s.Receipt]:
        center = services.center
        visible_warning(services, principal, center.warning(wid))
        return run(
            services,
            request,
            principal,
            "duty_officer",
            data,
            act,
        )

    @post(
        "/{wid:uuid}/acknowledge",
        sync_to_thread=True,
        opt={"role": "duty_officer"},
        responses=WRITE,
    )
    def acknowledge(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        data: JSONBody[s.Input | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            wid,
            data,
            lambda ctx: services.center.acknowledge_warning(ctx, wid),
        )

    @post("/{wid:uuid}/assess", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def assess(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        data: JSONBody[s.Assessment],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            wid,
            data,
            lambda ctx: services.center.assess_warning(
                ctx, wid, confirmed=data.confirmed, note=data.note
            ),
        )

    @post("/{wid:uuid}/resolve", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def resolve(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        data: JSONBody[s.Remark | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            wid,
            data,
            lambda ctx: services.center.resolve_warning(ctx, wid, data.note if data else None),
        )

    @post("/{wid:uuid}/cancel", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def cancel(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        data: JSONBody[s.Reason],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            wid,
            data,
            lambda ctx: services.center.cancel_warning(ctx, wid, data.reason),
        )

    @post("/{wid:uuid}/close", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def close(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        wid: FromPath[UUID],
        data: JSONBody[s.Remark | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            wid,
            data,
            lambda ctx: services.center.close_warning(ctx, wid, data.note if data else None),
        )


# -- instructions ----------------------------------------------------------------------


def _deadline_or_duration(deadline: datetime | None, due_in: str | None) -> dict[str, Any]:
    if deadline is not None and due_in is not None:
        raise invalid("due_in", "give either a deadline or a duration (due_in), not both")
    return {"deadline": future(deadline, "deadline"), "due_in": duration(due_in)}


def _issuing(services: Services, data: s.InstructionCreate) -> Callable[[Context], Outcome]:
    """The command ``POST /v1/instructions`` runs, its body checked first."""
    if data.deadline is None and data.due_in is None:
        raise invalid("deadline", "give a deadline or a duration (due_in)")
    when = _deadline_or_duration(data.deadline, data.due_in)

    def act(ctx: Context) -> Outcome:
        return services.center.issue_instruction(
            ctx,
            lead_unit=data.lead_unit,
            cooperating_units=list(data.cooperating_units),
            title=data.title,
            content=data.content,
            priority=str(data.priority),
            warning_ids=list(data.warning_ids),
            parent_id=data.parent_id,
            **when,
        )

    return act


class InstructionController(Controller):
    path = "/v1/instructions"
    tags = ("instructions",)

    @post("/", opt={"role": "dispatcher"}, responses=WRITE)
    async def issue(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        data: JSONBody[s.InstructionCreate],
    ) -> Response[s.Receipt]:
        act = _issuing(services, data)
        if data.warning_ids or data.parent_id is not None:
            # Linked to warnings or forwarded: the handler reads them from the store
            # first, so the whole request goes to a worker thread.
            return await sync_to_thread(self._issue_linked, services, principal, request, data, act)
        # From unit to units: decided on the units held in memory (ADR 0029).
        return await run_from_memory(
            services, request, principal, "dispatcher", data, act, creates=True
        )

    @staticmethod
    def _issue_linked(
        services: Services,
        principal: Principal,
        request: Request[Any, Any, Any],
        data: s.InstructionCreate,
        act: Callable[[Context], Outcome],
    ) -> Response[s.Receipt]:
        center = services.center
        for wid in data.warning_ids:
            visible_warning(services, principal, center.warning(wid))
        if data.parent_id is not None:
            visible_instruction(services, principal, center.instruction(data.parent_id))
        return run(services, request, principal, "dispatcher", data, act, creates=True)

    @get("/", sync_to_thread=True, responses=READ)
    def list_instructions(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        assignee: Annotated[str | None, QueryParameter(max_length=64)] = None,
        issuer: Annotated[str | None, QueryParameter(max_length=64)] = None,
        status: FromQuery[InstructionStatus | None] = None,
        overdue: FromQuery[bool | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> s.InstructionPage:
        at = now()
        caught_up(services, request, min_position, "units", "instructions")
        try:
            with services.reads.store.read() as tx:
                rows, next_cursor = q.instructions(
                    tx,
                    visible_to=scope_of(principal),
                    assignee=assignee,
                    issuer=issuer,
                    status=status,
                    overdue=overdue,
                    overdue_at=at,
                    **_page_args(cursor, limit),
                )
        except BadCursor as e:
            raise _bad_cursor(e) from None
        return s.InstructionPage(
            items=[services.views.instruction_row(r, at) for r in rows], next_cursor=next_cursor
        )

    @get("/{iid:uuid}", sync_to_thread=True, responses=READ)
    def get_instruction(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        min_position: MinPosition = None,
        as_of: AsOf = None,
        version: AtVersion = None,
    ) -> Response[Any]:
        if as_of is not None or version is not None:
            return _past(services, principal, "instructions", iid, as_of, version)
        caught_up(services, request, min_position, "units", "instructions")
        with services.reads.store.read() as tx:
            row = q.instruction(tx, str(iid))
            codes = [] if row is None else [row["issuer"], *(a["unit"] for a in row["assignees"])]
            if row is None or not (
                principal.reads_everything or q.within(tx, codes, principal.unit)
            ):
                raise NotFound("instruction not found")
        # Dispositions are their own resource; the detail embeds them as recorded.
        dispositions: dict[UUID, Disposition] = {
            UUID(a["disposition_id"]): services.center.disposition(UUID(a["disposition_id"]))
            for a in row["assignees"]
            if a["disposition_id"]
        }
        return _json(services.views.instruction(row, dispositions, now()), row["version"])

    def _step(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        role: str,
        data: JSONBody[s.Input | None],
        act: Any,
        *,
        creates: bool = False,
    ) -> Response[s.Receipt]:
        center = services.center
        visible_instruction(services, principal, center.instruction(iid))
        return run(
            services,
            request,
            principal,
            role,
            data,
            act,
            creates=creates,
        )

    @post("/{iid:uuid}/sign", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def sign(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Input | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "handler",
            data,
            lambda ctx: services.center.sign_for(ctx, iid),
        )

    @post("/{iid:uuid}/return", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def return_(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Reason],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "handler",
            data,
            lambda ctx: services.center.return_to_issuer(ctx, iid, data.reason),
        )

    @post("/{iid:uuid}/redirect", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def redirect(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Redirect],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.redirect(
                ctx, iid, to_unit=data.lead_unit, from_unit=data.from_unit
            ),
        )

    @post("/{iid:uuid}/forward", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def forward(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Forward],
    ) -> Response[s.Receipt]:
        center = services.center
        when = _deadline_or_duration(data.deadline, data.due_in)
        # If-Match names the parent's version: the domain checks it when it decides,
        # after recognising a repeat of this very forward (ADR 0017).
        visible_instruction(services, principal, center.instruction(iid))
        return run(
            services,
            request,
            principal,
            "handler",
            data,
            lambda ctx: center.forward(
                ctx,
                iid,
                to_unit=data.to_unit,
                title=data.title,
                content=data.content,
                priority=str(data.priority) if data.priority else None,
                **when,
            ),
            creates=True,
        )

    @post("/{iid:uuid}/progress", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def progress(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Progress],
    ) -> Response[s.Receipt]:
        center = services.center
        visible_instruction(services, principal, center.instruction(iid))
        return run(
            services,
            request,
            principal,
            "handler",
            data,
            lambda ctx: center.report_progress(ctx, iid, data.note),
        )

    @post(
        "/{iid:uuid}/extension-requests",
        sync_to_thread=True,
        opt={"role": "handler"},
        responses=WRITE,
    )
    def request_extension(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.ExtensionRequest],
    ) -> Response[s.Receipt]:
        deadline = future(data.deadline, "deadline")
        assert deadline is not None
        return self._step(
            services,
            principal,
            request,
            iid,
            "handler",
            data,
            lambda ctx: services.center.request_extension(
                ctx, iid, deadline=deadline, reason=data.reason
            ),
        )

    @post(
        "/{iid:uuid}/extension-decisions",
        sync_to_thread=True,
        opt={"role": "dispatcher"},
        responses=WRITE,
    )
    def decide_extension(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.ExtensionDecision],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.decide_extension(
                ctx, iid, granted=data.granted, note=data.note
            ),
        )

    @post("/{iid:uuid}/submit", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def submit(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Submission],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "handler",
            data,
            lambda ctx: services.center.submit(ctx, iid, data.result),
        )

    @post("/{iid:uuid}/verify", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def verify(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Verification],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.verify(ctx, iid, accepted=data.accepted, note=data.note),
        )

    @post("/{iid:uuid}/remind", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def remind(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Remark | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.remind(ctx, iid, data.note if data else None),
        )

    @post("/{iid:uuid}/supervise", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def supervise(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Remark | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.supervise(ctx, iid, data.note if data else None),
        )

    @post("/{iid:uuid}/park", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def park(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Reason],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.park(ctx, iid, data.reason),
        )

    @post("/{iid:uuid}/resume", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def resume(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Remark | None] = None,
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.resume(ctx, iid, data.note if data else None),
        )

    @post("/{iid:uuid}/cancel", sync_to_thread=True, opt={"role": "dispatcher"}, responses=WRITE)
    def cancel(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        iid: FromPath[UUID],
        data: JSONBody[s.Reason],
    ) -> Response[s.Receipt]:
        return self._step(
            services,
            principal,
            request,
            iid,
            "dispatcher",
            data,
            lambda ctx: services.center.cancel_instruction(ctx, iid, data.reason),
        )


class DispositionController(Controller):
    path = "/v1/dispositions"
    tags = ("instructions",)

    @get("/{did:uuid}", sync_to_thread=True, responses=READ)
    def get_disposition(
        self,
        services: Svc,
        principal: Who,
        did: FromPath[UUID],
        as_of: AsOf = None,
        version: AtVersion = None,
    ) -> Response[Any]:
        if as_of is not None or version is not None:
            return _past(services, principal, "dispositions", did, as_of, version)
        center = services.center
        d = center.disposition(did)
        visible_instruction(services, principal, center.instruction(d.instruction_id))
        return _json(services.views.disposition(d), d.version)

    @post("/{did:uuid}/actions", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def record_action(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        did: FromPath[UUID],
        data: JSONBody[s.ActionCreate],
    ) -> Response[s.Receipt]:
        center = services.center
        d = center.disposition(did)
        visible_instruction(services, principal, center.instruction(d.instruction_id))
        return run(
            services,
            request,
            principal,
            "handler",
            data,
            lambda ctx: center.record_action(ctx, did, data.text, list(data.evidence)),
        )


class BoardController(Controller):
    path = "/v1/board"
    tags = ("warnings",)

    @get("/warnings", sync_to_thread=True, responses=READ)
    def warning_board(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        min_position: MinPosition = None,
    ) -> s.WarningBoard:
        """The open warnings by theme, level and unit, with their age, repeats and state."""
        caught_up(services, request, min_position, "units", "warnings")
        with services.reads.store.read() as tx:
            rows = q.warning_board(tx, visible_to=scope_of(principal))
        return services.views.board(rows, now())

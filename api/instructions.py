"""``/v1/instructions``: issue an instruction, list and read them, and the steps of its
units: sign for it, return it, forward it, report, ask for time, submit, verify…

Each step names its role once, in its route's ``opt``; the guard checks it and the
command is recorded in it (ADR 0035).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api import schemas as s
from api.access import scope_of, visible_instruction, visible_warning
from api.commands import duration, future, run_from_memory
from api.history import past_response
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
    paged,
    with_etag,
)
from api.problems import invalid
from domain.application import Outcome
from domain.disposition import Disposition
from domain.errors import NotFound
from domain.instruction import InstructionStatus
from domain.meta import Context, now
from projections import queries as q

Step = Callable[[Context], Outcome]
HANDLER = {"role": "handler"}
DISPATCHER = {"role": "dispatcher"}


def _deadline_or_duration(deadline: datetime | None, due_in: str | None) -> dict[str, Any]:
    if deadline is not None and due_in is not None:
        raise invalid("due_in", "give either a deadline or a duration (due_in), not both")
    return {"deadline": future(deadline, "deadline"), "due_in": duration(due_in)}


def _issuing(call: Call, data: s.InstructionCreate) -> Step:
    """The command ``POST /v1/instructions`` runs, its body checked first."""
    if data.deadline is None and data.due_in is None:
        raise invalid("deadline", "give a deadline or a duration (due_in)")
    when = _deadline_or_duration(data.deadline, data.due_in)

    def act(ctx: Context) -> Outcome:
        return call.center.issue_instruction(
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


def _issue_linked(call: Call, data: s.InstructionCreate, act: Step) -> Response[s.Receipt]:
    center = call.center
    for wid in data.warning_ids:
        visible_warning(call.services, call.principal, center.warning(wid))
    if data.parent_id is not None:
        visible_instruction(call.services, call.principal, center.instruction(data.parent_id))
    return call.run(data, act, creates=True)


def _step(
    call: Call, iid: UUID, data: s.Input | None, act: Step, *, creates: bool = False
) -> Response[s.Receipt]:
    """One step on an instruction the caller's unit can see (404 for any other)."""
    visible_instruction(call.services, call.principal, call.center.instruction(iid))
    return call.run(data, act, creates=creates)


class InstructionController(Controller):
    path = "/v1/instructions"
    tags = ("instructions",)

    @post("/", opt=DISPATCHER, responses=WRITE)
    async def issue(self, call: On, data: JSONBody[s.InstructionCreate]) -> Response[s.Receipt]:
        act = _issuing(call, data)
        if data.warning_ids or data.parent_id is not None:
            # Linked to warnings or forwarded: the handler reads them from the store
            # first, so the whole request goes to a worker thread.
            return await sync_to_thread(_issue_linked, call, data, act)
        # From unit to units: decided on the units held in memory (ADR 0029).
        return await run_from_memory(
            call.services, call.request, call.principal, data, act, creates=True
        )

    @get("/", sync_to_thread=True, responses=READ)
    def list_instructions(
        self,
        call: On,
        assignee: Annotated[str | None, QueryParameter(max_length=64)] = None,
        issuer: Annotated[str | None, QueryParameter(max_length=64)] = None,
        status: FromQuery[InstructionStatus | None] = None,
        overdue: FromQuery[bool | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
        min_position: MinPosition = None,
    ) -> s.InstructionPage:
        at = now()
        call.caught_up(min_position, "units", "instructions")
        services = call.services
        with services.reads.store.read() as tx:
            rows, next_cursor = paged(
                lambda **page: q.instructions(
                    tx,
                    visible_to=scope_of(call.principal),
                    assignee=assignee,
                    issuer=issuer,
                    status=status,
                    overdue=overdue,
                    overdue_at=at,
                    **page,
                ),
                cursor,
                limit,
            )
        return s.InstructionPage(
            items=[services.views.instruction_row(r, at) for r in rows], next_cursor=next_cursor
        )

    @get("/{iid:uuid}", sync_to_thread=True, responses=READ)
    def get_instruction(
        self,
        call: On,
        iid: FromPath[UUID],
        min_position: MinPosition = None,
        as_of: AsOf = None,
        version: AtVersion = None,
    ) -> Response[Any]:
        services, principal = call.services, call.principal
        if as_of is not None or version is not None:
            return past_response(call, "instructions", iid, as_of, version)
        call.caught_up(min_position, "units", "instructions")
        with services.reads.store.read() as tx:
            row = q.instruction(tx, str(iid))
            codes = [] if row is None else [row["issuer"], *(a["unit"] for a in row["assignees"])]
            if row is None or not (
                principal.reads_everything or q.within(tx, codes, principal.unit)
            ):
                raise NotFound("instruction not found")
        # Dispositions are their own resource; the detail embeds them as recorded.
        dispositions: dict[UUID, Disposition] = {
            UUID(a["disposition_id"]): call.center.disposition(UUID(a["disposition_id"]))
            for a in row["assignees"]
            if a["disposition_id"]
        }
        return with_etag(services.views.instruction(row, dispositions, now()), row["version"])

    # -- the steps of the instruction's units ------------------------------------------

    @post("/{iid:uuid}/sign", sync_to_thread=True, opt=HANDLER, responses=WRITE)
    def sign(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Input | None] = None
    ) -> Response[s.Receipt]:
        return _step(call, iid, data, lambda ctx: call.center.sign_for(ctx, iid))

    @post("/{iid:uuid}/return", sync_to_thread=True, opt=HANDLER, responses=WRITE)
    def return_(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Reason]
    ) -> Response[s.Receipt]:
        reason = data.reason
        return _step(call, iid, data, lambda ctx: call.center.return_to_issuer(ctx, iid, reason))

    @post("/{iid:uuid}/redirect", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def redirect(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Redirect]
    ) -> Response[s.Receipt]:
        return _step(
            call,
            iid,
            data,
            lambda ctx: call.center.redirect(
                ctx, iid, to_unit=data.lead_unit, from_unit=data.from_unit
            ),
        )

    @post("/{iid:uuid}/forward", sync_to_thread=True, opt=HANDLER, responses=WRITE)
    def forward(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Forward]
    ) -> Response[s.Receipt]:
        when = _deadline_or_duration(data.deadline, data.due_in)
        # If-Match names the parent's version: the domain checks it when it decides,
        # after recognising a repeat of this very forward (ADR 0017).
        return _step(
            call,
            iid,
            data,
            lambda ctx: call.center.forward(
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

    @post("/{iid:uuid}/progress", sync_to_thread=True, opt=HANDLER, responses=WRITE)
    def progress(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Progress]
    ) -> Response[s.Receipt]:
        note = data.note
        return _step(call, iid, data, lambda ctx: call.center.report_progress(ctx, iid, note))

    @post("/{iid:uuid}/extension-requests", sync_to_thread=True, opt=HANDLER, responses=WRITE)
    def request_extension(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.ExtensionRequest]
    ) -> Response[s.Receipt]:
        deadline = future(data.deadline, "deadline")
        assert deadline is not None
        return _step(
            call,
            iid,
            data,
            lambda ctx: call.center.request_extension(
                ctx, iid, deadline=deadline, reason=data.reason
            ),
        )

    @post("/{iid:uuid}/extension-decisions", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def decide_extension(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.ExtensionDecision]
    ) -> Response[s.Receipt]:
        return _step(
            call,
            iid,
            data,
            lambda ctx: call.center.decide_extension(
                ctx, iid, granted=data.granted, note=data.note
            ),
        )

    @post("/{iid:uuid}/submit", sync_to_thread=True, opt=HANDLER, responses=WRITE)
    def submit(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Submission]
    ) -> Response[s.Receipt]:
        result = data.result
        return _step(call, iid, data, lambda ctx: call.center.submit(ctx, iid, result))

    @post("/{iid:uuid}/verify", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def verify(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Verification]
    ) -> Response[s.Receipt]:
        return _step(
            call,
            iid,
            data,
            lambda ctx: call.center.verify(ctx, iid, accepted=data.accepted, note=data.note),
        )

    @post("/{iid:uuid}/remind", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def remind(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Remark | None] = None
    ) -> Response[s.Receipt]:
        note = data.note if data else None
        return _step(call, iid, data, lambda ctx: call.center.remind(ctx, iid, note))

    @post("/{iid:uuid}/supervise", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def supervise(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Remark | None] = None
    ) -> Response[s.Receipt]:
        note = data.note if data else None
        return _step(call, iid, data, lambda ctx: call.center.supervise(ctx, iid, note))

    @post("/{iid:uuid}/park", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def park(self, call: On, iid: FromPath[UUID], data: JSONBody[s.Reason]) -> Response[s.Receipt]:
        reason = data.reason
        return _step(call, iid, data, lambda ctx: call.center.park(ctx, iid, reason))

    @post("/{iid:uuid}/resume", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def resume(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Remark | None] = None
    ) -> Response[s.Receipt]:
        note = data.note if data else None
        return _step(call, iid, data, lambda ctx: call.center.resume(ctx, iid, note))

    @post("/{iid:uuid}/cancel", sync_to_thread=True, opt=DISPATCHER, responses=WRITE)
    def cancel(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Reason]
    ) -> Response[s.Receipt]:
        reason = data.reason
        return _step(call, iid, data, lambda ctx: call.center.cancel_instruction(ctx, iid, reason))

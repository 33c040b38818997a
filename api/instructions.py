"""``/v1/instructions``: issue an instruction, list and read them, and the steps of its
units: sign for it, return it, forward it, report, ask for time, submit, verify…

Each step names its role once, in its route's ``opt``; the guard checks it and the
command is recorded in it (ADR 0035).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api import schemas as s
from api.access import visible_instruction, warning_to_act_on
from api.commands import duration, future, run_from_memory
from api.history import AT_MOST_ONE_PAST, past_response
from api.http import READ, WRITE, AsOf, AtVersion, Call, Cursor, Limit, MinPosition, On, with_etag
from api.problems import invalid
from api.steps import StepRoute, note_of, step_routes
from domain.application import CommandCenter, Outcome
from domain.disposition import Disposition
from domain.instruction import InstructionStatus
from domain.meta import Context, now
from projections import queries as q

Step = Callable[[Context], Outcome]
HANDLER = "handler"
DISPATCHER = "dispatcher"


def _deadline_or_duration(deadline: datetime | None, due_in: str | None) -> dict[str, Any]:
    if deadline is not None and due_in is not None:
        raise invalid("due_in", "give either a deadline or a duration (due_in), not both")
    return {"deadline": future(deadline, "deadline"), "due_in": duration(due_in)}


def issuing(call: Call, data: s.InstructionCreate) -> Step:
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
        # Linked, the warning closes only once the instruction is done: an act on it.
        warning_to_act_on(call.services, call.principal, center.warning(wid), call.actor.role)
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

    @post("/", opt={"role": DISPATCHER}, responses=WRITE)
    async def issue(self, call: On, data: JSONBody[s.InstructionCreate]) -> Response[s.Receipt]:
        act = issuing(call, data)
        if data.warning_ids or data.parent_id is not None:
            # Linked to warnings or forwarded: the handler reads them from the store
            # first, so the whole request goes to a worker thread.
            return await sync_to_thread(_issue_linked, call, data, act)
        # From unit to units: decided on the units held in memory (ADR 0029).
        return await run_from_memory(call, data, act, creates=True)

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
        rows, next_cursor = call.page(
            min_position,
            ("units", "instructions"),
            partial(
                q.instructions,
                assignee=assignee,
                issuer=issuer,
                status=status,
                overdue=overdue,
                overdue_at=at,
            ),
            cursor,
            limit,
        )
        return s.InstructionPage(
            items=[call.services.views.instruction_row(r, at) for r in rows],
            next_cursor=next_cursor,
        )

    @get("/{iid:uuid}", sync_to_thread=True, responses=READ, operation_class=AT_MOST_ONE_PAST)
    def get_instruction(
        self,
        call: On,
        iid: FromPath[UUID],
        min_position: MinPosition = None,
        as_of: AsOf = None,
        version: AtVersion = None,
    ) -> Response[Any]:
        services = call.services
        if as_of is not None or version is not None:
            return past_response(call, "instructions", iid, as_of, version)
        row, dispositions = read_instruction(call, iid, min_position)
        return with_etag(services.views.instruction(row, dispositions, now()), row["version"])

    # -- the steps of the instruction's units (the others: :data:`InstructionSteps`) ----

    @post("/{iid:uuid}/forward", sync_to_thread=True, opt={"role": HANDLER}, responses=WRITE)
    def forward(
        self, call: On, iid: FromPath[UUID], data: JSONBody[s.Forward]
    ) -> Response[s.Receipt]:
        _deadline_or_duration(data.deadline, data.due_in)
        # If-Match names the parent's version: the domain checks it when it decides,
        # after recognising a repeat of this very forward (ADR 0017).
        return _step(
            call, iid, data, lambda ctx: FORWARD.act(call.center, ctx, iid, data), creates=True
        )


def read_instruction(
    call: Call, iid: UUID, min_position: int | None = None
) -> tuple[dict[str, Any], dict[UUID, Disposition]]:
    """An instruction's view row the caller's unit may see (404 for any other), and
    its dispositions as recorded (their own resource, embedded in the detail)."""
    row = call.visible_row(
        min_position,
        ("units", "instructions"),
        lambda tx: q.instruction(tx, str(iid)),
        lambda row: [row["issuer"], *(a["unit"] for a in row["assignees"])],
        "instruction not found",
    )
    dispositions: dict[UUID, Disposition] = {
        UUID(a["disposition_id"]): call.center.disposition(UUID(a["disposition_id"]))
        for a in row["assignees"]
        if a["disposition_id"]
    }
    return row, dispositions


def _forwarding(c: CommandCenter, ctx: Context, iid: UUID, d: s.Forward) -> Outcome:
    # Title, content, priority and deadline left out are the parent's (the use case's).
    when = _deadline_or_duration(d.deadline, d.due_in)
    priority = str(d.priority) if d.priority else None
    return c.forward(
        ctx, iid, to_unit=d.to_unit, title=d.title, content=d.content, priority=priority, **when
    )


#: Forwarding a part: a route of its own (it creates a child), the same line for pages.
FORWARD = StepRoute(
    "forward",
    HANDLER,
    s.Forward,
    _forwarding,
    check=lambda d: _deadline_or_duration(d.deadline, d.due_in),
    creates=True,
)


def _visible(call: Call, iid: UUID) -> object:
    return visible_instruction(call.services, call.principal, call.center.instruction(iid))


def _future_deadline(data: s.ExtensionRequest) -> object:
    return future(data.deadline, "deadline")


#: The steps on an instruction, a line each: the API's routes and the pages' forms
#: (api/screens/instruction_steps.py) take the same roles, bodies and commands.
def _instruction_steps() -> list[StepRoute]:
    return [
        StepRoute("sign", HANDLER, s.Input | None, lambda c, ctx, iid, d: c.sign_for(ctx, iid)),
        StepRoute(
            "return",
            HANDLER,
            s.Reason,
            lambda c, ctx, iid, d: c.return_to_issuer(ctx, iid, d.reason),
            name="return_",
        ),
        StepRoute(
            "redirect",
            DISPATCHER,
            s.Redirect,
            lambda c, ctx, iid, d: c.redirect(ctx, iid, to_unit=d.lead_unit, from_unit=d.from_unit),
        ),
        StepRoute(
            "progress",
            HANDLER,
            s.Progress,
            lambda c, ctx, iid, d: c.report_progress(ctx, iid, d.note),
        ),
        StepRoute(
            "extension-requests",
            HANDLER,
            s.ExtensionRequest,
            lambda c, ctx, iid, d: c.request_extension(
                ctx, iid, deadline=d.deadline, reason=d.reason
            ),
            name="request_extension",
            check=_future_deadline,
        ),
        StepRoute(
            "extension-decisions",
            DISPATCHER,
            s.ExtensionDecision,
            lambda c, ctx, iid, d: c.decide_extension(ctx, iid, granted=d.granted, note=d.note),
            name="decide_extension",
        ),
        StepRoute(
            "deferral-requests",
            HANDLER,
            s.Reason,
            lambda c, ctx, iid, d: c.request_deferral(ctx, iid, d.reason),
            name="request_deferral",
        ),
        StepRoute(
            "deferral-decisions",
            DISPATCHER,
            s.DeferralDecision,
            lambda c, ctx, iid, d: c.decide_deferral(ctx, iid, granted=d.granted, note=d.note),
            name="decide_deferral",
        ),
        StepRoute(
            "disputes",
            HANDLER,
            s.Reason,
            lambda c, ctx, iid, d: c.file_dispute(ctx, iid, d.reason),
            name="file_dispute",
        ),
        StepRoute(
            "dispute-arbitrations",
            DISPATCHER,
            s.DisputeArbitration,
            lambda c, ctx, iid, d: c.arbitrate_dispute(
                ctx, iid, upheld=d.upheld, to_unit=d.lead_unit, note=d.note
            ),
            name="arbitrate_dispute",
        ),
        StepRoute(
            "follow-ups",
            DISPATCHER,
            s.FollowUp,
            lambda c, ctx, iid, d: c.follow_up(
                ctx,
                iid,
                contacted=d.contacted,
                resolved=d.resolved,
                satisfaction=d.satisfaction,
                note=d.note,
            ),
            name="follow_up",
        ),
        StepRoute(
            "follow-up-attempts",
            DISPATCHER,
            s.UnreachedFollowUp,
            lambda c, ctx, iid, d: c.record_unreached_follow_up(ctx, iid, d.note),
            name="record_unreached_follow_up",
        ),
        StepRoute(
            "submit", HANDLER, s.Submission, lambda c, ctx, iid, d: c.submit(ctx, iid, d.result)
        ),
        StepRoute(
            "verify",
            DISPATCHER,
            s.Verification,
            lambda c, ctx, iid, d: c.verify(ctx, iid, accepted=d.accepted, note=d.note),
        ),
        StepRoute(
            "remind",
            DISPATCHER,
            s.Remark | None,
            lambda c, ctx, iid, d: c.remind(ctx, iid, note_of(d)),
        ),
        StepRoute(
            "supervise",
            DISPATCHER,
            s.Remark | None,
            lambda c, ctx, iid, d: c.supervise(ctx, iid, note_of(d)),
        ),
        StepRoute("park", DISPATCHER, s.Reason, lambda c, ctx, iid, d: c.park(ctx, iid, d.reason)),
        StepRoute(
            "resume",
            DISPATCHER,
            s.Remark | None,
            lambda c, ctx, iid, d: c.resume(ctx, iid, note_of(d)),
        ),
        StepRoute(
            "cancel",
            DISPATCHER,
            s.Reason,
            lambda c, ctx, iid, d: c.cancel_instruction(ctx, iid, d.reason),
        ),
    ]


INSTRUCTION_STEPS = _instruction_steps()

#: The steps of an instruction's units, a route each.
InstructionSteps = step_routes(
    "instructions", "iid", ("instructions",), _visible, INSTRUCTION_STEPS
)

"""``/instructions/new`` and ``/instructions/{id}``: the issue form and the instruction
on the duty desk (ADR 0056).

The issue form offers as lead and cooperating units only the units this person's unit
may instruct (:func:`~api.screens.offered.instructable_units`) and refuses any other at
its field; it takes the deadline as a duration ("4h", "2d", ``P1DT2H``) or as a time of
the calendar's zone, and runs the API's own command. The instruction page reads what
the API's ``GET /v1/instructions/{id}`` reads, under the same rule (another unit's
instruction is the not-found page), and shows as buttons the steps
:func:`~api.screens.offered.offered_steps` offers; their forms post to
:mod:`api.screens.instruction_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

import audit
from api import schemas as s
from api.access import visible_instruction, warning_to_act_on
from api.http import Call, On
from api.instructions import issuing, read_instruction
from api.problems import ProblemError
from api.screens.desk import countdown, due_in_of, local_input, require, time_of, unit_names
from api.screens.errors import FormRefused
from api.screens.forms import act, body_of, posted, refusal
from api.screens.offered import (
    instructable_units,
    may_uphold,
    offered_steps,
    redirect_targets,
)
from api.screens.pages import Page, page_of, render
from domain.application import Outcome
from domain.errors import DomainError, NotFound
from domain.instruction import AssigneeStatus, Priority
from domain.meta import Context, now
from domain.unit import Level
from texts.timeline import describe

DISPATCHER = {"page": True, "role": "dispatcher"}
NEW = "idesk_instruction_new.html.j2"


# -- the issue form ---------------------------------------------------------------------


def _draw_new(
    request: Request[Any, Any, Any],
    call: Call,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Response[str]:
    page = page_of(request, errors=errors or {}, values=values or {})
    units = instructable_units(call.center, call.principal.unit)
    return render(
        request,
        NEW,
        status=status,
        page=page,
        units=units,
        # By level from the top down, as a duty officer looks for them.
        groups=[
            (lv, [u for u in units if u.level == lv])
            for lv in Level
            if any(u.level == lv for u in units)
        ],
        names=unit_names(call.services.reads.store, page.language),
        priorities=[p.value for p in Priority],
        chosen=set((values or {}).get("cooperating_units", [])),
    )


@get("/instructions/new", opt=DISPATCHER, include_in_schema=False, sync_to_thread=True)
def new_instruction(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The issue form; ``?warning_id=`` links the instruction to that warning."""
    warning = str(request.query_params.get("warning_id", ""))[:64]
    values = {"warning_ids": warning, "priority": Priority.NORMAL.value}
    return _draw_new(request, call, values=values)


def _issue_fields(call: Call, fields: dict[str, Any], request: Request[Any, Any, Any]) -> Any:
    """The form as the API's body: its units among those offered, its deadline read."""
    page = page_of(request)
    require(fields, page, "lead_unit", "title")
    offered = {u.code for u in instructable_units(call.center, call.principal.unit)}
    lead = fields["lead_unit"][0].strip()
    if lead not in offered:
        raise FormRefused({"lead_unit": page.t("page.idesk.error.unit")})
    cooperating = [c.strip() for c in fields.get("cooperating_units", []) if c.strip()]
    if any(c not in offered or c == lead for c in cooperating):
        raise FormRefused({"cooperating_units": page.t("page.idesk.error.cooperating")})
    due = [v for v in fields.get("due_in", []) if v.strip()]
    deadline = time_of(fields, "deadline", call.services.views.zone.key, page)
    if bool(due) == (deadline is not None):
        raise FormRefused({"due_in": page.t("page.idesk.error.one_deadline")})
    body = {k: v for k, v in fields.items() if k not in ("due_in", "deadline")}
    if due:
        body["due_in"] = [due_in_of(due[0])]
    if deadline is not None:
        body["deadline"] = [deadline]
    data = body_of(body, s.InstructionCreate)
    if data.command_id is None:
        raise FormRefused({"form": page.t("page.idesk.error.expired")})
    return data


def _issue(request: Request[Any, Any, Any], call: Call, fields: dict[str, Any]) -> Any:
    try:
        data = _issue_fields(call, fields, request)
        command = issuing(call, data)
        for wid in data.warning_ids:
            try:
                warning_to_act_on(
                    call.services, call.principal, call.center.warning(wid), call.actor.role
                )
            except NotFound:
                raise FormRefused(
                    {"warning_ids": page_of(request).t("page.idesk.error.warning")}, 404
                ) from None
        made: list[UUID] = []

        def issued(ctx: Context) -> Outcome:
            # The new instruction's id comes of the command id as its unit namespaces it.
            outcome = command(ctx)
            made.append(outcome.id)
            return outcome

        act(call, data, issued, then="/inbox")
        return Redirect(f"/instructions/{made[0]}", status_code=303)
    except FormRefused as e:
        refused = e
    except (DomainError, ProblemError) as e:
        refused = refusal(request, e)
    return _draw_new(
        request, call, status=refused.status, errors=refused.errors, values=fields_view(fields)
    )


def fields_view(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's values to draw it again: one text per field, lists where it has them."""
    return {
        k: (list(v) if k == "cooperating_units" else (v[0] if v else ""))
        for k, v in fields.items()
        if k not in ("csrf", "command_id")
    }


@post("/instructions", opt=DISPATCHER, include_in_schema=False, status_code=303)
async def issue_instruction(request: Request[Any, Any, Any], call: On) -> Response[Any]:
    """Issue the instruction of the form, then show it."""
    return await posted(request, _issue, call)


# -- the instruction --------------------------------------------------------------------


def _history(call: Call, iid: UUID, dispositions: list[UUID], page: Page) -> list[Any]:
    """The instruction's and its dispositions' events, in log order, in words (its units
    by their names)."""
    zone = call.services.views.zone
    lines = []
    for n in audit.events_of(call.center, [iid, *dispositions]):
        e: Any = call.center.mapper.to_domain_event(n)
        meta = getattr(e, "meta", None)
        lines.append(
            {
                "at": e.timestamp,
                "person": getattr(meta, "person", ""),
                "unit": getattr(meta, "unit", ""),
                "role": getattr(meta, "role", ""),
                "text": describe(
                    type(e).__qualname__, vars(e), page.language, zone, page.unit_name
                ),
            }
        )
    return lines


def draw_instruction(
    request: Request[Any, Any, Any],
    call: Call,
    iid: UUID,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    open_step: str | None = None,
    min_position: int | None = None,
) -> Response[str]:
    """The instruction page, as it stands for this person (with a refused form's
    messages beside its fields, and that form open), once the views have read the log
    up to ``min_position``."""
    center = call.center
    row, dispositions = read_instruction(call, iid, min_position)
    i = visible_instruction(call.services, call.principal, center.instruction(iid))
    at = now()
    shown = call.services.views.instruction(row, dispositions, at)
    steps = offered_steps(center, i, call.principal, at)
    errors = dict(errors or {})
    if open_step is not None and open_step not in steps:
        # The step is no longer offered (someone else moved the case on): its form is
        # gone, so its refusal is said at the top of the page.
        errors = {"form": "; ".join(errors.values())}
    page = page_of(request, errors=errors, values=values or {})
    zone = call.services.views.zone
    return render(
        request,
        "idesk_instruction.html.j2",
        status=status,
        page=page,
        i=shown,
        countdown=countdown(
            status=shown.status,
            priority=shown.priority,
            issued_at=shown.issued_at,
            deadline=shown.deadline,
            now=at,
            calendar=center.calendar,
            stopped_left=(
                timedelta(seconds=shown.deferred_remaining_seconds)
                if shown.deferred_remaining_seconds is not None
                else None
            ),
        ),
        steps=steps,
        open_step=open_step,
        names=unit_names(call.services.reads.store, page.language),
        forward_to=instructable_units(center, call.principal.unit, below_only=True),
        redirect_to=redirect_targets(center, i),
        may_uphold=may_uphold(center, i),
        returned=[u for u, st in i.assignees.items() if st == AssigneeStatus.RETURNED],
        priorities=[p.value for p in Priority],
        history=_history(call, iid, list(dispositions), page),
        deadline_now=local_input(i.deadline, zone),
        follow_up_until=(
            i.follow_up_deadline(center.follow_up_limits, center.calendar)
            if "follow-ups" in steps
            else None
        ),
    )


@get("/instructions/{iid:uuid}", opt={"page": True}, include_in_schema=False, sync_to_thread=True)
def instruction_page(
    request: Request[Any, Any, Any], call: On, iid: FromPath[UUID]
) -> Response[str]:
    """One instruction: its units' states and dispositions, its clock, its history and
    the steps this person may take."""
    return draw_instruction(request, call, iid)


INSTRUCTION_PAGE_HANDLERS = [new_instruction, issue_instruction, instruction_page]

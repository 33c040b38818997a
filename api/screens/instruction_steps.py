"""The steps on an instruction, posted from its page: a form and a route each (ADR 0056).

Each route takes the role, the body and the command of the API's own step
(:data:`api.instructions.INSTRUCTION_STEPS`; forwarding and a disposition's action are
lines of their own here, as the API has them on routes of their own). A form's text
arrives as the API's body; a required text left empty, a time that is no time, and
every refusal of the command are drawn back beside the field of that form, which stays
open; a step taken answers ``303`` to the instruction, which then shows the new state.
"""

from __future__ import annotations

from typing import Any, get_args
from uuid import UUID

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from api import schemas as s
from api.access import visible_instruction
from api.http import Call, On
from api.instructions import FORWARD, INSTRUCTION_STEPS
from api.problems import ProblemError
from api.screens.desk import due_in_of, require, time_of
from api.screens.errors import FormRefused
from api.screens.forms import act, body_of, posted, refusal
from api.screens.instruction_pages import draw_instruction, fields_view
from api.screens.offered import ROLE_OF
from api.screens.pages import Page, page_of
from api.steps import StepRoute
from domain.disposition import disposition_id
from domain.follow_up import Satisfaction

#: Each step's line: the API's, and the two the API has on routes of their own.
LINES: dict[str, StepRoute] = {
    **{line.path: line for line in INSTRUCTION_STEPS},
    "forward": FORWARD,
    "actions": StepRoute(
        "actions",
        ROLE_OF["actions"],
        s.ActionCreate,
        lambda c, ctx, iid, d: c.record_action(
            ctx, disposition_id(iid, ctx.actor.unit), d.text, list(d.evidence)
        ),
    ),
}
#: The texts a step cannot go without (the domain's own rule, said before the body).
REQUIRED = {
    "return": ("reason",),
    "progress": ("note",),
    "actions": ("text",),
    "extension-requests": ("deadline", "reason"),
    "deferral-requests": ("reason",),
    "disputes": ("reason",),
    "submit": ("result",),
    "redirect": ("lead_unit",),
    "forward": ("to_unit",),
    "park": ("reason",),
    "cancel": ("reason",),
    "follow-up-attempts": ("note",),
}
#: A "no" that must say why: a denied extension, a result sent back for rework.
NO_NEEDS_NOTE = {
    "extension-decisions": "granted",
    "deferral-decisions": "granted",
    "dispute-arbitrations": "upheld",
    "verify": "accepted",
}


#: The follow-up's answers and the values each takes (回访, ADR 0083).
ANSWERS = {
    "contacted": ("true", "false"),
    "resolved": ("true", "false"),
    "satisfaction": tuple(Satisfaction),
}


def _check_answers(fields: dict[str, Any], page: Page) -> None:
    """Each of the caller's answers chosen, and one of its choices: else said at it."""
    wrong = {
        name: page.t("page.idesk.follow_up.choose")
        for name, choices in ANSWERS.items()
        if (fields.get(name) or [""])[0] not in choices
    }
    if wrong:
        raise FormRefused(wrong)


def _prepared(step: str, fields: dict[str, Any], page: Page, zone: str) -> dict[str, Any]:
    """The form's fields as the body's: times in the calendar's zone, durations in
    ISO 8601, evidence one reference a line."""
    require(fields, page, *REQUIRED.get(step, ()))
    if step == "follow-ups":
        _check_answers(fields, page)
    flag = NO_NEEDS_NOTE.get(step)
    if flag is not None and fields.get(flag, [""])[0] == "false":
        require(fields, page, "note")
    out = dict(fields)
    if step == "dispute-arbitrations" and fields.get("upheld", [""])[0] == "false":
        # The form's unit picker goes with upholding; a refusal names no unit.
        out.pop("lead_unit", None)
    if "deadline" in fields:
        deadline = time_of(fields, "deadline", zone, page)
        out["deadline"] = [deadline] if deadline else []
    if fields.get("due_in"):
        out["due_in"] = [due_in_of(fields["due_in"][0])] if fields["due_in"][0].strip() else []
    if "evidence" in fields:
        out["evidence"] = [r for v in fields["evidence"] for r in v.splitlines() if r.strip()]
    return out


def _body_type(line: StepRoute) -> Any:
    """The body's Struct (``X | None`` is ``X``: a form always sends its command id)."""
    options = [a for a in get_args(line.body) if a is not type(None)]
    return options[0] if options else line.body


def _take(
    request: Request[Any, Any, Any], call: Call, iid: UUID, step: str, fields: dict[str, Any]
) -> Response[Any]:
    line = LINES[step]
    visible_instruction(call.services, call.principal, call.center.instruction(iid))
    page = page_of(request)
    try:
        body = _prepared(step, fields, page, call.services.views.zone.key)
        data = body_of(body, _body_type(line))
        if line.check is not None:
            line.check(data)
        return act(
            call,
            data,
            lambda ctx: line.act(call.center, ctx, iid, data),
            then=f"/instructions/{iid}",
        )
    except FormRefused as e:
        refused = e
    except ProblemError as e:  # a body the API's edge refuses (the line's check)
        refused = refusal(request, e)
    return draw_instruction(
        request,
        call,
        iid,
        status=refused.status,
        errors={f"{step}.{name}": message for name, message in refused.errors.items()},
        values=fields_view(fields),
        open_step=step,
        # Refused on the record as it stands: the page shows at least that much of it.
        min_position=call.center.head_position(),
    )


def _route(step: str) -> HTTPRouteHandler:
    async def take_step(
        request: Request[Any, Any, Any], call: On, iid: FromPath[UUID]
    ) -> Response[Any]:
        return await posted(request, _take, call, iid, step)

    name = "page_" + step.replace("-", "_")
    return post(
        f"/instructions/{{iid:uuid}}/{step}",
        opt={"page": True, "role": LINES[step].role},
        include_in_schema=False,
        status_code=303,
        name=name,
    )(take_step)


STEP_HANDLERS = [_route(step) for step in LINES]

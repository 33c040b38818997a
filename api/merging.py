"""``POST /v1/warnings/{wid}/merge`` and ``…/unmerge``: a dispatcher merges a warning
into the main case about the same matter, and takes it out again (并单, ADR 0082).

The path's warning must lie in the dispatcher's subtree (404 if the unit cannot see it,
403 if it sees it but may not act on it); the main case named in the body is checked by
the domain, under the same rule (403 outside the subtree, 404 if there is none).
"""

from __future__ import annotations

from uuid import UUID

from api import schemas as s
from api.access import warning_to_act_on
from api.http import Call
from api.steps import StepRoute, step_routes

DISPATCHER = "dispatcher"


def _visible(call: Call, wid: UUID) -> object:
    return warning_to_act_on(
        call.services, call.principal, call.center.warning(wid), call.actor.role
    )


MERGE_STEPS = (
    StepRoute(
        "merge",
        DISPATCHER,
        s.WarningMerge,
        lambda c, ctx, wid, d: c.merge_warning(ctx, wid, d.into, d.reason, override=d.override),
        name="merge_warning",
    ),
    StepRoute(
        "unmerge",
        DISPATCHER,
        s.Reason,
        lambda c, ctx, wid, d: c.unmerge_warning(ctx, wid, d.reason),
        name="unmerge_warning",
    ),
)
WarningMergeSteps = step_routes("warnings", "wid", ("warnings",), _visible, MERGE_STEPS)

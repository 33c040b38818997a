"""``/v1/dispositions``: an assignee's handling of an instruction, and its actions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody

from api import schemas as s
from api.access import visible_instruction
from api.history import AT_MOST_ONE_PAST, past_response
from api.http import READ, WRITE, AsOf, AtVersion, On, with_etag


class DispositionController(Controller):
    path = "/v1/dispositions"
    tags = ("instructions",)

    @get("/{did:uuid}", sync_to_thread=True, responses=READ, operation_class=AT_MOST_ONE_PAST)
    def get_disposition(
        self, call: On, did: FromPath[UUID], as_of: AsOf = None, version: AtVersion = None
    ) -> Response[Any]:
        if as_of is not None or version is not None:
            return past_response(call, "dispositions", did, as_of, version)
        d = call.center.disposition(did)
        visible_instruction(
            call.services, call.principal, call.center.instruction(d.instruction_id)
        )
        return with_etag(call.services.views.disposition(d), d.version)

    @post("/{did:uuid}/actions", sync_to_thread=True, opt={"role": "handler"}, responses=WRITE)
    def record_action(
        self, call: On, did: FromPath[UUID], data: JSONBody[s.ActionCreate]
    ) -> Response[s.Receipt]:
        center = call.center
        d = center.disposition(did)
        visible_instruction(call.services, call.principal, center.instruction(d.instruction_id))
        return call.run(
            data, lambda ctx: center.record_action(ctx, did, data.text, list(data.evidence))
        )

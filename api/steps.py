"""The steps on one aggregate, ``POST /v1/<kind>/{id}/<step>``, each from one line of a
table: its path, its role, its body and what it asks of the command center.

:func:`step_routes` turns a table into a controller. Each handler checks the body first
(where the line says how), then that the caller's unit can see the aggregate (404 for
any other), and runs the command through :meth:`api.http.Call.run` in the role of its
route's ``opt`` (ADR 0035). Litestar reads a handler's name, parameters and body from
its signature, so the generated ones publish what hand-written ones did: the same
operation ids, path parameters and bodies.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_args
from uuid import UUID

from litestar import Controller, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from api import schemas as s
from api.http import WRITE, Call, On
from domain.application import CommandCenter, Outcome
from domain.meta import Context

#: What a step asks of the command center: (center, context, the aggregate's id, body).
Act = Callable[[CommandCenter, Context, UUID, Any], Outcome]
#: Who may see the aggregate: raises ``NotFound`` for a unit that may not.
Visible = Callable[[Call, UUID], object]


@dataclass(frozen=True)
class StepRoute:
    """One step: ``POST .../{id}/<path>`` in ``role`` with a body of type ``body``
    (``X | None``: the body may be left out)."""

    path: str
    role: str
    body: Any
    act: Act
    #: The handler's name (the summary and the end of the operation id); the path's.
    name: str = ""
    #: Refuses a body the domain would refuse, naming its field, before anything is read.
    check: Callable[[Any], object] | None = None
    creates: bool = False

    @property
    def handler_name(self) -> str:
        return self.name or self.path.replace("-", "_")


def note_of(data: s.Remark | None) -> str | None:
    """The note of an optional remark."""
    return data.note if data else None


def step_routes(
    kind: str, id_name: str, tags: Sequence[str], visible: Visible, lines: Sequence[StepRoute]
) -> type[Controller]:
    """A controller at ``/v1/<kind>`` with a route for each line, the aggregate's id
    named ``id_name`` as the published schema names it."""
    handlers = {line.handler_name: _route(line, id_name, visible) for line in lines}
    name = f"{kind.removesuffix('s').title()}Steps"  # WarningSteps, InstructionSteps
    return types.new_class(
        name,
        (Controller,),
        exec_body=lambda ns: ns.update(path=f"/v1/{kind}", tags=tuple(tags), **handlers),
    )


def _route(line: StepRoute, id_name: str, visible: Visible) -> HTTPRouteHandler:
    def handler(self: Any, call: Call, data: Any = None, **ids: UUID) -> Response[s.Receipt]:
        aid = ids[id_name]
        if line.check is not None:
            line.check(data)
        visible(call, aid)
        return call.run(
            data, lambda ctx: line.act(call.center, ctx, aid, data), creates=line.creates
        )

    handler.__name__ = handler.__qualname__ = line.handler_name
    handler.__doc__ = None
    optional = type(None) in get_args(line.body)
    keyword = inspect.Parameter.KEYWORD_ONLY
    # Litestar reads the signature and the annotations; the call still lands in **ids.
    body: Any = JSONBody
    declared = {"call": On, id_name: FromPath[UUID], "data": body[line.body]}
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [
        inspect.Parameter(
            name,
            keyword,
            annotation=hint,
            default=None if name == "data" and optional else inspect.Parameter.empty,
        )
        for name, hint in declared.items()
    ]
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=Response[s.Receipt]
    )
    handler.__annotations__ = {**declared, "return": Response[s.Receipt]}
    path = f"/{{{id_name}:uuid}}/{line.path}"
    return post(path, sync_to_thread=True, opt={"role": line.role}, responses=WRITE)(handler)

"""One aggregate's past: its raw event history, and its state at a recorded time or a
version, rebuilt from its events (ADR 0013).

A past state has two addresses, ``GET /v1/{kind}/{id}?as_of=…`` (or ``?version=``) and
``GET /v1/{kind}/{id}/as-of?at=…``; both are answered by :func:`past_state` (ADR 0035).
:data:`HISTORY_HANDLERS` are served among the audit's handlers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get
from litestar.params import FromPath, QueryParameter

import audit
from api.access import Services, visible_instruction, visible_warning
from api.commands import etag
from api.contract import grouped_query
from api.http import LARGEST, READ, Call, On
from api.problems import invalid
from api.tokens import Principal
from domain.base import BOOKKEEPING
from domain.disposition import Disposition
from domain.errors import NotFound
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from projections.loops import KINDS


class HistoryEvent(msgspec.Struct, kw_only=True):
    position: int
    version: int
    event: str
    recorded_at: Any
    metadata: Any
    payload: Any


class History(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    events: list[HistoryEvent]


class PastState(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    version: int
    as_of: datetime | None
    recorded_at: datetime
    state: dict[str, Any]


_KIND_OF: dict[str, type[Any]] = {
    "warnings": EarlyWarning,
    "instructions": Instruction,
    "dispositions": Disposition,
}


def _visible_aggregate(
    services: Services, principal: Principal, kind: str, aggregate_id: UUID
) -> Any:
    """The current aggregate, if the principal may see it (404 otherwise)."""
    center = services.center
    what = kind.rstrip("s")
    aggregate = center.find(aggregate_id)
    if not isinstance(aggregate, _KIND_OF[kind]):
        raise NotFound(f"{what} not found")
    if isinstance(aggregate, EarlyWarning):
        visible_warning(services, principal, aggregate)
    elif isinstance(aggregate, Instruction):
        visible_instruction(services, principal, aggregate)
    else:
        visible_instruction(services, principal, center.instruction(aggregate.instruction_id))
    return aggregate


def history_of(services: Services, principal: Principal, kind: str, aid: UUID) -> History:
    _visible_aggregate(services, principal, kind, aid)
    events = []
    for n in audit.events_of(services.center, [aid]):
        rec = audit.record(n.id, n.originator_id, n.originator_version, n.topic, n.state)
        events.append(
            HistoryEvent(
                position=n.id,
                version=n.originator_version,
                event=n.topic.rsplit(":", 1)[-1],
                recorded_at=rec["recorded_at"],
                metadata=rec["metadata"],
                payload=rec["payload"],
            )
        )
    return History(id=aid, kind=KINDS.get(_KIND_OF[kind].__qualname__, kind), events=events)


def state_of(aggregate: Any) -> dict[str, Any]:
    """The aggregate's own fields as JSON-ready values (what it looked like then)."""
    fields = {
        k: v for k, v in vars(aggregate).items() if not k.startswith("_") and k not in BOOKKEEPING
    }
    state: dict[str, Any] = msgspec.to_builtins(fields)
    return state


def past_state(
    services: Services,
    principal: Principal,
    kind: str,
    aid: UUID,
    at: datetime | None,
    version: int | None,
) -> PastState:
    """The aggregate at a recorded time or a version, rebuilt from its events."""
    if (at is None) == (version is None):
        raise invalid("at", "give either a time (at=…) or a version (version=…), not both")
    current = _visible_aggregate(services, principal, kind, aid)
    center = services.center
    if at is not None:
        if at.tzinfo is None:
            raise invalid("at", "the time must carry a time-zone offset")
        then: Any = center.as_of(aid, at)
        if then is None:
            raise NotFound(f"the {kind.rstrip('s')} did not exist yet at {at.isoformat()}")
    else:
        assert version is not None
        if version > current.version:
            raise NotFound(f"the {kind.rstrip('s')} has no version {version} yet")
        then = center.as_of_version(aid, version)
    zone = services.views.zone
    return PastState(
        id=aid,
        kind=KINDS.get(_KIND_OF[kind].__qualname__, kind),
        version=then.version,
        as_of=at,
        recorded_at=then.modified_on.astimezone(zone),
        state=state_of(then),
    )


def past_response(
    call: Call, kind: str, aid: UUID, at: datetime | None, version: int | None
) -> Response[Any]:
    """A detail route's ``?as_of=`` or ``?version=``: the past state, with its ETag."""
    past = past_state(call.services, call.principal, kind, aid, at, version)
    return Response(content=past, headers={"ETag": etag(past.version)})


AsOfTime = Annotated[
    datetime | None,
    QueryParameter(description="a recorded time (RFC 3339 with offset): the state then"),
]
AsOfVersion = Annotated[
    int | None, QueryParameter(ge=1, le=LARGEST, description="the state at a version")
]


#: The as-of route takes a time or a version, exactly one; a detail route at most one
#: (``as_of`` or ``version``), and with neither it answers the present.
EXACTLY_ONE_PAST = grouped_query(
    "at",
    "version",
    title="past",
    description="a recorded time (at) or a version, exactly one",
    required=True,
    min_properties=1,
    max_properties=1,
)
AT_MOST_ONE_PAST = grouped_query(
    "as_of",
    "version",
    title="past",
    description="a recorded time (as_of) or a version, not both; neither: the present",
    max_properties=1,
)


def _named_id(handler: Callable[..., Any], id_name: str) -> Callable[..., Any]:
    """``handler`` taking the aggregate's id as ``id_name`` (the name the published
    schema gives it), declared right after ``call`` as a path parameter."""
    signature = inspect.signature(handler)
    params = list(signature.parameters.values())
    keyword = inspect.Parameter.KEYWORD_ONLY
    named = inspect.Parameter(id_name, keyword, annotation=FromPath[UUID])
    rest = [p.replace(kind=keyword) for p in params[2:-1]]  # all but self, call and **ids
    # Litestar reads the signature and the annotations; the call still lands in **ids.
    declared = signature.replace(parameters=[*params[:2], named, *rest])
    handler.__signature__ = declared  # type: ignore[attr-defined]
    handler.__annotations__ = {**handler.__annotations__, id_name: FromPath[UUID]}
    return handler


def _audited(kind: str, id_name: str) -> type[Controller]:
    """The ``/history`` and ``/as-of`` routes of one kind of aggregate, its id named as
    the published schema names it (``wid``, ``iid``, ``did``)."""

    class Audited(Controller):
        path = f"/v1/{kind}"
        tags = ("audit",)

        @get(f"/{{{id_name}:uuid}}/history", sync_to_thread=True, responses=READ)
        @partial(_named_id, id_name=id_name)
        def history(self, call: On, **ids: UUID) -> History:
            """The raw event history of one aggregate, with each event's log position."""
            return history_of(call.services, call.principal, kind, ids[id_name])

        @get(
            f"/{{{id_name}:uuid}}/as-of",
            sync_to_thread=True,
            responses=READ,
            operation_class=EXACTLY_ONE_PAST,
        )
        @partial(_named_id, id_name=id_name)
        def as_of(
            self, call: On, at: AsOfTime = None, version: AsOfVersion = None, **ids: UUID
        ) -> PastState:
            """The aggregate as it stood at a past moment or version."""
            return past_state(call.services, call.principal, kind, ids[id_name], at, version)

    Audited.__name__ = Audited.__qualname__ = f"Audited{kind.title()}"
    return Audited


HISTORY_HANDLERS: list[type[Controller]] = [
    _audited("warnings", "wid"),
    _audited("instructions", "iid"),
    _audited("dispositions", "did"),
]

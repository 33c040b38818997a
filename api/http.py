"""The HTTP pieces every resource shares: problem responses, paging, ETag'd JSON,
the read-your-writes wait, content negotiation, and :class:`Call`, the request as a
handler sees it.

A resource module imports from here and from :mod:`api.commands`; nothing here imports
a resource module, so the shared pieces never depend on a resource (ADR 0035). A
resource that answers in another's terms (a warning as CAP, a past state) imports that
one module for it, and the architecture test keeps every such import free of circles.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from api import commands
from api.access import Services, actor_of, scope_of
from api.commands import etag
from api.headers import READ_HEADERS
from api.problems import PROBLEM_MEDIA_TYPE, ProblemError, invalid
from api.schemas import Input, Problem, showable
from api.tokens import Principal
from domain.application import CommandCenter, Outcome
from domain.errors import NotFound
from domain.meta import Actor, Context
from projections.queries import BadCursor, within
from projections.store import Tx, ViewStore

Row = TypeVar("Row")
#: One page of a list (its rows), or of several lists at once (an inbox's two).
Page = TypeVar("Page")
T = TypeVar("T")


#: What a 422 says: the request breaks the schema, or a rule no schema can state (the
#: problem types the API's description lists, :data:`api.contract.BEYOND_SCHEMA`).
UNPROCESSABLE = (
    "a problem (RFC 9457): the request breaks the schema, or a rule no schema can state "
    "(a problem type the API's description lists)"
)


def problem_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """The OpenAPI responses of a route for each problem status it may answer."""
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=UNPROCESSABLE if code == 422 else "a problem (RFC 9457)",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for code in statuses
    }


# 429: an address past its failed authentications, a token past its writes (ADR 0043).
READ = problem_specs(400, 401, 403, 404, 422, 429)
WRITE = problem_specs(400, 401, 403, 404, 409, 412, 413, 415, 422, 429)

#: The largest whole number the stores keep (a BIGINT): positions and versions stop here.
LARGEST = 2**63 - 1
_POSITION = re.compile(r"[0-9]{1,19}")

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="items per page")]
#: A page's cursor is opaque, but never holds a NUL: the schema says so, as the guard
#: refuses one anywhere in an address (PostgreSQL keeps no NUL in text).
Cursor = Annotated[
    str | None,
    QueryParameter(max_length=200, pattern=r"^[^\x00]*$", description="from the last page"),
]
AsOf = Annotated[
    datetime | None, QueryParameter(description="the state as it was at this recorded time")
]
AtVersion = Annotated[
    int | None, QueryParameter(ge=1, le=LARGEST, description="the state at this version")
]
MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=LARGEST,
        # Litestar drops a bound of 0 (it tests the value's truth): stated again.
        schema_extra={"minimum": 0},
        description="wait (boundedly) until the views have read the log up to this position: "
        "the `position` of a command's receipt (read-your-writes); or header X-Min-Position. "
        "Without it a read still waits for the caller's own last write, unless header "
        "X-Read-Consistency is `latest`",
    ),
]


def check_times(**times: datetime | None) -> None:
    """A time a client filters by must say its zone (a bare one would be read in the
    server's) and be one every zone can show (:func:`api.schemas.showable`):
    9999-12-31T23:59:59-12:00 is year 10000 in UTC, where the views compare times."""
    for name, value in times.items():
        if value is None:
            continue
        if value.tzinfo is None:
            raise invalid(name, "the time must carry a time-zone offset (e.g. +08:00)")
        if not showable(value):
            raise invalid(name, "the time lies outside years 1 to 9999")


def with_etag(content: Any, version: int) -> Response[Any]:
    """A resource as JSON, its version as the ``ETag`` a later ``If-Match`` names."""
    return Response(content=content, headers={"ETag": etag(version)})


def paged(
    query: Callable[..., tuple[Page, str | None]], cursor: str | None, limit: int
) -> tuple[Page, str | None]:
    """One page of a list query; a cursor it cannot read is the client's mistake (422)."""
    try:
        return query(cursor=cursor, limit=limit)
    except BadCursor as e:
        raise invalid("cursor", str(e), code="cursor-unknown") from None


def best_match(request: Request[Any, Any, Any], offered: Sequence[str], default: str) -> str:
    """The media type of ``offered`` the client's ``Accept`` header prefers, q-values
    weighed (the first offered wins for ``*/*``); ``default`` when none is accepted."""
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return default
    return request.accept.best_match(list(offered), default=default)


#: The request header naming how consistent a read must be, and its values: ``session``
#: (the default) waits for the principal's own last write, ``latest`` answers at once
#: from what the views hold, with their lag in ``X-View-Lag`` (ADR 0045).
CONSISTENCY = "X-Read-Consistency"
SESSION, LATEST = "session", "latest"


def _asked_position(request: Request[Any, Any, Any], min_position: int | None) -> int | None:
    """The position the client names: ``min_position``, or else ``X-Min-Position``."""
    if min_position is not None:
        return min_position
    header = request.headers.get("x-min-position")
    if header is None:
        return None
    # ASCII digits only, read only when short enough to be a position at all: int()
    # refuses over 4,300 digits and str.isdigit() passes "²", which int() refuses.
    text = header.strip()
    if not _POSITION.fullmatch(text) or int(text) > LARGEST:
        raise invalid("X-Min-Position", f"a log position is a whole number from 0 to {LARGEST}")
    return int(text)


def _consistency(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get(CONSISTENCY.lower())
    if header is None:
        return SESSION
    text = header.strip().lower()
    if text not in (SESSION, LATEST):
        raise invalid(CONSISTENCY, f"a read is made consistent as {SESSION!r} or {LATEST!r}")
    return text


def caught_up(
    services: Services,
    request: Request[Any, Any, Any],
    min_position: int | None,
    *views: str,
    principal: Principal | None = None,
    wait: Callable[[int], bool] | None = None,
    reached: Callable[[], int] | None = None,
) -> None:
    """Wait for the views a read uses to reach the position the client asks for, and
    the ``principal``'s own last write (session consistency, ADR 0045).

    ``wait`` and ``reached`` replace the wait on the read models, and the position they
    have reached, for views kept elsewhere (the outbox). A position the client names
    past the log's head is its mistake (422), never a 503. ``X-Read-Consistency:
    latest`` waits for no write of the principal's (a named position still holds) and
    answers the views' lag behind the log's head in ``X-View-Lag``.
    """
    asked = _asked_position(request, min_position)
    consistency = _consistency(request)
    if asked is not None:
        head = services.center.head_position()
        if asked > head:
            # No write answered this position: waiting for it would only time out.
            raise invalid(
                "min_position",
                f"the log holds no position {asked} (its head is {head})",
                code="position-not-written",
            )
    own = 0
    sessions = services.sessions
    if consistency == SESSION and principal is not None and sessions is not None:
        own = sessions.last(principal.token_id)
    wanted = max(asked or 0, own)
    store = None
    if wait is not None:
        # Views kept elsewhere were waited for on the primary: read them there.
        reached_it = wanted <= 0 or wait(wanted)
        request.state[READ_STORE] = services.reads.store
    else:
        # The primary's views, then the replica's copy of them if it serves (ADR 0072).
        store = services.reads.choose(views, wanted, services.read_wait)
        reached_it = store is not None
        request.state[READ_STORE] = store
    if not reached_it:
        whose = f"position {wanted}" if own <= (asked or 0) else f"your last write ({wanted})"
        raise ProblemError(
            503,
            f"the {', '.join(views)} view(s) have not read the log up to {whose} "
            f"within {services.read_wait:g} s; try again shortly",
            code="view-behind",
            headers={"Retry-After": "1"},
        )
    answered = {CONSISTENCY: consistency}
    replica = services.reads.replica
    if replica is not None:
        # Where the read is sent: the replica, or the primary while it is out of the
        # read path or has not replayed the reader's write in time (ADR 0072).
        answered[READ_FROM] = "replica" if store is replica.store else "primary"
    if consistency == LATEST:
        position = reached() if reached is not None else services.reads.reached(views, store)
        answered["X-View-Lag"] = str(max(services.center.head_position() - position, 0))
    request.state[READ_HEADERS] = answered


#: The header that says which database a read was sent to, when a replica is set.
READ_FROM = "X-Read-From"

#: The request state's key for the view store ``caught_up`` chose for the request's reads.
READ_STORE = "closedloop_read_store"


def view_store(services: Services, request: Request[Any, Any, Any]) -> ViewStore:
    """The view store this request's reads read: the one :func:`caught_up` chose (the
    primary's, or the replica's copy once it holds the reader's own write), else the
    replica while it serves (ADR 0072)."""
    chosen = request.state.get(READ_STORE)
    return chosen if chosen is not None else services.reads.for_reading()


def read_views(services: Services, request: Request[Any, Any, Any], query: Callable[[Tx], T]) -> T:
    """``query`` in one read of the request's view store; a read of the replica that
    fails for its being away is read again from the primary."""
    return services.reads.read(view_store(services, request), query)


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a handler sees it: the services, who asks, and in which role.

    The role is the one the route's ``opt`` names and the guard checked; a handler never
    names it again.
    """

    services: Services
    principal: Principal
    request: Request[Any, Any, Any]

    @property
    def center(self) -> CommandCenter:
        return self.services.center

    @property
    def actor(self) -> Actor:
        return actor_of(self.request, self.principal)

    def caught_up(self, min_position: int | None, *views: str) -> None:
        caught_up(self.services, self.request, min_position, *views, principal=self.principal)

    def page(
        self,
        min_position: int | None,
        views: Sequence[str],
        query: Callable[..., tuple[list[Row], str | None]],
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Row], str | None]:
        """One page of a list the caller's unit may see, once ``views`` have read up to
        ``min_position``: ``query(tx, visible_to=…, cursor=…, limit=…)``."""
        self.caught_up(min_position, *views)
        scope = scope_of(self.principal)
        return self.read(lambda tx: paged(partial(query, tx, visible_to=scope), cursor, limit))

    def visible_row(
        self,
        min_position: int | None,
        views: Sequence[str],
        fetch: Callable[[Any], dict[str, Any] | None],
        units_of: Callable[[dict[str, Any]], list[str]],
        missing: str,
    ) -> dict[str, Any]:
        """One view row, if one of the units it concerns is within the caller's (a
        ``NotFound`` saying ``missing`` otherwise, as for a row that is not there)."""
        self.caught_up(min_position, *views)
        principal = self.principal

        def visible(tx: Tx) -> dict[str, Any] | None:
            row = fetch(tx)
            if row is None or not (
                principal.reads_everything or within(tx, units_of(row), principal.unit)
            ):
                return None
            return row

        found = self.read(visible)
        if found is None:
            raise NotFound(missing)
        return found

    def read(self, query: Callable[[Tx], T]) -> T:
        """``query`` in one read of the views this request reads (:func:`read_views`)."""
        return read_views(self.services, self.request, query)

    def run(
        self,
        data: Input | None,
        act: Callable[[Context], Outcome],
        *,
        id_of: Callable[[Outcome], str] = lambda o: str(o.id),
        creates: bool = False,
    ) -> Response[Any]:
        """Run one command in the route's role and answer its receipt."""
        return commands.run(self, data, act, id_of=id_of, creates=creates)


def current_call(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    principal: NamedDependency[Principal],
) -> Call:
    """The ``call`` dependency; it follows ``principal``, which follows ``services``, so
    Litestar resolves them one after the other, with no task group (ADR 0017)."""
    return Call(services, principal, request)


Svc = NamedDependency[Services]
Who = NamedDependency[Principal]
On = NamedDependency[Call]

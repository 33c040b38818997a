"""``/v1/silences`` (ADR 0085): a duty officer silences a station, a feed, a rule or a
unit for a period, with a reason; extends it; ends it early.

A silence is set, extended and ended by a duty officer of a unit whose subtree holds
what it silences (the domain checks it, ``domain/silence_commands.py``); it is seen by
whoever may read that unit's warnings. The list answers the silences not yet over; the
history (``/v1/silences/history``) pages every silence, over or not (ADR 0091).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api import schemas as s
from api.access import can_see_unit_case
from api.http import READ, WRITE, Cursor, Limit, On
from api.intake import intake_of
from api.problems import invalid
from domain.errors import NotFound, SilenceNotFound
from domain.limits import MAX_NOTE
from domain.meta import Context, now
from domain.silence import Silence, SilenceCategory, SilenceKind
from projections.queries import BadCursor, decode_cursor, encode_cursor

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE)]


class SilenceCreate(s.Input, kw_only=True):
    kind: SilenceKind
    #: A station's id (for ``station`` and ``feed``), a rule's code or a unit's code.
    target: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    #: The feed's metric, for ``feed`` only.
    metric: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    #: When it starts (now when not given); at most a few minutes in the past.
    starts_at: datetime | None = None
    ends_at: datetime
    category: SilenceCategory = SilenceCategory.MAINTENANCE
    reason: Reason


class SilenceExtend(s.Input, kw_only=True):
    ends_at: datetime
    reason: Reason


class SilenceEnd(s.Input, kw_only=True):
    reason: Reason


class SilenceOut(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    target: str
    metric: str | None
    scope: str
    starts_at: datetime
    ends_at: datetime
    category: str
    reason: str
    set_by: str
    status: str
    ended_at: datetime | None
    version: int


class SilenceState(StrEnum):
    """Which silences the history lists: those over (ended early or expired), those not
    yet over (pending or active), or all."""

    ENDED = "ended"
    LIVE = "live"
    ALL = "all"


class SilencePage(msgspec.Struct, kw_only=True):
    items: list[SilenceOut]
    #: Pass as ``cursor`` for the next (older) page; null on the last.
    next_cursor: str | None


def silence_out(x: Silence) -> SilenceOut:
    return SilenceOut(
        id=x.id,
        kind=x.kind.value,
        target=x.target,
        metric=x.metric,
        scope=x.scope,
        starts_at=x.starts_at,
        ends_at=x.ends_at,
        category=x.category,
        reason=x.reason,
        set_by=x.set_by,
        status=x.status(now()),
        ended_at=x.ended_at,
        version=x.version,
    )


def _visible(call: On, sid: UUID) -> Silence:
    """The silence, if the caller may see it (404 otherwise, as for one not there)."""
    cases = intake_of(call.request).silences
    silence = cases.silence(sid)
    try:
        seen = can_see_unit_case(call.center, call.principal, [silence.scope])
    except NotFound:
        seen = False
    if not seen:
        raise SilenceNotFound(f"no silence {sid} was set")
    return silence


class SilenceController(Controller):
    path = "/v1/silences"
    tags = ("silences",)

    @post("/", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def set_silence(self, call: On, data: JSONBody[SilenceCreate]) -> Response[s.Receipt]:
        """Silence a station, a feed, a rule or a unit for a period, saying why."""
        cases = intake_of(call.request).silences

        def act(ctx: Context) -> Any:
            return cases.set_silence(
                ctx,
                kind=data.kind.value,
                target=data.target,
                metric=data.metric,
                starts_at=data.starts_at or now(),
                ends_at=data.ends_at,
                category=data.category.value,
                reason=data.reason,
            )

        return call.run(data, act, creates=True)

    @get("/", sync_to_thread=True, responses=READ)
    def list_silences(self, call: On) -> list[SilenceOut]:
        """The silences not yet over that the caller may see, ending soonest first."""
        cases = intake_of(call.request).silences
        out: list[SilenceOut] = []
        for sid, entry in cases.live().items():
            try:
                if not can_see_unit_case(call.center, call.principal, [entry["scope"]]):
                    continue
            except NotFound:
                continue
            out.append(silence_out(cases.silence(UUID(sid))))
        return sorted(out, key=lambda o: (o.ends_at, str(o.id)))

    @get("/history", sync_to_thread=True, responses=READ)
    def silence_history(
        self,
        call: On,
        # ``state`` is a name litestar keeps for itself: the parameter is named apart.
        which: Annotated[
            SilenceState,
            QueryParameter(name="state", description="ended (the default), live or all"),
        ] = SilenceState.ENDED,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> SilencePage:
        """The silences the caller may see, newest set first, paged: by default those
        over (ended early or expired), which ``GET /v1/silences`` no longer lists."""
        try:
            before = decode_cursor(cursor) if cursor is not None else None
        except BadCursor as e:
            raise invalid("cursor", str(e), code="cursor-unknown") from None
        cases = intake_of(call.request).silences
        seen: dict[str, bool] = {}
        items: list[SilenceOut] = []
        next_cursor: str | None = None
        last = 0
        for serial, sid, scope, over in cases.history():
            if before is not None and serial >= before:
                continue
            if (which == SilenceState.ENDED and not over) or (which == SilenceState.LIVE and over):
                continue
            if scope not in seen:
                try:
                    seen[scope] = can_see_unit_case(call.center, call.principal, [scope])
                except NotFound:
                    seen[scope] = False
            if not seen[scope]:
                continue
            if len(items) == limit:
                # One more is there: the page ends after the last one taken.
                next_cursor = encode_cursor(last)
                break
            items.append(silence_out(cases.silence(sid)))
            last = serial
        return SilencePage(items=items, next_cursor=next_cursor)

    @get("/{sid:uuid}", sync_to_thread=True, responses=READ)
    def get_silence(self, call: On, sid: FromPath[UUID]) -> SilenceOut:
        """One silence, over or not."""
        return silence_out(_visible(call, sid))

    @post("/{sid:uuid}/extend", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def extend_silence(
        self, call: On, sid: FromPath[UUID], data: JSONBody[SilenceExtend]
    ) -> Response[s.Receipt]:
        """Move a silence's end later, saying why."""
        _visible(call, sid)
        cases = intake_of(call.request).silences
        return call.run(data, lambda ctx: cases.extend_silence(ctx, sid, data.ends_at, data.reason))

    @post("/{sid:uuid}/end", sync_to_thread=True, opt={"role": "duty_officer"}, responses=WRITE)
    def end_silence(
        self, call: On, sid: FromPath[UUID], data: JSONBody[SilenceEnd]
    ) -> Response[s.Receipt]:
        """End a silence now, saying why; what is still beyond its limit raises at once."""
        silence = _visible(call, sid)
        intake = intake_of(call.request)
        answer = call.run(data, lambda ctx: intake.silences.end_silence(ctx, sid, data.reason))
        # Lifted at once; the next breaching reading would raise it anyway.
        intake.lift(intake.silences.silence(silence.id))
        return answer


SILENCE_HANDLERS: list[Any] = [SilenceController]

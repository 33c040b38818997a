"""The auditor's resources: a loop's timeline, the log's export, the signed checkpoints
and their verification (ADR 0013, ADR 0021); an aggregate's history and past states are
in :mod:`api.history`, the timeline's lines in the catalogue (:mod:`texts.timeline`).

Register :data:`AUDIT_HANDLERS` in ``create_app`` (the history's handlers among them).
The timeline, histories and past states are scoped like every read (a unit sees what
concerns its subtree; the auditor and admin see everything); the verification is the
auditor's and admin's only, the export the auditor's whole and an admin's for its own
subtree, secrets redacted for both (ADR 0042). The audit key is read from
``CLOSEDLOOP_AUDIT_KEY`` on first use unless the composition root put an
:class:`AuditService` in ``app.state.audit``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

import audit
from api.access import Services, can_see_unit_case, visible_instruction, visible_warning
from api.headers import html_page
from api.history import HISTORY_HANDLERS
from api.http import (
    LARGEST,
    READ,
    MinPosition,
    On,
    Svc,
    Who,
    best_match,
    check_times,
    problem_specs,
)
from api.problems import ProblemError
from api.renderings import template
from api.tokens import Principal
from domain.application import CommandCenter
from domain.disposition import Disposition
from domain.errors import NotFound
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from domain.whistle import Whistle
from projections.loops import loop_members
from projections.store import ViewStore
from texts.catalogue import word
from texts.timeline import describe

AUDITOR_ONLY = problem_specs(401, 403, 422, 503)
AUDITOR = "auditor"


# -- what the answers look like ----------------------------------------------------------


class TimelineEntry(msgspec.Struct, kw_only=True):
    position: int
    kind: str
    aggregate_id: UUID
    version: int
    event: str
    person: str | None
    unit: str | None
    role: str | None
    recorded_at: datetime
    occurred_at: datetime | None
    command: str | None
    command_id: str | None
    cause: str | None
    description: str
    description_zh: str


class Timeline(msgspec.Struct, kw_only=True):
    loop_id: UUID
    kind: str
    title: str
    members: int
    entries: list[TimelineEntry]


class CheckpointOut(msgspec.Struct, kw_only=True):
    size: int
    position: int
    head: str
    signed_at: datetime
    key_id: str
    note: str


class PublicKeyOut(msgspec.Struct, kw_only=True):
    algorithm: str
    key_name: str
    key_id: str
    public_key: str
    verifier_key: str


class FaultOut(msgspec.Struct, kw_only=True):
    position: int
    reason: str


class VerificationOut(msgspec.Struct, kw_only=True):
    ok: bool
    events: int
    chained: int
    head_position: int
    head: str
    checkpoints: int
    pending: int
    first_fault: FaultOut | None
    summary: str


# -- the audit key, per application ------------------------------------------------------


@dataclass
class AuditService:
    settings: audit.AuditSettings
    key: audit.PublicKey

    @classmethod
    def from_settings(cls, settings: audit.AuditSettings) -> AuditService:
        signer = audit.Signer.from_file(settings.key_path, settings.origin)
        return cls(settings, signer.public)


_STATE_LOCK = threading.Lock()


def audit_service(state: State) -> AuditService:
    with _STATE_LOCK:
        service: AuditService | None = state.get("audit")
        if service is None:
            try:
                service = AuditService.from_settings(
                    state.get("audit_settings") or audit.AuditSettings()
                )
            except (OSError, ValueError) as e:
                raise ProblemError(503, f"the audit key cannot be read: {e}") from e
            state["audit"] = service
        return service


def _auditor(principal: Principal) -> None:
    if not principal.reads_everything:
        raise ProblemError(
            403,
            "only the auditor or admin role may do this; this token has: "
            + ", ".join(principal.roles),
            code="role-required",
        )


def _export_scope(principal: Principal) -> str | None:
    """Whose subtree an export holds: None (the whole log) for the auditor role, the
    admin's own unit for an admin; any other role may not export (403)."""
    _auditor(principal)
    return None if AUDITOR in principal.roles else principal.unit


# -- the timeline of a loop --------------------------------------------------------------


def loop_timeline(
    center: CommandCenter,
    store: ViewStore,
    loop_id: UUID,
    zone: ZoneInfo,
    shows: Callable[[UUID], bool] | None = None,
) -> Timeline:
    """Every event of the loop's aggregates, in log order (unscoped: check the loop
    before), or of those ``shows`` keeps besides the loop's own.

    The loop index gives the aggregates; one keyed read of the events table gives
    their events with their positions.
    """
    with store.read() as tx:
        members = loop_members(tx, str(loop_id))
    kinds = {UUID(a): k for a, k, _ in members}
    if loop_id not in kinds:
        raise NotFound("loop not found")
    if shows is not None:
        kinds = {a: k for a, k in kinds.items() if a == loop_id or shows(a)}
    entries = []
    title = ""
    mapper = center.mapper
    for n in audit.events_of(center, list(kinds)):
        aggregate_id = UUID(str(n.originator_id))
        e: Any = mapper.to_domain_event(n)
        meta = getattr(e, "meta", None)
        name = type(e).__qualname__
        fields = vars(e)
        if n.originator_id == loop_id and n.originator_version == 1:
            title = getattr(e, "title", "")
        entries.append(
            TimelineEntry(
                position=n.id,
                kind=kinds.get(aggregate_id, "other"),
                aggregate_id=aggregate_id,
                version=n.originator_version,
                event=name,
                person=getattr(meta, "person", None),
                unit=getattr(meta, "unit", None),
                role=getattr(meta, "role", None),
                recorded_at=e.timestamp.astimezone(zone),
                occurred_at=meta.occurred_at.astimezone(zone) if meta else None,
                command=getattr(meta, "command", None),
                command_id=getattr(meta, "command_id", None),
                cause=getattr(meta, "cause", None),
                description=describe(name, fields, "en", zone),
                description_zh=describe(name, fields, "zh", zone),
            )
        )
    return Timeline(
        loop_id=loop_id,
        kind=kinds[loop_id],
        title=title,
        members=len(kinds),
        entries=entries,
    )


def _check_loop_visible(services: Services, principal: Principal, loop_id: UUID) -> None:
    if principal.reads_everything:
        return
    center = services.center
    root = center.find(loop_id)
    if root is None:
        raise NotFound("loop not found")
    if isinstance(root, EarlyWarning):
        visible_warning(services, principal, root)
    elif isinstance(root, Instruction):
        visible_instruction(services, principal, root)
    elif isinstance(root, Whistle):
        if not can_see_unit_case(center, principal, [root.unit, *root.departments]):
            raise NotFound("loop not found")
    else:
        raise NotFound("loop not found")


def _member_shown(services: Services, principal: Principal) -> Callable[[UUID], bool] | None:
    """Which members of a loop the principal may read: a loop gathers the cases of
    several units (a neighbour's forwarded part, another office's instruction), and
    each stays as hidden in the timeline as at its own address. None: all of them."""
    if principal.reads_everything:
        return None
    center = services.center

    def shows(aggregate_id: UUID) -> bool:
        member = center.find(aggregate_id)
        if isinstance(member, Disposition):
            member = center.find(member.instruction_id)
        if isinstance(member, EarlyWarning):
            return can_see_unit_case(center, principal, [member.unit])
        if isinstance(member, Instruction):
            return can_see_unit_case(center, principal, [member.issuer, *member.assignees])
        if isinstance(member, Whistle):
            return can_see_unit_case(center, principal, [member.unit, *member.departments])
        return False

    return shows


def visible_timeline(services: Services, principal: Principal, loop_id: UUID) -> Timeline:
    """A loop's timeline as ``principal`` may read it (the API's and the pages'): the
    not-found answer for a loop it may not see, and of the loop's members the ones it
    may (check the loops view's position before)."""
    _check_loop_visible(services, principal, loop_id)
    return loop_timeline(
        services.center,
        services.reads.store,
        loop_id,
        services.views.zone,
        _member_shown(services, principal),
    )


def render_timeline(timeline: Timeline, chain_head: int, zone: ZoneInfo) -> str:
    page = template("timeline.html.j2")
    # The page shows wall times without an offset, so it names the zone and its offset
    # once (at the loop's first event: the offset a reader of these times needs).
    first = timeline.entries[0].recorded_at if timeline.entries else datetime.now(UTC)
    offset = first.astimezone(zone).isoformat(timespec="minutes")[-6:]
    # The roles are shown as the catalogue's words, as the lines are (ADR 0038).
    return page.render(t=timeline, chain_head=chain_head, word=word, zone=zone.key, offset=offset)


def _wants_html(request: Request[Any, Any, Any], fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "html"
    json = "application/json"
    return best_match(request, [json, "text/html"], default=json) == "text/html"


class LoopController(Controller):
    path = "/v1/loops"
    tags = ("audit",)

    @get("/{loop_id:uuid}/timeline", sync_to_thread=True, responses=READ)
    def timeline(
        self,
        call: On,
        loop_id: FromPath[UUID],
        format: Annotated[
            str | None, QueryParameter(pattern="^(json|html)$", description="json or html")
        ] = None,
        min_position: MinPosition = None,
    ) -> Response[Timeline]:
        """Every event of a loop in log order, with who acted, when, and what it meant.

        ``format=html`` (or ``Accept: text/html``) answers a printable page for the case
        file.
        """
        call.caught_up(min_position, "loops")
        services, request = call.services, call.request
        timeline = visible_timeline(services, call.principal, loop_id)
        if _wants_html(request, format):
            html = render_timeline(timeline, services.center.head_position(), services.views.zone)
            return html_page(html)  # type: ignore[return-value]
        return Response(timeline)


# -- the log as a whole ------------------------------------------------------------------


def last_checkpoint(services: Services) -> CheckpointOut | None:
    """The newest signed checkpoint, or None before the first is signed."""
    rows = audit.checkpoints(services.reads.store)
    return CheckpointOut(**rows[-1]) if rows else None


def verification_of(services: Services, principal: Principal, state: State) -> VerificationOut:
    """The chain recomputed from the first event, every checkpoint checked (the
    auditor's and admin's only: 403 for anyone else)."""
    _auditor(principal)
    key = audit_service(state).key
    result = audit.verify(services.center, services.reads.store, key)
    fault = result.first_fault
    counts = {name: getattr(result, name) for name in _COUNTED}
    return VerificationOut(
        **counts,
        ok=result.ok,
        head=result.head.hex(),
        first_fault=None
        if fault is None
        else FaultOut(position=fault.position, reason=fault.reason),
        summary=result.summary(),
    )


#: What a verification counted, answered as it counted it.
_COUNTED = ("events", "chained", "head_position", "checkpoints", "pending")


def export_of(
    services: Services,
    principal: Principal,
    *,
    start: int | None = None,
    stop: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[bytes]:
    """The export's lines for ``principal`` under ADR 0042's scope (403 for a role that
    may not export; 422 for a time without its zone)."""
    subtree = _export_scope(principal)
    check_times(since=since, until=until)
    return audit.export_lines(
        services.center,
        services.reads.store,
        start=start,
        stop=stop,
        since=since,
        until=until,
        subtree=subtree,
    )


class AuditController(Controller):
    path = "/v1/audit"
    tags = ("audit",)

    @get("/public-key", sync_to_thread=True, opt={"public": True})
    def public_key(self, request: Request[Any, Any, Any]) -> PublicKeyOut:
        """The Ed25519 key that signs the checkpoints (also as a note verifier key)."""
        key = audit_service(request.app.state).key
        return PublicKeyOut(
            algorithm="Ed25519",
            key_name=key.name,
            key_id=key.key_id.hex(),
            public_key=base64.b64encode(key.raw).decode(),
            verifier_key=key.verifier,
        )

    @get("/checkpoints", sync_to_thread=True, responses=READ)
    def checkpoints(
        self,
        services: Svc,
        principal: Who,
        after: Annotated[
            int,
            # Litestar drops a bound of 0 and writes LARGEST as a float that rounds up.
            QueryParameter(
                ge=0,
                le=LARGEST,
                schema_extra={"minimum": 0, "maximum": LARGEST},
                description="sizes above this",
            ),
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[CheckpointOut]:
        """The signed checkpoints, oldest first (each a signed note)."""
        rows = [r for r in audit.checkpoints(services.reads.store) if r["size"] > after]
        return [CheckpointOut(**r) for r in rows[:limit]]

    @get("/verification", sync_to_thread=True, responses=AUDITOR_ONLY)
    def verification(
        self, services: Svc, principal: Who, request: Request[Any, Any, Any]
    ) -> VerificationOut:
        """Recompute the chain from the first event and check every checkpoint."""
        return verification_of(services, principal, request.app.state)

    @get(
        "/export",
        sync_to_thread=True,
        responses=AUDITOR_ONLY,
        media_type="application/x-ndjson",
    )
    def export(
        self,
        services: Svc,
        principal: Who,
        from_position: Annotated[int | None, QueryParameter(ge=1, le=LARGEST)] = None,
        to_position: Annotated[int | None, QueryParameter(ge=1, le=LARGEST)] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="recorded at or after")
        ] = None,
        until: Annotated[datetime | None, QueryParameter(description="recorded before")] = None,
    ) -> Stream:
        """The log, or a slice of it, as NDJSON: each event's record, and in ``chain``
        its form, the hashes before it and its own, and its stored state in base64
        (what an outside verifier frames and hashes in form 2, ADR 0021).

        The auditor exports the whole log; an admin, the events that concern its own
        unit's subtree. Secret material (a token's hash, a webhook secret's ciphertext)
        and everything of a webhook URL but its scheme, host and port are replaced for
        everyone, the event's ``redacted`` naming what, its ``state`` then null
        (ADR 0042)."""
        lines: Iterator[bytes] = export_of(
            services,
            principal,
            start=from_position,
            stop=to_position,
            since=since,
            until=until,
        )
        return Stream(lines, media_type="application/x-ndjson")


AUDIT_HANDLERS: list[type[Controller]] = [LoopController, *HISTORY_HANDLERS, AuditController]

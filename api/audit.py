"""The auditor's resources: a loop's timeline, an aggregate's history and past states,
the log's export, the signed checkpoints and their verification (ADR 0013, ADR 0021).

Register :data:`AUDIT_HANDLERS` in ``create_app``. The timeline, histories and past
states are scoped like every read (a unit sees what concerns its subtree; the auditor
and admin see everything); the export and the verification are the auditor's and
admin's only. The audit key is read from ``CLOSEDLOOP_AUDIT_KEY`` on first use unless
the composition root put an :class:`AuditService` in ``app.state.audit``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

import audit
from api.access import Services, visible_instruction, visible_warning
from api.problems import ProblemError, invalid
from api.routes import LARGEST, READ, _problems, caught_up
from api.tokens import Principal
from domain.application import CommandCenter
from domain.base import BOOKKEEPING
from domain.disposition import Disposition
from domain.errors import NotFound
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from projections.loops import KINDS, loop_members
from projections.store import ViewStore

Svc = NamedDependency[Services]
Who = NamedDependency[Principal]

AUDITOR_ONLY = _problems(401, 403, 422, 503)


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


# -- descriptions, one line per event type -----------------------------------------------


def _t(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _yes(flag: Any, yes: str, no: str) -> str:
    return yes if flag else no


Describe = Callable[[Any], tuple[str, str]]

#: (English, Chinese) of each event, from its own fields; the actor is shown beside it.
DESCRIPTIONS: dict[str, Describe] = {
    "EarlyWarning.Raised": lambda e: (
        f"Raised a level-{e.level} {e.theme} warning at {e.unit}: {e.title}",
        f"发布{e.level}级{e.theme}预警（{e.unit}）：{e.title}",
    ),
    "EarlyWarning.Repeated": lambda e: (
        f"The warning was observed again (level {e.level})",
        f"预警再次出现（{e.level}级）",
    ),
    "EarlyWarning.LevelChanged": lambda e: (
        f"Changed the level from {e.previous_level} to {e.level}: {e.reason}",
        f"预警级别由{e.previous_level}级调整为{e.level}级：{e.reason}",
    ),
    "EarlyWarning.Acknowledged": lambda e: ("Acknowledged the warning", "确认收到预警"),
    "EarlyWarning.Assessed": lambda e: (
        f"Assessed the warning: {_yes(e.confirmed, 'confirmed', 'not confirmed')}. {e.note}",
        f"研判预警：{_yes(e.confirmed, '属实', '不属实')}。{e.note}",
    ),
    "EarlyWarning.InstructionLinked": lambda e: (
        f"Instruction {e.instruction_id} was linked to the warning",
        f"关联指令 {e.instruction_id}",
    ),
    "EarlyWarning.InstructionFinished": lambda e: (
        f"Linked instruction {e.instruction_id} ended: {e.outcome}",
        f"关联指令 {e.instruction_id} 已结束：{e.outcome}",
    ),
    "EarlyWarning.Resolved": lambda e: (f"Resolved the warning. {e.note}", f"预警解除。{e.note}"),
    "EarlyWarning.Cancelled": lambda e: (
        f"Cancelled the warning: {e.reason}",
        f"撤销预警：{e.reason}",
    ),
    "EarlyWarning.Closed": lambda e: (f"Closed the warning. {e.note}", f"预警闭环归档。{e.note}"),
    "Instruction.Issued": lambda e: (
        f"Issued a {e.priority} instruction to {e.lead}"
        f"{' with ' + ', '.join(e.cooperating) if e.cooperating else ''}, "
        f"due {_t(e.deadline)}: {e.title}",
        f"向{e.lead}下达{e.priority}指令"
        f"{'（协办：' + '、'.join(e.cooperating) + '）' if e.cooperating else ''}，"
        f"时限{_t(e.deadline)}：{e.title}",
    ),
    "Instruction.SignedFor": lambda e: (
        f"{e.unit} signed for the instruction",
        f"{e.unit}签收指令",
    ),
    "Instruction.ReturnedToIssuer": lambda e: (
        f"{e.unit} returned the instruction to its issuer: {e.reason}",
        f"{e.unit}退回指令：{e.reason}",
    ),
    "Instruction.Redirected": lambda e: (
        f"Redirected the instruction from {e.from_unit} to {e.to_unit}",
        f"指令由{e.from_unit}改派至{e.to_unit}",
    ),
    "Instruction.LinkedToWarning": lambda e: (
        f"The instruction was linked to warning {e.warning_id}",
        f"指令关联预警 {e.warning_id}",
    ),
    "Instruction.Forwarded": lambda e: (
        f"{e.unit} forwarded the instruction to {e.to_unit}",
        f"{e.unit}将指令转派至{e.to_unit}",
    ),
    "Instruction.ChildFinished": lambda e: (
        f"Forwarded instruction {e.child_id} ended: {e.outcome}",
        f"转派指令 {e.child_id} 已结束：{e.outcome}",
    ),
    "Instruction.ExtensionRequested": lambda e: (
        f"{e.unit} asked for more time, until {_t(e.deadline)}: {e.reason}",
        f"{e.unit}申请延期至{_t(e.deadline)}：{e.reason}",
    ),
    "Instruction.ExtensionDecided": lambda e: (
        f"The extension was {_yes(e.granted, 'granted', 'refused')}; "
        f"deadline {_t(e.deadline)}. {e.note}",
        f"延期申请{_yes(e.granted, '获批', '被驳回')}，时限{_t(e.deadline)}。{e.note}",
    ),
    "Instruction.ResultSubmitted": lambda e: (
        f"{e.unit} submitted its result: {e.result}",
        f"{e.unit}提交办理结果：{e.result}",
    ),
    "Instruction.Verified": lambda e: (
        f"The issuer {_yes(e.accepted, 'accepted', 'rejected')} the result. {e.note}",
        f"下达单位核查结果：{_yes(e.accepted, '通过', '不通过')}。{e.note}",
    ),
    "Instruction.Reminded": lambda e: (f"Reminder sent. {e.note}", f"催办。{e.note}"),
    "Instruction.MarkedOverdue": lambda e: (
        f"Marked overdue (deadline {_t(e.deadline)}). {e.note}",
        f"标记超期（时限{_t(e.deadline)}）。{e.note}",
    ),
    "Instruction.Supervised": lambda e: (
        f"Placed under supervision by {e.supervisor}. {e.note}",
        f"{e.supervisor}督办。{e.note}",
    ),
    "Instruction.Parked": lambda e: (f"Parked: {e.reason}", f"挂起：{e.reason}"),
    "Instruction.Resumed": lambda e: (f"Resumed. {e.note}", f"恢复办理。{e.note}"),
    "Instruction.Cancelled": lambda e: (
        f"Cancelled the instruction: {e.reason}",
        f"撤销指令：{e.reason}",
    ),
    "Disposition.Opened": lambda e: (
        f"{e.unit} opened its disposition of the instruction",
        f"{e.unit}开始处置",
    ),
    "Disposition.ProgressReported": lambda e: (
        f"Progress reported: {e.note}",
        f"报告进展：{e.note}",
    ),
    "Disposition.ActionRecorded": lambda e: (
        f"Action taken: {e.text}"
        f"{f' ({len(e.evidence)} piece(s) of evidence)' if e.evidence else ''}",
        f"处置措施：{e.text}{f'（附证据{len(e.evidence)}项）' if e.evidence else ''}",
    ),
    "Disposition.ResultSubmitted": lambda e: (
        f"Result submitted: {e.result}",
        f"提交处置结果：{e.result}",
    ),
    "Disposition.Verified": lambda e: (
        f"The result was {_yes(e.accepted, 'accepted', 'rejected')}. {e.note}",
        f"处置结果核查{_yes(e.accepted, '通过', '不通过')}。{e.note}",
    ),
    "Disposition.Ended": lambda e: (f"The disposition ended: {e.reason}", f"处置结束：{e.reason}"),
}


def describe(event: Any) -> tuple[str, str]:
    """One line in English and in Chinese; the event's type when it has no line yet."""
    name = event_name(event)
    line = DESCRIPTIONS.get(name)
    if line is None:
        return name, name
    try:
        en, zh = line(event)
    except AttributeError:
        # An older shape of the event: its type still says what happened.
        return name, name
    return en.strip(), zh.strip()


def event_name(event: Any) -> str:
    return type(event).__qualname__


# -- the timeline of a loop --------------------------------------------------------------


def loop_timeline(
    center: CommandCenter, store: ViewStore, loop_id: UUID, zone: ZoneInfo
) -> Timeline:
    """Every event of the loop's aggregates, in log order (unscoped: check before).

    The loop index gives the aggregates; one keyed read of the events table gives
    their events with their positions.
    """
    with store.read() as tx:
        members = loop_members(tx, str(loop_id))
    kinds = {UUID(a): k for a, k, _ in members}
    if loop_id not in kinds:
        raise NotFound("loop not found")
    entries = []
    title = ""
    mapper = center.mapper
    for n in audit.events_of(center, list(kinds)):
        aggregate_id = UUID(str(n.originator_id))
        e: Any = mapper.to_domain_event(n)
        meta = getattr(e, "meta", None)
        en, zh = describe(e)
        if n.originator_id == loop_id and n.originator_version == 1:
            title = getattr(e, "title", "")
        entries.append(
            TimelineEntry(
                position=n.id,
                kind=kinds.get(aggregate_id, "other"),
                aggregate_id=aggregate_id,
                version=n.originator_version,
                event=event_name(e),
                person=getattr(meta, "person", None),
                unit=getattr(meta, "unit", None),
                role=getattr(meta, "role", None),
                recorded_at=e.timestamp.astimezone(zone),
                occurred_at=meta.occurred_at.astimezone(zone) if meta else None,
                command=getattr(meta, "command", None),
                command_id=getattr(meta, "command_id", None),
                cause=getattr(meta, "cause", None),
                description=en,
                description_zh=zh,
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
    else:
        raise NotFound("loop not found")


_TEMPLATES: Environment | None = None


def _templates() -> Environment:
    global _TEMPLATES
    if _TEMPLATES is None:
        _TEMPLATES = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _TEMPLATES


def render_timeline(timeline: Timeline, chain_head: int) -> str:
    return _templates().get_template("timeline.html.j2").render(t=timeline, chain_head=chain_head)


def _wants_html(request: Request[Any, Any, Any], fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


# -- one aggregate: its history and its past states --------------------------------------

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
    """The aggregate at a recorded time or a version, rebuilt from its events.

    This is what ``GET /v1/{kind}/{id}?as_of=…`` (or ``?version=``) answers too.
    """
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


AsOfTime = Annotated[
    datetime | None,
    QueryParameter(description="a recorded time (RFC 3339 with offset): the state then"),
]
AsOfVersion = Annotated[
    int | None, QueryParameter(ge=1, le=LARGEST, description="the state at a version")
]


class AuditedWarnings(Controller):
    path = "/v1/warnings"
    tags = ("audit",)

    @get("/{wid:uuid}/history", sync_to_thread=True, responses=READ)
    def history(self, services: Svc, principal: Who, wid: FromPath[UUID]) -> History:
        """The raw event history of one warning, with each event's log position."""
        return history_of(services, principal, "warnings", wid)

    @get("/{wid:uuid}/as-of", sync_to_thread=True, responses=READ)
    def as_of(
        self,
        services: Svc,
        principal: Who,
        wid: FromPath[UUID],
        at: AsOfTime = None,
        version: AsOfVersion = None,
    ) -> PastState:
        """The warning as it stood at a past moment or version."""
        return past_state(services, principal, "warnings", wid, at, version)


class AuditedInstructions(Controller):
    path = "/v1/instructions"
    tags = ("audit",)

    @get("/{iid:uuid}/history", sync_to_thread=True, responses=READ)
    def history(self, services: Svc, principal: Who, iid: FromPath[UUID]) -> History:
        """The raw event history of one instruction, with each event's log position."""
        return history_of(services, principal, "instructions", iid)

    @get("/{iid:uuid}/as-of", sync_to_thread=True, responses=READ)
    def as_of(
        self,
        services: Svc,
        principal: Who,
        iid: FromPath[UUID],
        at: AsOfTime = None,
        version: AsOfVersion = None,
    ) -> PastState:
        """The instruction as it stood at a past moment or version."""
        return past_state(services, principal, "instructions", iid, at, version)


class AuditedDispositions(Controller):
    path = "/v1/dispositions"
    tags = ("audit",)

    @get("/{did:uuid}/history", sync_to_thread=True, responses=READ)
    def history(self, services: Svc, principal: Who, did: FromPath[UUID]) -> History:
        """The raw event history of one disposition, with each event's log position."""
        return history_of(services, principal, "dispositions", did)

    @get("/{did:uuid}/as-of", sync_to_thread=True, responses=READ)
    def as_of(
        self,
        services: Svc,
        principal: Who,
        did: FromPath[UUID],
        at: AsOfTime = None,
        version: AsOfVersion = None,
    ) -> PastState:
        """The disposition as it stood at a past moment or version."""
        return past_state(services, principal, "dispositions", did, at, version)


class LoopController(Controller):
    path = "/v1/loops"
    tags = ("audit",)

    @get("/{loop_id:uuid}/timeline", sync_to_thread=True, responses=READ)
    def timeline(
        self,
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        loop_id: FromPath[UUID],
        format: Annotated[
            str | None, QueryParameter(pattern="^(json|html)$", description="json or html")
        ] = None,
        min_position: Annotated[int | None, QueryParameter(ge=0, le=LARGEST)] = None,
    ) -> Response[Timeline]:
        """Every event of a loop in log order, with who acted, when, and what it meant.

        ``format=html`` (or ``Accept: text/html``) answers a printable page for the case
        file.
        """
        caught_up(services, request, min_position, "loops")
        _check_loop_visible(services, principal, loop_id)
        timeline = loop_timeline(
            services.center, services.reads.store, loop_id, services.views.zone
        )
        if _wants_html(request, format):
            html = render_timeline(timeline, services.center.head_position())
            return Response(html, media_type="text/html; charset=utf-8")  # type: ignore[arg-type]
        return Response(timeline)


# -- the log as a whole ------------------------------------------------------------------


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
        after: Annotated[int, QueryParameter(ge=0, le=LARGEST, description="sizes above this")] = 0,
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
        _auditor(principal)
        key = audit_service(request.app.state).key
        result = audit.verify(services.center, services.reads.store, key)
        fault = result.first_fault
        return VerificationOut(
            ok=result.ok,
            events=result.events,
            chained=result.chained,
            head_position=result.head_position,
            head=result.head.hex(),
            checkpoints=result.checkpoints,
            pending=result.pending,
            first_fault=None
            if fault is None
            else FaultOut(position=fault.position, reason=fault.reason),
            summary=result.summary(),
        )

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
        (what an outside verifier frames and hashes in form 2, ADR 0021)."""
        _auditor(principal)
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise invalid(name, "the time must carry a time-zone offset")
        lines: Iterator[bytes] = audit.export_lines(
            services.center,
            services.reads.store,
            start=from_position,
            stop=to_position,
            since=since,
            until=until,
        )
        return Stream(lines, media_type="application/x-ndjson")


AUDIT_HANDLERS = [
    LoopController,
    AuditedWarnings,
    AuditedInstructions,
    AuditedDispositions,
    AuditController,
]

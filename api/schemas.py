"""What the API accepts and answers: msgspec Structs, the only types at the edge.

Inputs refuse unknown fields and state their bounds, so that a malformed request is
refused (422, naming the field) before anything reaches the domain. Outputs are built
from aggregates in :mod:`api.views` only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import msgspec
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType

from domain.instruction import Priority
from domain.limits import (
    MAX_CODE,
    MAX_DEDUP_KEY,
    MAX_EVIDENCE,
    MAX_LOCATION,
    MAX_NAME,
    MAX_NOTE,
    MAX_REFERENCE,
    MAX_SHORT,
    MAX_TEXT,
    MAX_TITLE,
)
from domain.unit import Kind, Level
from domain.warning import Theme

Code = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_CODE, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"),
]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Note = Annotated[str, msgspec.Meta(max_length=MAX_NOTE)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SHORT)]
#: The ISO 8601 durations the calendar reads (domain.calendar.WorkingDuration.parse):
#: weeks alone, or days and a time part; no years or months (not a fixed length).
DURATION_FORM = r"^\s*[Pp](?:[0-9]+[Ww]|[0-9]+[Dd](?:[Tt]TIME)?|[Tt]TIME)\s*$".replace(
    "TIME", r"(?:[0-9]+[Hh](?:[0-9]+[Mm])?(?:[0-9]+[Ss])?|[0-9]+[Mm](?:[0-9]+[Ss])?|[0-9]+[Ss])"
)
Duration = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=40,
        examples=["P1D", "PT4H"],
        extra_json_schema={"pattern": DURATION_FORM},
    ),
]
#: A client's own command id; the API scopes it by unit, which must fit in 128 characters.
CommandId = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
WarningLevel = Annotated[int, msgspec.Meta(ge=1, le=4)]


#: The moments every time zone can show. One within a day of year 1's start or of year
#: 9999's end is year 0 or 10000 somewhere, and converting it there (to UTC for a view,
#: to the calendar's zone for a deadline) raised OverflowError: a 500 (issue 19).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def showable(value: datetime) -> bool:
    """Whether an aware ``value`` lies within :data:`EARLIEST` and :data:`LATEST` (an
    aware comparison never converts, so it cannot overflow)."""
    return EARLIEST <= value <= LATEST


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What every command may carry: its own id (for retries) and the business time."""

    command_id: CommandId | None = None
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        # Every time a command carries, in one place: msgspec reports the error as the
        # field's (422 naming it).
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime) and value.tzinfo is not None and not showable(value):
                raise ValueError(f"the time in field `{name}` lies outside years 1 to 9999")


# -- units ---------------------------------------------------------------------------


def _values(*members: Kind | Level) -> Schema:
    return Schema(enum=[str(m) for m in members])


_GIVEN = Schema(type=OpenAPIType.STRING)
_NONE = Schema(type=OpenAPIType.NULL)


class UnitCreate(Input, kw_only=True):
    """A unit's level goes with its kind, and only a city government has no parent
    (:func:`domain.unit.check_placement`); where it may sit under its parent depends on
    the parent (``placement-refused``)."""

    contract_rules: ClassVar[dict[str, Any]] = {
        "one_of": [
            Schema(
                properties={
                    "level": _values(Level.CITY),
                    "kind": _values(Kind.GOVERNMENT),
                    "parent": _NONE,
                }
            ),
            Schema(
                required=["parent"],
                properties={
                    "level": _values(Level.DISTRICT, Level.OFFICE, Level.COMMUNITY),
                    "kind": _values(Kind.GOVERNMENT),
                    "parent": _GIVEN,
                },
            ),
            Schema(
                required=["parent"],
                properties={
                    "level": _values(Level.CITY, Level.DISTRICT, Level.OFFICE, Level.COMMUNITY),
                    "kind": _values(Kind.DEPARTMENT),
                    "parent": _GIVEN,
                },
            ),
            Schema(
                required=["parent"],
                properties={
                    "level": _values(Level.ENTERPRISE),
                    "kind": _values(Kind.ENTERPRISE),
                    "parent": _GIVEN,
                },
            ),
        ]
    }

    code: Code
    name: Title
    name_en: Annotated[str, msgspec.Meta(max_length=MAX_NAME)] | None = None
    level: Level
    kind: Kind
    parent: Code | None = None


class UnitUpdate(Input, kw_only=True):
    """Rename, move, deactivate or reactivate; several at once are applied in that order.
    A deactivation says why."""

    contract_rules: ClassVar[dict[str, Any]] = {
        "any_of": [
            Schema(properties={"active": Schema(schema_not=Schema(const=False))}),
            Schema(required=["reason"]),
        ]
    }

    name: Title | None = None
    name_en: Annotated[str, msgspec.Meta(max_length=MAX_NAME)] | None = None
    parent: Code | None = None
    active: bool | None = None
    reason: Note | None = None


class Unit(msgspec.Struct, kw_only=True):
    code: str
    name: str
    name_en: str
    level: str
    kind: str
    parent: str | None
    active: bool
    version: int


# -- warnings ------------------------------------------------------------------------


class WarningCreate(Input, kw_only=True):
    rule: Short
    theme: Theme
    level: WarningLevel
    title: Title
    unit: Code
    source: Short | None = None
    description: Text | None = None
    location: Annotated[str, msgspec.Meta(max_length=MAX_LOCATION)] | None = None
    observed_at: datetime | None = None
    dedup_key: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DEDUP_KEY)] | None = None
    attributes: dict[str, Any] | None = None


class Assessment(Input, kw_only=True):
    confirmed: bool
    note: Note | None = None


class Remark(Input, kw_only=True):
    note: Note | None = None


class Reason(Input, kw_only=True):
    reason: Note


class Warning(msgspec.Struct, kw_only=True):
    id: UUID
    status: str
    version: int
    source: str
    rule: str
    theme: str
    level: int
    title: str
    description: str
    location: str
    unit: str
    dedup_key: str
    observed_at: datetime
    last_observed_at: datetime
    raised_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    assessment: str | None
    repeats: int
    instructions: list[UUID]
    open_instructions: list[UUID]
    attributes: dict[str, Any]
    #: Merging (并单, ADR 0082): the main case this warning was merged into (its status
    #: is then ``merged``), and the warnings merged into this one.
    merged_into: UUID | None = None
    merged: list[UUID] = msgspec.field(default_factory=list)
    #: Grouping (ADR 0087): the group this warning gathers, with its members; None
    #: for a warning of one condition.
    group: WarningGroup | None = None
    #: Inhibition (ADR 0087): the open warning that inhibits this one now, and the
    #: inhibit rule by which; an inhibited warning runs no playbook.
    inhibited_by: UUID | None = None
    inhibition: str | None = None


class GroupMember(msgspec.Struct, kw_only=True):
    #: The station whose breach is a member.
    member: str
    level: int
    #: Still beyond its limit (False once it is normal again).
    active: bool
    joined_at: datetime


class WarningGroup(msgspec.Struct, kw_only=True):
    #: The group's key: the rule, the grouping labels' values and the unit.
    key: str
    #: The labels the rule groups by, and their values for this group.
    by: list[str]
    labels: dict[str, str]
    window_minutes: int
    members: list[GroupMember]
    #: How many members the group has had, and how many are still beyond their limit.
    count: int
    active: int


class WarningSummary(msgspec.Struct, kw_only=True):
    id: UUID
    status: str
    version: int
    theme: str
    level: int
    title: str
    unit: str
    rule: str
    raised_at: datetime
    last_observed_at: datetime
    repeats: int
    #: A group's member count (ADR 0087); 0 for a warning of one condition.
    members: int = 0
    inhibited_by: UUID | None = None


class WarningPage(msgspec.Struct, kw_only=True):
    items: list[WarningSummary]
    next_cursor: str | None


# -- instructions --------------------------------------------------------------------


#: A deadline, or a duration (``due_in``) the calendar turns into one: given, not null.
_DEADLINE = Schema(required=["deadline"], properties={"deadline": _GIVEN})
_DUE_IN = Schema(required=["due_in"], properties={"due_in": _GIVEN})


class InstructionCreate(Input, kw_only=True):
    """A deadline or a duration (``due_in``), one of them (api.instructions)."""

    contract_rules: ClassVar[dict[str, Any]] = {"one_of": [_DEADLINE, _DUE_IN]}

    lead_unit: Code
    title: Title
    content: Text | None = None
    cooperating_units: Annotated[list[Code], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )
    priority: Priority = Priority.NORMAL
    deadline: datetime | None = None
    due_in: Duration | None = None
    warning_ids: Annotated[list[UUID], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    parent_id: UUID | None = None


class Redirect(Input, kw_only=True):
    lead_unit: Code
    from_unit: Code | None = None


class Forward(Input, kw_only=True):
    """A deadline or a duration (``due_in``), not both (api.instructions)."""

    contract_rules: ClassVar[dict[str, Any]] = {"schema_not": Schema(all_of=[_DEADLINE, _DUE_IN])}

    to_unit: Code
    title: Title | None = None
    content: Text | None = None
    priority: Priority | None = None
    deadline: datetime | None = None
    due_in: Duration | None = None


class Progress(Input, kw_only=True):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE)]


class ExtensionRequest(Input, kw_only=True):
    deadline: datetime
    reason: Note


class ExtensionDecision(Input, kw_only=True):
    granted: bool
    note: Note | None = None


class DeferralDecision(Input, kw_only=True):
    """The issuer's answer to a deferral request; a refusal says why (ADR 0071)."""

    granted: bool
    note: Note | None = None


class WarningMerge(Input, kw_only=True):
    """A dispatcher's merge of this warning into the main case ``into`` (ADR 0082): the
    reason is required; ``override`` merges warnings of another hazard, another place or
    observed too far apart, which are refused otherwise."""

    into: UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NOTE)]
    override: bool = False


class DisputeArbitration(Input, kw_only=True):
    """The issuer's word on a dispute (ADR 0076): upheld names the unit the case goes
    to; refused says why."""

    upheld: bool
    lead_unit: Code | None = None
    note: Note | None = None


Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class FollowUp(Input, kw_only=True):
    """The caller's three answers at a follow-up (回访, ADR 0083): did the unit contact
    you in time, is it resolved, how satisfied are you."""

    contacted: bool
    resolved: bool
    satisfaction: Satisfaction
    note: Note | None = None


class UnreachedFollowUp(Input, kw_only=True):
    """An attempt at the follow-up in which the caller could not be reached (未联系上,
    ADR 0093): what was tried."""

    note: Note


class Submission(Input, kw_only=True):
    result: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]


class Verification(Input, kw_only=True):
    accepted: bool
    note: Note | None = None


class ActionCreate(Input, kw_only=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]
    evidence: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=MAX_REFERENCE)]],
        msgspec.Meta(max_length=MAX_EVIDENCE),
    ] = msgspec.field(default_factory=list)


class Action(msgspec.Struct, kw_only=True):
    kind: str
    person: str
    text: str
    evidence: list[str]
    occurred_at: datetime


class Verdict(msgspec.Struct, kw_only=True):
    accepted: bool
    note: str
    at: datetime


class Disposition(msgspec.Struct, kw_only=True):
    id: UUID
    instruction_id: UUID
    unit: str
    status: str
    version: int
    opened_at: datetime
    actions: list[Action]
    results: list[str]
    verifications: list[Verdict]


class Assignee(msgspec.Struct, kw_only=True):
    unit: str
    lead: bool
    state: str
    disposition: Disposition | None


class PendingExtension(msgspec.Struct, kw_only=True):
    unit: str
    deadline: datetime
    reason: str


class PendingDeferral(msgspec.Struct, kw_only=True):
    unit: str
    reason: str
    at: datetime


class PendingDispute(msgspec.Struct, kw_only=True):
    unit: str
    reason: str
    at: datetime


class FollowUpRecord(msgspec.Struct, kw_only=True):
    """The caller's answers at the last follow-up of a case (回访, ADR 0083)."""

    unit: str
    contacted: bool
    resolved: bool
    satisfaction: str
    reopened: bool
    note: str
    at: datetime


class Instruction(msgspec.Struct, kw_only=True):
    id: UUID
    status: str
    version: int
    issuer: str
    lead_unit: str
    cooperating_units: list[str]
    title: str
    content: str
    priority: str
    deadline: datetime
    original_deadline: datetime
    issued_at: datetime
    signed_at: datetime | None
    submitted_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    warning_ids: list[UUID]
    parent_id: UUID | None
    children: list[UUID]
    open_children: list[UUID]
    pending_extension: PendingExtension | None
    reminders: int
    supervised_by: str | None
    rework_count: int
    assignees: list[Assignee]
    #: Issued under emergency mode (or forwarded from such a case), ADR 0071.
    emergency: bool = False
    pending_deferral: PendingDeferral | None = None
    #: While deferred: the time left when the clock stopped (working seconds; clock
    #: seconds when urgent); the deadline restarts with it on resuming.
    deferred_remaining_seconds: int | None = None
    #: A dispute of the dispatch waiting for the issuer's arbitration (ADR 0076).
    pending_dispute: PendingDispute | None = None
    #: Follow-ups of the caller that reopened the case (重办, ADR 0083), and the last one.
    reopen_count: int = 0
    last_follow_up: FollowUpRecord | None = None
    #: Attempts at this closure's follow-up that did not reach the caller (未联系上,
    #: ADR 0093); 0 again once the case is reopened.
    unreached_follow_ups: int = 0


class InstructionSummary(msgspec.Struct, kw_only=True):
    id: UUID
    status: str
    version: int
    title: str
    issuer: str
    lead_unit: str
    assignees: list[str]
    priority: str
    deadline: datetime
    issued_at: datetime
    parent_id: UUID | None
    overdue: bool


class InstructionPage(msgspec.Struct, kw_only=True):
    items: list[InstructionSummary]
    next_cursor: str | None


# -- answers to commands, and the rest -----------------------------------------------


class Receipt(msgspec.Struct, kw_only=True):
    """What a command did: the resource it concerns, its new version and status, and the
    log position of the last event written (None when the command was a repeat)."""

    id: str
    status: str
    version: int
    position: int | None
    created: bool = False


class ProjectionStatus(msgspec.Struct, kw_only=True):
    """How far a view has read the log: its position, the log's head, the lag between."""

    view: str
    position: int
    head: int
    lag: int
    heartbeat_age: float | None
    #: The copy of ``projections run`` that leads the view (host, pid, start), when
    #: copies share the work on PostgreSQL (ADR 0074).
    leader: str | None = None


class FollowerCopy(msgspec.Struct, kw_only=True):
    """A live copy of a follower that shares its work with the others (ADR 0074): a
    ``notifiers`` copy leads ``outbox`` and partitions ``deliveries-N`` (ADR 0089)."""

    role: str
    copy: str
    host: str
    pid: int
    started: str
    leads: list[str]
    #: Per piece of work it waits for (a newer version than another copy's), why.
    waiting: dict[str, str] = msgspec.field(default_factory=dict)


class ReplicaHealth(msgspec.Struct, kw_only=True):
    """The streaming replica the views are read from (ADR 0072): ``serving`` (reads go
    to it), ``behind`` (it has not replayed ``lag_seconds`` of writes, past
    ``max_lag_seconds``) or ``down`` (it does not answer); ``reads`` says where view
    reads go now, and ``fallbacks`` counts the reads sent to the primary instead."""

    state: Literal["serving", "behind", "down"]
    reads: Literal["replica", "primary"]
    lag_seconds: float
    max_lag_seconds: float
    reason: str
    fallbacks: int
    #: What is read from the replica while it serves: ``views``, ``reports``, ``board``
    #: (ADR 0089); everything else is read from the primary.
    serves: list[str] = msgspec.field(default_factory=list)


class Health(msgspec.Struct, kw_only=True):
    status: str
    store: str
    head: int
    projections: list[ProjectionStatus] = msgspec.field(default_factory=list)
    #: The copies of ``projections run``, ``watch run`` and ``notifiers run`` and what
    #: each leads (ADR 0074, 0089).
    copies: list[FollowerCopy] = msgspec.field(default_factory=list)
    #: Null when no replica is set (``CLOSEDLOOP_READ_DATABASE_URL``).
    replica: ReplicaHealth | None = None
    #: Requests being answered now, waiting for a turn, and turned away since the
    #: server started (ADR 0047).
    busy: int = 0
    waiting: int = 0
    turned_away: int = 0


# -- inboxes and the board -------------------------------------------------------------


class InboxItem(msgspec.Struct, kw_only=True):
    """An instruction in a unit's inbox; time left and overdue are working time unless
    the instruction is urgent (clock time), as of the answer's ``at``."""

    id: UUID
    title: str
    status: str
    issuer: str
    lead_unit: str
    priority: str
    deadline: datetime
    issued_at: datetime
    version: int
    my_state: str | None
    disposition_id: UUID | None
    overdue: bool
    time_left_seconds: int
    overdue_seconds: int
    supervised: bool
    supervised_by: str | None
    rework: bool
    rework_count: int
    reminders: int


class Inbox(msgspec.Struct, kw_only=True):
    """One page of a unit's inbox: at most ``limit`` of each list; ``next_cursor`` asks
    for the next page of both, and is null once both are done."""

    unit: str
    at: datetime
    assigned: list[InboxItem]
    issued: list[InboxItem]
    next_cursor: str | None = None


class BoardWarning(msgspec.Struct, kw_only=True):
    id: UUID
    title: str
    status: str
    repeats: int
    raised_at: datetime
    last_observed_at: datetime
    age_seconds: int


class BoardCell(msgspec.Struct, kw_only=True):
    """The open warnings of one theme, level and unit."""

    theme: str
    level: int
    unit: str
    count: int
    repeats: int
    oldest_age_seconds: int
    by_status: dict[str, int]
    warnings: list[BoardWarning]


class WarningBoard(msgspec.Struct, kw_only=True):
    at: datetime
    open: int
    cells: list[BoardCell]


class FieldError(msgspec.Struct, kw_only=True):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem: every error the API answers."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = msgspec.field(default_factory=list)

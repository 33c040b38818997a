"""The outbox: notifications derived from the log by a tracked follower (ADR 0014).

:class:`OutboxView` is a view like the others: for each committed event, and each
active subscription whose filters match it, it inserts a *delivery* row, in the same
transaction as its tracking position. So nothing is sent for an event that was not
committed, nothing committed is missed, and a delivery is derived once whatever the
number of followers. Subscriptions are themselves events on the log, so the view keeps
its own table of them, and of the units' tree and the warnings' themes and levels that
the filters need: which subscriptions hear an event is decided by the log up to that
event, never by the clock or by what was written later. A deactivated unit's
subscriptions hear nothing until the unit is reactivated: the view keeps each unit's
state beside its parent (ADR 0042); deliveries derived before the deactivation stay.

The body of a notification is fixed when it is derived (the aggregate's summary as of
that event, read from the store at the event's version), so every retry sends the same
bytes under the same ``webhook-id``. The delivery tables are not dropped when the view
is rebuilt: a replay finds each delivery already there (same id) and leaves it alone.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.disposition import Disposition
from domain.duty_escalation import SignForEscalation
from domain.instruction import Instruction
from domain.meta import NAMESPACE
from domain.notice import Notice
from domain.roster import DutyRoster, Post, roster_id
from domain.silence import Silence
from domain.subscription import DEFAULT_CONCURRENCY, EventFacts, Filters, Subscription
from domain.unit import Unit
from domain.warning import LEVEL_NAMES, EarlyWarning
from domain.whistle import Whistle
from notifiers.texts import Texts
from projections.store import Tx
from projections.values import iso
from projections.view import View

SUBSCRIPTIONS = "webhook_subscriptions"
DELIVERIES = "webhook_deliveries"
ATTEMPTS = "webhook_attempts"
ENDPOINTS = "webhook_endpoints"
#: The trace each delivery continues (ADR 0070): only those of a traced command.
TRACES = "webhook_traces"
UNITS = "webhook_units"
WARNINGS = "webhook_warnings"

_KINDS: dict[type[Aggregate], str] = {
    EarlyWarning: "warning",
    Instruction: "instruction",
    Disposition: "disposition",
    # Notices and their receipts (ADR 0077): notice.sent, notice.receipt_confirmed,
    # notice.late_reminded.
    Notice: "notice",
    Whistle: "whistle",
    # Duty rosters and the sign-for escalation (ADR 0084): roster.handed_over,
    # escalation.escalated and the others.
    DutyRoster: "roster",
    SignForEscalation: "escalation",
    # Silences (ADR 0085): silence.created, silence.extended, silence.ended,
    # silence.expired.
    Silence: "silence",
}
_SUBSCRIPTION_TYPES = {"Disabled": "subscription.disabled", "Enabled": "subscription.enabled"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _event_classes(cls: type[Aggregate]) -> dict[str, type[Any]]:
    return {
        name: value
        for name, value in vars(cls).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in ("Created", "Event")  # the library's own base classes
    }


#: Every notification type, by the event class it is derived from.
EVENT_TYPES: dict[type[Any], str] = {
    event_cls: f"{kind}.{_snake(name)}"
    for cls, kind in _KINDS.items()
    for name, event_cls in _event_classes(cls).items()
}
EVENT_TYPES.update(
    {getattr(Subscription, name): type_ for name, type_ in _SUBSCRIPTION_TYPES.items()}
)
# A silence's first event keeps the library's name, which the rule above leaves out.
EVENT_TYPES[Silence.Created] = "silence.created"
TYPE_NAMES: tuple[str, ...] = tuple(sorted(EVENT_TYPES.values()))
_SUBSCRIPTION_EVENTS = tuple(_event_classes(Subscription).values())


def webhook_id(subscription_id: str, position: int) -> str:
    """Stable across retries and replays: the receiver's idempotency key."""
    return "msg_" + uuid5(NAMESPACE, f"webhook:{subscription_id}:{position}").hex


@dataclass
class SubscriptionRow:
    """An active subscription as the outbox matches and renders it."""

    id: str
    filters: Filters
    language: str
    template: str
    extra: dict[str, Any] = field(default_factory=dict)


def matches(sub: SubscriptionRow, facts: EventFacts, within: Callable[[str, str], bool]) -> bool:
    """Whether a subscription hears an event (never one about itself)."""
    return facts.exclude != sub.id and sub.filters.hear(facts, within)


def _plain(value: Any) -> Any:
    """A value as JSON holds it (instants in ISO-8601, ids as text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


_HIDDEN = frozenset({"meta", "originator_id", "originator_version", "timestamp"})
_SECRET_FIELDS = frozenset(
    {"secret_ciphertext", "previous_ciphertext", "secret_fingerprint", "previous_fingerprint"}
)


def event_fields(event: Any) -> dict[str, Any]:
    return {
        k: _plain(v)
        for k, v in vars(event).items()
        if k not in _HIDDEN and k not in _SECRET_FIELDS and not k.startswith("_")
    }


def summary(aggregate: Any) -> dict[str, Any]:
    """The aggregate's main facts as of the event (no secrets, no long histories)."""
    names: tuple[str, ...]
    if isinstance(aggregate, EarlyWarning):
        names = ("title", "theme", "level", "status", "unit", "location", "rule", "source")
        out = {n: _plain(getattr(aggregate, n, None)) for n in names}
        out["level_name"] = LEVEL_NAMES.get(aggregate.level, "")
        return out
    if isinstance(aggregate, Instruction):
        names = (
            "title",
            "status",
            "priority",
            "issuer",
            "lead",
            "cooperating",
            "deadline",
            "assignees",
            "warning_ids",
            "parent_id",
        )
        return {n: _plain(getattr(aggregate, n, None)) for n in names}
    if isinstance(aggregate, Disposition):
        names = ("instruction_id", "unit", "status")
        out = {n: _plain(getattr(aggregate, n, None)) for n in names}
        out["result"] = aggregate.result
        return out
    if isinstance(aggregate, Notice):
        names = ("title", "kind", "sender", "confirm_by", "addressees")
        return {n: _plain(getattr(aggregate, n, None)) for n in names}
    if isinstance(aggregate, Silence):
        names = ("kind", "target", "metric", "scope", "starts_at", "ends_at", "category")
        return {n: _plain(getattr(aggregate, n, None)) for n in names}
    if isinstance(aggregate, Whistle):
        names = ("unit", "matter", "place", "status", "departments", "limit_minutes")
        return {n: _plain(getattr(aggregate, n, None)) for n in names}
    if isinstance(aggregate, DutyRoster):
        return {"unit": aggregate.unit}
    if isinstance(aggregate, SignForEscalation):
        names = ("instruction_id", "lead", "since", "priority")
        return {n: _plain(getattr(aggregate, n, None)) for n in names}
    if isinstance(aggregate, Subscription):
        names = ("unit", "url", "active", "disabled_reason", "description")
        return {n: _plain(getattr(aggregate, n, None)) for n in names}
    return {}


Loader = Callable[[UUID, int | None], Any]


class OutboxView(View):
    """Keeps subscriptions, and writes a delivery for each (event, matching subscription)."""

    name = "outbox"
    #: 2: the units' table keeps whether each unit is active (ADR 0042).
    #: 3: the subscriptions' table keeps each endpoint's concurrency (ADR 0081).
    version = 3
    create_statements: ClassVar[list[str]] = [
        f"CREATE TABLE IF NOT EXISTS {SUBSCRIPTIONS} ("
        "id TEXT PRIMARY KEY, unit TEXT NOT NULL, url TEXT NOT NULL, event_types TEXT NOT NULL, "
        "themes TEXT NOT NULL, min_level INTEGER, units TEXT NOT NULL, subtrees TEXT NOT NULL, "
        "addressed_only INTEGER NOT NULL, language TEXT NOT NULL, template TEXT NOT NULL, "
        "description TEXT NOT NULL, active INTEGER NOT NULL, deleted INTEGER NOT NULL, "
        "secret_ciphertext TEXT NOT NULL, secret_fingerprint TEXT NOT NULL, "
        "previous_ciphertext TEXT NOT NULL, previous_fingerprint TEXT NOT NULL, "
        "previous_until TEXT, disabled_reason TEXT NOT NULL, created_at TEXT NOT NULL, "
        "updated_at TEXT NOT NULL, version INTEGER NOT NULL, "
        f"concurrency INTEGER NOT NULL DEFAULT {DEFAULT_CONCURRENCY})",
        f"CREATE INDEX IF NOT EXISTS {SUBSCRIPTIONS}_unit ON {SUBSCRIPTIONS} (unit)",
        f"CREATE TABLE IF NOT EXISTS {UNITS} ("
        "code TEXT PRIMARY KEY, parent TEXT, active INTEGER NOT NULL DEFAULT 1)",
        f"CREATE TABLE IF NOT EXISTS {WARNINGS} ("
        "id TEXT PRIMARY KEY, theme TEXT NOT NULL, level INTEGER NOT NULL)",
        # What follows is the deliveries' own state, kept across rebuilds (see tables()).
        f"CREATE TABLE IF NOT EXISTS {DELIVERIES} ("
        "id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, position BIGINT NOT NULL, "
        "event_type TEXT NOT NULL, loop_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, "
        "body TEXT NOT NULL, status TEXT NOT NULL, tries INTEGER NOT NULL, "
        "next_attempt_at TEXT NOT NULL, lease_owner TEXT, lease_until TEXT, "
        "created_at TEXT NOT NULL, last_attempt_at TEXT, delivered_at TEXT, "
        "last_status INTEGER, last_error TEXT)",
        f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_due ON {DELIVERIES} (status, next_attempt_at)",
        f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_order "
        f"ON {DELIVERIES} (subscription_id, loop_id, position)",
        f"CREATE TABLE IF NOT EXISTS {ATTEMPTS} ("
        "id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, at TEXT NOT NULL, "
        "status_code INTEGER, latency_ms INTEGER NOT NULL, error TEXT, owner TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {ATTEMPTS}_delivery ON {ATTEMPTS} (delivery_id, at)",
        f"CREATE TABLE IF NOT EXISTS {ENDPOINTS} ("
        "subscription_id TEXT PRIMARY KEY, consecutive_dead INTEGER NOT NULL, "
        "last_success_at TEXT, last_failure_at TEXT)",
        f"CREATE TABLE IF NOT EXISTS {TRACES} ("
        "delivery_id TEXT PRIMARY KEY, traceparent TEXT NOT NULL)",
    ]

    def __init__(
        self, view: Any, *, loader: Loader, texts: Texts | None = None, public_url: str = ""
    ) -> None:
        super().__init__(view)
        self.loader = loader
        self.texts = texts or Texts()
        self.public_url = public_url.rstrip("/")
        self._parents: dict[str, str | None] = {}

    @classmethod
    def tables(cls) -> list[str]:
        # Only the derived tables are dropped on a rebuild; the deliveries, their attempts
        # and the endpoints' health are the worker's record and survive it.
        return [SUBSCRIPTIONS, UNITS, WARNINGS]

    def process_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        self._parents = {}  # another follower may have moved units since the last batch
        return super().process_batch(events)

    # -- applying one event ------------------------------------------------------------

    def apply(self, event: Any, tx: Tx) -> None:
        if isinstance(event, Unit.Registered | Unit.Moved):
            self._apply_unit(event, tx)
            return
        if isinstance(event, Unit.Deactivated | Unit.Reactivated):
            code = self._code_of(tx, event)
            active = int(isinstance(event, Unit.Reactivated))
            tx.execute(f"UPDATE {UNITS} SET active = ? WHERE code = ?", (active, code))
            return
        if isinstance(event, _SUBSCRIPTION_EVENTS):
            self._apply_subscription(event, tx)
        elif isinstance(event, EarlyWarning.Raised | EarlyWarning.LevelChanged):
            tx.execute(
                f"INSERT INTO {WARNINGS} (id, theme, level) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET level = excluded.level",
                (str(event.originator_id), getattr(event, "theme", ""), event.level),
            )
        type_ = EVENT_TYPES.get(type(event))
        if type_ is None:
            return
        subs = self._active_subscriptions(tx)
        if not subs:
            return
        aggregate = self.loader(event.originator_id, event.originator_version)
        facts = self._facts(type_, event, aggregate, tx)
        hearing = [s for s in subs if matches(s, facts, lambda u, top: self._within(tx, u, top))]
        if not hearing:
            return
        on_duty = self._on_duty(facts.addressed, event.meta.occurred_at)
        rows = [self._delivery(type_, event, aggregate, s, on_duty) for s in hearing]
        tx.executemany(
            f"INSERT INTO {DELIVERIES} (id, subscription_id, position, event_type, loop_id, "
            "aggregate_id, body, status, tries, next_attempt_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (id) DO NOTHING",
            rows,
        )
        traceparent = getattr(event.meta, "traceparent", None)
        if traceparent:
            # The webhook continues the trace of the command that caused it (ADR 0070).
            tx.executemany(
                f"INSERT INTO {TRACES} (delivery_id, traceparent) VALUES (?, ?) "
                "ON CONFLICT (delivery_id) DO NOTHING",
                [(row[0], traceparent) for row in rows],
            )

    def _apply_unit(self, event: Any, tx: Tx) -> None:
        parent = event.parent
        code = event.code if isinstance(event, Unit.Registered) else self._code_of(tx, event)
        if code is None:
            return
        tx.execute(
            f"INSERT INTO {UNITS} (code, parent) VALUES (?, ?) "
            "ON CONFLICT (code) DO UPDATE SET parent = excluded.parent",
            (code, parent),
        )
        self._parents[code] = parent

    def _code_of(self, tx: Tx, event: Any) -> str | None:
        unit = self.loader(event.originator_id, event.originator_version)
        return getattr(unit, "code", None)

    def _apply_subscription(self, event: Any, tx: Tx) -> None:
        sid = str(event.originator_id)
        at = iso(event.timestamp)
        if isinstance(event, Subscription.Registered):
            tx.execute(
                f"INSERT INTO {SUBSCRIPTIONS} (id, unit, url, event_types, themes, min_level, "
                "units, subtrees, addressed_only, language, template, description, active, "
                "deleted, secret_ciphertext, secret_fingerprint, previous_ciphertext, "
                "previous_fingerprint, previous_until, disabled_reason, created_at, "
                "updated_at, version, concurrency) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, '', '', NULL, '', ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (
                    sid,
                    event.unit,
                    event.url,
                    json.dumps(event.event_types),
                    json.dumps(event.themes),
                    event.min_level,
                    json.dumps(event.units),
                    json.dumps(event.subtrees),
                    int(event.addressed_only),
                    event.language,
                    event.template,
                    event.description,
                    int(event.active),
                    event.secret_ciphertext,
                    event.secret_fingerprint,
                    at,
                    at,
                    event.originator_version,
                    event.concurrency,
                ),
            )
            return
        sets: dict[str, Any] = {}
        if isinstance(event, Subscription.Updated):
            for name, value in event.changes.items():
                if name in ("event_types", "themes", "units", "subtrees"):
                    value = json.dumps(value)
                elif name == "addressed_only":
                    value = int(value)
                sets[name] = value
        elif isinstance(event, Subscription.SecretRotated):
            sets = {
                "secret_ciphertext": event.secret_ciphertext,
                "secret_fingerprint": event.secret_fingerprint,
                "previous_ciphertext": event.previous_ciphertext,
                "previous_fingerprint": event.previous_fingerprint,
                "previous_until": iso(event.previous_until),
            }
        elif isinstance(event, Subscription.Disabled):
            sets = {"active": 0, "disabled_reason": event.reason}
        elif isinstance(event, Subscription.Enabled):
            sets = {"active": 1, "disabled_reason": ""}
        elif isinstance(event, Subscription.Deleted):
            sets = {"active": 0, "deleted": 1}
            tx.execute(
                f"UPDATE {DELIVERIES} SET status = 'cancelled', lease_owner = NULL, "
                "lease_until = NULL WHERE subscription_id = ? AND status = 'pending'",
                (sid,),
            )
        sets["updated_at"] = at
        sets["version"] = event.originator_version
        assignments = ", ".join(f"{name} = ?" for name in sets)
        tx.execute(f"UPDATE {SUBSCRIPTIONS} SET {assignments} WHERE id = ?", (*sets.values(), sid))

    # -- matching ------------------------------------------------------------------------

    def _active_subscriptions(self, tx: Tx) -> list[SubscriptionRow]:
        rows = tx.execute(
            "SELECT id, unit, event_types, themes, min_level, units, subtrees, addressed_only, "
            f"language, template FROM {SUBSCRIPTIONS} s WHERE s.active = 1 AND NOT EXISTS "
            f"(SELECT 1 FROM {UNITS} u WHERE u.code = s.unit AND u.active = 0) ORDER BY id"
        )
        return [
            SubscriptionRow(
                id=r[0],
                filters=Filters(
                    unit=r[1],
                    only_types=tuple(json.loads(r[2])),
                    only_themes=tuple(json.loads(r[3])),
                    min_level=r[4],
                    only_units=tuple(json.loads(r[5])),
                    only_subtrees=tuple(json.loads(r[6])),
                    addressed_only=bool(r[7]),
                ),
                language=r[8],
                template=r[9],
            )
            for r in rows
        ]

    def _parent(self, tx: Tx, code: str) -> str | None:
        if code not in self._parents:
            rows = tx.execute(f"SELECT parent FROM {UNITS} WHERE code = ?", (code,))
            self._parents[code] = rows[0][0] if rows else None
        return self._parents[code]

    def _within(self, tx: Tx, code: str, ancestor: str) -> bool:
        current: str | None = code
        for _ in range(17):  # a corrupt tree must not hang the follower
            if current is None:
                return False
            if current == ancestor:
                return True
            current = self._parent(tx, current)
        return False

    def _theme_and_level(self, tx: Tx, warning_ids: list[Any]) -> tuple[str | None, int | None]:
        """Of an instruction: its most severe linked warning's theme and level."""
        best: tuple[str | None, int | None] = (None, None)
        for wid in warning_ids:
            rows = tx.execute(f"SELECT theme, level FROM {WARNINGS} WHERE id = ?", (str(wid),))
            if rows and (best[1] is None or rows[0][1] < best[1]):
                best = (rows[0][0], int(rows[0][1]))
        return best

    def _facts(self, type_: str, event: Any, aggregate: Any, tx: Tx) -> EventFacts:
        actor_unit = event.meta.unit
        if isinstance(aggregate, EarlyWarning):
            return EventFacts(
                type_, (aggregate.unit,), (aggregate.unit,), aggregate.theme, aggregate.level
            )
        if isinstance(aggregate, Instruction):
            assignees = tuple(aggregate.assignees)
            if isinstance(event, Instruction.Redirected):
                assignees = (*assignees, event.from_unit)
            units = (aggregate.issuer, *assignees)
            # What the issuer does is addressed to the assignees, and the other way round.
            addressed = assignees if actor_unit == aggregate.issuer else (aggregate.issuer,)
            theme, level = self._theme_and_level(tx, aggregate.warning_ids)
            return EventFacts(type_, units, addressed, theme, level)
        if isinstance(aggregate, Disposition):
            instruction = self.loader(aggregate.instruction_id, None)
            issuer = getattr(instruction, "issuer", None)
            units = (aggregate.unit, issuer) if issuer else (aggregate.unit,)
            addressed = (issuer,) if issuer and actor_unit == aggregate.unit else (aggregate.unit,)
            theme, level = self._theme_and_level(tx, getattr(instruction, "warning_ids", []))
            return EventFacts(type_, units, addressed, theme, level)
        if isinstance(aggregate, Notice):
            units = (aggregate.sender, *aggregate.addressees)
            # Sent and reminded: to the addressees (the reminded ones); a receipt: to the
            # sender.
            if isinstance(event, Notice.ReceiptConfirmed):
                to: tuple[str, ...] = (aggregate.sender,)
            elif isinstance(event, Notice.LateReminded):
                to = tuple(event.units)
            else:
                to = tuple(aggregate.addressees)
            return EventFacts(type_, units, to)
        if isinstance(aggregate, Whistle):
            # A whistle concerns its unit and the departments it summoned; what the
            # whistling unit does is addressed to them (an escalation, to the absent
            # department's government), what a department does to the whistling unit.
            units = (aggregate.unit, *aggregate.departments)
            if isinstance(event, Whistle.Escalated):
                units, addressed = (*units, event.to), (event.to, event.department)
            elif isinstance(event, Whistle.Reminded):
                addressed = (event.department,)
            elif actor_unit == aggregate.unit:
                addressed = tuple(aggregate.departments)
            else:
                addressed = (aggregate.unit,)
            return EventFacts(type_, units, addressed)
        if isinstance(aggregate, DutyRoster):
            return EventFacts(type_, (aggregate.unit,), (aggregate.unit,))
        if isinstance(aggregate, Silence):
            # A silence concerns the unit whose subtree it covers: its duty officers are
            # told what will not raise, and when it does again.
            return EventFacts(type_, (aggregate.scope,), (aggregate.scope,))
        if isinstance(aggregate, SignForEscalation):
            # A step concerns the lead unit that has not signed and the unit escalated
            # to, and is addressed to both.
            if isinstance(event, SignForEscalation.Escalated):
                both = (event.unit, aggregate.lead)
                return EventFacts(type_, both, both)
            return EventFacts(type_, (aggregate.lead,), (aggregate.lead,))
        if isinstance(aggregate, Subscription):
            unit = aggregate.unit
            return EventFacts(type_, (unit,), (unit,), exclude=str(aggregate.id))
        return EventFacts(type_, (), ())

    def _on_duty(self, units: Sequence[str], at: datetime) -> list[dict[str, Any]]:
        """Who is on duty at each addressed unit at the event's business time (ADR 0084):
        the person and deputy of each post, None where the roster has no shift then. A
        roster is never rewritten backwards (a past shift stays as it was), so its state
        now answers for any past moment alike, in a rebuild too."""
        out: list[dict[str, Any]] = []
        for unit in dict.fromkeys(units):
            try:
                roster = self.loader(roster_id(unit), None)
            except (AggregateNotFoundError, LookupError):
                roster = None
            line: dict[str, Any] = {"unit": unit}
            for post in Post:
                held = roster.on_duty(post.value, at) if isinstance(roster, DutyRoster) else None
                line[post.value] = (
                    None if held is None else {"person": held.person, "deputy": held.deputy}
                )
            out.append(line)
        return out

    # -- the notification ----------------------------------------------------------------

    def _links(self, kind: str, aggregate_id: str, loop_id: str) -> dict[str, str]:
        base = self.public_url
        plural = {
            "warning": "warnings",
            "instruction": "instructions",
            "notice": "notices",
            "whistle": "whistles",
            "silence": "silences",
        }.get(kind)
        links = {}
        if plural:
            links["self"] = f"{base}/v1/{plural}/{aggregate_id}"
        elif kind == "disposition":
            links["self"] = f"{base}/v1/dispositions/{aggregate_id}"
        elif kind == "subscription":
            links["self"] = f"{base}/v1/subscriptions/{aggregate_id}"
        links["loop"] = f"{base}/v1/loops/{loop_id}"
        return links

    def _delivery(
        self,
        type_: str,
        event: Any,
        aggregate: Any,
        sub: SubscriptionRow,
        on_duty: list[dict[str, Any]] | None = None,
    ) -> tuple[Any, ...]:
        kind = type_.split(".", 1)[0]
        aggregate_id = str(event.originator_id)
        loop_id = str(event.meta.loop_id)
        msg_id = webhook_id(sub.id, self.at)
        facts = event_fields(event)
        about = summary(aggregate)
        actor = {"person": event.meta.person, "unit": event.meta.unit, "role": event.meta.role}
        text = self.texts.render(
            type_,
            sub.language,
            sub.template,
            {"event": facts, "summary": about, "actor": actor, "type": type_, "kind": kind},
        )
        body = {
            "type": type_,
            "timestamp": event.timestamp.isoformat(),
            "data": {
                "id": msg_id,
                "subscription_id": sub.id,
                "position": self.at,
                "loop": {"id": loop_id},
                "aggregate": {
                    "kind": kind,
                    "id": aggregate_id,
                    "version": event.originator_version,
                    "summary": about,
                },
                "event": facts,
                "actor": actor,
                "command": event.meta.command,
                "occurred_at": event.meta.occurred_at.isoformat(),
                "recorded_at": event.timestamp.isoformat(),
                "links": self._links(kind, aggregate_id, loop_id),
                "language": sub.language,
                "text": text,
                # Who is on duty at the addressed units at that moment (ADR 0084).
                "on_duty": on_duty or [],
            },
        }
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        created = iso(event.timestamp)
        return (msg_id, sub.id, self.at, type_, loop_id, aggregate_id, encoded, created, created)

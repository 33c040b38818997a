"""Who, when and why: the metadata every event of the closed loop carries.

The library stamps each event with the time it was created in the writing process (the
*recorded* time, which no client can set). Everything else an auditor needs is ours to
carry: the person, unit and role that acted, the business time they report, the command
that caused the event and the loop it belongs to. See ADR 0003.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.persistence import Transcoding

from domain.errors import BusinessTimeRefused, InvalidValue, check_printable

#: Every deterministic identifier of Closed Loop is a UUIDv5 in this namespace, so that
#: the same command id or unit code always names the same aggregate (ADR 0006).
NAMESPACE = uuid5(NAMESPACE_URL, "urn:closedloop")

#: No case of a command center is older than this; earlier times are typing mistakes.
EARLIEST_YEAR = 1970

#: How far a deadline may lie ahead: beyond it a date is a typing mistake (9999-12-31),
#: and working-time arithmetic on it would run for seconds.
LONGEST_DEADLINE = timedelta(days=3660)

#: How far into the future a reported business time may lie, for clocks that drift.
CLOCK_SKEW = timedelta(minutes=5)


def now() -> datetime:
    """The current instant in UTC (``freezegun`` moves it in tests)."""
    return datetime.now(UTC)


def derived_id(kind: str, key: str) -> UUID:
    """The identifier of the ``kind`` aggregate named by ``key`` (a code, a command id)."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


@dataclass(frozen=True)
class Actor:
    """The person, unit and role on whose behalf a command is given."""

    person: str
    unit: str
    role: str

    def __post_init__(self) -> None:
        for name in ("person", "unit", "role"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 128:
                raise InvalidValue(f"the actor's {name} must be 1 to 128 characters")
            check_printable(value, f"the actor's {name}")


#: The actor of everything the system does by itself (deadline watch, playbooks...).
SYSTEM = Actor(person="closedloop", unit="SYSTEM", role="system")


@dataclass(frozen=True)
class Context:
    """A command's envelope: who gives it, its id, when it happened, what it expects.

    ``command_id`` is the client's idempotency handle: the same id given again makes
    the command a no-op. ``occurred_at`` is the business time the actor reports;
    ``expected_version`` asks for optimistic concurrency against a version the client
    has seen (``If-Match``); ``cause`` names what led to the command (another aggregate
    or event), for the audit trail. ``traceparent`` is the W3C trace context of the span
    the command runs in, when the process traces (ADR 0070): kept with its events so
    that what follows from them joins the same trace.
    """

    actor: Actor
    command_id: str = field(default_factory=lambda: uuid4().hex)
    occurred_at: datetime | None = None
    expected_version: int | None = None
    cause: str | None = None
    traceparent: str | None = None

    def __post_init__(self) -> None:
        if not self.command_id or len(self.command_id) > 128:
            raise InvalidValue("a command id must be 1 to 128 characters")
        check_printable(self.command_id, "a command id")
        if self.occurred_at is not None:
            if self.occurred_at.tzinfo is None:
                raise BusinessTimeRefused("the business time must carry a time-zone offset")
            if self.occurred_at > now() + CLOCK_SKEW:
                raise BusinessTimeRefused(
                    "the business time cannot lie in the future (more than "
                    f"{int(CLOCK_SKEW.total_seconds() // 60)} minutes ahead of the clock)"
                )
            if self.occurred_at.year < EARLIEST_YEAR:
                raise BusinessTimeRefused(f"the business time cannot lie before {EARLIEST_YEAR}")

    def business_time(self) -> datetime:
        """The time the actor says this happened, in UTC (defaults to now)."""
        return (self.occurred_at or now()).astimezone(UTC)

    def meta(self, command: str, loop_id: UUID, cause: str | None = None) -> Meta:
        """The metadata of the events this command causes on one aggregate of a loop."""
        return Meta(
            person=self.actor.person,
            unit=self.actor.unit,
            role=self.actor.role,
            command=command,
            command_id=self.command_id,
            occurred_at=self.business_time(),
            loop_id=loop_id,
            cause=cause if cause is not None else self.cause,
            traceparent=self.traceparent,
        )

    def derived(self, suffix: str) -> Context:
        """A context for a sub-command (one of several created by one command)."""
        return replace(self, command_id=f"{self.command_id}/{suffix}", expected_version=None)


@dataclass(frozen=True)
class Meta:
    """Stored with every event: who acted, the business time, the command and the loop."""

    person: str
    unit: str
    role: str
    command: str
    command_id: str
    occurred_at: datetime
    loop_id: UUID
    cause: str | None = None
    #: The trace the command ran in (W3C ``traceparent``, ADR 0070); None untraced.
    traceparent: str | None = None


_META_FIELDS = frozenset(f.name for f in fields(Meta))
#: What an event stored untraced (or before ADR 0070) holds: all but the trace.
_UNTRACED_FIELDS = _META_FIELDS - {"traceparent"}


class MetaAsDict(Transcoding):
    """Stores :class:`Meta` as a JSON object (its datetime and UUID transcoded in turn)."""

    type = Meta
    name = "closedloop_meta"

    def encode(self, obj: Meta) -> dict[str, Any]:
        encoded = {
            "person": obj.person,
            "unit": obj.unit,
            "role": obj.role,
            "command": obj.command,
            "command_id": obj.command_id,
            "occurred_at": obj.occurred_at,
            "loop_id": obj.loop_id,
            "cause": obj.cause,
        }
        # Only a traced command's events carry the key: untraced, the stored bytes are
        # what they were before ADR 0070.
        if obj.traceparent is not None:
            encoded["traceparent"] = obj.traceparent
        return encoded

    def decode(self, data: dict[str, Any]) -> Meta:
        keys = data.keys()
        if keys == _UNTRACED_FIELDS:
            meta = object.__new__(Meta)
            meta.__dict__.update(data)
            meta.__dict__["traceparent"] = None
            return meta
        if keys == _META_FIELDS:
            # Every event carries a Meta, and a frozen dataclass's __init__ sets each
            # field through object.__setattr__: with every field present and nothing
            # else, filling the instance directly is the same object, several times
            # sooner (a rebuild decodes one per event).
            meta = object.__new__(Meta)
            meta.__dict__.update(data)
            return meta
        return Meta(**data)

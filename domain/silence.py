"""Silences (ADR 0085): a duty officer silences a station, one feed of a station, a rule
or a unit for a period, with a reason (maintenance, a known works site).

A breach during an active silence is recorded (its reading kept and cited, the silenced
breach shown on the station's conditions) but raises nothing and issues no playbook
instructions. Setting, extending and ending a silence are events with who and why; its
expiry is an event of the system, after which a condition still beyond its limit raises
at once (the silence watch, :mod:`domain.silence_watch`).

The rules of a period (:func:`check_period`) are pure: a silence ends after it starts,
ends in the future, starts no earlier than now (less the allowed clock skew) and lasts at
most :data:`MAX_SILENCE`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidValue, SilenceOver, SilencePeriodRefused
from domain.limits import MAX_NOTE, check_text
from domain.meta import CLOCK_SKEW, Meta, derived_id, now

#: The longest a silence may last, from its start to its (extended) end: a month covers a
#: works site's phase; a longer quiet is a change of the catalogue, not a silence.
MAX_SILENCE = timedelta(days=31)


class SilenceKind(StrEnum):
    STATION = "station"
    FEED = "feed"
    RULE = "rule"
    UNIT = "unit"


class SilenceCategory(StrEnum):
    MAINTENANCE = "maintenance"
    WORKS = "works"
    OTHER = "other"


def silence_id(command_id: str) -> UUID:
    """The id of the silence set by the command with this id."""
    return derived_id("silence", command_id)


def check_period(starts_at: datetime, ends_at: datetime, at: datetime) -> None:
    """Refuse a period a silence cannot have, judged at ``at`` (now)."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise SilencePeriodRefused("a silence's start and end must carry a time-zone offset")
    if ends_at <= starts_at:
        raise SilencePeriodRefused("a silence ends after it starts")
    if ends_at <= at:
        raise SilencePeriodRefused("a silence in the past silences nothing: its end has passed")
    if starts_at < at - CLOCK_SKEW:
        raise SilencePeriodRefused(
            "a silence starts now or later: breaches already judged are not silenced after the fact"
        )
    if ends_at - starts_at > MAX_SILENCE:
        raise SilencePeriodRefused(f"a silence lasts at most {MAX_SILENCE.days} days")


def check_category(category: str) -> SilenceCategory:
    try:
        return SilenceCategory(category)
    except ValueError:
        names = ", ".join(c.value for c in SilenceCategory)
        raise InvalidValue(f"a silence's category is one of {names}") from None


class Silence(LoopAggregate):
    """One silence: what it covers, for when, and why."""

    class Created(LoopAggregate.Created):
        kind: str
        target: str
        metric: str | None
        scope: str
        starts_at: datetime
        ends_at: datetime
        category: str
        reason: str

    class Extended(LoopAggregate.Event):
        ends_at: datetime
        reason: str

    class Ended(LoopAggregate.Event):
        ended_at: datetime
        reason: str

    class Expired(LoopAggregate.Event):
        expired_at: datetime

    @classmethod
    def set(
        cls,
        *,
        kind: SilenceKind,
        target: str,
        metric: str | None,
        scope: str,
        starts_at: datetime,
        ends_at: datetime,
        category: str,
        reason: str,
        meta: Meta,
    ) -> Silence:
        at = now()
        check_period(starts_at, ends_at, at)
        reason = check_text(reason, "a silence's reason", MAX_NOTE, required=True)
        return cls(
            kind=kind.value,
            target=target,
            metric=metric,
            scope=scope,
            # A start a little before now (clock skew) is now.
            starts_at=max(starts_at, at),
            ends_at=ends_at,
            category=check_category(category).value,
            reason=reason,
            meta=meta,
        )

    @staticmethod
    def create_id(meta: Meta, **_: object) -> UUID:
        return silence_id(meta.command_id)

    @event(Created)
    def __init__(
        self,
        kind: str,
        target: str,
        metric: str | None,
        scope: str,
        starts_at: datetime,
        ends_at: datetime,
        category: str,
        reason: str,
        meta: Meta,
    ) -> None:
        self.kind = SilenceKind(kind)
        self.target = target
        self.metric = metric
        #: The unit whose subtree the silence lies in (the station's unit, the unit
        #: silenced, or for a rule the unit that silenced it): who may change it.
        self.scope = scope
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.category = category
        self.reason = reason
        self.set_by = meta.person
        self.ended_at: datetime | None = None
        self.expired_at: datetime | None = None

    # -- reading ---------------------------------------------------------------------

    @property
    def is_over(self) -> bool:
        """Ended by people or expired by the system: it silences nothing more."""
        return self.ended_at is not None or self.expired_at is not None

    @property
    def until(self) -> datetime:
        """When it stops silencing: its end, or the moment it was ended early."""
        return self.ended_at if self.ended_at is not None else self.ends_at

    def is_active(self, at: datetime) -> bool:
        return not self.is_over and self.starts_at <= at < self.ends_at

    def status(self, at: datetime) -> str:
        if self.ended_at is not None:
            return "ended"
        if self.expired_at is not None or at >= self.ends_at:
            return "expired"
        return "active" if at >= self.starts_at else "pending"

    def _check_not_over(self, doing: str) -> None:
        if self.is_over:
            raise SilenceOver(f"the silence is over; {doing} is no longer possible")

    # -- commands ----------------------------------------------------------------------

    def extend(self, ends_at: datetime, reason: str, meta: Meta) -> None:
        """Move the end later, saying why; the whole period stays within the bound."""
        self._check_not_over("extending it")
        if now() >= self.ends_at:
            raise SilenceOver("the silence has expired; set a new one")
        if ends_at.tzinfo is None:
            raise SilencePeriodRefused("a silence's end must carry a time-zone offset")
        if ends_at <= self.ends_at:
            raise SilencePeriodRefused(
                f"an extension ends later than the silence does now ({self.ends_at.isoformat()})"
            )
        if ends_at - self.starts_at > MAX_SILENCE:
            raise SilencePeriodRefused(
                f"a silence lasts at most {MAX_SILENCE.days} days, extensions included"
            )
        reason = check_text(reason, "an extension's reason", MAX_NOTE, required=True)
        self._extended(ends_at=ends_at, reason=reason, meta=meta)

    @event(Extended)
    def _extended(self, ends_at: datetime, reason: str, meta: Meta) -> None:
        self.ends_at = ends_at

    def end(self, reason: str, meta: Meta) -> None:
        """End it now (the maintenance is done early), saying why."""
        self._check_not_over("ending it again")
        reason = check_text(reason, "an ending's reason", MAX_NOTE, required=True)
        self._ended(ended_at=now(), reason=reason, meta=meta)

    @event(Ended)
    def _ended(self, ended_at: datetime, reason: str, meta: Meta) -> None:
        self.ended_at = ended_at

    def expire(self, meta: Meta) -> bool:
        """The system marks the end reached; once only (False: nothing to do)."""
        if self.is_over or now() < self.ends_at:
            return False
        self._expired(expired_at=self.ends_at, meta=meta)
        return True

    @event(Expired)
    def _expired(self, expired_at: datetime, meta: Meta) -> None:
        self.expired_at = expired_at

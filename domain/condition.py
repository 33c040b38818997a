"""The condition one rule watches on one subject, reading after reading.

The warning's own events are the truth about the warning; a :class:`Condition` keeps
what a rule needs between readings and what the warning cannot hold: the last reading
seen (to tell an out-of-order reading from a new one), since when the subject has been
normal and for how many readings (to resolve after the rule's settle time), and which
warning the condition belongs to now.

Since ADR 0073 nothing new is recorded here: readings live in the readings store and the
intake keeps a condition's state in memory (``domain.readings.ConditionState``). The
aggregate stays so that the conditions already on the log still load, and the intake
reads their last state once when it first meets them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id


def condition_id(rule: str, subject: str) -> UUID:
    return derived_id("condition", f"{rule}|{subject}")


class Condition(LoopAggregate):
    """What one rule knows about one subject."""

    class Started(LoopAggregate.Created):
        rule: str
        subject: str

    class ReadingRecorded(LoopAggregate.Event):
        metric: str
        value: float | None
        observed_at: datetime
        level: int | None
        judged: bool
        applied: bool
        action: str
        warning_id: UUID | None

    @staticmethod
    def create_id(rule: str, subject: str) -> UUID:
        return condition_id(rule, subject)

    @event(Started)
    def __init__(self, rule: str, subject: str, meta: Meta) -> None:
        self.rule = rule
        self.subject = subject
        self.last_observed_at: datetime | None = None
        self.level: int | None = None
        self.warning_id: UUID | None = None
        self.normal_since: datetime | None = None
        self.normal_count = 0
        self.readings = 0

    def is_stale(self, observed_at: datetime) -> bool:
        """An older reading than the last one applied changes nothing."""
        return self.last_observed_at is not None and observed_at < self.last_observed_at

    @event(ReadingRecorded)
    def record(
        self,
        *,
        metric: str,
        value: float | None,
        observed_at: datetime,
        level: int | None,
        judged: bool,
        applied: bool,
        action: str,
        warning_id: UUID | None,
        meta: Meta,
    ) -> None:
        self.readings += 1
        if not applied:
            return
        self.last_observed_at = observed_at
        if not judged:
            return
        if level is None:
            if self.normal_since is None:
                self.normal_since = observed_at
            self.normal_count += 1
        else:
            self.normal_since = None
            self.normal_count = 0
        self.warning_id = warning_id
        self.level = level if warning_id is not None else None

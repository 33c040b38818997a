"""The figures of a report: exact rates and durations, tallies that add up, indicators."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.follow_up import BASICALLY_SATISFIED_POINTS, SATISFIED_POINTS
from domain.instruction import Priority


def _round_half_up(numerator: int, denominator: int, places: int) -> Decimal:
    """``numerator / denominator`` rounded half up to ``places`` decimals, exactly."""
    scale = 10**places
    scaled = (2 * numerator * scale + denominator) // (2 * denominator)
    return Decimal(scaled).scaleb(-places)


@dataclass(frozen=True)
class Rate:
    """A rate with what it is made of, so that anyone can check it."""

    numerator: int
    denominator: int

    @property
    def percent(self) -> Decimal | None:
        """Percent, rounded half up to 2 places; None when nothing was counted."""
        if self.denominator == 0:
            return None
        return _round_half_up(100 * self.numerator, self.denominator, 2)


@dataclass(frozen=True)
class Durations:
    """Count, exact mean (rounded half up to 0.1 s) and 90th percentile of durations."""

    count: int
    total_seconds: int
    mean_seconds: Decimal | None
    p90_seconds: int | None

    @classmethod
    def of(cls, seconds: Iterable[int]) -> Durations:
        values = sorted(seconds)
        if not values:
            return cls(0, 0, None, None)
        total = sum(values)
        # Nearest rank: the smallest observed value with at least 90 % of values at or
        # below it (PostgreSQL's percentile_disc(0.9)); never an interpolated value.
        rank = -(-9 * len(values) // 10)
        return cls(len(values), total, _round_half_up(total, len(values), 1), values[rank - 1])


@dataclass(frozen=True)
class SignForLimits:
    """How soon a lead unit must sign for an instruction to have signed on time.

    Urgent instructions count clock time, as their deadlines do; the others count
    working time on the calendar (office hours, weekends, holidays).
    """

    working_seconds: int = 2 * 3600
    urgent_seconds: int = 30 * 60

    def on_time(self, priority: str, clock_seconds: int, working_seconds: int) -> bool:
        if priority == Priority.URGENT:
            return clock_seconds <= self.urgent_seconds
        return working_seconds <= self.working_seconds

    def sql_on_time(self) -> tuple[str, tuple[Any, ...]]:
        """:meth:`on_time` as an SQL condition on a case row, with its parameters."""
        return (
            "CASE WHEN c.priority = ? THEN c.sign_s <= ? ELSE c.sign_work_s <= ? END",
            (Priority.URGENT.value, self.urgent_seconds, self.working_seconds),
        )


@dataclass
class Tally:
    """What was counted for one group of cases; tallies add up."""

    filed: int = 0
    forwarded: int = 0
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    verified: int = 0
    reworked: int = 0
    signed_on_time: int = 0
    warnings_raised: int = 0
    overdue_now: int = 0
    deferred: int = 0
    disputes: int = 0
    disputes_arbitrated: int = 0
    disputes_upheld: int = 0
    followed_up: int = 0
    contacted: int = 0
    resolved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    reopened: int = 0
    follow_up_unreached: int = 0
    follow_up_not_reached: int = 0
    acknowledge: list[int] = field(default_factory=list)
    sign: list[int] = field(default_factory=list)
    close: list[int] = field(default_factory=list)

    def add(self, other: Tally) -> Tally:
        self.filed += other.filed
        self.forwarded += other.forwarded
        self.due += other.due
        self.closed += other.closed
        self.closed_on_time += other.closed_on_time
        self.verified += other.verified
        self.reworked += other.reworked
        self.signed_on_time += other.signed_on_time
        self.warnings_raised += other.warnings_raised
        self.overdue_now += other.overdue_now
        self.deferred += other.deferred
        self.disputes += other.disputes
        self.disputes_arbitrated += other.disputes_arbitrated
        self.disputes_upheld += other.disputes_upheld
        self.followed_up += other.followed_up
        self.contacted += other.contacted
        self.resolved += other.resolved
        self.satisfied += other.satisfied
        self.basically_satisfied += other.basically_satisfied
        self.reopened += other.reopened
        self.follow_up_unreached += other.follow_up_unreached
        self.follow_up_not_reached += other.follow_up_not_reached
        self.acknowledge.extend(other.acknowledge)
        self.sign.extend(other.sign)
        self.close.extend(other.close)
        return self

    @classmethod
    def sum(cls, tallies: Iterable[Tally]) -> Tally:
        total = cls()
        for tally in tallies:
            total.add(tally)
        return total


@dataclass(frozen=True)
class Indicators:
    """The standard indicators of one group (a unit's subtree, a theme, a level)."""

    filed: int
    forwarded: int
    due: int
    closed: int
    closed_on_time: int
    closure_rate: Rate
    on_time_closure_rate: Rate
    verified: int
    reworked: int
    rework_rate: Rate
    signed: int
    signed_on_time: int
    on_time_sign_for_rate: Rate
    warnings_raised: int
    warnings_acknowledged: int
    time_to_acknowledge: Durations
    time_to_sign_for: Durations
    time_to_close: Durations
    overdue_now: int
    #: Of the due, those an approved deferral holds (ADR 0071).
    deferred: int
    #: Disputes of a dispatch filed in the period, and of them the arbitrated and the
    #: upheld (ADR 0076).
    disputes: int
    disputes_arbitrated: int
    disputes_upheld: int
    #: Disputes ÷ cases received: those still counted to the unit plus those an upheld
    #: dispute took away from it.
    dispute_rate: Rate
    #: Upheld ÷ arbitrated.
    upheld_rate: Rate
    #: Follow-ups of the public's cases in the period (回访, ADR 0083): the caller's
    #: answers, and the reopens (重办) among them.
    followed_up: int
    contacted: int
    resolved: int
    satisfied: int
    basically_satisfied: int
    reopened: int
    #: 响应率: contacted in time, in the caller's word ÷ followed up.
    response_rate: Rate
    #: 解决率: resolved, in the caller's word ÷ followed up.
    resolution_rate: Rate
    #: 满意率: (satisfied + basically satisfied × 0.8) ÷ followed up, in points: 100 a
    #: satisfied, 80 a basically satisfied, out of 100 a follow-up.
    satisfaction_rate: Rate
    #: Reopens ÷ followed up.
    reopen_rate: Rate
    #: Attempts that did not reach the caller (未联系上, ADR 0093), in no rate, and the
    #: closures counted as not reached by their third such attempt.
    follow_up_unreached: int
    follow_up_not_reached: int

    @classmethod
    def of(cls, t: Tally) -> Indicators:
        return cls(
            **{name: getattr(t, name) for name in _COUNTS},
            closure_rate=Rate(t.closed, t.due),
            # The standard's formula: closed on time / (due - approved deferred).
            on_time_closure_rate=Rate(t.closed_on_time, t.due - t.deferred),
            rework_rate=Rate(t.reworked, t.verified),
            dispute_rate=Rate(t.disputes, t.filed + t.disputes_upheld),
            upheld_rate=Rate(t.disputes_upheld, t.disputes_arbitrated),
            response_rate=Rate(t.contacted, t.followed_up),
            resolution_rate=Rate(t.resolved, t.followed_up),
            satisfaction_rate=Rate(
                SATISFIED_POINTS * t.satisfied + BASICALLY_SATISFIED_POINTS * t.basically_satisfied,
                SATISFIED_POINTS * t.followed_up,
            ),
            reopen_rate=Rate(t.reopened, t.followed_up),
            signed=len(t.sign),
            on_time_sign_for_rate=Rate(t.signed_on_time, len(t.sign)),
            warnings_acknowledged=len(t.acknowledge),
            time_to_acknowledge=Durations.of(t.acknowledge),
            time_to_sign_for=Durations.of(t.sign),
            time_to_close=Durations.of(t.close),
        )


#: The counts an :class:`Indicators` takes over from its :class:`Tally` as they are.
_COUNTS = (
    "filed",
    "forwarded",
    "due",
    "closed",
    "closed_on_time",
    "verified",
    "reworked",
    "signed_on_time",
    "warnings_raised",
    "overdue_now",
    "deferred",
    "disputes",
    "disputes_arbitrated",
    "disputes_upheld",
    "followed_up",
    "contacted",
    "resolved",
    "satisfied",
    "basically_satisfied",
    "reopened",
    "follow_up_unreached",
    "follow_up_not_reached",
)

"""The standard indicators of a unit's subtree over a period, from the indicators view.

Definitions are in ADR 0011. In short, for the period ``[start, end)`` and every case
whose unit lies in the subtree:

- *filed*: instructions dispatched in the period (each forwarded order counts);
- *due*: instructions whose deadline (after extensions) falls in the period, except those
  cancelled before their deadline; *closed*: of those, closed before the period's end;
  *closed on time*: closed by the deadline;
- *verified* / *reworked*: instructions verified in the period / of them, sent back at
  least once in the period;
- *signed* / *signed on time*: instructions their lead signed for in the period / within
  the sign-for limit (:class:`SignForLimits`);
- *time to acknowledge* (warnings acknowledged in the period, from raise), *to sign for*
  (from dispatch to the signing unit), *to close* (instructions closed in the period,
  from dispatch): count, exact mean, and the 90th percentile by nearest rank;
- *overdue now*: instructions open at ``as_of`` whose deadline has passed.

Counting happens in SQL, one query per kind of fact, each a range scan of one index,
grouped by (child of the unit, theme and level): the subtree's units are joined as a
table of (unit, child) pairs, so the answer holds a few hundred groups, not a row per
unit or per case. Units, children and (theme, level) pairs go into SQL as small whole
numbers (the indicators view's ``unit_no`` and ``theme_level``, ADR 0024) and come back
as texts. A 90th percentile does not add up over groups: the durations of each group
come back packed in one field (``json_group_array`` / ``array_agg``) and are summarised
here, exactly. Rolling up (the unit, each child, each theme, each level) is pure Python
over the groups, so a parent's figures are its own plus its children's by construction.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import calendar as calendar_module
import functools
import re
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec

from domain.instruction import Priority
from domain.warning import Theme
from projections.base import Tx, ViewStore, iso, tracking_name
from projections.indicators import (
    CASES,
    NONE,
    NUMBERS,
    VERIFICATIONS,
    WARNINGS,
    IndicatorsView,
    epoch,
    parse_theme_level_name,
    theme_level_name,
    unit_number_name,
)
from projections.units import UnitsView, like_prefix, unit_path

#: Report keys of the levels, most severe first, then cases that answer no warning.
LEVELS = ("1", "2", "3", "4", NONE)
THEMES = (*(t.value for t in Theme), NONE)


class PeriodError(ValueError):
    """A period that cannot be reported on; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# -- exact figures -------------------------------------------------------------------------


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

    @classmethod
    def of(cls, t: Tally) -> Indicators:
        return cls(
            filed=t.filed,
            forwarded=t.forwarded,
            due=t.due,
            closed=t.closed,
            closed_on_time=t.closed_on_time,
            closure_rate=Rate(t.closed, t.due),
            on_time_closure_rate=Rate(t.closed_on_time, t.due),
            verified=t.verified,
            reworked=t.reworked,
            rework_rate=Rate(t.reworked, t.verified),
            signed=len(t.sign),
            signed_on_time=t.signed_on_time,
            on_time_sign_for_rate=Rate(t.signed_on_time, len(t.sign)),
            warnings_raised=t.warnings_raised,
            warnings_acknowledged=len(t.acknowledge),
            time_to_acknowledge=Durations.of(t.acknowledge),
            time_to_sign_for=Durations.of(t.sign),
            time_to_close=Durations.of(t.close),
            overdue_now=t.overdue_now,
        )


# -- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC at whole seconds, with the zone it was read in."""

    start: datetime
    end: datetime
    zone: str
    label: str

    @property
    def start_s(self) -> int:
        return epoch(self.start)

    @property
    def end_s(self) -> int:
        return epoch(self.end)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERIODS = ("day", "week", "month")


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def parse_instant(text: str, field: str, tz: ZoneInfo) -> datetime:
    """A date (local midnight in ``tz``) or an RFC 3339 time with its offset, in UTC."""
    text = text.strip()
    try:
        if _DATE.match(text):
            return _local_midnight(date.fromisoformat(text), tz)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise PeriodError(
            field, f"{field} must be a date (2026-03-01) or an RFC 3339 time, not {text!r}"
        ) from None
    if value.tzinfo is None:
        raise PeriodError(field, f"{field} must carry a time-zone offset (+08:00 or Z)")
    return value.astimezone(UTC)


def _whole_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


def resolve_period(
    *,
    zone: str,
    today: date,
    from_: str | None = None,
    to: str | None = None,
    period: str | None = None,
    on: str | None = None,
) -> Period:
    """The period a request names: ``from``/``to``, or ``period`` with a ``date`` in it
    (``today`` by default), or, with nothing, the current month. Bounds are taken at
    whole seconds; ``to`` is excluded."""
    tz = ZoneInfo(zone)
    if period is not None or (from_ is None and to is None):
        if from_ is not None or to is not None:
            raise PeriodError("period", "give either period (with date) or from and to, not both")
        kind = period or "month"
        if kind not in PERIODS:
            raise PeriodError("period", f"period must be one of {', '.join(PERIODS)}, not {kind!r}")
        day = today
        if on is not None:
            if not _DATE.match(on.strip()):
                raise PeriodError("date", f"date must look like 2026-03-01, not {on!r}")
            try:
                day = date.fromisoformat(on.strip())
            except ValueError:
                raise PeriodError("date", f"{on!r} is not a date") from None
        if kind == "day":
            first, last, label = day, day + timedelta(days=1), day.isoformat()
        elif kind == "week":
            first = day - timedelta(days=day.weekday())
            year, week, _ = first.isocalendar()
            last, label = first + timedelta(days=7), f"{year}-W{week:02d}"
        else:
            first = day.replace(day=1)
            days = calendar_module.monthrange(day.year, day.month)[1]
            last, label = first + timedelta(days=days), f"{day.year}-{day.month:02d}"
        return Period(_local_midnight(first, tz), _local_midnight(last, tz), zone, label)
    if on is not None:
        raise PeriodError("date", "date goes with period=day|week|month, not with from and to")
    if from_ is None or to is None:
        missing = "from" if from_ is None else "to"
        raise PeriodError(missing, "give both from and to (to is excluded)")
    start = _whole_second(parse_instant(from_, "from", tz))
    end = _whole_second(parse_instant(to, "to", tz))
    if end <= start:
        raise PeriodError("to", "to must come after from (the period is [from, to))")
    label = f"{start.astimezone(tz).isoformat()} – {end.astimezone(tz).isoformat()}"
    return Period(start, end, zone, label)


# -- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    code: str
    name: str
    name_en: str
    level: str


@dataclass(frozen=True)
class Row:
    unit: UnitRef
    indicators: Indicators


@dataclass(frozen=True)
class Report:
    """A unit's indicators over a period: its subtree, its own cases, each child's subtree,
    and the subtree's figures by theme and by level."""

    unit: UnitRef
    period: Period
    as_of: datetime
    position: int
    limits: SignForLimits
    total: Indicators
    own: Indicators
    children: list[Row]
    by_theme: dict[str, Indicators]
    by_level: dict[str, Indicators]


@dataclass(frozen=True)
class Subtree:
    """The units of a subtree as numbers, each with the number of its bucket: 0 for the
    reported unit itself, then 1, 2, … for its children in the order of ``children``."""

    children: list[str]
    units: list[int]
    buckets: list[int]

    @property
    def bucket_codes(self) -> list[str]:
        """Bucket number → the child's code ("" for the unit's own cases)."""
        return ["", *self.children]

    @functools.cached_property
    def array_literals(self) -> tuple[str, str]:
        """``units`` and ``buckets`` as PostgreSQL array literals (``{3,5,8}``), made once
        per subtree: the driver would otherwise examine and convert both lists, a few
        hundred numbers each, for every read (measured: a millisecond of a report's
        time in Python, with the interpreter's lock held)."""
        return (
            "{" + ",".join(map(str, self.units)) + "}",
            "{" + ",".join(map(str, self.buckets)) + "}",
        )


def subtree_numbers(tx: Tx, top: str) -> Subtree | None:
    """The subtree of ``top`` in the units view, by the numbers the indicators view files
    its facts under (one statement); None if the units view lacks ``top``. A unit with
    no number has no facts and is left out."""
    top_path = unit_path(tx, top)
    if top_path is None:
        return None
    rows = tx.execute(
        f"SELECT u.path, n.no FROM units u LEFT JOIN {NUMBERS} n "
        "ON n.name = ? || u.code WHERE u.path LIKE ? ESCAPE '\\'",
        (unit_number_name(""), like_prefix(top_path)),
    )
    child = {str(path): child_of(str(path), top_path) for path, _ in rows}
    children = sorted({c for c in child.values() if c})
    bucket_no = {c: n for n, c in enumerate(children, start=1)}
    bucket_no[""] = 0
    found = sorted((int(no), bucket_no[child[str(path)]]) for path, no in rows if no is not None)
    return Subtree(children, [no for no, _ in found], [b for _, b in found])


def subtree_table(tx: Tx, subtree: Subtree) -> tuple[str, str, tuple[Any, ...]]:
    """The subtree as a table of (no, bucket) to join the facts to: the statement's
    prefix, the table's name and the prefix's parameters.

    Joined to the facts on the unit's number, it lets SQL group by the child of the
    reported unit rather than by unit: a district's month is a few hundred groups, where
    grouping by unit answered nearly one group per case. PostgreSQL takes the list as
    two arrays in a WITH clause (two parameters to send and plan, not two per unit).
    SQLite gets a temporary table of its connection (:data:`_SUBTREE`), filled once for
    the read's queries and emptied again by its rollback: each fact query then scans its
    period on the period-led index and finds each case's bucket by the table's integer
    key (a quarter cheaper, measured, than joining a list of values in every query)."""
    if tx.dialect == "postgres":
        # Grouped by unit (each is there once): PostgreSQL then knows the units are
        # distinct and hashes this short list, streaming the facts past it, where it
        # hashed the facts of the period for the list to probe (measured: a half of the
        # report 20-23 -> 16-18 ms of server time).
        return (
            "WITH b (no, bucket) AS (SELECT u, MIN(k) FROM "
            "unnest(CAST(? AS BIGINT[]), CAST(? AS BIGINT[])) AS x (u, k) GROUP BY u)",
            "b",
            subtree.array_literals,
        )
    # Writing the temporary database takes no lock on the views' file: the read keeps
    # its snapshot and the projections' writer is not held up.
    tx.execute(f"DELETE FROM {_SUBTREE}")
    tx.executemany(
        f"INSERT INTO {_SUBTREE} (no, bucket) VALUES (?, ?)",
        list(zip(subtree.units, subtree.buckets, strict=True)),
    )
    return "", _SUBTREE, ()


#: SQLite's temporary table of a report's subtree (see :func:`subtree_table`).
_SUBTREE = "temp.report_subtree"
_SUBTREE_TABLE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_SUBTREE} (no INTEGER PRIMARY KEY, bucket INTEGER)"
)


def _packed(tx: Tx, column: str) -> str:
    """Every value of ``column`` in a group, in one field: a 90th percentile does not add
    up over groups, so the roll-up needs the values, but one field per group moves them
    far cheaper than one row per case (measured: ranking them with window functions in
    SQLite costs several times more than this). SQLite's field is a JSON array, which
    msgspec reads several times faster than Python splits and converts a list of texts."""
    if tx.dialect == "postgres":
        return f"array_agg({column})"
    return f"json_group_array({column})"


_read_seconds = msgspec.json.Decoder(list[int]).decode


def _unpacked(field: Any) -> list[int]:
    if type(field) is list:  # PostgreSQL's BIGINT[] arrives as a list of int already
        return field
    return _read_seconds(field)


def _fact_queries(
    tx: Tx, period: Period, as_of: datetime, limits: SignForLimits, subtree: str = "b"
) -> list[tuple[str, tuple[Any, ...]]]:
    """Each kind of fact as a grouped query over the table ``subtree`` (see
    :func:`subtree_table`), with its parameters, answering (bucket, theme_level, n1, n2,
    n3, packed durations)."""
    span = (period.start_s, period.end_s)
    keys = "b.bucket, c.theme_level"
    group = f"GROUP BY {keys}"
    cases = f"FROM {subtree} b JOIN {CASES} c ON c.unit_no = b.no"
    warnings = f"FROM {subtree} b JOIN {WARNINGS} c ON c.unit_no = b.no"
    nothing = "NULL" if tx.dialect == "sqlite" else "CAST(NULL AS BIGINT[])"
    on_time, on_time_params = limits.sql_on_time()
    moment = iso(as_of)
    return [
        (
            f"SELECT {keys}, COUNT(*), SUM(c.forwarded), 0, {nothing} {cases} "
            f"WHERE c.filed_epoch >= ? AND c.filed_epoch < ? {group}",
            span,
        ),
        (
            f"SELECT {keys}, COUNT(*), "
            "SUM(CASE WHEN c.closed_epoch < ? THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN c.closed_epoch < ? AND c.closed_at <= c.deadline_at "
            f"THEN 1 ELSE 0 END), {nothing} "
            f"{cases} WHERE c.due_epoch >= ? AND c.due_epoch < ? "
            f"AND (c.cancelled_at IS NULL OR c.cancelled_at > c.deadline_at) {group}",
            (period.end_s, period.end_s, *span),
        ),
        (_verified(subtree, keys, nothing), (period.start_s, period.start_s, *span)),
        (
            f"SELECT {keys}, SUM(CASE WHEN {on_time} THEN 1 ELSE 0 END), 0, 0, "
            f"{_packed(tx, 'c.sign_s')} {cases} "
            f"WHERE c.signed_epoch >= ? AND c.signed_epoch < ? {group}",
            (*on_time_params, *span),
        ),
        (
            f"SELECT {keys}, 0, 0, 0, {_packed(tx, 'c.close_s')} {cases} "
            f"WHERE c.closed_epoch >= ? AND c.closed_epoch < ? {group}",
            span,
        ),
        (
            f"SELECT {keys}, COUNT(*), 0, 0, {nothing} {cases} "
            f"WHERE c.end_at > ? AND c.deadline_at < ? AND c.filed_at <= ? {group}",
            (moment, moment, moment),
        ),
        (
            f"SELECT {keys}, COUNT(*), 0, 0, {nothing} {warnings} "
            f"WHERE c.raised_epoch >= ? AND c.raised_epoch < ? {group}",
            span,
        ),
        (
            f"SELECT {keys}, 0, 0, 0, {_packed(tx, 'c.ack_s')} {warnings} "
            f"WHERE c.ack_epoch >= ? AND c.ack_epoch < ? {group}",
            span,
        ),
    ]


def _verified(subtree: str, keys: str, nothing: str) -> str:
    """Cases verified in the period, and of them those sent back at least once: each
    counted once, at the first of its verifications (of its rejections) in the period,
    the one whose predecessor is older than the period (ADR 0024)."""
    return (
        f"SELECT {keys}, "
        "SUM(CASE WHEN c.prev_epoch IS NULL OR c.prev_epoch < ? THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN c.accepted = 0 AND (c.prev_rejected_epoch IS NULL "
        f"OR c.prev_rejected_epoch < ?) THEN 1 ELSE 0 END), 0, {nothing} "
        f"FROM {subtree} b JOIN {VERIFICATIONS} c ON c.unit_no = b.no "
        f"WHERE c.at_epoch >= ? AND c.at_epoch < ? GROUP BY {keys}"
    )


def _count_filed(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.filed += a
    t.forwarded += b


def _count_due(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.due += a
    t.closed += b
    t.closed_on_time += c


def _count_verified(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.verified += a
    t.reworked += b


def _count_signed(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.signed_on_time += a
    t.sign.extend(d)


def _count_closed(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.close.extend(d)


def _count_overdue(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.overdue_now += a


def _count_raised(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.warnings_raised += a


def _count_acknowledged(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.acknowledge.extend(d)


#: What each query of :func:`_fact_queries` adds to a tally, in the same order.
_COUNTERS = (
    _count_filed,
    _count_due,
    _count_verified,
    _count_signed,
    _count_closed,
    _count_overdue,
    _count_raised,
    _count_acknowledged,
)


def _answers(
    tx: Tx,
    subtree: Subtree,
    which: Sequence[int],
    period: Period,
    as_of: datetime,
    limits: SignForLimits,
) -> list[tuple[int, Sequence[Any]]]:
    """The rows of the fact queries numbered ``which``, each with its number.

    On PostgreSQL they are the branches of a single statement (one round trip, the
    subtree sent and planned once); SQLite, in process, runs them one by one.
    """
    with_b, table, units = subtree_table(tx, subtree)
    queries = _fact_queries(tx, period, as_of, limits, table)
    chosen = [(n, *queries[n]) for n in which]
    if tx.dialect == "postgres":
        sql = " UNION ALL ".join(
            f"(SELECT {n} AS q, f.* FROM ({query}) f)" for n, query, _ in chosen
        )
        params = tuple(p for _, _, query_params in chosen for p in query_params)
        # Never prepared: a generic plan, blind to the period and to the size of the
        # subtree, probes the unit-led indexes once per unit (measured: half of the
        # report 20 ms planned for its values, 32 ms with the generic plan).
        rows = tx.execute(f"{with_b} {sql}", (*units, *params), prepare=False)
        return [(row[0], row[1:]) for row in rows]
    return [
        (n, row) for n, query, query_params in chosen for row in tx.execute(query, query_params)
    ]


@dataclass
class Tallies:
    """What was counted, by bucket (number) and by (theme, level) number: every answer
    row is added to one of each, so that rolling up later adds a few dozen tallies,
    not one per (bucket, theme, level) group."""

    by_bucket: dict[int, Tally] = field(default_factory=dict)
    by_theme_level: dict[int, Tally] = field(default_factory=dict)

    def count(self, answers: Iterable[tuple[int, Sequence[Any]]]) -> Tallies:
        by_bucket, by_theme_level = self.by_bucket, self.by_theme_level
        for n, (bucket, theme_level, a, b, c, packed) in answers:
            one = by_bucket.get(bucket)
            if one is None:
                one = by_bucket[bucket] = Tally()
            other = by_theme_level.get(theme_level)
            if other is None:
                other = by_theme_level[theme_level] = Tally()
            counter = _COUNTERS[n]
            a, b, c = int(a or 0), int(b or 0), int(c or 0)
            d = [] if packed is None else _unpacked(packed)
            counter(one, a, b, c, d)
            counter(other, a, b, c, d)
        return self


def child_of(path: str, top_path: str) -> str:
    """The child of the top unit whose subtree holds ``path`` ("": the top unit itself)."""
    rest = path[len(top_path) :]
    return rest.split("/", 1)[0]


def _ordered(keys: Iterable[str], order: tuple[str, ...]) -> list[str]:
    rank = {k: i for i, k in enumerate(order)}
    return sorted(set(keys), key=lambda k: (rank.get(k, len(order)), k))


def _sorted_durations(tallies: Iterable[Tally]) -> None:
    """Sort each tally's durations in place: a roll-up of sorted lists is then a merge
    of runs for :meth:`Durations.of`, not a sort from scratch (every duration is in four
    roll-ups: its child, its theme, its level and the total)."""
    for t in tallies:
        t.acknowledge.sort()
        t.sign.sort()
        t.close.sort()


def assemble(
    *,
    top: UnitRef,
    children: list[UnitRef],
    tallies: Tallies,
    bucket_codes: Sequence[str],
    theme_levels: Mapping[int, tuple[str, str]],
    period: Period,
    as_of: datetime,
    position: int,
    limits: SignForLimits,
) -> Report:
    """Roll the tallies up: the whole subtree, the unit's own cases, each child's subtree,
    each theme and each level. Every child is listed, with zeros when nothing happened."""
    per_bucket = tallies.by_bucket
    _sorted_durations(per_bucket.values())
    _sorted_durations(tallies.by_theme_level.values())
    own = per_bucket.get(0) or Tally()
    per_child: dict[str, Tally] = {c.code: Tally() for c in children}
    for bucket, tally in per_bucket.items():
        if bucket:
            per_child[bucket_codes[bucket]] = tally
    per_theme: dict[str, Tally] = {}
    per_level: dict[str, Tally] = {}
    for theme_level, tally in tallies.by_theme_level.items():
        theme, level = theme_levels[theme_level]
        per_theme.setdefault(theme, Tally()).add(tally)
        per_level.setdefault(level, Tally()).add(tally)
    total = Tally.sum([own, *per_child.values()])
    refs = {c.code: c for c in children}
    rows = [
        Row(refs.get(code, UnitRef(code, code, code, "")), Indicators.of(per_child[code]))
        for code in sorted(per_child)
    ]
    return Report(
        unit=top,
        period=period,
        as_of=as_of,
        position=position,
        limits=limits,
        total=Indicators.of(total),
        own=Indicators.of(own),
        children=rows,
        by_theme={k: Indicators.of(per_theme[k]) for k in _ordered(per_theme, THEMES)},
        by_level={k: Indicators.of(per_level[k]) for k in _ordered(per_level, LEVELS)},
    )


def _unit_refs(tx: Tx, where: str, params: tuple[Any, ...]) -> list[UnitRef]:
    rows = tx.execute(f"SELECT code, name, name_en, level FROM units WHERE {where}", params)
    return [UnitRef(str(c), str(n), str(e), str(lv)) for c, n, e, lv in rows]


#: The fact queries of :func:`_fact_queries` in two halves of about equal cost, read at
#: the same time in two reads of their own (a district's month is a few tens of
#: milliseconds of database work, and the database has more than one core to do it).
HALVES = ((1, 2, 5, 6, 7), (0, 3, 4))
assert sorted(HALVES[0] + HALVES[1]) == list(range(len(_COUNTERS))), "a fact left out"

_helpers: ThreadPoolExecutor | None = None
_helpers_lock = threading.Lock()


def _helper_threads() -> ThreadPoolExecutor:
    global _helpers  # one pool for the process, made when first needed
    with _helpers_lock:
        if _helpers is None:
            _helpers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="closedloop-report")
        return _helpers


@dataclass
class _Read:
    """What one read of the views answered for a report."""

    marks: _Marks
    answers: list[tuple[int, Sequence[Any]]]
    numbering: _Numbering


class _Marks(NamedTuple):
    """Where a read's snapshot of the views stands."""

    #: The positions of the units and indicators views: two reads that saw the same
    #: positions saw the same rows (a view's rows and its position are written in one
    #: transaction, ADR 0016).
    units: int
    indicators: int
    #: The highest number the indicators view has given.
    highest: int
    #: How many units and the sum of their versions: it grows with every change of the
    #: network the units view applies, and with nothing else (the views' positions move
    #: with every batch of the log, whatever it holds).
    network: tuple[int, int]


_MARKS = (
    "SELECT (SELECT notification_id FROM projection_tracking WHERE application_name = ?), "
    "(SELECT notification_id FROM projection_tracking WHERE application_name = ?), "
    f"(SELECT MAX(no) FROM {NUMBERS}), n.units, n.versions "
    # One pass over the units for both (two scalar subqueries would read them twice).
    "FROM (SELECT COUNT(*) AS units, SUM(version) AS versions FROM units) n"
)


def _marks(tx: Tx) -> _Marks:
    """Where this read's snapshot stands, in one statement."""
    units, indicators, highest, count, versions = tx.execute(
        _MARKS, (tracking_name(UnitsView.name), tracking_name(IndicatorsView.name))
    )[0]
    return _Marks(
        int(units or 0), int(indicators or 0), int(highest or 0), (int(count), int(versions or 0))
    )


@dataclass(frozen=True)
class _Numbering:
    """A unit and its children as the units view has them, its subtree by the indicators
    view's numbers, and what the (theme, level) numbers stand for."""

    top: UnitRef
    children: list[UnitRef]
    subtree: Subtree
    theme_levels: dict[int, tuple[str, str]]


#: Per store, numberings already read, by (unit, the network's mark, highest number).
#: Each change of the network the units view applies adds a unit or raises a version,
#: so the mark names one state of the units view along the log; and the numbers with a
#: given highest number are a function of the log too (given one by one, in the log's
#: order, never changed): the key says everything the value depends on, even across a
#: rebuild. Finding a subtree's numbers reads one row per unit; a report then reads
#: them once per change of the network or of the numbers, not twice per report.
_numberings: weakref.WeakKeyDictionary[
    ViewStore, dict[tuple[str, tuple[int, int], int], _Numbering]
] = weakref.WeakKeyDictionary()
_numberings_lock = threading.Lock()
_NUMBERINGS_KEPT = 64


def _numbering(store: ViewStore, tx: Tx, code: str, marks: _Marks) -> _Numbering | None:
    key = (code, marks.network, marks.highest)
    with _numberings_lock:
        known = _numberings.setdefault(store, {})
        found = known.get(key)
    if found is not None:
        return found
    subtree = subtree_numbers(tx, code)
    if subtree is None:
        return None
    rows = tx.execute(
        f"SELECT no, name FROM {NUMBERS} WHERE name LIKE ?", (theme_level_name("%", "%"),)
    )
    found = _Numbering(
        top=_unit_refs(tx, "code = ?", (code,))[0],
        children=_unit_refs(tx, "parent = ?", (code,)),
        subtree=subtree,
        theme_levels={int(no): parse_theme_level_name(str(name)) for no, name in rows},
    )
    with _numberings_lock:
        if len(known) >= _NUMBERINGS_KEPT:
            known.clear()
        known[key] = found
    return found


def _read(
    store: ViewStore,
    code: str,
    which: Sequence[int],
    period: Period,
    as_of: datetime,
    limits: SignForLimits,
) -> _Read | None:
    """One read: the fact queries ``which``; None when the unit is not in the view."""
    store.scratch_table(_SUBTREE_TABLE)
    with store.read() as tx:
        marks = _marks(tx)
        numbering = _numbering(store, tx, code, marks)
        if numbering is None:
            return None
        answers = _answers(tx, numbering.subtree, which, period, as_of, limits)
    return _Read(marks, answers, numbering)


class _ViewsMovedOn(Exception):
    """The two halves of a report saw different states of the views."""


def _read_in_halves(
    store: ViewStore, code: str, period: Period, as_of: datetime, limits: SignForLimits
) -> tuple[_Read, Tallies] | None:
    """Both halves read at the same time and added up, or :class:`_ViewsMovedOn`."""
    second = _helper_threads().submit(_read, store, code, HALVES[1], period, as_of, limits)
    # This thread holds no connection while it waits for the other: a burst of reports
    # cannot take every connection of the pool and wait for one more.
    first = _read(store, code, HALVES[0], period, as_of, limits)
    tallies = Tallies()
    if first is not None:
        # Added up here, while the other half may still be reading. Only this thread
        # adds up: two threads doing so at once would take turns at the interpreter's
        # lock, each waiting for the other's turn to end.
        tallies.count(first.answers)
    # Not started yet (the helpers are busy with other reports): read it here instead.
    other = (
        _read(store, code, HALVES[1], period, as_of, limits) if second.cancel() else second.result()
    )
    if first is None and other is None:
        return None
    if first is None or other is None or first.marks != other.marks:
        raise _ViewsMovedOn
    return first, tallies.count(other.answers)


def unit_report(
    store: ViewStore,
    code: str,
    period: Period,
    *,
    as_of: datetime,
    limits: SignForLimits | None = None,
) -> Report | None:
    """The report of ``code`` as the views stand, or None if the unit is unknown.

    When the store reads concurrently, the fact queries are read in two halves at the
    same time, and the halves are used only if both saw the same positions of the
    views; else everything is read again in one read. Every figure of a report comes
    from one state of the views (ADR 0023).
    """
    limits = limits or SignForLimits()
    found: tuple[_Read, Tallies] | None = None
    if store.concurrent_reads:
        try:
            found = _read_in_halves(store, code, period, as_of, limits)
            if found is None:
                return None
        except _ViewsMovedOn:
            # Rare (a batch of the runner landed between the two halves' snapshots);
            # reading everything at once then is cheaper than trying the halves again
            # while the views are busy.
            pass
    if found is None:
        whole = _read(store, code, range(len(_COUNTERS)), period, as_of, limits)
        if whole is None:
            return None
        found = whole, Tallies().count(whole.answers)
    read, tallies = found
    return assemble(
        top=read.numbering.top,
        children=read.numbering.children,
        tallies=tallies,
        bucket_codes=read.numbering.subtree.bucket_codes,
        theme_levels=read.numbering.theme_levels,
        period=period,
        as_of=as_of,
        position=read.marks.indicators,
        limits=limits,
    )

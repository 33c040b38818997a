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
grouped by (child of the unit, theme, level): the subtree's units are joined as a list
of (unit, child) pairs, so the answer holds a few hundred groups, not a row per unit or
per case. A 90th percentile does not add up over groups: the durations of each group
come back packed in one field (``group_concat`` / ``array_agg``) and are summarised
here, exactly. Rolling up (the unit, each child, each theme, each level) is pure Python
over the groups, so a parent's figures are its own plus its children's by construction.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import calendar as calendar_module
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from domain.instruction import Priority
from domain.warning import Theme
from projections.base import Tx, ViewStore, iso, tracking_name
from projections.indicators import CASES, NONE, VERIFICATIONS, WARNINGS, IndicatorsView, epoch
from projections.units import UnitsView, subtree_paths

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


Key = tuple[str, str, str]  # bucket (a child's code, or "" for the unit's own), theme, level


def subtree_table(tx: Tx, bucket: Mapping[str, str]) -> tuple[str, tuple[Any, ...]]:
    """The subtree as a table ``b (code, bucket)`` in a WITH clause, and its parameters.

    Joined to the facts on the unit, it lets SQL group by the child of the reported unit
    rather than by unit: a district's month is a few hundred groups, where grouping by
    unit answered nearly one group per case. PostgreSQL takes the list as two arrays
    (two parameters to send and plan, not two per unit)."""
    codes = sorted(bucket)
    if tx.dialect == "postgres":
        return (
            "WITH b (code, bucket) AS (SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[])))",
            (codes, [bucket[code] for code in codes]),
        )
    values = ", ".join(["(?, ?)"] * len(codes))
    params = tuple(text for code in codes for text in (code, bucket[code]))
    return f"WITH b (code, bucket) AS (VALUES {values})", params


def _packed(tx: Tx, column: str) -> str:
    """Every value of ``column`` in a group, in one field: a 90th percentile does not add
    up over groups, so the roll-up needs the values, but one field per group moves them
    far cheaper than one row per case (measured: ranking them with window functions in
    SQLite costs several times more than this)."""
    if tx.dialect == "postgres":
        return f"array_agg({column})"
    return f"group_concat({column})"


def _unpacked(field: Any) -> list[int]:
    if type(field) is list:  # PostgreSQL's BIGINT[] arrives as a list of int already
        return field
    return [int(v) for v in str(field).split(",")]


def _fact_queries(
    tx: Tx, period: Period, as_of: datetime, limits: SignForLimits
) -> list[tuple[str, tuple[Any, ...]]]:
    """Each kind of fact as a grouped query over ``b`` (see :func:`subtree_table`), with
    its parameters, answering (bucket, theme, level, n1, n2, n3, packed durations)."""
    span = (period.start_s, period.end_s)
    keys = "b.bucket, c.theme, c.level"
    group = f"GROUP BY {keys}"
    cases = f"FROM b JOIN {CASES} c ON c.unit = b.code"
    warnings = f"FROM b JOIN {WARNINGS} c ON c.unit = b.code"
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
        (_verified(tx, keys, nothing), span),
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


def _verified(tx: Tx, keys: str, nothing: str) -> str:
    """Cases verified in the period, and of them those sent back at least once."""
    if tx.dialect == "postgres":
        # Each case once per group, and whether it was sent back there: the counts of
        # COUNT(DISTINCT …), grouped by hashing where PostgreSQL would sort for each
        # group (7.5 → 5.7 ms for a district's month). SQLite is slower this way.
        return (
            f"SELECT bucket, theme, level, COUNT(*), SUM(rejected), 0, {nothing} FROM ("
            f"SELECT {keys}, c.case_id, MAX(CASE WHEN c.accepted = 0 THEN 1 ELSE 0 END) "
            f"AS rejected FROM b JOIN {VERIFICATIONS} c ON c.unit = b.code "
            f"WHERE c.at_epoch >= ? AND c.at_epoch < ? GROUP BY {keys}, c.case_id) v "
            "GROUP BY bucket, theme, level"
        )
    return (
        f"SELECT {keys}, COUNT(DISTINCT c.case_id), "
        f"COUNT(DISTINCT CASE WHEN c.accepted = 0 THEN c.case_id END), 0, {nothing} "
        f"FROM b JOIN {VERIFICATIONS} c ON c.unit = b.code "
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
    bucket: Mapping[str, str],
    which: Sequence[int],
    period: Period,
    as_of: datetime,
    limits: SignForLimits,
) -> list[tuple[int, Sequence[Any]]]:
    """The rows of the fact queries numbered ``which``, each with its number.

    On PostgreSQL they are the branches of a single statement (one round trip, the
    subtree sent and planned once); SQLite, in process, runs them one by one.
    """
    with_b, units = subtree_table(tx, bucket)
    queries = _fact_queries(tx, period, as_of, limits)
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
        (n, row)
        for n, query, query_params in chosen
        for row in tx.execute(f"{with_b} {query}", (*units, *query_params))
    ]


def _tallies(answers: Iterable[tuple[int, Sequence[Any]]]) -> dict[Key, Tally]:
    """The answers added up by (bucket, theme, level)."""
    tallies: dict[Key, Tally] = {}
    for n, row in answers:
        key: Key = tuple(row[:3])
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally()
        packed = row[6]
        _COUNTERS[n](
            tally,
            int(row[3] or 0),
            int(row[4] or 0),
            int(row[5] or 0),
            [] if packed is None else _unpacked(packed),
        )
    return tallies


def child_of(path: str, top_path: str) -> str:
    """The child of the top unit whose subtree holds ``path`` ("": the top unit itself)."""
    rest = path[len(top_path) :]
    return rest.split("/", 1)[0]


def buckets(paths: Mapping[str, str], top: str) -> dict[str, str]:
    """Each unit of the subtree → the child of ``top`` it lies under (an empty text for ``top``)."""
    top_path = paths[top]
    return {code: child_of(path, top_path) for code, path in paths.items()}


def _ordered(keys: Iterable[str], order: tuple[str, ...]) -> list[str]:
    rank = {k: i for i, k in enumerate(order)}
    return sorted(set(keys), key=lambda k: (rank.get(k, len(order)), k))


def assemble(
    *,
    top: UnitRef,
    children: list[UnitRef],
    tallies: Mapping[Key, Tally],
    period: Period,
    as_of: datetime,
    position: int,
    limits: SignForLimits,
) -> Report:
    """Roll the groups up: the whole subtree, the unit's own cases, each child's subtree,
    each theme and each level. Every child is listed, with zeros when nothing happened."""
    own = Tally()
    per_child: dict[str, Tally] = {c.code: Tally() for c in children}
    per_theme: dict[str, Tally] = {}
    per_level: dict[str, Tally] = {}
    for (child, theme, level), tally in tallies.items():
        if not child:
            own.add(tally)
        else:
            per_child.setdefault(child, Tally()).add(tally)
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
HALVES = ((0, 1, 2, 5), (3, 4, 6, 7))
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

    #: The positions of the units and indicators views in this read's snapshot: two
    #: reads that saw the same positions saw the same rows (a view's rows and its
    #: position are written in one transaction, ADR 0016).
    marks: tuple[int, int]
    tallies: dict[Key, Tally]
    top: UnitRef | None = None
    children: list[UnitRef] = field(default_factory=list)


def _marks(tx: Tx) -> tuple[int, int]:
    rows = dict(
        tx.execute(
            "SELECT application_name, notification_id FROM projection_tracking "
            "WHERE application_name IN (?, ?)",
            (tracking_name(UnitsView.name), tracking_name(IndicatorsView.name)),
        )
    )
    return (
        int(rows.get(tracking_name(UnitsView.name)) or 0),
        int(rows.get(tracking_name(IndicatorsView.name)) or 0),
    )


def _read(
    store: ViewStore,
    code: str,
    which: Sequence[int],
    period: Period,
    as_of: datetime,
    limits: SignForLimits,
    *,
    units: bool,
) -> _Read | None:
    """One read: the fact queries ``which`` (and, with ``units``, the unit and its
    children); None when the unit is not in the view."""
    with store.read() as tx:
        marks = _marks(tx)
        paths = subtree_paths(tx, code)
        if not paths:
            return None
        answers = _answers(tx, buckets(paths, code), which, period, as_of, limits)
        found = _Read(marks, {})
        if units:
            found.top = _unit_refs(tx, "code = ?", (code,))[0]
            found.children = _unit_refs(tx, "parent = ?", (code,))
    # Added up in the thread that read them, while the other half may still be waiting
    # for the database.
    found.tallies = _tallies(answers)
    return found


class _ViewsMovedOn(Exception):
    """The two halves of a report saw different states of the views."""


def _read_in_halves(
    store: ViewStore, code: str, period: Period, as_of: datetime, limits: SignForLimits
) -> _Read | None:
    """Both halves read at the same time, or :class:`_ViewsMovedOn`."""
    second = _helper_threads().submit(
        _read, store, code, HALVES[1], period, as_of, limits, units=False
    )
    # This thread holds no connection while it waits for the other: a burst of reports
    # cannot take every connection of the pool and wait for one more.
    first = _read(store, code, HALVES[0], period, as_of, limits, units=True)
    # Not started yet (the helpers are busy with other reports): read it here instead.
    other = (
        _read(store, code, HALVES[1], period, as_of, limits, units=False)
        if second.cancel()
        else second.result()
    )
    if first is None and other is None:
        return None
    if first is None or other is None or first.marks != other.marks:
        raise _ViewsMovedOn
    for key, tally in other.tallies.items():
        first.tallies.setdefault(key, Tally()).add(tally)
    return first


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
    everything = range(len(_COUNTERS))
    if not store.concurrent_reads:
        found = _read(store, code, everything, period, as_of, limits, units=True)
    else:
        try:
            found = _read_in_halves(store, code, period, as_of, limits)
        except _ViewsMovedOn:
            # Rare (a batch of the runner landed between the two halves' snapshots);
            # reading everything at once then is cheaper than trying the halves again
            # while the views are busy.
            found = _read(store, code, everything, period, as_of, limits, units=True)
    if found is None:
        return None
    assert found.top is not None
    return assemble(
        top=found.top,
        children=found.children,
        tallies=found.tallies,
        period=period,
        as_of=as_of,
        position=found.marks[1],
        limits=limits,
    )

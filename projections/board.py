"""The hall board's figures, read from the views in one snapshot (issue 20, ADR 0054).

A wall screen asks for the whole picture of a unit's subtree at once: the open warnings
by theme and level, open and overdue instructions per unit for the heat grid, and four
tiles with a trend of the last :data:`TREND_DAYS` days each. Every figure is one query
that scans a range of an index the indicators view already keeps (``*_open_t``,
``*_raised_t``, ``*_due_t``, ADR 0023) and groups by the unit's number, whatever the size
of the subtree; the rows are kept to the subtree in Python, a few hundred at most. The
definitions are the reports' (:mod:`projections.reports`, ADR 0011): a case is an
instruction (each forwarded order counts) under its lead unit; *overdue now* is open
with its deadline passed; the on-time closure rate is over the cases due in the month so
far (their deadline passed), as the trend is over each past day.
A day is a day of the calendar's zone, ending at local midnight.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from projections.indicators import CASES, NUMBERS, WARNINGS, epoch, unit_number_name
from projections.queries import open_warnings_where
from projections.reports.figures import Rate
from projections.reports.periods import resolve_period
from projections.store import TRACKING_TABLE, Tx, tracking_name
from projections.units import like_prefix, unit_path
from projections.values import iso

#: The views the board reads: its snapshot stands at the least of their positions.
BOARD_VIEWS = ("units", "warnings", "instructions", "indicators")
TREND_DAYS = 14
#: How many open warnings the board names one by one, most severe first.
NAMED_WARNINGS = 5
#: The unit levels the heat grid shows; cases of a unit below (an enterprise) are
#: counted on its nearest shown ancestor.
GRID_LEVELS = ("city", "district", "office", "community")


@dataclass(frozen=True)
class Trend:
    """One figure per day, oldest first, today last (None: nothing to count that day)."""

    days: tuple[date, ...]
    values: tuple[int | None, ...]


@dataclass(frozen=True)
class Cell:
    """One unit of the heat grid: its open and overdue cases (with its enterprises')."""

    code: str
    name: str
    name_en: str
    level: str
    open: int
    overdue: int


@dataclass(frozen=True)
class GridRow:
    """A district or an office, then the departments or communities under it."""

    head: Cell
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Figures:
    """What the board shows of a subtree, as the views stood at ``position``."""

    at: datetime
    position: int
    #: (theme, level) -> open warnings.
    by_theme_level: dict[tuple[str, int], int]
    open_warnings: int
    #: The most severe open warnings, oldest of each level first (view rows).
    named_warnings: list[dict[str, Any]]
    grid: list[GridRow]
    warnings_today: int
    warnings_trend: Trend
    open_cases: int
    open_trend: Trend
    overdue_now: int
    overdue_trend: Trend
    on_time_month: Rate
    #: Percent of the cases due each day that closed on time.
    on_time_trend: Trend


def _day_starts(now: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local midnights of the last :data:`TREND_DAYS` days and of tomorrow (aware)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=TREND_DAYS - 1)
    return [
        datetime.combine(first + timedelta(days=i), datetime.min.time(), tzinfo=zone)
        for i in range(TREND_DAYS + 1)
    ]


def position_of(tx: Tx) -> int:
    """The least position of :data:`BOARD_VIEWS`, read in the snapshot ``tx`` reads."""
    names = [tracking_name(v) for v in BOARD_VIEWS]
    rows = tx.execute(
        f"SELECT application_name, notification_id FROM {TRACKING_TABLE} "
        f"WHERE application_name IN ({', '.join('?' for _ in names)})",
        names,
    )
    found = {str(n): int(p) for n, p in rows}
    return min(found.get(n, 0) for n in names)


def _units(tx: Tx, scope: str | None) -> list[dict[str, Any]] | None:
    columns = ("code", "name", "name_en", "level", "kind", "parent", "path")
    select = f"SELECT {', '.join(columns)} FROM units"
    if scope is None:
        rows = tx.execute(f"{select} ORDER BY path")
    else:
        path = unit_path(tx, scope)
        if path is None:
            return None
        rows = tx.execute(
            f"{select} WHERE path LIKE ? ESCAPE '\\' ORDER BY path", [like_prefix(path)]
        )
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _numbers(tx: Tx, codes: Iterable[str]) -> dict[int, str]:
    """Unit number -> code, for ``codes``."""
    wanted = {unit_number_name(c): c for c in codes}
    rows = tx.execute(f"SELECT name, no FROM {NUMBERS} WHERE name LIKE ?", ["unit:%"])
    return {int(no): wanted[str(name)] for name, no in rows if str(name) in wanted}


def _sums(tx: Tx, sql: str, params: Sequence[Any], units: dict[int, str]) -> dict[str, list[int]]:
    """The rows of a query answering (unit_no, sums...), kept to ``units``, by code."""
    out: dict[str, list[int]] = {}
    for unit_no, *sums in tx.execute(sql, params, prepare=False):
        code = units.get(int(unit_no))
        if code is not None:
            out[code] = [int(s or 0) for s in sums]
    return out


def _total(rows: dict[str, list[int]], width: int) -> list[int]:
    totals = [0] * width
    for sums in rows.values():
        for i, s in enumerate(sums):
            totals[i] += s
    return totals


def _case_series(tx: Tx, moments: list[datetime], units: dict[int, str]) -> dict[str, list[int]]:
    """Per unit: open at each moment, then overdue at each moment."""
    marks = [iso(m) for m in moments]
    open_sums = ["SUM(CASE WHEN filed_at <= ? AND end_at > ? THEN 1 ELSE 0 END)" for _ in marks]
    late_sums = [
        "SUM(CASE WHEN filed_at <= ? AND end_at > ? AND deadline_at < ? THEN 1 ELSE 0 END)"
        for _ in marks
    ]
    params: list[Any] = [p for m in marks for p in (m, m)]
    params += [p for m in marks for p in (m, m, m)]
    params.append(marks[0])
    return _sums(
        tx,
        f"SELECT unit_no, {', '.join(open_sums + late_sums)} FROM {CASES} "
        "WHERE end_at > ? GROUP BY unit_no",
        params,
        units,
    )


def _raised_series(tx: Tx, starts: list[datetime], units: dict[int, str]) -> list[int]:
    bounds = [epoch(s) for s in starts]
    sums = [
        "SUM(CASE WHEN raised_epoch >= ? AND raised_epoch < ? THEN 1 ELSE 0 END)"
        for _ in bounds[:-1]
    ]
    params: list[Any] = [p for a, b in pairwise(bounds) for p in (a, b)]
    rows = _sums(
        tx,
        f"SELECT unit_no, {', '.join(sums)} FROM {WARNINGS} "
        "WHERE raised_epoch >= ? AND raised_epoch < ? AND merged_into IS NULL GROUP BY unit_no",
        [*params, bounds[0], bounds[-1]],
        units,
    )
    return _total(rows, len(sums))


def _due_series(tx: Tx, spans: list[tuple[int, int]], units: dict[int, str]) -> list[int]:
    """Per span [a, b): cases due in it less those an approved deferral holds (the
    on-time denominator, ADR 0071), and of them closed on time; as the reports count
    them (a case cancelled before its deadline is not due)."""
    sums = []
    params: list[Any] = []
    for a, b in spans:
        sums.append(
            "SUM(CASE WHEN due_epoch >= ? AND due_epoch < ? AND deferred = 0 THEN 1 ELSE 0 END)"
        )
        sums.append(
            "SUM(CASE WHEN due_epoch >= ? AND due_epoch < ? AND closed_epoch < ? "
            "AND closed_at <= deadline_at THEN 1 ELSE 0 END)"
        )
        params += [a, b, a, b, b]
    low = min(a for a, _ in spans)
    high = max(b for _, b in spans)
    rows = _sums(
        tx,
        f"SELECT unit_no, {', '.join(sums)} FROM {CASES} "
        "WHERE due_epoch >= ? AND due_epoch < ? "
        "AND (cancelled_at IS NULL OR cancelled_at > deadline_at) GROUP BY unit_no",
        [*params, low, high],
        units,
    )
    return _total(rows, len(sums))


def _theme_levels(tx: Tx, scope: str | None) -> dict[tuple[str, int], int]:
    found = open_warnings_where(tx, scope)
    if found is None:
        return {}
    where, params = found
    rows = tx.execute(
        f"SELECT theme, level, COUNT(*) FROM warnings {where} GROUP BY theme, level", params
    )
    return {(str(t), int(lv)): int(n) for t, lv, n in rows}


def _named_warnings(tx: Tx, scope: str | None) -> list[dict[str, Any]]:
    found = open_warnings_where(tx, scope)
    if found is None:
        return []
    where, params = found
    columns = ("id", "title", "theme", "level", "unit", "status", "repeats", "raised_at")
    rows = tx.execute(
        f"SELECT {', '.join(columns)} FROM warnings {where} "
        "ORDER BY level, raised_at DESC, id LIMIT ?",
        [*params, NAMED_WARNINGS],
    )
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _grid(units: list[dict[str, Any]], counts: dict[str, tuple[int, int]]) -> list[GridRow]:
    """The heat grid: each district or office a row, the units under it its cells."""
    by_code = {u["code"]: u for u in units}
    shown = {u["code"] for u in units if u["level"] in GRID_LEVELS}
    own: dict[str, list[int]] = {c: [0, 0] for c in shown}
    for code, (opened, late) in counts.items():
        target: str | None = code
        while target is not None and target not in shown:
            parent = by_code.get(target, {}).get("parent")
            target = parent if parent in by_code else None
        if target is not None:
            own[target][0] += opened
            own[target][1] += late

    def cell(u: dict[str, Any]) -> Cell:
        opened, late = own[u["code"]]
        return Cell(u["code"], u["name"], u["name_en"], u["level"], opened, late)

    heads: dict[str, list[Cell]] = {}
    order: list[str] = []
    for u in units:
        if u["code"] not in shown:
            continue
        is_head = u["level"] in ("city", "office") or (
            u["level"] == "district" and u["kind"] != "department"
        )
        if is_head or u["parent"] not in heads:
            heads[u["code"]] = []
            order.append(u["code"])
        else:
            heads[u["parent"]].append(cell(u))
    return [GridRow(cell(by_code[c]), tuple(heads[c])) for c in order]


def figures(tx: Tx, scope: str | None, now: datetime, zone: ZoneInfo) -> Figures | None:
    """The board of ``scope``'s subtree (every unit when None) at ``now``; None when
    the views know no such unit."""
    units = _units(tx, scope)
    if units is None:
        return None
    numbers = _numbers(tx, (u["code"] for u in units))
    starts = _day_starts(now, zone)
    moments = [min(s, now) for s in starts[1:]]
    cases = _case_series(tx, moments, numbers)
    width = len(moments)
    totals = _total(cases, 2 * width)
    month = resolve_period(zone=zone.key, today=now.astimezone(zone).date())
    # The month so far: a case whose deadline is still ahead is not yet due, and a wall
    # reading 0 % on the 7th for cases due on the 20th would alarm the hall for nothing.
    spans = [(month.start_s, min(month.end_s, epoch(now)))]
    spans += [(epoch(a), epoch(b)) for a, b in pairwise(starts)]
    due = _due_series(tx, spans, numbers)
    days = tuple(s.date() for s in starts[:-1])
    raised = _raised_series(tx, starts, numbers)
    by_theme_level = _theme_levels(tx, scope)
    rates = [Rate(due[i + 1], due[i]).percent for i in range(2, len(due), 2)]
    return Figures(
        at=now,
        position=position_of(tx),
        by_theme_level=by_theme_level,
        open_warnings=sum(by_theme_level.values()),
        named_warnings=_named_warnings(tx, scope),
        grid=_grid(units, {c: (s[width - 1], s[2 * width - 1]) for c, s in cases.items()}),
        warnings_today=raised[-1],
        warnings_trend=Trend(days, tuple(raised)),
        open_cases=totals[width - 1],
        open_trend=Trend(days, tuple(totals[:width])),
        overdue_now=totals[2 * width - 1],
        overdue_trend=Trend(days, tuple(totals[width:])),
        on_time_month=Rate(due[1], due[0]),
        on_time_trend=Trend(days, tuple(None if r is None else round(r) for r in rates)),
    )

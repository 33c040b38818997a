"""The reading of a report: both halves of its fact queries at once, each in a read of
its own, used only if both saw one state of the views (ADR 0023).

The second half runs in a helper thread of the view store's
(:meth:`projections.store.ViewStore.beside_caller`), made when first needed and stopped
when the store closes.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from projections.indicator_months import whole_month
from projections.indicators import (
    NUMBERS,
    IndicatorsView,
    epoch,
    parse_theme_level_name,
    theme_level_name,
)
from projections.reports.assembly import Report, UnitRef, assemble
from projections.reports.facts import (
    COUNTERS,
    SUBTREE_TABLE,
    Subtree,
    Tallies,
    fact_answers,
    fact_answers_on,
    subtree_numbers,
    subtree_table,
)
from projections.reports.figures import SignForLimits
from projections.reports.months import (
    DUE_QUERIES,
    OVERDUE_QUERY,
    count_months,
    month_statement,
    rollup_month,
)
from projections.reports.periods import Period
from projections.store import Tx, ViewStore, tracking_name
from projections.units import UnitsView


def _unit_refs(tx: Tx, where: str, params: tuple[Any, ...]) -> list[UnitRef]:
    rows = tx.execute(f"SELECT code, name, name_en, level FROM units WHERE {where}", params)
    return [UnitRef(str(c), str(n), str(e), str(lv)) for c, n, e, lv in rows]


#: The fact queries (:mod:`projections.reports.facts`) in two halves of about equal cost, read at
#: the same time in two reads of their own (a district's month is a few tens of
#: milliseconds of database work, and the database has more than one core to do it).
HALVES = ((1, 2, 5, 6, 7, 10, 12), (0, 3, 4, 8, 9, 11))
assert sorted(HALVES[0] + HALVES[1]) == list(range(len(COUNTERS))), "a fact left out"


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
    store.scratch_table(SUBTREE_TABLE)
    with store.read() as tx:
        marks = _marks(tx)
        numbering = _numbering(store, tx, code, marks)
        if numbering is None:
            return None
        answers = fact_answers(tx, numbering.subtree, which, period, as_of, limits)
    return _Read(marks, answers, numbering)


def _read_month(
    store: ViewStore, code: str, period: Period, as_of: datetime, limits: SignForLimits
) -> tuple[_Read, Tallies] | _NotAMonth | None:
    """One read of a whole calendar month from the month rollup (ADR 0097): the rollup's
    statement and the fact queries it leaves to the facts; None when the unit is not in
    the view, :data:`NOT_A_MONTH` when the period is not one of the rollup's months."""
    store.scratch_table(SUBTREE_TABLE)
    with store.read() as tx:
        month = rollup_month(tx, period)
        if month is None:
            return NOT_A_MONTH
        marks = _marks(tx)
        numbering = _numbering(store, tx, code, marks)
        if numbering is None:
            return None
        over = epoch(as_of) >= period.end_s
        subtree = subtree_table(tx, numbering.subtree)
        which = (OVERDUE_QUERY,) if over else (OVERDUE_QUERY, *DUE_QUERIES)
        answers = fact_answers_on(tx, subtree, which, period, as_of, limits)
        with_b, table, units = subtree
        sql, params = month_statement(table, month, over=over, dialect=tx.dialect)
        rows = tx.execute(f"{with_b} {sql}", (*units, *params), prepare=False)
    tallies = count_months(Tallies().count(answers), rows, limits, over=over)
    return _Read(marks, answers, numbering), tallies


class _NotAMonth:
    """The answer of :func:`_read_month` for a period the rollup does not hold."""


NOT_A_MONTH = _NotAMonth()


class _ViewsMovedOn(Exception):
    """The two halves of a report saw different states of the views."""


def _read_in_halves(
    store: ViewStore, code: str, period: Period, as_of: datetime, limits: SignForLimits
) -> tuple[_Read, Tallies] | None:
    """Both halves read at the same time and added up, or :class:`_ViewsMovedOn`."""
    second = store.beside_caller(_read, store, code, HALVES[1], period, as_of, limits)
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
    months: bool = True,
) -> Report | None:
    """The report of ``code`` as the views stand, or None if the unit is unknown.

    A whole calendar month (of the working calendar's zone) is read from the month
    rollup, unless ``months`` is false; every other period from the facts (ADR 0097).
    The two give the same report.

    When the store reads concurrently, the fact queries are read in two halves at the
    same time, and the halves are used only if both saw the same positions of the
    views; else everything is read again in one read. Every figure of a report comes
    from one state of the views (ADR 0023).
    """
    limits = limits or SignForLimits()
    found: tuple[_Read, Tallies] | None = None
    if months and whole_month(period.zone, period.start_s, period.end_s) is not None:
        month = _read_month(store, code, period, as_of, limits)
        if month is None:
            return None
        if not isinstance(month, _NotAMonth):
            found = month
    if found is None and store.concurrent_reads:
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
        whole = _read(store, code, range(len(COUNTERS)), period, as_of, limits)
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

"""A whole calendar month read from the indicators view's month rollup (ADR 0097).

The rollup (:mod:`projections.indicator_months`) holds, per unit and month, what the
fact queries of :mod:`~projections.reports.facts` count over that month. One statement
sums the subtree's rows of the month grouped as the fact queries group (child, theme
and level, kind), and the tallies by child, by (theme, level) and by kind, which is all
:func:`~projections.reports.assembly.assemble` needs, are added up from its few hundred
answer rows: one row per group and month is read, not every fact of the month once per
kind of fact.

Two figures stay on the facts: *overdue now* is a count at the report's moment, not of
a month; and while the month is not over, what is *due* (and deferred) is due so far
(ADR 0071), so those two queries read the facts too and the rollup's due sums are left
out.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import msgspec

from projections.indicator_months import COUNTS, MONTHS, SECONDS, ZONE_TABLE, Month, whole_month
from projections.reports.facts import Tallies
from projections.reports.figures import SignForLimits, Tally
from projections.reports.periods import Period
from projections.store import Tx

#: The fact queries (by their number in ``facts._fact_queries``) a month read from the
#: rollup still asks of the facts: overdue now always; due and deferred while the month
#: is not over.
OVERDUE_QUERY = 5
DUE_QUERIES = (1, 8)

#: The rollup's counts that are the due and deferred queries' sums.
_DUE_COUNTS = frozenset({"due", "closed", "closed_on_time", "deferred"})
#: The rollup's counts a tally takes as they are (the rest are tallied under other names
#: or are the rollup's own bookkeeping).
_TALLY_NAMES = {
    "filed": "filed",
    "forwarded": "forwarded",
    "due": "due",
    "closed": "closed",
    "closed_on_time": "closed_on_time",
    "deferred": "deferred",
    "verified": "verified",
    "reworked": "reworked",
    "raised": "warnings_raised",
    "disputes": "disputes",
    "disputes_arbitrated": "disputes_arbitrated",
    "disputes_upheld": "disputes_upheld",
    "followed_up": "followed_up",
    "contacted": "contacted",
    "resolved": "resolved",
    "satisfied": "satisfied",
    "basically_satisfied": "basically_satisfied",
    "reopened": "reopened",
    "unreached": "follow_up_unreached",
    "not_reached": "follow_up_not_reached",
}
_SUMMED = tuple(name for name in COUNTS if name in _TALLY_NAMES)


def rollup_month(tx: Tx, period: Period) -> Month | None:
    """The rollup's month that ``period`` is exactly, or None (then read the facts)."""
    rows = tx.execute(f"SELECT zone FROM {ZONE_TABLE}")
    if len(rows) != 1:
        return None
    return whole_month(str(rows[0][0]), period.start_s, period.end_s)


def month_statement(
    subtree: str, month: Month, *, over: bool, dialect: str
) -> tuple[str, tuple[Any, ...]]:
    """The rollup's rows of the subtree's units for ``month``, summed by (child, theme and
    level, kind) as the fact queries group, with its parameters (after the subtree's).
    Answers (bucket, theme_level, kind, sums…, durations…).

    One grouping, not one per roll-up: SQL's work is a step per row and aggregate, so
    each grouping costs a pass over the month's rows; the three roll-ups of the answer
    (by child, by theme and level, by kind) are added up here from a few hundred rows.

    A month not yet over (``over`` false) keeps only the rows some query other than the
    due and deferred ones matched: those two are read from the facts, and a group only
    they matched is theirs to list."""
    where = "m.month = ?" if over else "m.month = ? AND m.matched > m.matched_due"
    concat = "string_agg(m.{0}, ',')" if dialect == "postgres" else "group_concat(m.{0}, ',')"
    # As BIGINT: PostgreSQL's SUM of BIGINT is a NUMERIC, which arrives as a Decimal.
    sums = (f"CAST(SUM(m.{c}) AS BIGINT)" for c in _SUMMED)
    columns = ", ".join([*sums, *(concat.format(c) for c in SECONDS)])
    return (
        f"SELECT b.bucket, m.theme_level, m.kind, {columns} "
        f"FROM {subtree} b JOIN {MONTHS} m ON m.unit_no = b.no WHERE {where} "
        "GROUP BY b.bucket, m.theme_level, m.kind",
        (month.start,),
    )


_read_seconds = msgspec.json.Decoder(list[int]).decode


def _seconds(text: Any) -> list[int]:
    if not text:
        return []
    return _read_seconds(b"[" + str(text).encode() + b"]")


class _Sums:
    """The answer rows of one roll-up: their sums and durations, added up at the end."""

    __slots__ = ("rows", "texts")

    def __init__(self) -> None:
        self.rows: list[Sequence[Any]] = []
        self.texts: list[Sequence[Any]] = []

    def add(self, counts: Sequence[Any], texts: Sequence[Any]) -> None:
        self.rows.append(counts)
        self.texts.append(texts)

    def into(self, tally: Tally, limits: SignForLimits, *, over: bool) -> None:
        for name, column in zip(_SUMMED, zip(*self.rows, strict=True), strict=True):
            if over or name not in _DUE_COUNTS:
                attribute = _TALLY_NAMES[name]
                value = sum(column)  # a SUM of a group's NOT NULL column, an integer
                setattr(tally, attribute, getattr(tally, attribute) + value)
        urgent, other, work, close, acknowledge = (
            _seconds(",".join(filter(None, column))) for column in zip(*self.texts, strict=True)
        )
        urgent.sort()
        work.sort()
        tally.signed_on_time += bisect_right(urgent, limits.urgent_seconds) + bisect_right(
            work, limits.working_seconds
        )
        tally.sign.extend(urgent)
        tally.sign.extend(other)
        tally.close.extend(close)
        tally.acknowledge.extend(acknowledge)


def count_months(
    tallies: Tallies,
    answers: Sequence[Sequence[Any]],
    limits: SignForLimits,
    *,
    over: bool,
) -> Tallies:
    """Add the month statement's answers to ``tallies`` as the fact queries' answers are
    added (:meth:`Tallies.count`): each row to its bucket, its (theme, level) and, unless
    0, its kind. The due and deferred come from the facts when the month is not over."""
    groups: tuple[dict[int, _Sums], dict[int, _Sums], dict[int, _Sums]] = ({}, {}, {})
    summed = len(_SUMMED)
    for bucket, theme_level, kind, *values in answers:
        counts, texts = values[:summed], values[summed:]
        keys = (int(bucket), int(theme_level), int(kind))
        for n, (group, key) in enumerate(zip(groups, keys, strict=True)):
            if n == 2 and not key:
                continue
            sums = group.get(key)
            if sums is None:
                sums = group[key] = _Sums()
            sums.add(counts, texts)
    targets = (tallies.by_bucket, tallies.by_theme_level, tallies.by_kind)
    for group, target in zip(groups, targets, strict=True):
        for key, sums in group.items():
            sums.into(target.setdefault(key, Tally()), limits, over=over)
    return tallies

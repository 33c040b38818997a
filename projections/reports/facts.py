"""The SQL of a report: the subtree as numbers, one grouped query per kind of fact, and
what each answer row adds to the tallies."""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from projections.indicators import (
    CASES,
    DISPUTES,
    FOLLOW_UPS,
    NUMBERS,
    VERIFICATIONS,
    WARNINGS,
    epoch,
    unit_number_name,
)
from projections.reports.figures import SignForLimits, Tally
from projections.reports.periods import Period
from projections.store import Tx
from projections.units import like_prefix, unit_path
from projections.values import iso


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
SUBTREE_TABLE = (
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
    :func:`subtree_table`), with its parameters, answering (bucket, theme_level, kind,
    n1, n2, n3, packed durations).

    What is due is counted over the period *so far*: ``[start, min(end, as_of))``, as
    the hall board counts it, so a case whose deadline is still ahead is not yet due
    (ADR 0071, which restates ADR 0011's definitions)."""
    span = (period.start_s, period.end_s)
    due_span = (period.start_s, min(period.end_s, epoch(as_of)))
    keys = "b.bucket, c.theme_level, c.kind"
    group = f"GROUP BY {keys}"
    cases = f"FROM {subtree} b JOIN {CASES} c ON c.unit_no = b.no"
    warnings = f"FROM {subtree} b JOIN {WARNINGS} c ON c.unit_no = b.no"
    nothing = "NULL" if tx.dialect == "sqlite" else "CAST(NULL AS BIGINT[])"
    on_time, on_time_params = limits.sql_on_time()
    moment = iso(as_of)
    # Warnings have no kind of their own: they are counted in the totals only.
    warning_keys = "b.bucket, c.theme_level, 0"
    warning_group = "GROUP BY b.bucket, c.theme_level"
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
            (period.end_s, period.end_s, *due_span),
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
            f"SELECT {warning_keys}, COUNT(*), 0, 0, {nothing} {warnings} "
            f"WHERE c.raised_epoch >= ? AND c.raised_epoch < ? "
            f"AND c.merged_into IS NULL {warning_group}",
            span,
        ),
        (
            f"SELECT {warning_keys}, 0, 0, 0, {_packed(tx, 'c.ack_s')} {warnings} "
            f"WHERE c.ack_epoch >= ? AND c.ack_epoch < ? "
            f"AND c.merged_into IS NULL {warning_group}",
            span,
        ),
        # Of the due so far, those an approved deferral holds now: they keep their
        # deadline at approval and are taken out of the on-time denominator (ADR 0071).
        # A deferred case that was cancelled is not due (its deadline never came).
        (
            f"SELECT {keys}, COUNT(*), 0, 0, {nothing} {cases} "
            "WHERE c.due_epoch >= ? AND c.due_epoch < ? AND c.deferred = 1 "
            f"AND c.cancelled_at IS NULL {group}",
            due_span,
        ),
        # Disputes of a dispatch, counted to the unit that filed them by the time of
        # filing; of those, the arbitrated and the upheld (ADR 0076).
        (
            f"SELECT {keys}, COUNT(*), SUM(c.arbitrated), SUM(c.upheld), {nothing} "
            f"FROM {subtree} b JOIN {DISPUTES} c ON c.unit_no = b.no "
            f"WHERE c.filed_epoch >= ? AND c.filed_epoch < ? {group}",
            span,
        ),
        # Follow-ups of the public's cases, counted to the lead unit by the time of the
        # follow-up: the caller's answers, and the reopens (ADR 0083). Two queries, as
        # each answers three sums.
        (
            f"SELECT {keys}, SUM(1 - c.unreached), SUM(c.contacted), SUM(c.resolved), "
            f"{nothing} "
            f"FROM {subtree} b JOIN {FOLLOW_UPS} c ON c.unit_no = b.no "
            f"WHERE c.at_epoch >= ? AND c.at_epoch < ? {group}",
            span,
        ),
        (
            f"SELECT {keys}, SUM(c.satisfied), SUM(c.basically_satisfied), "
            f"SUM(c.reopened), {nothing} "
            f"FROM {subtree} b JOIN {FOLLOW_UPS} c ON c.unit_no = b.no "
            f"WHERE c.at_epoch >= ? AND c.at_epoch < ? {group}",
            span,
        ),
        # Attempts that did not reach the caller (未联系上, ADR 0093), and the closures
        # that counted as not reached by their third such attempt.
        (
            f"SELECT {keys}, SUM(c.unreached), SUM(c.not_reached), 0, {nothing} "
            f"FROM {subtree} b JOIN {FOLLOW_UPS} c ON c.unit_no = b.no "
            f"WHERE c.at_epoch >= ? AND c.at_epoch < ? {group}",
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


def _count_deferred(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.deferred += a


def _count_disputes(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.disputes += a
    t.disputes_arbitrated += b
    t.disputes_upheld += c


def _count_followed_up(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.followed_up += a
    t.contacted += b
    t.resolved += c


def _count_satisfaction(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.satisfied += a
    t.basically_satisfied += b
    t.reopened += c


def _count_unreached(t: Tally, a: int, b: int, c: int, d: list[int]) -> None:
    t.follow_up_unreached += a
    t.follow_up_not_reached += b


#: What each query of :func:`_fact_queries` adds to a tally, in the same order.
COUNTERS = (
    _count_filed,
    _count_due,
    _count_verified,
    _count_signed,
    _count_closed,
    _count_overdue,
    _count_raised,
    _count_acknowledged,
    _count_deferred,
    _count_disputes,
    _count_followed_up,
    _count_satisfaction,
    _count_unreached,
)


def fact_answers(
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
    return fact_answers_on(tx, subtree_table(tx, subtree), which, period, as_of, limits)


def fact_answers_on(
    tx: Tx,
    subtree: tuple[str, str, tuple[Any, ...]],
    which: Sequence[int],
    period: Period,
    as_of: datetime,
    limits: SignForLimits,
) -> list[tuple[int, Sequence[Any]]]:
    """:func:`fact_answers` on a subtree already made a table (:func:`subtree_table`)."""
    with_b, table, units = subtree
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
    #: By the case's kind (urgent, emergency, both), except kind 0: those are counted
    #: only in the other two (ADR 0071).
    by_kind: dict[int, Tally] = field(default_factory=dict)

    def count(self, answers: Iterable[tuple[int, Sequence[Any]]]) -> Tallies:
        by_bucket, by_theme_level, by_kind = self.by_bucket, self.by_theme_level, self.by_kind
        for n, (bucket, theme_level, kind, a, b, c, packed) in answers:
            one = by_bucket.get(bucket)
            if one is None:
                one = by_bucket[bucket] = Tally()
            other = by_theme_level.get(theme_level)
            if other is None:
                other = by_theme_level[theme_level] = Tally()
            counter = COUNTERS[n]
            a, b, c = int(a or 0), int(b or 0), int(c or 0)
            d = [] if packed is None else _unpacked(packed)
            counter(one, a, b, c, d)
            counter(other, a, b, c, d)
            if kind:
                third = by_kind.get(kind)
                if third is None:
                    third = by_kind[kind] = Tally()
                counter(third, a, b, c, d)
        return self


def child_of(path: str, top_path: str) -> str:
    """The child of the top unit whose subtree holds ``path`` ("": the top unit itself)."""
    rest = path[len(top_path) :]
    return rest.split("/", 1)[0]

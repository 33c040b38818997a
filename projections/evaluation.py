"""The facts of the comprehensive evaluation (ADR 0086), read from the views.

For a unit's subtree and a period ``[start, end)``, each unit's own facts, then rolled
up so that every unit answers for its subtree (an office for its communities, a
department for the units under it), as the reports count (ADR 0011, 0071):

- *on-time sign-for*: cases the lead signed for in the period, and of them those within
  the sign-for limit (the reports' :class:`~projections.reports.SignForLimits`);
- *on-time closure*: cases due so far (deadline in ``[start, min(end, as_of))``, not
  cancelled before it), less those an approved deferral holds; of them, those closed
  by the deadline before the period's end;
- *satisfaction*: follow-ups in the period, in points (100 satisfied, 80 basically);
- *check-in on time*: departments summoned by whistles blown in the period that came
  or were recorded absent; of them, those on time;
- *receipt on time*: receipts of notices whose limit fell in the period so far;
- *rework*: cases sent back at a verification in the period, each once;
- *reopen*: cases reopened by a follow-up in the period;
- *dispute refused* / *upheld*: disputes filed in the period and arbitrated: refused
  counts to the disputing unit, upheld to the unit that issued the case.

Each line keeps the ids of the cases (instructions), whistles or notices that failed,
for the drill-down. Every query is one range of a period-led index, in one read.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from domain.evaluation import Facts
from domain.instruction import Priority
from projections.indicators import (
    CASES,
    DISPUTES,
    FOLLOW_UPS,
    NUMBERS,
    VERIFICATIONS,
    IndicatorsView,
    epoch,
)
from projections.reports.figures import SignForLimits
from projections.reports.periods import Period
from projections.store import Tx, ViewStore, tracking_name
from projections.units import like_prefix
from projections.values import iso


@dataclass(frozen=True)
class Subject:
    """A unit as the evaluation names it."""

    code: str
    name: str
    name_en: str
    level: str
    kind: str
    parent: str | None
    depth: int
    active: bool


@dataclass(frozen=True)
class EvaluationFacts:
    top: Subject
    #: The top first, then every unit under it (active or not), by depth then code.
    subjects: list[Subject]
    #: Per unit code, its subtree's facts.
    facts: dict[str, Facts]
    position: int


def _subjects(tx: Tx, code: str) -> list[Subject] | None:
    rows = tx.execute("SELECT path FROM units WHERE code = ?", (code,))
    if not rows:
        return None
    found = tx.execute(
        "SELECT code, name, name_en, level, kind, parent, depth, active FROM units "
        "WHERE path LIKE ? ESCAPE '\\' ORDER BY depth, code",
        (like_prefix(str(rows[0][0])),),
    )
    return [
        Subject(str(c), str(n), str(e or ""), str(lv), str(k), p, int(d), bool(a))
        for c, n, e, lv, k, p, d, a in found
    ]


def _unit_numbers(tx: Tx, codes: Collection[str]) -> dict[int, str]:
    """The indicators view's numbers of ``codes``: one scan of the numbers of every unit
    (a table of one row per unit and per theme and level) beats a list of hundreds of
    parameters."""
    found = tx.execute(f"SELECT name, no FROM {NUMBERS} WHERE name LIKE ?", ("unit:%",))
    return {int(no): str(name)[5:] for name, no in found if str(name)[5:] in codes}


def _position(tx: Tx) -> int:
    rows = tx.execute(
        "SELECT notification_id FROM projection_tracking WHERE application_name = ?",
        (tracking_name(IndicatorsView.name),),
    )
    return int(rows[0][0] or 0) if rows else 0


def read_facts(
    tx: Tx,
    code: str,
    period: Period,
    as_of: datetime,
    limits: SignForLimits | None = None,
) -> EvaluationFacts | None:
    """The facts of ``code``'s subtree over ``period``, rolled up; None if unknown."""
    limits = limits or SignForLimits()
    subjects = _subjects(tx, code)
    if subjects is None:
        return None
    own = {s.code: Facts() for s in subjects}
    numbers = _unit_numbers(tx, own)
    start, end = period.start_s, period.end_s
    due_end = min(end, epoch(as_of))

    def of(unit_no: int) -> Facts | None:
        unit = numbers.get(int(unit_no))
        return None if unit is None else own[unit]

    on_time, on_time_params = _on_time(limits)
    signed = "signed_epoch >= ? AND signed_epoch < ?"
    for no, judged, good in tx.execute(
        f"SELECT unit_no, COUNT(*), SUM(CASE WHEN {on_time} THEN 1 ELSE 0 END) "
        f"FROM {CASES} WHERE {signed} GROUP BY unit_no",
        (*on_time_params, start, end),
    ):
        if (f := of(no)) is not None:
            fact = f.rates["on_time_sign_for"]
            fact.denominator += int(judged)
            fact.numerator += int(good or 0)
    for no, cid in tx.execute(
        f"SELECT unit_no, id FROM {CASES} WHERE {signed} AND NOT ({on_time}) ORDER BY id",
        (start, end, *on_time_params),
    ):
        if (f := of(no)) is not None:
            f.rates["on_time_sign_for"].failed.append(str(cid))
    due = (
        "due_epoch >= ? AND due_epoch < ? AND deferred = 0 "
        "AND (cancelled_at IS NULL OR cancelled_at > deadline_at)"
    )
    closed = "closed_epoch IS NOT NULL AND closed_epoch < ? AND closed_at <= deadline_at"
    for no, judged, good in tx.execute(
        f"SELECT unit_no, COUNT(*), SUM(CASE WHEN {closed} THEN 1 ELSE 0 END) "
        f"FROM {CASES} WHERE {due} GROUP BY unit_no",
        (end, start, due_end),
    ):
        if (f := of(no)) is not None:
            fact = f.rates["on_time_closure"]
            fact.denominator += int(judged)
            fact.numerator += int(good or 0)
    for no, cid in tx.execute(
        f"SELECT unit_no, id FROM {CASES} WHERE {due} AND NOT ({closed}) ORDER BY id",
        (start, due_end, end),
    ):
        if (f := of(no)) is not None:
            f.rates["on_time_closure"].failed.append(str(cid))
    for no, cid in tx.execute(
        f"SELECT unit_no, case_id FROM {VERIFICATIONS} "
        "WHERE at_epoch >= ? AND at_epoch < ? AND accepted = 0",
        (start, end),
    ):
        if (f := of(no)) is not None:
            f.counts["rework"].cases.append(str(cid))
    follow_ups = "at_epoch >= ? AND at_epoch < ?"
    for no, judged, points in tx.execute(
        f"SELECT unit_no, COUNT(*), SUM(CASE WHEN satisfied <> 0 THEN 100 "
        "WHEN basically_satisfied <> 0 THEN 80 ELSE 0 END) "
        f"FROM {FOLLOW_UPS} WHERE {follow_ups} GROUP BY unit_no",
        (start, end),
    ):
        if (f := of(no)) is not None:
            fact = f.rates["satisfaction"]
            fact.denominator += 100 * int(judged)
            fact.numerator += int(points or 0)
    for no, cid, satisfied, basically, reopened in tx.execute(
        f"SELECT unit_no, case_id, satisfied, basically_satisfied, reopened FROM {FOLLOW_UPS} "
        f"WHERE {follow_ups} AND ((satisfied = 0 AND basically_satisfied = 0) "
        "OR reopened <> 0) ORDER BY at_epoch, id",
        (start, end),
    ):
        if (f := of(no)) is None:
            continue
        if not (satisfied or basically):
            f.rates["satisfaction"].failed.append(str(cid))
        if reopened:
            f.counts["reopen"].cases.append(str(cid))
    for no, cid, upheld, issuer in tx.execute(
        f"SELECT d.unit_no, d.case_id, d.upheld, c.issuer FROM {DISPUTES} d "
        f"JOIN {CASES} c ON c.id = d.case_id "
        "WHERE d.filed_epoch >= ? AND d.filed_epoch < ? AND d.arbitrated = 1",
        (start, end),
    ):
        if upheld:
            if (issuing := own.get(str(issuer))) is not None:
                issuing.counts["dispute_upheld"].cases.append(str(cid))
        elif (f := of(no)) is not None:
            f.counts["dispute_refused"].cases.append(str(cid))
    _whistles(tx, own, period)
    _receipts(tx, own, period, as_of)
    return EvaluationFacts(subjects[0], subjects, _rolled_up(subjects, own), _position(tx))


def _on_time(limits: SignForLimits) -> tuple[str, tuple[object, ...]]:
    """:meth:`SignForLimits.on_time` as an SQL condition on a case row (a missing time
    counts as none, as the Python rule reads it)."""
    return (
        "(CASE WHEN priority = ? THEN COALESCE(sign_s, 0) <= ? "
        "ELSE COALESCE(sign_work_s, 0) <= ? END)",
        (Priority.URGENT.value, limits.urgent_seconds, limits.working_seconds),
    )


def _whistles(tx: Tx, own: dict[str, Facts], period: Period) -> None:
    for wid, department, late, absent, arrived in tx.execute(
        "SELECT whistle_id, department, late, absent, arrived_at FROM whistle_summons "
        "WHERE blown_at >= ? AND blown_at < ?",
        (iso(period.start), iso(period.end)),
    ):
        if (f := own.get(str(department))) is None or (arrived is None and not absent):
            continue  # not come yet, and the whistle still open: nothing to judge
        fact = f.rates["check_in_on_time"]
        fact.denominator += 1
        if arrived is not None and not late:
            fact.numerator += 1
        else:
            fact.failed.append(str(wid))


def _receipts(tx: Tx, own: dict[str, Facts], period: Period, as_of: datetime) -> None:
    limit_end = min(period.end, as_of)
    for nid, unit, status in tx.execute(
        "SELECT r.notice_id, r.unit, r.status FROM notice_receipts r "
        "JOIN notices n ON n.id = r.notice_id "
        "WHERE n.confirm_by >= ? AND n.confirm_by < ?",
        (iso(period.start), iso(limit_end)),
    ):
        if (f := own.get(str(unit))) is None:
            continue
        fact = f.rates["receipt_on_time"]
        fact.denominator += 1
        if status == "on_time":
            fact.numerator += 1
        else:
            fact.failed.append(str(nid))


def _rolled_up(subjects: list[Subject], own: dict[str, Facts]) -> dict[str, Facts]:
    """Each unit's subtree's facts: its own plus its children's, deepest first (in
    place: each unit's own facts are read once, so they become its subtree's)."""
    for s in sorted(subjects[1:], key=lambda s: -s.depth):
        if s.parent in own:
            own[s.parent].add(own[s.code])
    return own


def evaluation_facts(
    store: ViewStore,
    code: str,
    period: Period,
    *,
    as_of: datetime,
    limits: SignForLimits | None = None,
) -> EvaluationFacts | None:
    """:func:`read_facts` in one read of the views (one snapshot on PostgreSQL)."""
    with store.read() as tx:
        return read_facts(tx, code, period, as_of, limits)

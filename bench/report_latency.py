"""How long a unit's report takes to compute, for a district with 100,000 loops.

The indicators view and the units view are filled directly with generated rows through
their own tables' SQL, not through the domain: building 100,000 loops through the
commands would take far longer than the figure being measured and would measure the
writes, not the report. The rows have the shape the projection writes (ADR 0011): a
district of about 600 units (departments, offices, communities, enterprises), loops
spread over two years, half of them answering a warning, a tenth reworked once.

Each run asks ``projections.reports.unit_report`` for the district over a random month
(and, separately, an office over a random month and the district over a year), on
SQLite and on PostgreSQL, and reports p50 and p95. Target (issue 22): the district's
monthly report within 20 ms at p95. A whole month reads the indicators view's month
rollup (ADR 0097), made here from the generated facts; the same months are also timed
read from the facts, in turns, and the ratio of the two is what the rollup gains.

The target is a time, and this machine's speed moves from hour to hour; so the
district's months are timed alternately with a baseline on the same store, in the same
run: the same month's facts read as plain rows (each kind of fact's period scanned on
its index, every row handed to Python, nothing joined, grouped or counted). The ratio
of the two says how the report fares against merely reading what it summarises,
whatever the machine's speed that hour.

The same months are also timed with the report as it stood before ADR 0071's figures
(no grouping by the cases' kind for the emergency and urgent sections, no count of the
approved deferrals), in turns with the report of today: the ratio of the two is what the
new indicators cost. A third of the generated cases are urgent, one in twenty was issued
under emergency mode, and one in a hundred of the open ones is under a deferral.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from statistics import median
from time import perf_counter
from typing import Any, NamedTuple

import psycopg

from projections.indicator_months import MONTHS
from projections.indicators import (
    CASES,
    NUMBERS,
    OPEN_END,
    STOPPED,
    VERIFICATIONS,
    WARNINGS,
    IndicatorsView,
    epoch,
    kind_of,
    rebuild_month_rollup,
    theme_level_name,
    unit_number_name,
)
from projections.reports import Period, facts, resolve_period, unit_report
from projections.store import PostgresViewStore, SQLiteViewStore, ViewStore
from projections.units import UnitsView
from projections.values import iso

POSTGRES_URL = os.environ.get(
    "CLOSEDLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
#: Issue 22's figure for the district's month with the new indicators.
TARGET_P95_MS = 20.0
ZONE = "Asia/Shanghai"
FIRST_DAY = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_DAYS = 730
THEMES = ("meteorological", "reservoir", "environment", "transportation", "safety_production")


def district() -> list[tuple[str, str | None, str]]:
    """(code, parent, level) of a city with one district of about 600 units."""
    units: list[tuple[str, str | None, str]] = [("HC", None, "city"), ("HW", "HC", "district")]
    units += [(f"HW-D{d}", "HW", "district") for d in range(10)]
    for o in range(8):
        office = f"HW-O{o}"
        units.append((office, "HW", "office"))
        for c in range(12):
            community = f"{office}-C{c}"
            units.append((community, office, "community"))
            units += [(f"{community}-E{e}", community, "enterprise") for e in range(5)]
    return units


def fill(store: ViewStore, loops: int, seed: int) -> list[str]:
    """Create and fill the two views; answers the codes cases were filed under."""
    for view in (UnitsView(store), IndicatorsView(store)):
        store.reset(view)
    units = district()
    paths: dict[str, str] = {}
    unit_rows = []
    for n, (code, parent, level) in enumerate(units):
        paths[code] = (paths[parent] if parent else "/") + code + "/"
        unit_rows.append(
            (f"u{n}", code, code, code, level, "government", parent, paths[code],
             paths[code].count("/") - 1, 1, 1, n + 1)
        )  # fmt: skip
    # The view's numbers for units and (theme, level) pairs (ADR 0024), given here
    # up front rather than in the order of first use: the report only joins on them.
    numbers: dict[str, int] = {}

    def number(name: str) -> int:
        return numbers.setdefault(name, len(numbers) + 1)

    rng = random.Random(seed)
    leads = [code for code, _, level in units if level not in ("city",)]
    cases: list[tuple[Any, ...]] = []
    warnings: list[tuple[Any, ...]] = []
    verifications: list[tuple[Any, ...]] = []
    for n in range(loops):
        unit = rng.choice(leads)
        filed = FIRST_DAY + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
        deadline = filed + timedelta(hours=rng.choice((2, 7, 24, 72, 168)))
        received = filed
        signed = filed + timedelta(seconds=rng.randrange(60, 4 * 86400))
        closed = signed + timedelta(seconds=rng.randrange(600, 10 * 86400))
        is_open = rng.random() < 0.03
        priority = rng.choice(("normal", "normal", "urgent"))
        kind = kind_of(priority, rng.random() < 0.05)
        deferred = 1 if is_open and rng.random() < 0.01 else 0
        theme, level = ("none", "none")
        if rng.random() < 0.5:
            theme, level = rng.choice(THEMES), str(rng.randint(1, 4))
            raised = filed - timedelta(minutes=rng.randrange(1, 600))
            ack = raised + timedelta(seconds=rng.randrange(30, 7200))
            warnings.append(
                (f"w{n}", unit, number(unit_number_name(unit)), theme, level,
                 number(theme_level_name(theme, level)), iso(raised), epoch(raised), iso(ack),
                 epoch(ack), int((ack - raised).total_seconds()))
            )  # fmt: skip
        unit_no, theme_level = (
            number(unit_number_name(unit)),
            number(theme_level_name(theme, level)),
        )
        seq, before = 2, None  # the verification before, as the view links them
        if rng.random() < 0.1 and not is_open:
            rejected = closed - timedelta(hours=6)
            verifications.append(
                (f"c{n}", seq, unit, unit_no, theme, level, theme_level, iso(rejected),
                 epoch(rejected), 0, None, None, kind)
            )  # fmt: skip
            seq, before = seq + 1, epoch(rejected)
        if not is_open:
            verifications.append(
                (f"c{n}", seq, unit, unit_no, theme, level, theme_level, iso(closed),
                 epoch(closed), 1, before, None, kind)
            )  # fmt: skip
        cases.append(
            (f"c{n}", unit, unit_no, "HW", None, 0, priority,
             theme, level, theme_level, "warning" if theme != "none" else "none", iso(filed),
             epoch(filed), STOPPED if deferred else iso(deadline), epoch(deadline),
             iso(received), iso(signed),
             epoch(signed), int((signed - received).total_seconds()), rng.randrange(0, 4 * 3600),
             None if is_open else iso(closed), None if is_open else epoch(closed),
             None if is_open else int((closed - filed).total_seconds()), None,
             OPEN_END if is_open else iso(closed), kind, deferred)
        )  # fmt: skip
    with store.transaction() as tx:
        tx.executemany(
            "INSERT INTO units (id, code, name, name_en, level, kind, parent, path, depth, "
            "active, version, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            unit_rows,
        )
        tx.executemany(
            f"INSERT INTO {CASES} (id, unit, unit_no, issuer, parent_id, forwarded, priority, "
            "theme, level, theme_level, theme_from, filed_at, filed_epoch, deadline_at, "
            "due_epoch, received_at, signed_at, signed_epoch, sign_s, sign_work_s, closed_at, "
            "closed_epoch, close_s, cancelled_at, end_at, kind, deferred) "
            f"VALUES ({', '.join(['?'] * 27)})",
            cases,
        )
        tx.executemany(
            f"INSERT INTO {WARNINGS} (id, unit, unit_no, theme, level, theme_level, raised_at, "
            "raised_epoch, acknowledged_at, ack_epoch, ack_s) "
            f"VALUES ({', '.join(['?'] * 11)})",
            warnings,
        )
        tx.executemany(
            f"INSERT INTO {VERIFICATIONS} (case_id, seq, unit, unit_no, theme, level, "
            "theme_level, at, at_epoch, accepted, prev_epoch, prev_rejected_epoch, kind) "
            f"VALUES ({', '.join(['?'] * 13)})",
            verifications,
        )
        tx.executemany(f"INSERT INTO {NUMBERS} (name, no) VALUES (?, ?)", list(numbers.items()))
        # The month rollup the projection keeps beside the facts (ADR 0097), made from them.
        rebuild_month_rollup(tx, ZONE)
    if isinstance(store, PostgresViewStore):
        # VACUUM as autovacuum would after these inserts: until the visibility map is
        # set, the covering indexes cannot answer alone (every row is fetched from the
        # heap), which no long-running deployment sees.
        with store.connect(autocommit=True) as conn:
            for table in ("units", CASES, WARNINGS, VERIFICATIONS, NUMBERS, MONTHS):
                conn.execute(f"VACUUM (ANALYZE) {table}")
    return leads


def months(rng: random.Random, count: int) -> Iterator[Period]:
    for _ in range(count):
        day = FIRST_DAY.date() + timedelta(days=rng.randrange(SPAN_DAYS))
        yield resolve_period(zone=ZONE, today=day, period="month")


def year(rng: random.Random, count: int) -> Iterator[Period]:
    for _ in range(count):
        yield resolve_period(zone=ZONE, today=date(2025, 1, 1), from_="2025-01-01", to="2026-01-01")


AS_OF = FIRST_DAY + timedelta(days=SPAN_DAYS)


_TODAYS_QUERIES = facts._fact_queries
_KEYS = "b.bucket, c.theme_level, c.kind"


def _queries_before_0071(*args: Any, **kwargs: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """The fact queries without ADR 0071's indicators: grouped by bucket, theme and
    level only, and the deferred count a scan of nothing."""
    before = []
    for sql, params in _TODAYS_QUERIES(*args, **kwargs):
        sql = sql.replace(f"GROUP BY {_KEYS}", "GROUP BY b.bucket, c.theme_level")
        sql = sql.replace(_KEYS, "b.bucket, c.theme_level, 0")
        before.append((sql.replace("AND c.deferred = 1", "AND 0 = 1"), params))
    return before


@contextmanager
def before_0071() -> Iterator[None]:
    facts._fact_queries = _queries_before_0071
    try:
        yield
    finally:
        facts._fact_queries = _TODAYS_QUERIES


def timed(
    store: ViewStore, code: str, periods: Iterator[Period], *, months: bool = True
) -> list[float]:
    millis = []
    for period in periods:
        began = perf_counter()
        report = unit_report(store, code, period, as_of=AS_OF, months=months)
        millis.append((perf_counter() - began) * 1000)
        assert report is not None
    return millis


#: The baseline's reads: each kind of fact a report counts, its period's rows as they
#: stand in the period-led covering index, without the subtree, grouping or counting.
RAW_FACTS = (
    f"SELECT unit_no, theme_level, forwarded FROM {CASES} "
    "WHERE filed_epoch >= ? AND filed_epoch < ?",
    "SELECT unit_no, theme_level, closed_epoch, closed_at, deadline_at, cancelled_at "
    f"FROM {CASES} WHERE due_epoch >= ? AND due_epoch < ?",
    "SELECT unit_no, theme_level, prev_epoch, accepted, prev_rejected_epoch "
    f"FROM {VERIFICATIONS} WHERE at_epoch >= ? AND at_epoch < ?",
    f"SELECT unit_no, theme_level, priority, sign_s, sign_work_s FROM {CASES} "
    "WHERE signed_epoch >= ? AND signed_epoch < ?",
    f"SELECT unit_no, theme_level, close_s FROM {CASES} "
    "WHERE closed_epoch >= ? AND closed_epoch < ?",
    f"SELECT unit_no, theme_level FROM {WARNINGS} WHERE raised_epoch >= ? AND raised_epoch < ?",
    f"SELECT unit_no, theme_level, ack_s FROM {WARNINGS} WHERE ack_epoch >= ? AND ack_epoch < ?",
)
RAW_OPEN = (
    f"SELECT unit_no, theme_level FROM {CASES} "
    "WHERE end_at > ? AND deadline_at < ? AND filed_at <= ?"
)


def raw_read(store: ViewStore, period: Period) -> int:
    """The baseline: the period's facts read as rows in one read; answers how many."""
    span = (period.start_s, period.end_s)
    moment = iso(AS_OF)
    with store.read() as tx:
        rows = sum(len(tx.execute(sql, span, prepare=False)) for sql in RAW_FACTS)
        return rows + len(tx.execute(RAW_OPEN, (moment,) * 3, prepare=False))


class Turns(NamedTuple):
    """The district's months timed four ways in turns (milliseconds each)."""

    report: list[float]
    #: The same report read from the facts, as before ADR 0097's month rollup.
    facts: list[float]
    #: The report from the facts as it stood before ADR 0071.
    before: list[float]
    baseline: list[float]


def timed_with_baseline(store: ViewStore, code: str, periods: Iterator[Period]) -> Turns:
    """Each period's report (from the month rollup), the report from the facts, the
    report before ADR 0071 and the baseline, one after the other, which goes first taking
    turns (a later one finds the month's pages the first brought into the caches)."""
    turns = Turns([], [], [], [])

    def baseline(period: Period) -> None:
        began = perf_counter()
        assert raw_read(store, period) > 0
        turns.baseline.append((perf_counter() - began) * 1000)

    def report(period: Period) -> None:
        turns.report.extend(timed(store, code, iter([period])))

    def report_from_facts(period: Period) -> None:
        turns.facts.extend(timed(store, code, iter([period]), months=False))

    def report_before(period: Period) -> None:
        with before_0071():
            turns.before.extend(timed(store, code, iter([period]), months=False))

    order: tuple[Callable[[Period], None], ...] = (
        report,
        report_from_facts,
        report_before,
        baseline,
    )
    for n, period in enumerate(periods):
        for k in range(len(order)):
            order[(n + k) % len(order)](period)
    return turns


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[-(-95 * len(ordered) // 100) - 1]


def measure(name: str, store: ViewStore, args: argparse.Namespace) -> bool:
    began = perf_counter()
    fill(store, args.loops, args.seed)
    print(f"{name}: filled {args.loops:,} loops in {perf_counter() - began:.1f} s", flush=True)
    rng = random.Random(args.seed + 1)
    timed(store, "HW", months(rng, 5))  # warm the caches and the pool
    passed = True
    cases = [
        ("district HW, one month", "HW", months(rng, args.runs), True),
        ("office HW-O3, one month", "HW-O3", months(rng, args.runs), False),
        ("district HW, one year", "HW", year(rng, max(10, args.runs // 10)), False),
    ]
    for label, code, periods, is_target in cases:
        turns = Turns([], [], [], [])
        if is_target:
            turns = timed_with_baseline(store, code, periods)
            millis = turns.report
        else:
            millis = timed(store, code, periods)
        verdict = ""
        if is_target:
            ok = p95(millis) < TARGET_P95_MS
            passed = passed and ok
            verdict = f"  target p95 < {TARGET_P95_MS:g} ms: {'PASS' if ok else 'MISS'}"
        print(
            f"{name:<9} {label:<26} p50 {median(millis):7.2f} ms  p95 {p95(millis):7.2f} ms"
            f"  (n={len(millis)}){verdict}",
            flush=True,
        )
        if turns.facts:
            print(
                f"{name:<9} {'  from the facts':<26} p50 {median(turns.facts):7.2f} ms"
                f"  p95 {p95(turns.facts):7.2f} ms  (in turns; rollup/facts p50 "
                f"{median(millis) / median(turns.facts):.2f}, p95 "
                f"{p95(millis) / p95(turns.facts):.2f})",
                flush=True,
            )
        if turns.before:
            print(
                f"{name:<9} {'  before ADR 0071':<26} p50 {median(turns.before):7.2f} ms"
                f"  p95 {p95(turns.before):7.2f} ms  (in turns, from the facts; with/without"
                f" the new indicators p50 {median(turns.facts) / median(turns.before):.2f},"
                f" p95 {p95(turns.facts) / p95(turns.before):.2f})",
                flush=True,
            )
        if turns.baseline:
            print(
                f"{name:<9} {'  baseline: its facts read':<26} p50 {median(turns.baseline):7.2f}"
                f" ms  p95 {p95(turns.baseline):7.2f} ms  (in turns with the report;"
                f" report/baseline p50 {median(millis) / median(turns.baseline):.2f}, p95 "
                f"{p95(millis) / p95(turns.baseline):.2f}; from the facts/baseline p95 "
                f"{p95(turns.facts) / p95(turns.baseline):.2f})",
                flush=True,
            )
    return passed


@contextmanager
def sqlite_store() -> Iterator[ViewStore]:
    store = SQLiteViewStore.temporary()
    try:
        yield store
    finally:
        store.discard()


@contextmanager
def postgres_store(url: str) -> Iterator[ViewStore]:
    store = ViewStore.for_url(url).scratch()
    assert isinstance(store, PostgresViewStore)
    try:
        yield store
    finally:
        store.discard()


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench report_latency", description=__doc__)
    parser.add_argument("--loops", type=int, default=100_000, help="loops in the district")
    parser.add_argument("--runs", type=int, default=200, help="reports timed per case")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--seed", type=int, default=20260401)
    return parser.parse_args(list(argv))


def on_each_store(
    args: argparse.Namespace, measure: Callable[[str, ViewStore, argparse.Namespace], bool]
) -> int:
    """``measure`` on each store ``--store`` names, a scratch one each (PostgreSQL skipped
    when it cannot be reached): 0 when every one met its goal."""
    passed = True
    if args.store in ("sqlite", "both"):
        with sqlite_store() as store:
            passed = measure("sqlite", store, args) and passed
    if args.store in ("postgres", "both"):
        try:
            with psycopg.connect(args.postgres_url, connect_timeout=3):
                pass
        except psycopg.Error as e:
            print(f"skipping postgres: {e}", flush=True)
        else:
            with postgres_store(args.postgres_url) as store:
                passed = measure("postgres", store, args) and passed
    return 0 if passed else 1


def main(argv: Sequence[str]) -> int:
    return on_each_store(parse(argv), measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

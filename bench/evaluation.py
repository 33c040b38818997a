"""How long the comprehensive evaluation (ADR 0086) of a whole city takes for a month.

The city of ``report_latency`` (about 600 units under one district, 100,000 loops over
two years, a tenth reworked once), filled straight into the views' tables as that bench
does; the whistles and notices views are there and empty. Each run evaluates the city's
root (``HC``: every unit scored, rolled up, ranked among its peers, each line down to its
cases) over a random month and encodes the answer as the API's JSON; in turns with it,
the baseline: the district's monthly report (``unit_report``, the figure of
``report_latency``) for the same month, on the same store. Goal: the evaluation under
1 s at p95; the ratio evaluation/report says what scoring the whole city costs against
one report of it, whatever the machine's speed that hour.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from statistics import median
from time import perf_counter
from zoneinfo import ZoneInfo

import msgspec

from api.evaluations import Evaluation, evaluation_out, ranked_in_groups
from bench.report_latency import (
    AS_OF,
    POSTGRES_URL,
    ZONE,
    fill,
    months,
    on_each_store,
    p95,
)
from domain.evaluation import DEFAULT_POLICY, evaluate
from projections.evaluation import evaluation_facts
from projections.notices import NoticesView
from projections.reports import Period, unit_report
from projections.store import ViewStore
from projections.whistles import WhistlesView

GOAL_MS = 1000.0


def evaluated(store: ViewStore, period: Period) -> tuple[int, int]:
    """The city's evaluation as the API answers it: (units scored, bytes of JSON)."""
    facts = evaluation_facts(store, "HC", period, as_of=AS_OF)
    assert facts is not None
    units = [(s.code, s.parent, s.level, s.kind, s.active) for s in facts.subjects]
    scores = evaluate(units, facts.facts, DEFAULT_POLICY, top="HC")
    found = Evaluation(facts, ranked_in_groups(facts, scores), period, AS_OF, DEFAULT_POLICY)
    body = msgspec.json.encode(evaluation_out(found, ZoneInfo(ZONE)))
    return len(scores), len(body)


def measure(name: str, store: ViewStore, args: argparse.Namespace) -> bool:
    began = perf_counter()
    fill(store, args.loops, args.seed)
    for view in (WhistlesView(store), NoticesView(store)):
        store.reset(view)
    print(f"{name}: filled {args.loops:,} loops in {perf_counter() - began:.1f} s", flush=True)
    rng = random.Random(args.seed + 2)
    for period in months(rng, 3):  # warm the caches and the pool
        evaluated(store, period)
        unit_report(store, "HW", period, as_of=AS_OF)
    evaluation_ms: list[float] = []
    report_ms: list[float] = []
    scored = size = 0
    for n, period in enumerate(months(rng, args.runs)):
        for k in range(2):
            began = perf_counter()
            if (n + k) % 2 == 0:
                scored, size = evaluated(store, period)
                evaluation_ms.append((perf_counter() - began) * 1000)
            else:
                assert unit_report(store, "HW", period, as_of=AS_OF) is not None
                report_ms.append((perf_counter() - began) * 1000)
    ok = p95(evaluation_ms) < GOAL_MS
    print(
        f"{name:<9} evaluation of HC, one month  p50 {median(evaluation_ms):8.2f} ms"
        f"  p95 {p95(evaluation_ms):8.2f} ms  (n={len(evaluation_ms)}, {scored} units scored,"
        f" {size / 1024:.0f} KiB of JSON)  goal p95 < {GOAL_MS:g} ms: {'PASS' if ok else 'MISS'}",
        flush=True,
    )
    print(
        f"{name:<9}   baseline: report of HW     p50 {median(report_ms):8.2f} ms"
        f"  p95 {p95(report_ms):8.2f} ms  (in turns; evaluation/report"
        f" p50 {median(evaluation_ms) / median(report_ms):.1f}x,"
        f" p95 {p95(evaluation_ms) / p95(report_ms):.1f}x)",
        flush=True,
    )
    return ok


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench evaluation", description=__doc__)
    parser.add_argument("--loops", type=int, default=100_000, help="loops in the city")
    parser.add_argument("--runs", type=int, default=40, help="months timed of each")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--seed", type=int, default=20260401)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    return on_each_store(parse(argv), measure)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

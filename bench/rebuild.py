"""How fast the views rebuild from the log, beside the raw rate of reading that log.

A scratch PostgreSQL schema is filled with ``--events`` events made by the domain
itself (warnings raised, repeated, acknowledged and assessed, saved a hundred
aggregates at a time), then in the same run: the notification log is read end to end
with ``select_notifications`` in the runner's batch size, once without and once with
decoding each event into its domain object, and every view is rebuilt from the first
event into an empty schema (``--view`` rebuilds one alone). Rebuilds (``--rounds``)
alternate with raw reads, each rebuild is divided by the mean of the raw reads either side,
and the figure is the median of those ratios. The target is a rebuild rate of at least
0.2 of the raw read rate; the rebuild decodes each event, and that decoding
is inside its rate, not inside the raw read's.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from statistics import median
from time import perf_counter

import psycopg

from bench.workload import storm_warning
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.registry import view_classes
from projections.runner import Runner
from projections.store import ViewStore

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def fill(center: CommandCenter, events: int) -> int:
    """Write about ``events`` events; answers the log's head."""
    start = datetime.now(UTC) - timedelta(days=30)
    n = 0
    while center.head_position() < events:
        batch = []
        for _ in range(100):
            n += 1
            w = storm_warning(n, start)
            batch.append(w)
        center.save(*batch)
    return center.head_position()


def read_rate(center: CommandCenter, batch: int, decode: bool) -> tuple[int, float]:
    started = perf_counter()
    position, count = 0, 0
    while True:
        notifications = center.recorder.select_notifications(position + 1, batch)
        if not notifications:
            break
        if decode:
            for n in notifications:
                center.mapper.to_domain_event(n)
        count += len(notifications)
        position = notifications[-1].id
    return count, count / (perf_counter() - started)


def rebuild_rate(center: CommandCenter, args: argparse.Namespace) -> tuple[list[str], float]:
    """Every view (or those named) rebuilt from the first event into empty tables."""
    store = ViewStore.for_env(center.env)
    try:
        views = [c(store) for c in view_classes() if not args.view or c.name in args.view]
        runner = Runner(center, store, views, batch=args.batch, listen=False)
        for view in runner.views:
            store.reset(view)
        runner.prepare()
        started = perf_counter()
        position = runner.catch_up()
        elapsed = perf_counter() - started
    finally:
        store.close()
    return [v.name for v in runner.views], position / elapsed


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench rebuild", description=__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3, help="rebuilds, each between two raw reads")
    p.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database to use")
    p.add_argument("--view", action="append", help="rebuild only this view (repeatable)")
    args = p.parse_args(argv)

    schema = f"bench_rebuild_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    center = build_command_center(Settings(database_url=f"{args.url}?schema={schema}"))
    try:
        load_demo(center)
        started = perf_counter()
        head = fill(center, args.events)
        print(f"log: {head} events written in {perf_counter() - started:.0f} s", flush=True)

        # Rounds alternate with raw reads, and each rebuild is set against the mean of
        # the raw reads either side: a burst of load from elsewhere spoils one round.
        raws = [read_rate(center, args.batch, decode=False)[1]]
        mapped, rebuilt, ratios = [], [], []
        names: list[str] = []
        for n in range(args.rounds):
            mapped.append(read_rate(center, args.batch, decode=True)[1])
            names, rate = rebuild_rate(center, args)
            rebuilt.append(rate)
            raws.append(read_rate(center, args.batch, decode=False)[1])
            ratios.append(rate / ((raws[-2] + raws[-1]) / 2))
            print(
                f"round {n + 1}: raw {raws[-2]:,.0f} / {raws[-1]:,.0f}, decoded "
                f"{mapped[-1]:,.0f}, rebuild {rate:,.0f} events/s, ratio {ratios[-1]:.2f}",
                flush=True,
            )
        ratio = median(ratios)
        print(
            f"read the log (select_notifications, batch {args.batch}): {median(raws):,.0f} events/s"
        )
        print(
            f"read and decode each event (mapper included):        {median(mapped):,.0f} events/s"
        )
        print(f"rebuild ({', '.join(names)}), decoding included: {median(rebuilt):,.0f} events/s")
        print(
            f"ratio rebuild / raw read:     {ratio:.2f} "
            f"(rounds {min(ratios):.2f}–{max(ratios):.2f}; target ≥ 0.20: "
            f"{'PASS' if ratio >= 0.2 else 'MISS'})"
        )
        print(f"ratio rebuild / decoded read: {median(rebuilt) / median(mapped):.2f}")
        return 0 if ratio >= 0.2 else 1
    finally:
        center.close()
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

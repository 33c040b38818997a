"""How fast the views rebuild from the log, beside the raw rate of reading that log.

A scratch PostgreSQL schema is filled with ``--events`` events made by the domain
itself (warnings raised, repeated, acknowledged and assessed, saved a hundred
aggregates at a time), then in the same run: the notification log is read end to end
with ``select_notifications`` in the runner's batch size, once without and once with
decoding each event into its domain object, and every view is rebuilt from the first
event into an empty schema (``--view`` rebuilds one alone). The target is a rebuild rate
of at least 0.2 of the raw read rate; the rebuild decodes each event, and that decoding
is inside its rate, not inside the raw read's.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from time import perf_counter

import psycopg

from bench.workload import storm_warning
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.base import ViewStore
from projections.registry import view_classes
from projections.runner import Runner

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


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench rebuild", description=__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=5000)
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
        print(f"log: {head} events written in {perf_counter() - started:.0f} s")

        _, raw = read_rate(center, args.batch, decode=False)
        _, mapped = read_rate(center, args.batch, decode=True)
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
        rebuilt = position
        rate = rebuilt / elapsed
        print(f"read the log (select_notifications, batch {args.batch}): {raw:,.0f} events/s")
        print(f"read and decode each event (mapper included):        {mapped:,.0f} events/s")
        names = ", ".join(v.name for v in runner.views)
        print(f"rebuild ({names}), decoding included: {rate:,.0f} events/s")
        ratio = rate / raw
        print(f"ratio rebuild / raw read:     {ratio:.2f} (target ≥ 0.20)")
        print(f"ratio rebuild / decoded read: {rate / mapped:.2f}")
        return 0 if ratio >= 0.2 else 1
    finally:
        center.close()
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

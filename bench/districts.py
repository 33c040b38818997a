"""Write throughput with one event log for the city against one log per district.

The event store's writers take one table lock per save (the library's
``LOCK TABLE ... IN EXCLUSIVE MODE``, so notification ids stay gapless), so one log
serializes every writer of the city. Here ``--threads`` writers each save commands of
``--events`` new events: first all into one log, then spread over ``--districts`` logs,
each its own schema with its own event-store tables (our ``CheckingPostgresRecorder``),
in turns, ``--rounds`` times; the figure is the median of (K logs ÷ one log) per round.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from statistics import median
from time import perf_counter

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.utils import resolve_topic

from bench.loop_cost import REQUIRE_POSTGRES, postgres_unreachable
from bench.recorder import DEFAULT_URL, OURS, scratch_recorder


def rate(recorders: list[ApplicationRecorder], threads: int, jobs: int, events: int) -> float:
    """Events per second for ``jobs`` commands on ``threads`` threads, job i into log i % K."""

    def job(i: int) -> None:
        oid = uuid.uuid4()
        batch = [StoredEvent(oid, v, "topic", b"state") for v in range(events)]
        recorders[i % len(recorders)].insert_events(batch)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        started = perf_counter()
        list(pool.map(job, range(jobs)))
        return jobs * events / (perf_counter() - started)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench districts", description=__doc__)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--districts", type=int, default=4)
    parser.add_argument("--events", type=int, default=1, help="events per command (default 1)")
    parser.add_argument("--jobs", type=int, default=400, help="commands per sample")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    url = os.environ.get("CLOSEDLOOP_TEST_POSTGRES_URL", DEFAULT_URL)
    reason = postgres_unreachable(url)
    if reason is not None:
        print(reason)
        return 1 if REQUIRE_POSTGRES else 0
    cls = resolve_topic(OURS)
    with ExitStack() as stack:
        # The one store has a connection for each writer (bench.recorder's pool is 1).
        one = [stack.enter_context(scratch_recorder(url, cls, pool_size=args.threads))]
        # The same connections in all: the split divides them among the districts.
        per = max(1, args.threads // args.districts)
        split = [
            stack.enter_context(scratch_recorder(url, cls, pool_size=per))
            for _ in range(args.districts)
        ]
        rate(one, args.threads, 50, args.events)
        rate(split, args.threads, 50, args.events)
        ones, splits = [], []
        for _ in range(args.rounds):
            ones.append(rate(one, args.threads, args.jobs, args.events))
            splits.append(rate(split, args.threads, args.jobs, args.events))
    ratios = [s / o for s, o in zip(splits, ones, strict=True)]
    print(
        f"{args.threads} writer threads, commands of {args.events} event(s), {args.rounds} rounds"
    )
    print(f"  one log for the city        {median(ones):>9,.0f} events/s")
    print(f"  {args.districts} logs, one per district  {median(splits):>9,.0f} events/s")
    print(f"  ratio {median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    return 0

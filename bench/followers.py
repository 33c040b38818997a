"""Copies of ``projections run`` dividing the views (ADR 0074): throughput and takeover.

**Throughput.** A fresh PostgreSQL schema with the demo district, and 1, 2 and 4 copies of
``closedloop projections run`` as real processes; once every view and the audit chain
have a leader and the views have the demo, a writer in this process issues closed loops
(issue, sign for, report progress: three commands) at a steady pace (``--rate`` loops a
second) for ``--seconds``. *Written/s* is the events written over that window; *applied/s*
the same events over the time from the first write until every view has them; the ratio
applied ÷ written is 1.00 when the views keep up (they can do no better: they apply what
is written). The 1-copy row is the baseline of the same run.

**Takeover.** Two copies under the same steady load; ten times, one copy (each in turn)
is killed with SIGKILL, and the figure is the seconds from the kill until every view it
led has moved again (its position beyond where it stood at the kill: the other copy took
it over and fed it); a fresh copy is then started and the two share again before the next
kill. Baseline in the same run: the same wait with no kill (how long views take to move
under that load anyway). Goal: p95 under 10 s.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.report_latency import p95
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.leadership import AUDIT_CHAIN
from projections.registry import view_names
from projections.store import ViewStore, tracking_name
from tests.e2e.copies import Copies, wait_for
from tests.integration.notifiers.test_delivery import a_loop

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TAKEOVER_GOAL_S = 10.0
PIECES = {*view_names(), AUDIT_CHAIN}


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    schema = f"bench_followers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{url}?schema={schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Writer:
    """Closed loops at a steady pace in a thread of its own, until :meth:`stop`."""

    def __init__(self, center: CommandCenter, rate: float) -> None:
        self.center = center
        self.every = 1.0 / rate
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)

    def _run(self) -> None:
        n = 0
        due = time.monotonic()
        while not self._done.is_set():
            a_loop(self.center, f"bench loop {n}")
            n += 1
            due += self.every
            self._done.wait(max(0.0, due - time.monotonic()))

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(30)


def positions(store: ViewStore) -> dict[str, int]:
    found = store.positions()
    return {name: found.get(tracking_name(name), 0) for name in view_names()}


def settled(copies: Copies, count: int) -> bool:
    """``count`` copies live, every piece led, no copy past its even share."""
    live = copies.live()
    led = [set(c["leads"]) for c in live]
    share = -(-len(PIECES) // count)
    return (
        len(live) == count
        and set().union(*led) == PIECES
        and sum(map(len, led)) == len(PIECES)
        and max(map(len, led)) <= share
    )


def throughput(url: str, count: int, args: argparse.Namespace) -> tuple[float, float]:
    """Events written a second and events applied a second, with ``count`` copies."""
    with fresh_schema(url) as schema_url, tempfile.TemporaryDirectory() as folder:
        center = build_command_center(Settings(database_url=schema_url))
        copies = Copies(schema_url, Path(folder))
        try:
            load_demo(center)
            for _ in range(count):
                copies.start()
            if wait_for(lambda: settled(copies, count), 120) is None:
                raise RuntimeError(f"{count} copies did not share the work: {copies.live()}")
            head = center.head_position()
            wait_for(lambda: min(positions(copies.store).values()) >= head, 60)
            start_head, started = center.head_position(), time.monotonic()
            writer = Writer(center, args.rate).start()
            time.sleep(args.seconds)
            writer.stop()
            end_head, ended = center.head_position(), time.monotonic()
            if wait_for(lambda: min(positions(copies.store).values()) >= end_head, 120) is None:
                raise RuntimeError("the views did not catch up within 2 minutes")
            caught = time.monotonic()
            written = end_head - start_head
            return written / (ended - started), written / (caught - started)
        finally:
            copies.close()
            center.close()


def moving(store: ViewStore, names: set[str]) -> Callable[[], bool]:
    """Whether each of the named views has moved beyond where it stands now."""
    before = positions(store)

    def moved() -> bool:
        now = positions(store)
        return all(now[n] > before[n] for n in names)

    return moved


def takeover(url: str, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Seconds until a killed copy's views move again; the same wait with no kill."""
    kills: list[float] = []
    calm: list[float] = []
    with fresh_schema(url) as schema_url, tempfile.TemporaryDirectory() as folder:
        center = build_command_center(Settings(database_url=schema_url))
        copies = Copies(schema_url, Path(folder))
        writer = None
        try:
            load_demo(center)
            live = [copies.start(), copies.start()]
            writer = Writer(center, args.rate).start()
            for n in range(args.kills):
                if wait_for(lambda: settled(copies, 2), 120) is None:
                    raise RuntimeError(f"the copies did not share the work: {copies.live()}")
                victim = live[n % 2]
                views = copies.leads(victim) & set(view_names())
                calm_s = wait_for(moving(copies.store, views), 60, every=0.02)
                calm.append(calm_s if calm_s is not None else float("inf"))
                again = moving(copies.store, views)
                killed = time.monotonic()
                copies.kill(victim)
                if wait_for(again, 60, every=0.02) is None:
                    raise RuntimeError("a killed copy's views did not move within a minute")
                kills.append(time.monotonic() - killed)
                print(f"  kill {n + 1}: {kills[-1]:.2f} s ({', '.join(sorted(views))})", flush=True)
                live[n % 2] = copies.start()
        finally:
            if writer is not None:
                writer.stop()
            copies.close()
            center.close()
    return kills, calm


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench followers", description=__doc__)
    p.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database to use")
    p.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--rate", type=float, default=40.0, help="closed loops written a second")
    p.add_argument("--seconds", type=float, default=10.0, help="how long the writer writes")
    p.add_argument("--kills", type=int, default=10)
    args = p.parse_args(argv)

    print(f"steady load: {args.rate:g} closed loops/s (3 commands each) for {args.seconds:g} s")
    print(f"{'copies':>6}  {'written/s':>10}  {'applied/s':>10}  {'applied/written':>15}  vs 1")
    base = None
    for count in args.copies:
        written, applied = throughput(args.url, count, args)
        ratio = applied / written
        base = ratio if base is None else base
        print(
            f"{count:>6}  {written:>10.0f}  {applied:>10.0f}  {ratio:>15.2f}  {ratio / base:.2f}x"
        )
    status = 0
    if args.kills:
        kills, calm = takeover(args.url, args)
        verdict = "PASS" if p95(kills) < TAKEOVER_GOAL_S else "MISS"
        status = 0 if verdict == "PASS" else 1
        print(
            f"takeover after SIGKILL, {len(kills)} kills: p95 {p95(kills):.2f} s, "
            f"max {max(kills):.2f} s (goal under {TAKEOVER_GOAL_S:g} s: {verdict}); "
            f"views moving with no kill, p95 {p95(calm):.2f} s"
        )
    return status

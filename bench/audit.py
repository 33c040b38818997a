"""Verifying the audit chain beside reading and hashing the log; a loop's timeline latency.

A fresh store (SQLite in a temporary folder by default, or a scratch schema of the
PostgreSQL database given with ``--url``) gets ``--events`` events. Making them one
command at a time through the domain would take many minutes, so they are real domain
events (warnings raised, repeated, acknowledged and assessed, built by the aggregates
themselves) converted by the application's mapper and written in bulk with
``recorder.insert_events``, 5,000 a transaction. One real closed loop of about 50
events is given through the command center in slices between those batches, so that
its events lie scattered through the log.

Then, in the same run, after giving PostgreSQL its statistics (``VACUUM (ANALYZE)``, as
autovacuum would after such a load): the rate of the library's ``select_notifications``
reading and hashing every row (for comparison), the chain follower's rate, and
``--rounds`` rounds, each a verification (recompute the chain, compare every row and
checkpoint) between two raw reads (read every row with verification's own reader,
``audit.reading_log``, and SHA-256 its stored state, no checks). Each verification is
set against the mean of the raw reads on either side of it; the figure is the median of
those ratios, with their range, and the target is at least 0.5. Beside the wall-clock
rates, the process's CPU time per event of both, and what SHA-256 of the form-2 frame
(ADR 0021), SHA-256 of the stored state alone and canonical JSON (form 1, ADR 0013) cost
per event on a sample of the rows held in memory. The chain follower writes form 2, so
every row verified here is in form 2. And the timeline of the loop, read 200 times: the
target is p95 < 20 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any
from zoneinfo import ZoneInfo

import audit
from api.audit import loop_timeline
from bench.workload import storm_warning
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.loops import LoopsView
from projections.runner import Runner
from projections.store import ViewStore
from tests.unit.builders import COMMUNITY, DISTRICT, OFFICE, ONE_DAY, confirmed_warning, ctx, issue


def bulk(center: CommandCenter, count: int, first: int) -> None:
    """Write about ``count`` real domain events with ``insert_events``, in big batches."""
    start = datetime.now(UTC) - timedelta(days=30)
    written = 0
    n = first
    while written < count:
        stored: list[Any] = []
        while len(stored) < 5000 and written + len(stored) < count:
            n += 1
            w = storm_warning(n, start)
            stored += [center.mapper.to_stored_event(e) for e in w.collect_events()]
        center.recorder.insert_events(stored)
        written += len(stored)


def loop_steps(center: CommandCenter, ids: dict[str, Any]) -> Iterator[Callable[[], Any]]:
    """A warning closed through a forwarded instruction with many progress reports."""

    def raised() -> None:
        ids["w"] = confirmed_warning(center, unit=OFFICE)

    def issued() -> None:
        ids["p"] = issue(center, DISTRICT, OFFICE, warning_ids=[ids["w"]])
        center.sign_for(ctx(OFFICE), ids["p"])

    def forwarded() -> None:
        ids["c"] = center.forward(ctx(OFFICE), ids["p"], to_unit=COMMUNITY, due_in=ONE_DAY).id
        center.sign_for(ctx(COMMUNITY), ids["c"])

    yield raised
    yield issued
    yield forwarded
    for k in range(27):

        def report(k: int = k) -> Any:
            return center.report_progress(ctx(COMMUNITY), ids["c"], f"sandbags row {k}")

        yield report
    yield lambda: center.submit(ctx(COMMUNITY), ids["c"], "bank secured")
    yield lambda: center.verify(ctx(OFFICE), ids["c"], accepted=True)
    yield lambda: center.submit(ctx(OFFICE), ids["p"], "done")
    yield lambda: center.verify(ctx(DISTRICT), ids["p"], accepted=True)
    yield lambda: center.resolve_warning(ctx(DISTRICT), ids["w"], "under the limit")
    yield lambda: center.close_warning(ctx(DISTRICT), ids["w"])


@dataclass
class Timed:
    """Events per second (wall clock) and the process's CPU seconds per event."""

    count: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.count * 1e6


@contextmanager
def timing() -> Iterator[list[float]]:
    """Wall and CPU seconds (every thread of the process) of the block, appended."""
    spent: list[float] = []
    wall, cpu = perf_counter(), process_time()
    try:
        yield spent
    finally:
        spent += [perf_counter() - wall, process_time() - cpu]


def raw_rate(center: CommandCenter, page: int) -> Timed:
    """Read every row and SHA-256 its state: the floor of any verification.

    It reads with verification's own reader (same query, page size and read-ahead),
    so that the ratio measures what checking costs, not a difference of readers.
    """
    count = 0
    prev = bytes(32)
    with timing() as spent, audit.reading_log(center, page=page) as rows:
        for row in rows:
            prev = hashlib.sha256(prev + row[4]).digest()
            count += 1
    return Timed(count, *spent)


def verification(
    center: CommandCenter, store: ViewStore, key: audit.PublicKey, page: int
) -> tuple[audit.Verification, Timed]:
    with timing() as spent:
        result = audit.verify(center, store, key, page=page)
    return result, Timed(result.events, *spent)


def per_event_floor(center: CommandCenter, sample: int) -> tuple[float, float, float]:
    """µs per event, in memory: SHA-256 of the form-2 frame (what verification hashes),
    canonical JSON (form 1, chains written before ADR 0021), and SHA-256 of the stored
    state alone (what the raw read hashes)."""
    rows: list[audit.StoredRow] = []
    for page in audit.log_pages(center, page=sample):
        rows = page
        break
    frame, canonical, sha256 = audit.frame, audit.canonical, hashlib.sha256
    best_frame = best_json = best_sha = float("inf")
    for _ in range(3):
        started = perf_counter()
        for row in rows:
            sha256(bytes(32) + frame(*row)).digest()
        best_frame = min(best_frame, perf_counter() - started)
        started = perf_counter()
        for row in rows:
            canonical(*row)
        best_json = min(best_json, perf_counter() - started)
        started = perf_counter()
        for row in rows:
            sha256(bytes(32) + row[4]).digest()
        best_sha = min(best_sha, perf_counter() - started)
    return (
        best_frame / len(rows) * 1e6,
        best_json / len(rows) * 1e6,
        best_sha / len(rows) * 1e6,
    )


def library_rate(center: CommandCenter, page: int) -> float:
    """The same through the library's ``select_notifications`` (for comparison only)."""
    started = perf_counter()
    count, start = 0, 1
    prev = bytes(32)
    while True:
        notifications = center.recorder.select_notifications(start, page)
        for n in notifications:
            prev = hashlib.sha256(prev + n.state).digest()
        count += len(notifications)
        if len(notifications) < page:
            return count / (perf_counter() - started)
        start = notifications[-1].id + 1


def analyse(center: CommandCenter, url: str) -> str:
    """Give PostgreSQL the statistics autovacuum would have after a bulk load.

    Without them the planner guesses; and autovacuum, woken by 200,000 new rows,
    would otherwise vacuum and analyse in the middle of the measurements.
    """
    if not url.startswith("postgres"):
        return (
            "SQLite: no ANALYZE (every query here is a keyed read that its planner takes "
            "without statistics)"
        )
    import psycopg
    from psycopg import sql

    recorder: Any = center.recorder
    schema = recorder.datastore.schema
    tables = [recorder.events_table_name, audit.CHAIN_TABLE, "loop_members"]
    started = perf_counter()
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        for table in tables:
            conn.execute(
                sql.SQL("VACUUM (ANALYZE) {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
    return (
        f"PostgreSQL: VACUUM (ANALYZE) {', '.join(tables)} in {perf_counter() - started:.1f} s, "
        "as autovacuum would after the bulk load"
    )


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--url", default=None, help="a PostgreSQL database (default: SQLite)")
    p.add_argument("--page", type=int, default=5000, help="rows per read when verifying")
    p.add_argument("--rounds", type=int, default=5, help="verifications, each between raw reads")
    p.add_argument(
        "--sample", type=int, default=20_000, help="rows timed in memory for the per-event floor"
    )
    args = p.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="closedloop-bench-audit-"))
    schema = None
    if args.url:
        import psycopg

        schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{args.url}?schema={schema}"
    else:
        url = f"sqlite:///{folder}/bench.sqlite3"
    center = build_command_center(Settings(database_url=url))
    store = ViewStore.for_env(center.env)
    try:
        load_demo(center)
        started = perf_counter()
        ids: dict[str, Any] = {}
        steps = list(loop_steps(center, ids))
        per_slice = args.events // len(steps)
        for i, step in enumerate(steps):
            step()
            bulk(center, per_slice, first=i * per_slice)
        head = center.head_position()
        loop_id = ids["w"]
        print(f"log: {head:,} events written in {perf_counter() - started:.0f} s ({url})")

        started = perf_counter()
        Runner(center, store, [LoopsView(store)], listen=False, batch=5000).catch_up()
        print(f"loop index built in {perf_counter() - started:.1f} s")

        settings = audit.AuditSettings(key_path=folder / "audit.key", every_events=1000)
        chain = audit.AuditChain.beside(center, store, settings)
        chain.batch = 5000
        started = perf_counter()
        chain.checkpoint_now()
        follow = head / (perf_counter() - started)
        assert chain.signer is not None
        print(analyse(center, url))

        library = library_rate(center, args.page)
        key = chain.signer.public
        verification(center, store, key, args.page)  # warm-up: caches, prepared statements
        raws: list[Timed] = [raw_rate(center, args.page)]
        checks: list[Timed] = []
        ratios: list[float] = []
        for _ in range(args.rounds):
            result, timed = verification(center, store, key, args.page)
            if not result.ok:
                print(f"verification failed: {result.summary()}")
                return 1
            checks.append(timed)
            raws.append(raw_rate(center, args.page))
            ratios.append(timed.rate / statistics.mean([raws[-2].rate, raws[-1].rate]))
        frame_us, json_us, sha_us = per_event_floor(center, args.sample)
        ratio = statistics.median(ratios)
        raw_rate_ = statistics.median(r.rate for r in raws)
        rate = statistics.median(c.rate for c in checks)
        print(
            f"{args.rounds} rounds, each a verification between two raw reads; "
            "medians over the rounds"
        )
        print(
            f"raw read + SHA-256 of each stored row:   {raw_rate_:,.0f} events/s "
            f"({raws[0].count:,} rows, verification's reader), "
            f"CPU {statistics.median(r.cpu_us for r in raws):.1f} µs/event"
        )
        print(
            f"  the same through select_notifications: {library:,.0f} events/s (not the target's)"
        )
        print(f"chain follower (hash + write + sign):    {follow:,.0f} events/s")
        print(
            f"verification (chain + {result.checkpoints} checkpoints): {rate:,.0f} events/s, "
            f"CPU {statistics.median(c.cpu_us for c in checks):.1f} µs/event "
            f"— ratio {ratio:.2f} (rounds {min(ratios):.2f}–{max(ratios):.2f}; target ≥ 0.50)"
        )
        print(
            f"in memory, {args.sample:,} rows: SHA-256 of the form-2 frame {frame_us:.2f} "
            f"µs/event, of the stored state alone {sha_us:.2f} µs/event; canonical JSON "
            f"(form 1) {json_us:.2f} µs/event"
        )

        zone = ZoneInfo("Asia/Shanghai")
        timeline = loop_timeline(center, store, loop_id, zone)
        samples = []
        for _ in range(200):
            started = perf_counter()
            loop_timeline(center, store, loop_id, zone)
            samples.append((perf_counter() - started) * 1000)
        p95 = statistics.quantiles(samples, n=20)[-1]
        print(
            f"timeline of a loop of {len(timeline.entries)} events "
            f"({timeline.members} aggregates) in {head:,}: "
            f"p50 {statistics.median(samples):.2f} ms, p95 {p95:.2f} ms (target < 20 ms)"
        )
        return 0 if ratio >= 0.5 and p95 < 20 else 1
    finally:
        store.close()
        center.close()
        shutil.rmtree(folder, ignore_errors=True)
        if schema is not None:
            import psycopg

            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

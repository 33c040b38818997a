"""Our PostgreSQL recorder against the library's, on the library's throughput case.

``eventsourcing.tests.persistence.ApplicationRecorderTestCase.test_concurrent_throughput``
writes commands of 50 new events (one new aggregate each) from 4 threads, 10 commands
after a warm-up of 4, and prints events per second. Here that same workload runs against
the library's ``PostgresApplicationRecorder`` and our ``CheckingPostgresRecorder``, each
in a fresh schema of the database at ``CLOSEDLOOP_TEST_POSTGRES_URL`` (dropped after),
with the datastore the library's own suite uses (one pooled connection, no
``POSTGRES_ENABLE_DB_FUNCTIONS``). One sample is far too short to read on a shared
machine (500 events), so ``--rounds`` samples of ``--jobs`` commands each are taken in
turns, the library's and ours alternately; each of ours is divided by the mean of the
library's two either side, and the figure is the median of those ratios. **Target: at
least 1.0.** ``--ours`` names another recorder class to put in our place (a topic, such
as an older copy of ours, for a before-and-after in one run).
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from statistics import median
from time import perf_counter
from typing import Any

import psycopg
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import resolve_topic

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
OURS = "closedloop.eventstore:CheckingPostgresRecorder"
#: As the library's test case: events per command and writing threads.
EVENTS_PER_JOB = 50
WORKERS = 4


@contextmanager
def scratch_recorder(
    url: str, cls: Callable[[PostgresDatastore], ApplicationRecorder], pool_size: int = 1
) -> Iterator[ApplicationRecorder]:
    """A recorder of ``cls`` on a fresh schema, dropped afterwards."""
    schema = f"bench_rec_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    info = psycopg.conninfo.conninfo_to_dict(url)
    datastore = PostgresDatastore(
        dbname=str(info.get("dbname", "test")),
        host=str(info.get("host", "127.0.0.1")),
        port=str(info.get("port", "5432")),
        user=str(info.get("user", "postgres")),
        password=str(info.get("password", "")),
        schema=schema,
        # As the library's own suite makes it: one pooled connection, for which the
        # library's writing threads take turns, and ids of type uuid, as ours are.
        pool_size=pool_size,
        max_overflow=0,
    )
    try:
        recorder = cls(datastore)
        assert isinstance(recorder, ApplicationRecorder)
        recorder.create_table()  # type: ignore[attr-defined]
        yield recorder
    finally:
        datastore.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def command() -> list[StoredEvent]:
    originator_id = uuid.uuid4()
    return [
        StoredEvent(originator_id, originator_version=i, topic="topic", state=b"state")
        for i in range(EVENTS_PER_JOB)
    ]


def throughput(recorder: ApplicationRecorder, jobs: int) -> float:
    """Events per second for ``jobs`` commands on ``WORKERS`` threads, as the library's
    case times them (the commands are made inside the jobs, as there)."""

    def job() -> Any:
        return recorder.insert_events(command())

    with ThreadPoolExecutor(max_workers=WORKERS) as executor:
        for f in [executor.submit(job) for _ in range(WORKERS)]:  # warm-up, as there
            f.result()
    with ThreadPoolExecutor(max_workers=WORKERS) as executor:
        started = perf_counter()
        for f in [executor.submit(job) for _ in range(jobs)]:
            f.result()
        elapsed = perf_counter() - started
    return jobs * EVENTS_PER_JOB / elapsed


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench recorder", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="samples of each (default 30)")
    parser.add_argument(
        "--jobs", type=int, default=10, help="commands per sample (default 10, as the library)"
    )
    parser.add_argument(
        "--ours",
        action="append",
        help=f"a recorder to compare, as a topic; repeat for more (default {OURS})",
    )
    args = parser.parse_args(argv)
    topics: list[str] = args.ours or [OURS]
    url = os.environ.get("CLOSEDLOOP_TEST_POSTGRES_URL", DEFAULT_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as e:
        print(f"PostgreSQL at {url} cannot be reached: {e}")
        return 1 if os.environ.get("CLOSEDLOOP_REQUIRE_POSTGRES") == "1" else 0

    library: list[float] = []
    ours: dict[str, list[float]] = {topic: [] for topic in topics}
    with ExitStack() as stack:
        theirs = stack.enter_context(scratch_recorder(url, PostgresApplicationRecorder))
        mine = {t: stack.enter_context(scratch_recorder(url, resolve_topic(t))) for t in topics}
        for recorder in [theirs, *mine.values()]:
            throughput(recorder, args.jobs)  # a first sample of each, not counted
        # Library, ours, library, ours, ... library: each of ours has one either side.
        library.append(throughput(theirs, args.jobs))
        for _ in range(args.rounds):
            for topic, recorder in mine.items():
                ours[topic].append(throughput(recorder, args.jobs))
            library.append(throughput(theirs, args.jobs))
    print(
        f"{args.rounds} rounds of {args.jobs} commands x {EVENTS_PER_JOB} events, {WORKERS} threads"
    )
    print(f"  {'library eventsourcing.postgres:PostgresApplicationRecorder':<62}", end="")
    print(f"{median(library):>8,.0f} events/s")
    for topic, rates in ours.items():
        ratios = [o / ((a + b) / 2) for o, a, b in zip(rates, library, library[1:], strict=False)]
        figure = median(ratios)
        print(f"  {'ours    ' + topic:<62}{median(rates):>8,.0f} events/s", end="")
        print(
            f"  ratio {figure:.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f}) "
            f"{'PASS' if figure >= 1.0 else 'MISS'}"
        )
    return 0

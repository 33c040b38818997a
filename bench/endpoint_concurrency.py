"""Deliveries per second to one slow endpoint, by the subscription's concurrency (ADR 0081).

One receiver on loopback (a threaded HTTP server in a process of its own) takes
``--delay`` seconds (50 ms by default) over each notification and counts the distinct
``webhook-id``s. One subscription hears every warning; each round raises ``--count``
warnings (each starts a loop of its own), derives their notifications, and times the
delivery worker (``--pool`` senders) until the receiver has them all, with the
subscription's concurrency set to 1, to the default, and to 8, in turns (1, default, 8,
then 8, default, 1): the figure for each is the median of its rounds, set against
concurrency 1 in the same run. The ceiling is concurrency ÷ delay.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from statistics import median
from uuid import UUID

import httpx

from bench.http_issue import on_fresh_schema
from bench.webhooks import raise_bench_warning, start_receiver, subscribe
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.demo import load_demo
from domain.meta import Actor, Context
from domain.subscription import DEFAULT_CONCURRENCY
from notifiers.config import WebhookConfig, networks
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from notifiers.transport import guarded_client
from projections.store import ViewStore


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench endpoint_concurrency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=120, help="notifications a round")
    parser.add_argument("--delay", type=float, default=0.05, help="the endpoint's seconds each")
    parser.add_argument("--pool", type=int, default=8, help="the worker's senders")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="on PostgreSQL (CLOSEDLOOP_TEST_POSTGRES_URL), in a fresh schema made and "
        "dropped, instead of a fresh SQLite file",
    )
    args = parser.parse_args(argv)
    if not args.postgres:
        folder = tempfile.mkdtemp(prefix="closedloop-bench-")
        return measure(args, f"sqlite:///{folder}/closedloop.sqlite3")
    return on_fresh_schema("endpoint_concurrency", measure, args)


def measure(args: argparse.Namespace, database: str) -> int:

    receiver, url = start_receiver(args.delay)
    center = build_command_center(Settings(database_url=database))
    store = ViewStore.for_url(database)
    config = WebhookConfig(
        allowed_networks=networks("127.0.0.0/8"), concurrency=args.pool, poll_interval=0.01
    )
    # The worker is stopped between rounds: it must not close the client it was given.
    client = guarded_client(config)
    notifiers = Notifiers(center, store, keyring=Keyring.generate(), config=config, client=client)
    counter = httpx.Client(timeout=10)
    try:
        notifiers.prepare()
        load_demo(center)
        admin = Context(actor=Actor(person="bench", unit="HW", role="admin"))
        sid = subscribe(notifiers.book, admin, url).id
        monitor = Actor(person="bench", unit="HW", role="monitor")
        raised = 0

        def round_(concurrency: int) -> float:
            """Deliveries per second of one round at this concurrency."""
            nonlocal raised
            notifiers.book.update(
                Context(actor=admin.actor), UUID(str(sid)), {"concurrency": concurrency}
            )
            for _ in range(args.count):
                raised += 1
                raise_bench_warning(center, monitor, raised)
            notifiers.catch_up()  # the notifications derived, and the new concurrency read
            counter.delete(url)
            assert notifiers.worker is not None
            started = time.perf_counter()
            notifiers.worker.start()
            deadline = started + 300
            while counter.get(url).text != str(args.count) and time.perf_counter() < deadline:
                time.sleep(0.005)
            took = time.perf_counter() - started
            notifiers.worker.stop()
            if counter.get(url).text != str(args.count):
                raise RuntimeError(f"a round at {concurrency} did not finish in 300 s")
            rate: float = args.count / took
            return rate

        levels = sorted({1, DEFAULT_CONCURRENCY, 8})
        rates: dict[int, list[float]] = {c: [] for c in levels}
        for c in [*levels, *reversed(levels)]:
            rates[c].append(round_(c))
            print(f"  concurrency {c}: {rates[c][-1]:7.1f} deliveries/s", flush=True)
        base = median(rates[1])
        print(
            f"one endpoint answering in {args.delay * 1000:.0f} ms, {args.count} notifications "
            f"of as many loops a round, {args.pool} senders, on {database.split(':')[0]}:"
        )
        for c in levels:
            label = f"{c} (default)" if c == DEFAULT_CONCURRENCY else str(c)
            rate = median(rates[c])
            print(
                f"  concurrency {label:<12}: {rate:7.1f} /s  x{rate / base:5.2f} of concurrency "
                f"1  (ceiling {c / args.delay:.0f} /s)"
            )
        return 0
    finally:
        notifiers.stop()
        client.close()
        counter.close()
        store.close()
        center.close()
        receiver.terminate()

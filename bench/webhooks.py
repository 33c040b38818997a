"""Webhook deliveries per second to a local receiver, beside plain signed POSTs.

In the same run, against the same receiver (a threaded HTTP server in a process of its
own, counting distinct ``webhook-id``s): ``--count`` plain signed POSTs sent by the
delivery worker's own HTTP client at the worker's concurrency, then ``--count``
notifications derived from as many warnings and delivered by the worker (claimed with a
lease, signed, sent, each attempt recorded). Rounds of deliveries (``--rounds``) alternate
with rounds of plain POSTs; each is set against the plain rounds either side, and the
figure is the median. Nothing may be lost: the receiver must count every id. The target
is a delivery rate of at least 0.5 of the plain rate. The rate to one slow endpoint by
its subscription's concurrency (1, 4, 8 in one run) is ``python -m bench
endpoint_concurrency`` (bench/endpoint_concurrency.py, ADR 0081).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from statistics import median
from typing import Any

import httpx

from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter, Outcome
from domain.demo import load_demo
from domain.meta import Actor, Context
from notifiers.book import SubscriptionBook
from notifiers.config import WebhookConfig, networks
from notifiers.secrets import Keyring, new_secret, signature_header
from notifiers.service import Notifiers
from notifiers.transport import guarded_client
from projections.store import ViewStore


def receive(port: Any, ready: Any, delay: float = 0.0) -> None:
    """A receiver on loopback counting distinct ``webhook-id``s (GET: the count, DELETE:
    start again), taking ``delay`` seconds over each, as a slow endpoint would."""
    seen: set[str] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without this, delayed ACKs cap the rate.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            if delay:
                time.sleep(delay)  # a slow endpoint: its own work before it answers
            with lock:
                seen.add(self.headers.get("webhook-id", ""))
            self._answer(b"ok")

        def do_GET(self) -> None:
            with lock:
                self._answer(str(len(seen)).encode())

        def do_DELETE(self) -> None:
            with lock:
                seen.clear()
            self._answer(b"ok")

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    ready.set()
    server.serve_forever()


def start_receiver(delay: float = 0.0) -> tuple[multiprocessing.Process, str]:
    """:func:`receive` in a process of its own, ready: the process (to terminate) and
    the URL it counts deliveries at."""
    port = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=receive, args=(port, ready, delay), daemon=True)
    receiver.start()
    ready.wait(10)
    return receiver, f"http://127.0.0.1:{port.value}/hook"


def raise_bench_warning(center: CommandCenter, monitor: Actor, n: int) -> None:
    """The ``n``-th warning a bench raises in the demo district (what :func:`subscribe`
    sends), its level going round 1 to 4."""
    center.raise_warning(
        Context(actor=monitor),
        source="bench",
        rule="rainstorm",
        theme="meteorological",
        level=1 + n % 4,
        title=f"bench warning {n}",
        unit="HW",
        dedup_key=f"bench-{n}",
    )


def subscribe(
    book: SubscriptionBook, ctx: Context, url: str, description: str = "bench", **more: Any
) -> Outcome:
    """A subscription of the whole demo district to every raised warning, sent to ``url``."""
    return book.register(
        ctx,
        unit="HW",
        url=url,
        event_types=["warning.raised"],
        themes=[],
        min_level=None,
        units=[],
        subtrees=[],
        addressed_only=False,
        language="zh",
        template=None,
        description=description,
        active=True,
        **more,
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="delivery rounds, each between two plain ones"
    )
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)

    receiver, url = start_receiver()
    folder = tempfile.mkdtemp(prefix="closedloop-bench-")
    database = args.database or f"sqlite:///{folder}/closedloop.sqlite3"
    center = build_command_center(Settings(database_url=database))
    store = ViewStore.for_url(database)
    config = WebhookConfig(
        allowed_networks=networks("127.0.0.0/8"),
        concurrency=args.concurrency,
        poll_interval=0.01,
    )
    # The worker is stopped between rounds: it must not close the client it was given.
    notifiers = Notifiers(
        center, store, keyring=Keyring.generate(), config=config, client=guarded_client(config)
    )
    try:
        notifiers.prepare()
        load_demo(center)
        admin = Context(actor=Actor(person="bench", unit="HW", role="admin"))
        subscribe(notifiers.book, admin, url)
        monitor = Context(actor=Actor(person="bench", unit="HW", role="monitor"))
        assert notifiers.worker is not None
        client: httpx.Client = notifiers.worker.client
        secret = new_secret()
        raised = 0

        def raise_warnings() -> None:
            """A round's warnings, on the record; their notifications not derived yet."""
            nonlocal raised
            for _ in range(args.count):
                raised += 1
                raise_bench_warning(center, monitor.actor, raised)

        def plain_rate(payload: bytes, round_: int) -> float:
            """Plain signed POSTs from the worker's own client, at its concurrency."""

            def post(n: int) -> None:
                msg_id = f"plain_{round_}_{n}"
                ts = int(time.time())
                client.post(
                    url,
                    content=payload,
                    headers={
                        "content-type": "application/json",
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(ts),
                        "webhook-signature": signature_header([secret], msg_id, ts, payload),
                    },
                ).raise_for_status()

            client.delete(url)
            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(post, range(args.count)))
            rate: float = args.count / (time.perf_counter() - started)
            assert client.get(url).text == str(args.count), "a plain POST was lost"
            return rate

        def delivery_rate(expected: int) -> tuple[float, float, int]:
            """The round's notifications derived from the log by the outbox follower, then
            delivered by the worker: the seconds each took, and how many never arrived."""
            client.delete(url)
            started = time.perf_counter()
            notifiers.catch_up()
            derived = time.perf_counter()
            notifiers.worker.start()  # type: ignore[union-attr]
            deadline = derived + 300
            while client.get(url).text != str(args.count) and time.perf_counter() < deadline:
                time.sleep(0.01)
            # Done when each attempt is on the record too, not only on the wire.
            while delivered_count() < expected and time.perf_counter() < deadline:
                time.sleep(0.01)
            done = time.perf_counter()
            notifiers.worker.stop()  # type: ignore[union-attr]
            return derived - started, done - derived, args.count - int(client.get(url).text)

        def delivered_count() -> int:
            with store.read() as tx:
                rows = tx.execute(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'"
                )
            return int(rows[0][0])

        # Rounds alternate plain POSTs and deliveries of a fresh batch of notifications;
        # each delivery round is set against the plain rounds either side of it, and the
        # figure is the median: a burst of load from elsewhere spoils one round.
        # One notification derived and delivered first: its body is what the plain POSTs
        # send, so that both halves send the same bytes.
        args_count, args.count = args.count, 1
        raise_warnings()
        delivery_rate(1)
        args.count = args_count
        with store.read() as tx:
            payload = str(tx.execute("SELECT body FROM webhook_deliveries LIMIT 1")[0][0]).encode()
        plains = [plain_rate(payload, 0)]
        rates: list[float] = []
        ratios: list[float] = []
        whole: list[float] = []  # derived and delivered, per second of both
        lost = 0
        for n in range(args.rounds):
            raise_warnings()
            deriving, delivering, missing = delivery_rate(1 + args.count * (n + 1))
            lost += missing
            rates.append(args.count / delivering)
            whole.append(args.count / (deriving + delivering))
            plains.append(plain_rate(payload, n + 1))
            ratios.append(rates[-1] / ((plains[-2] + plains[-1]) / 2))
            print(
                f"round {n + 1}: plain {plains[-2]:,.0f} / {plains[-1]:,.0f}, deliveries "
                f"{rates[-1]:,.0f} /s, ratio {ratios[-1]:.2f}; derived and delivered "
                f"{whole[-1]:,.0f} /s",
                flush=True,
            )
        delivered = delivered_count()
        ratio = median(ratios)
        print(
            f"plain signed POSTs : {median(plains):9.0f} /s  ({args.count} a round, "
            f"{args.concurrency} at once)"
        )
        print(
            f"webhook deliveries : {median(rates):9.0f} /s  ({delivered} recorded delivered, "
            f"{lost} lost)"
        )
        print(
            f"ratio              : {ratio:9.2f}  (rounds {min(ratios):.2f}-{max(ratios):.2f}; "
            "target >= 0.5)"
        )
        print(
            f"with the outbox    : {median(whole):9.0f} /s  derived from the log and delivered, "
            f"{median(whole) / median(plains):.2f} of the plain rate (not the target's)"
        )
        return 0 if ratio >= 0.5 and lost == 0 else 1
    finally:
        notifiers.stop()
        if notifiers.worker is not None:
            notifiers.worker.client.close()
        store.close()
        center.close()
        receiver.terminate()

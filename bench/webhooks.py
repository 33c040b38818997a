"""Webhook deliveries per second to a local receiver, beside plain signed POSTs.

In the same run, against the same receiver (a threaded HTTP server in a process of its
own, counting distinct ``webhook-id``s): ``--count`` plain signed POSTs sent by the
delivery worker's own HTTP client at the worker's concurrency, then ``--count``
notifications derived from as many warnings and delivered by the worker (claimed with a
lease, signed, sent, each attempt recorded). Nothing may be lost: the receiver must count
every id. The target is a delivery rate of at least 0.5 of the plain rate.
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
from typing import Any

import httpx

from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.demo import load_demo
from domain.meta import Actor, Context
from notifiers.config import WebhookConfig, networks
from notifiers.delivery import deliveries
from notifiers.secrets import Keyring, new_secret, signature_header
from notifiers.service import Notifiers
from projections.base import ViewStore


def _receive(port: Any, ready: Any) -> None:
    seen: set[str] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without this, delayed ACKs cap the rate.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
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


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)

    port = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=_receive, args=(port, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    url = f"http://127.0.0.1:{port.value}/hook"
    folder = tempfile.mkdtemp(prefix="closedloop-bench-")
    database = args.database or f"sqlite:///{folder}/closedloop.sqlite3"
    center = build_command_center(Settings(database_url=database))
    store = ViewStore.for_url(database)
    config = WebhookConfig(
        allowed_networks=networks("127.0.0.0/8"),
        concurrency=args.concurrency,
        poll_interval=0.01,
    )
    notifiers = Notifiers(center, store, keyring=Keyring.generate(), config=config)
    try:
        notifiers.prepare()
        load_demo(center)
        admin = Context(actor=Actor(person="bench", unit="HW", role="admin"))
        notifiers.book.register(
            admin,
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
            description="bench",
            active=True,
        )
        monitor = Context(actor=Actor(person="bench", unit="HW", role="monitor"))
        for n in range(args.count):
            center.raise_warning(
                Context(actor=monitor.actor),
                source="bench",
                rule="rainstorm",
                theme="meteorological",
                level=1 + n % 4,
                title=f"bench warning {n}",
                unit="HW",
                dedup_key=f"bench-{n}",
            )
        notifiers.catch_up()
        with store.read() as tx:
            # A real notification's body, so that both halves send the same bytes.
            payload = str(tx.execute("SELECT body FROM webhook_deliveries LIMIT 1")[0][0]).encode()
        assert notifiers.worker is not None
        client: httpx.Client = notifiers.worker.client

        # 1. Plain signed POSTs from the same client, at the same concurrency.
        secret = new_secret()

        def post(n: int) -> None:
            msg_id = f"plain_{n}"
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

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(post, range(args.count)))
        plain = args.count / (time.perf_counter() - started)
        assert client.get(url).text == str(args.count)
        client.delete(url)

        # 2. The same number of notifications through the outbox and the worker.
        started = time.perf_counter()
        notifiers.worker.start()
        while client.get(url).text != str(args.count):
            time.sleep(0.005)
        # Done when each attempt is on the record too, not only on the wire.
        while len(deliveries(store, status="delivered", limit=args.count + 1)) < args.count:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        rate = args.count / elapsed
        delivered = len(deliveries(store, status="delivered", limit=args.count + 1))
        lost = args.count - int(client.get(url).text)
        print(f"plain signed POSTs : {plain:9.0f} /s  ({args.count}, {args.concurrency} at once)")
        print(f"webhook deliveries : {rate:9.0f} /s  ({delivered} recorded delivered, {lost} lost)")
        ratio = rate / plain
        print(f"ratio              : {ratio:9.2f}  (target >= 0.5)")
        return 0 if ratio >= 0.5 and lost == 0 else 1
    finally:
        notifiers.stop()
        store.close()
        center.close()
        receiver.terminate()

"""What metrics and traces cost the API (ADR 0070): CPU and time per command with both
on, against both off, in turns in the same process and run.

The API (``create_app``, the views' runner left out so that only the API's own work is
measured) on an SQLite file with the demo district, driven through Litestar's test
client: each command is ``POST /v1/warnings`` with a fresh deduplication key (a new
warning, its events written). *Off*: ``CLOSEDLOOP_METRICS=off`` and no tracing.
*On*: every series counted, and every request traced by the SDK, its spans sent in
batches by the real OTLP/HTTP exporter to a receiver on loopback (a process of its own,
which answers 200 and keeps nothing, so that its CPU is not the API's). Rounds
alternate off and on; each on round is set against the mean of the off rounds either
side, and the median of those ratios, with their range, is the figure. CPU is the
process's (all its threads: the exporter's included); time is the wall clock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, median
from typing import Any

from litestar.testing import TestClient

from api.app import create_app
from api.rate_limits import RateLimits
from api.tokens import TokenBook
from closedloop.bootstrap import build_command_center, build_read_models
from closedloop.settings import Settings
from domain.demo import load_demo
from telemetry import series, tracing

#: The loopback collector: answers every OTLP export 200 and drops it.
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench telemetry", description=__doc__)
    p.add_argument("--commands", type=int, default=300, help="commands per round")
    p.add_argument("--rounds", type=int, default=7, help="on rounds (off rounds: one more)")
    return p.parse_args(argv)


def one_round(
    client: TestClient[Any], headers: dict[str, str], n: int, tag: str
) -> tuple[float, float]:
    """CPU and wall milliseconds per command over ``n`` commands."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        r = client.post(
            "/v1/warnings",
            json={
                "rule": "reservoir.level",
                "theme": "reservoir",
                "level": 2,
                "title": "Qingshan reservoir above the flood limit",
                "unit": "HW-DH-QS",
                "dedup_key": f"bench-{tag}-{i}",
            },
            headers=headers,
        )
        if r.status_code != 201:
            raise RuntimeError(f"{r.status_code}: {r.text}")
    return (
        (time.process_time() - cpu) * 1000 / n,
        (time.perf_counter() - wall) * 1000 / n,
    )


def switch(on: bool, provider: Any) -> None:
    if on:
        series.switch_on()
        tracing.use(provider)
    else:
        series.switch_off()
        tracing.use(None)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    folder = Path(tempfile.mkdtemp(prefix="closedloop-bench-telemetry-"))
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"))
        )
        center = build_command_center(Settings(database_url=f"sqlite:///{folder}/bench.sqlite3"))
        load_demo(center)
        secret = (
            TokenBook(center)
            .issue(user="bench", unit="HW", roles=["monitor"], label="bench")
            .secret
        )
        headers = {"Authorization": f"Bearer {secret}"}
        offs: list[tuple[float, float]] = []
        ons: list[tuple[float, float]] = []
        app = create_app(
            center,
            reads=build_read_models(center, run=False),
            # One token writes thousands of times: the abuse limit would refuse it.
            rate_limits=RateLimits("off", "off"),
        )
        with TestClient(app) as client:
            switch(True, provider)
            one_round(client, headers, 50, "warm-on")  # imports, first spans, caches
            switch(False, provider)
            one_round(client, headers, 50, "warm-off")
            for r in range(args.rounds):
                switch(False, provider)
                offs.append(one_round(client, headers, args.commands, f"off{r}"))
                switch(True, provider)
                ons.append(one_round(client, headers, args.commands, f"on{r}"))
            switch(False, provider)
            offs.append(one_round(client, headers, args.commands, "off-last"))
        provider.shutdown()
        center.close()
    finally:
        receiver.terminate()
        receiver.wait(10)
        series.switch_on()
    cpu = [on[0] / mean((offs[i][0], offs[i + 1][0])) for i, on in enumerate(ons)]
    wall = [on[1] / mean((offs[i][1], offs[i + 1][1])) for i, on in enumerate(ons)]
    print(f"API per command ({args.commands} commands x {args.rounds} rounds, SQLite, test client)")
    print(f"{'':14}{'off ms':>10}{'on ms':>10}{'on / off':>10}  range")
    for name, k, ratios in (("CPU", 0, cpu), ("time", 1, wall)):
        off_ms = median(o[k] for o in offs)
        on_ms = median(o[k] for o in ons)
        print(
            f"{name:14}{off_ms:>10.2f}{on_ms:>10.2f}{median(ratios):>9.2f}x"
            f"  {min(ratios):.2f}-{max(ratios):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``serve --workers 2`` against ``--workers 1``, and the same against a bare Litestar app.

Issue 23 asks for "the HTTP write path with two API processes on one PostgreSQL ÷ one,
and the same figure against a bare Litestar app with two processes". Real servers on
loopback, on one fresh PostgreSQL schema with the demo district loaded:

- ``api-1``, ``api-2``: ``closedloop serve --no-projections`` with one worker and two
  (each worker with a listener of its own, ADR 0088), the log's followers
  (projections, notifiers, watch) in processes of their own beside them, as
  PostgreSQL's deployment runs them;
- ``api-2-shared``: two workers on uvicorn's one shared socket, as before ADR 0088 (the
  supervisor told that the kernel does not balance; ``--no-shared`` leaves it out);
- ``bare-1``, ``bare-2``: :mod:`bench.bare_app`, started by the same ``run_asgi``, the
  same listeners included.

Client processes of the benchmark's (``--clients`` processes of ``--connections`` threads
in all, each thread on one keep-alive connection; every request issues a new
instruction as in ``bench http``, without needing ``wrk``) drive each server in turn, in
``--rounds`` rounds of every server; each API run's rate counts the followers' drain in
(``sustained``). The ratios are taken within a round (2 ÷ 1 of the same round) and the
median over the rounds is the figure. Halfway through each two-worker run the benchmark
reads from ``/proc`` which worker holds the server's end of each client connection.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import psycopg

from bench.http_issue import (
    BODY_HEAD,
    HOST,
    PATH,
    Server,
    closedloop,
    drain_seconds,
    fresh_schema,
    helper,
    post_one,
    server,
)
from bench.loop_cost import POSTGRES_URL, REQUIRE_POSTGRES, postgres_unreachable
from closedloop.listeners import kernel_balances
from tests.e2e.server import connection_owners, free_port

#: The supervisor of this process's servers told the kernel does not balance: uvicorn's
#: one shared socket, as ``serve --workers N`` listened before ADR 0088.
SHARED = (
    "import sys, closedloop.cli as cli; cli.kernel_balances = lambda: False; "
    "from {module} import main; sys.exit(main(sys.argv[1:]))"
)


def _clients(
    port: int, token: str, connections: int, seconds: float, tag: str, go: Any, out: Any
) -> None:
    """In a process of its own: ``connections`` threads, each on one keep-alive
    connection opened before ``go``, posting from ``go`` until the time is up; puts
    "ready" once connected, then (answers by status, latencies in ms)."""
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conns = [http.client.HTTPConnection(HOST, port, timeout=10) for _ in range(connections)]
    for conn in conns:
        conn.connect()
    out.put("ready")
    go.wait()
    ends = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = conns[n]
        mine: Counter[int] = Counter()
        times: list[float] = []
        i = 0
        while time.monotonic() < ends:
            i += 1
            body = f'{BODY_HEAD}{tag}-{n}-{i}"}}'.encode()
            started = time.monotonic()
            try:
                conn.request("POST", PATH, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                mine[answer.status] += 1
            except (OSError, http.client.HTTPException):
                mine[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
            times.append((time.monotonic() - started) * 1000)
        conn.close()
        with lock:
            codes.update(mine)
            latencies.extend(times)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((dict(codes), latencies))


@dataclass
class Run:
    server: str
    created: int
    seconds: float
    drain: float
    other: int  # answers that were not 201, and requests with no answer
    p99_ms: float
    #: Connections held by each worker, most first (two-worker runs only).
    spread: list[int] = field(default_factory=list)
    #: Listening sockets on the port (one shared, or one per worker).
    listeners: int = 0

    @property
    def rate(self) -> float:
        """Instructions issued per second, the followers' catching up counted in."""
        return self.created / (self.seconds + self.drain)


def load(
    target: Server, seconds: float, args: argparse.Namespace, token: str, url: str | None
) -> Run:
    """One timed run of the client processes against ``target``, then the followers'
    drain (``url``; None for the bare app, which has none); halfway through, the
    connections per worker."""
    context = multiprocessing.get_context("spawn")
    out: Any = context.Queue()
    go = context.Event()
    tag = uuid.uuid4().hex[:12]
    shares = [args.connections // args.clients] * args.clients
    shares[0] += args.connections - sum(shares)
    processes = [
        context.Process(
            target=_clients, args=(target.port, token, n, seconds, f"{tag}{i}", go, out)
        )
        for i, n in enumerate(shares)
    ]
    for p in processes:
        p.start()
    # The clients' start (processes importing their modules) is not counted.
    for _ in processes:
        if out.get(timeout=120) != "ready":
            raise RuntimeError("a client process did not connect")
    spread: list[int] = []
    listening: list[int] = []

    def sample() -> None:
        time.sleep(seconds / 2)
        counts = Counter(connection_owners(target.process.pid, target.port).values())
        spread.extend(sorted(counts.values(), reverse=True))
        listening.append(listening_sockets(target.port))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    go.set()
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    for _ in processes:
        got, times = out.get(timeout=seconds + 60)
        codes.update(got)
        latencies.extend(times)
    wall = time.perf_counter() - started
    for p in processes:
        p.join()
    sampler.join()
    latencies.sort()
    drain = drained(url) if url is not None else 0.0
    created = codes.pop(201, 0)
    return Run(
        server=target.name,
        created=created,
        seconds=wall,
        drain=drain,
        other=sum(codes.values()),
        p99_ms=latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        spread=spread,
        listeners=listening[0] if listening else 0,
    )


def drained(url: str) -> float:
    """:func:`drain_seconds`, tried again while the database has no connection slot to
    give (other work shares it): the seconds waited for a slot are counted in."""
    started = time.perf_counter()
    while True:
        try:
            return drain_seconds(url) + (time.perf_counter() - started)
        except psycopg.OperationalError:
            if time.perf_counter() - started > 60:
                raise
            time.sleep(0.2)


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (Linux /proc; 0 elsewhere)."""
    found = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                f = line.split()
                if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A":
                    found.add(f[9])
    return len(found)


def argv_of(name: str, port: int) -> list[str]:
    """How the server ``name`` (api-1, api-2, api-2-shared, bare-1, ...) is started."""
    kind, workers, *shared = name.split("-")
    if kind == "api":
        module, args = "closedloop.cli", ["serve", "--no-projections"]
    else:
        module, args = "bench.bare_app", []
    args += ["--host", HOST, "--port", str(port), "--workers", workers]
    if shared:
        return [sys.executable, "-c", SHARED.format(module=module), *args]
    return [sys.executable, "-m", module, *args]


def measure(url: str, args: argparse.Namespace, logs: Path) -> dict[str, list[Run]]:
    # Each process opens only --pool-size store connections at rest, and at most
    # --max-overflow more under load: the followers and a server stay within
    # max_connections beside whatever else uses the database.
    served = f"{url}&pool_size={args.pool_size}&max_overflow={args.max_overflow}"
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": served,
        "PYTHONUNBUFFERED": "1",
        "CLOSEDLOOP_WRITE_LIMIT": "off",  # a throughput figure, not abuse (ADR 0043)
    }
    env.pop("CLOSEDLOOP_PROJECTIONS", None)
    closedloop(env, "demo", "load")
    token = closedloop(
        env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "bench"
    ).splitlines()[0]
    names = ["api-1", "api-2", "bare-1", "bare-2"]
    if args.shared:
        names[2:2] = ["api-2-shared"]
        names.append("bare-2-shared")
    runs: dict[str, list[Run]] = {name: [] for name in names}

    def one_run(s: Server, warm: bool) -> Run:
        api = s.name.startswith("api")
        status, body = post_one(s.port, token)
        if status != 201:
            raise RuntimeError(f"{s.name}: a POST answered {status}, not 201: {body}")
        if warm and args.warmup > 0:
            load(s, args.warmup, args, token, url if api else None)
        return load(s, args.duration, args, token, url if api else None)

    def started_server(name: str) -> contextlib.AbstractContextManager[Server]:
        port = free_port()
        return server(name, argv_of(name, port), env, port, logs)

    with contextlib.ExitStack() as stack:
        # The bare apps use no database: they stay up. Each API server is started for
        # its run only, so that the database never holds more than one's connections.
        bare = {n: stack.enter_context(started_server(n)) for n in names if n.startswith("bare")}
        for follower, command in (
            ("projections", ["projections", "run"]),
            ("notifiers", ["notifiers", "run"]),
            ("watch", ["watch", "run"]),
        ):
            argv = [sys.executable, "-m", "closedloop.cli", *command]
            stack.enter_context(helper(follower, argv, env, logs))
        time.sleep(args.settle)
        print(f"{args.rounds} rounds of {len(names)} runs of {args.duration:g} s …", flush=True)
        for round_ in range(args.rounds):
            for name in names:
                if name in bare:
                    run = one_run(bare[name], warm=round_ == 0)
                else:
                    with started_server(name) as s:
                        # Every worker must have started before the run.
                        time.sleep(args.settle)
                        run = one_run(s, warm=True)
                runs[name].append(run)
                where = (
                    f"  connections per worker {run.spread} ({run.listeners} listening)"
                    if "-2" in name
                    else ""
                )
                print(
                    f"  {name:<13} {run.rate:7.0f} instructions/s  (drain {run.drain:.2f} s)  "
                    f"p99 {run.p99_ms:6.1f} ms  not 201: {run.other}{where}",
                    flush=True,
                )
    return runs


def ratio(runs: dict[str, list[Run]], two: str, one: str) -> tuple[float, float, float]:
    """The median over the rounds of ``two`` ÷ ``one`` of the same round; least, most."""
    each = [a.rate / b.rate for a, b in zip(runs[two], runs[one], strict=True)]
    return median(each), min(each), max(each)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench workers",
        description="serve --workers 2 ÷ 1, against a bare Litestar app's 2 ÷ 1",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=8, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every server")
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds per server")
    parser.add_argument("--settle", type=float, default=5, help="seconds for workers to start")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument(
        "--shared",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also two workers on one shared socket (before ADR 0088)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=2, help="each process's store connections at rest"
    )
    parser.add_argument(
        "--max-overflow", type=int, default=6, help="each process's further ones under load"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    reason = postgres_unreachable(args.postgres_url)
    if reason is not None:
        print(f"skipping workers: {reason}", flush=True)
        return 1 if REQUIRE_POSTGRES else 0
    if not kernel_balances():
        print("this platform does not balance SO_REUSEPORT: the workers share one socket")
    logs = Path(tempfile.mkdtemp(prefix="closedloop-bench-workers-"))
    try:
        with fresh_schema(args.postgres_url) as url:
            runs = measure(url, args, logs)
    except RuntimeError as e:
        print(f"workers: {e} (logs in {logs})", file=sys.stderr)
        return 1
    shutil.rmtree(logs, ignore_errors=True)
    print()
    for name, each in runs.items():
        print(f"{name:<13}: {median(r.rate for r in each):7.0f} instructions/s (median)")
    lines = [("API 2 ÷ 1 workers", "api-2", "api-1"), ("bare 2 ÷ 1 workers", "bare-2", "bare-1")]
    if args.shared:
        lines += [
            ("API 2 shared ÷ 1", "api-2-shared", "api-1"),
            ("API 2 own ÷ 2 shared", "api-2", "api-2-shared"),
        ]
    for label, two, one in lines:
        mid, low, high = ratio(runs, two, one)
        print(f"{label:<21}: {mid:5.2f}  (rounds {low:.2f}-{high:.2f})")
    api, bare = ratio(runs, "api-2", "api-1")[0], ratio(runs, "bare-2", "bare-1")[0]
    print(f"API's gain ÷ bare's  : {api / bare:5.2f}")
    for name, each in runs.items():
        if "-2" in name:
            spreads = ", ".join("/".join(map(str, r.spread)) for r in each)
            print(f"{name:<13}: connections per worker {spreads} of {args.connections}")
    spread_ok = all(len(r.spread) == 2 for r in runs["api-2"] + runs["bare-2"])
    return 0 if spread_ok or not kernel_balances() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

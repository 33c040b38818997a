"""``serve --workers 2`` against ``--workers 1``: where connections land, and the write rate.

Two real API servers on loopback, on one fresh PostgreSQL schema with the demo district
loaded, the log's followers (projections, notifiers, watch) in processes of their own as
PostgreSQL's deployment runs them: ``closedloop serve --no-projections`` with one worker
and with two. A client process of the benchmark's (``--connections`` threads, each on
one keep-alive connection; every request issues a new instruction, as in ``bench http``,
without needing ``wrk``) drives each in turn, one worker first and last
(1, 2, 1, 2, 1); each two-worker run's sustained rate (the followers' drain counted in)
is set against the mean of the one-worker runs either side, and the median is the figure.

Halfway through each two-worker run the benchmark reads from ``/proc`` which worker
process holds the server's end of each of the client's keep-alive connections: the share of the
connections per worker (ADR 0069; before it, a fault test found 13 of 13 on one worker).
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
from pathlib import Path
from statistics import mean, median
from typing import Any

from bench.http_issue import (
    BODY_HEAD,
    HOST,
    PATH,
    Run,
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
    out.put((dict(codes), sorted(latencies)))


def load(
    target: Server,
    seconds: float,
    args: argparse.Namespace,
    token: str,
    url: str,
    spread: list[list[int]] | None = None,
) -> Run:
    """One timed run of the client process against ``target``, then the followers'
    drain; halfway through, the connections per worker into ``spread`` if given."""
    context = multiprocessing.get_context("spawn")
    out: Any = context.Queue()
    go = context.Event()
    tag = uuid.uuid4().hex[:12]
    process = context.Process(
        target=_clients, args=(target.port, token, args.connections, seconds, tag, go, out)
    )
    process.start()
    # The client's start (a process importing its modules) is not counted.
    if out.get(timeout=120) != "ready":
        raise RuntimeError("the client process did not connect")
    sampler = None
    if spread is not None:
        sampler = shares(target.process.pid, target.port, seconds / 2, spread)
    server_before = target.cpu_seconds()
    started = time.perf_counter()
    go.set()
    codes, latencies = out.get(timeout=seconds + 60)
    wall = time.perf_counter() - started
    process.join()
    if sampler is not None:
        sampler.join()
    server_cpu = target.cpu_seconds() - server_before
    drain = drain_seconds(url)
    return Run(
        server=target.name,
        requests=codes.get(201, 0),
        seconds=wall,
        p50_ms=latencies[len(latencies) // 2] if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        errors=codes.get(0, 0),
        codes={int(s): c for s, c in codes.items() if s},
        client_cpu=0.0,
        server_cpu=server_cpu / wall,
        drain=drain,
    )


def shares(root: int, port: int, after: float, into: list[list[int]]) -> threading.Thread:
    """In ``after`` seconds, the connections each worker under ``root`` holds, most first."""

    def sample() -> None:
        time.sleep(after)
        counts = Counter(connection_owners(root, port).values())
        into.append(sorted(counts.values(), reverse=True))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


def measure(
    url: str, args: argparse.Namespace, logs: Path
) -> tuple[list[Run], list[Run], list[list[int]]]:
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": url,
        "PYTHONUNBUFFERED": "1",
        "CLOSEDLOOP_WRITE_LIMIT": "off",  # a throughput figure, not abuse (ADR 0043)
    }
    env.pop("CLOSEDLOOP_PROJECTIONS", None)
    closedloop(env, "demo", "load")
    token = closedloop(
        env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "bench"
    ).splitlines()[0]
    ones: list[Run] = []
    twos: list[Run] = []
    spread: list[list[int]] = []
    with contextlib.ExitStack() as stack:
        servers = {}
        for workers in (1, 2):
            port = free_port()
            argv = [sys.executable, "-m", "closedloop.cli", "serve", "--host", HOST]
            argv += ["--port", str(port), "--workers", str(workers), "--no-projections"]
            servers[workers] = stack.enter_context(
                server(f"workers-{workers}", argv, env, port, logs)
            )
        for name, command in (
            ("projections", ["projections", "run"]),
            ("notifiers", ["notifiers", "run"]),
            ("watch", ["watch", "run"]),
        ):
            argv = [sys.executable, "-m", "closedloop.cli", *command]
            follower = stack.enter_context(helper(name, argv, env, logs))
            for s in servers.values():
                s.helpers.append(follower)
        # Both workers of the second server must have started before its runs.
        time.sleep(args.settle)
        for s in servers.values():
            status, body = post_one(s.port, token)
            if status != 201:
                raise RuntimeError(f"{s.name}: a POST answered {status}, not 201: {body}")
        if args.warmup > 0:
            print(f"warming up ({args.warmup:g} s each) …", flush=True)
            for s in servers.values():
                load(s, args.warmup, args, token, url)
        sequence = [1] + [w for _ in range(args.rounds) for w in (2, 1)]
        print(f"{len(sequence)} runs of {args.duration:g} s: 1, then 2 and 1 workers …")
        for workers in sequence:
            s = servers[workers]
            run = load(s, args.duration, args, token, url, spread if workers == 2 else None)
            (twos if workers == 2 else ones).append(run)
            where = f"  connections per worker {spread[-1]}" if workers == 2 else ""
            print(
                f"  {workers} worker{'s' if workers > 1 else ' '} {run.sustained:8.0f} req/s "
                f"sustained ({run.rate:.0f} answered, drain {run.drain:.2f} s)  "
                f"p99 {run.p99_ms:6.1f} ms  non-201 {run.unexpected}{where}",
                flush=True,
            )
    return ones, twos, spread


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench workers",
        description="serve --workers 2 against --workers 1: connections per worker, write rate",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=2, help="two-worker runs")
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds per server")
    parser.add_argument("--settle", type=float, default=5, help="seconds for workers to start")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive client connections")
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
            ones, twos, spread = measure(url, args, logs)
    except RuntimeError as e:
        print(f"workers: {e} (logs in {logs})", file=sys.stderr)
        return 1
    shutil.rmtree(logs, ignore_errors=True)
    ratios = [r.sustained / mean(o.sustained for o in ones[i : i + 2]) for i, r in enumerate(twos)]
    least = [min(s) / sum(s) if len(s) == 2 else 0.0 for s in spread]
    print()
    print(f"one worker         : {median(o.sustained for o in ones):8.0f} instructions/s sustained")
    print(f"two workers        : {median(r.sustained for r in twos):8.0f} instructions/s sustained")
    print(f"ratio 2 / 1        : {median(ratios):8.2f}  (runs {min(ratios):.2f}-{max(ratios):.2f})")
    print(
        f"connections        : {', '.join('/'.join(map(str, s)) for s in spread)} of "
        f"{args.connections} per worker; the less loaded worker held {min(least):.0%}-"
        f"{max(least):.0%}"
    )
    return 0 if all(len(s) == 2 for s in spread) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

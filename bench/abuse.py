"""Abuse limits against a real ``closedloop serve`` (SQLite, ADR 0043), each beside a
baseline measured in the same run:

- wrong tokens sent for ``--seconds`` from one address: 401s answered per second with the
  limit on (the rest are 429s, which look up no token), against the 401s per second of
  the same server with ``CLOSEDLOOP_AUTH_FAILURE_LIMIT=off``;
- a normal client's p95 with ``--slow`` half-sent requests open, against its p95 with none.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from statistics import quantiles

import httpx

BIN = Path(sys.executable).parent / "closedloop"
HALF = b"GET /v1/units HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bear"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(folder: Path, **env: str) -> Iterator[tuple[str, str]]:
    port = _port()
    environ = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{folder}/bench-{port}.sqlite3",
        "CLOSEDLOOP_PORT": str(port),
        **env,
    }
    run = {"env": environ, "cwd": folder, "capture_output": True, "text": True, "check": True}
    subprocess.run([str(BIN), "demo", "load"], **run)  # type: ignore[call-overload]
    token = subprocess.run(  # type: ignore[call-overload]
        [str(BIN), "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "b"],
        **run,
    ).stdout.strip()
    proc = subprocess.Popen(
        [str(BIN), "serve"],
        env=environ,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def failures_per_second(base: str, seconds: float) -> tuple[float, float]:
    """401s and 429s per second answered to wrong tokens on one keep-alive connection."""
    counts = {401: 0, 429: 0}
    with httpx.Client(base_url=base, timeout=5) as http:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            status = http.get("/v1/units", headers={"Authorization": "Bearer cl_wrong"})
            counts[status.status_code] = counts.get(status.status_code, 0) + 1
    return counts[401] / seconds, counts[429] / seconds


def p95(base: str, token: str, n: int) -> float:
    took = []
    for _ in range(n):
        start = time.perf_counter()
        httpx.get(f"{base}/v1/units", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        took.append(time.perf_counter() - start)
    return quantiles(took, n=20)[-1]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench abuse", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--slow", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with served(folder, CLOSEDLOOP_AUTH_FAILURE_LIMIT="off") as (base, _):
            off, _ = failures_per_second(base, args.seconds)
        with served(folder, CLOSEDLOOP_HEADER_TIMEOUT_SECONDS="60") as (base, token):
            on, refused = failures_per_second(base, args.seconds)
            quiet = p95(base, token, args.requests)
            host, port = base.removeprefix("http://").split(":")
            slow = []
            for _ in range(args.slow):
                s = socket.create_connection((host, int(port)), timeout=5)
                s.sendall(HALF)
                slow.append(s)
            busy = p95(base, token, args.requests)
            for s in slow:
                s.close()
    print(f"wrong tokens, one address, {args.seconds:g} s:")
    print(f"  401s per second, limit off (baseline): {off:9.1f}")
    print(f"  401s per second, default limit:        {on:9.1f} ({on / off:.4f} of baseline)")
    print(f"  429s per second, default limit:        {refused:9.1f}")
    print(f"a normal client's p95 over {args.requests} requests:")
    print(f"  none open (baseline):           {quiet * 1000:8.1f} ms")
    print(f"  {args.slow} half-sent open:      {busy * 1000:8.1f} ms ({busy / quiet:.2f}x)")
    return 0

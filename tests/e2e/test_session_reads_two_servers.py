"""Session consistency across servers (ADR 0045): two ``closedloop serve --no-projections``
processes on one PostgreSQL schema, the views fed by a third (``projections run``).
Clients post to one server and read back from the other, 1,000 times, naming no
position: not one read answers the state before the write."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import BIN, cli, wait_until_healthy

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: Loopback ports this test may listen on.
PORTS = range(18400, 18500)
CLIENTS = 4
ROUNDS = 250  # per client: 1,000 writes and their reads in all


def two_free_ports() -> list[int]:
    found: list[int] = []
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == 2:
            return found
    raise RuntimeError(f"no two free ports in {PORTS.start}-{PORTS.stop - 1}")


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def post_and_read_back(writer: str, reader: str, token: str, tag: str) -> list[str]:
    """``ROUNDS`` instructions issued on ``writer``, each read back on ``reader`` at once;
    what was stale, if anything."""
    stale: list[str] = []
    auth = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=writer, headers=auth, timeout=15) as w,
        httpx.Client(base_url=reader, headers=auth, timeout=15) as r,
    ):
        for n in range(ROUNDS):
            body = {"lead_unit": "HW-DH", "title": f"Check {tag} {n}", "due_in": "P1D"}
            sent = w.post("/v1/instructions", json=body)
            assert sent.status_code == 201, sent.text
            receipt = sent.json()
            seen = r.get(f"/v1/instructions/{receipt['id']}")
            if seen.status_code != 200 or seen.headers["etag"] != sent.headers["etag"]:
                stale.append(f"{tag} {n}: {seen.status_code} {seen.text[:200]}")
            if n % 50 == 49:
                # And the unit's inbox, a list built by another view of the same log.
                # It is paged, soonest deadline first: the newest is on its last page.
                issued: set[str] = set()
                params: dict[str, Any] = {"limit": 200}
                while True:
                    inbox = r.get("/v1/units/HW/inbox", params=params)
                    page = inbox.json()
                    issued |= {i["id"] for i in page.get("issued", [])}
                    if inbox.status_code != 200 or not page.get("next_cursor"):
                        break
                    params = {"limit": 200, "cursor": page["next_cursor"]}
                if receipt["id"] not in issued:
                    stale.append(f"{tag} {n}: inbox {inbox.status_code} without the instruction")
    return stale


def test_writes_on_one_server_are_read_back_on_the_other_never_stale(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": postgres_url}
    env.pop("CLOSEDLOOP_PROJECTIONS", None)
    env.pop("CLOSEDLOOP_READ_YOUR_WRITES", None)
    cli(env, "demo", "load")
    tokens = [
        cli(env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", f"c{n}")
        .splitlines()[0]
        .strip()
        for n in range(CLIENTS)
    ]
    ports = two_free_ports()
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                process(
                    [str(BIN), "serve", "--port", str(port), "--no-projections"],
                    env,
                    tmp_path / f"serve-{port}.log",
                )
            )
            for port in ports
        ]
        stack.enter_context(
            process([str(BIN), "projections", "run"], env, tmp_path / "projections.log")
        )
        for base, proc in zip(bases, servers, strict=True):
            wait_until_healthy(base, proc, 60)

        # Half the clients write on the first server and read on the second, half the
        # other way round.
        with ThreadPoolExecutor(CLIENTS) as pool:
            runs = [
                pool.submit(post_and_read_back, bases[n % 2], bases[1 - n % 2], token, f"c{n}")
                for n, token in enumerate(tokens)
            ]
            stale = [line for run in runs for line in run.result()]
        alive = [proc.poll() is None for proc in servers]

    assert stale == [], f"{len(stale)} stale reads of {CLIENTS * ROUNDS}: {stale[:5]}"
    assert alive == [True, True]
    for log in tmp_path.glob("*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log.name}: {text[-3000:]}"

"""Slow clients against the real ``closedloop serve`` process (issue 19, ADR 0043).

Thousands of connections that send half a request and then nothing (or a byte now and
then) are cut once the header timeout has passed, with a 408 problem; meanwhile a normal
client keeps being answered. Past the connection bound, the connection that has waited
longest for its headers makes room for the new one.
"""

from __future__ import annotations

import os
import resource
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import quantiles

import httpx
import pytest

from tests.e2e.server import BIN, cli, free_port, wait_until_healthy

pytestmark = pytest.mark.slow

SLOW = 2000
#: Long enough to open the sockets and time a client on a busy two-core machine.
HEADER_TIMEOUT = 10.0
HALF_A_REQUEST = b"GET /v1/units HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bear"


def enough_open_files(needed: int) -> None:
    """Raise this process's descriptor limit to ``needed`` (its children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"{needed} open files are needed, `ulimit -Hn` allows {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def serve(tmp_path: Path, **settings: str) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/slow.sqlite3",
        "CLOSEDLOOP_PORT": str(port),
        "CLOSEDLOOP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "CLOSEDLOOP_BODY_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        **settings,
    }
    cli(env, "demo", "load")
    token = cli(env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "d")
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, 30)
        yield base, {"Authorization": f"Bearer {token}"}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    enough_open_files(2 * SLOW + 1000)
    yield from serve(tmp_path, CLOSEDLOOP_MAX_CONNECTIONS=str(SLOW + 500))


def open_slow(base: str, count: int, first_bytes: bytes) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=5)
        if first_bytes:
            s.sendall(first_bytes)
        sockets.append(s)
    return sockets


def closed_by_server(sockets: list[socket.socket], within: float) -> dict[int, bytes]:
    """The sockets the server closed within ``within`` seconds, by index: what each was
    answered before the end of the stream."""
    answers: dict[int, bytes] = {}
    got: dict[int, bytearray] = {i: bytearray() for i in range(len(sockets))}
    with selectors.DefaultSelector() as sel:
        for i, s in enumerate(sockets):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        deadline = time.monotonic() + within
        while len(answers) < len(sockets):
            events = sel.select(timeout=max(0.0, deadline - time.monotonic()))
            if not events and time.monotonic() >= deadline:
                break
            for key, _ in events:
                i = key.data
                try:
                    chunk = sockets[i].recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    got[i] += chunk
                else:
                    answers[i] = bytes(got[i])
                    sel.unregister(sockets[i])
    return answers


def p95_of_a_normal_client(base: str, headers: dict[str, str], n: int = 40) -> float:
    """A client on a connection of its own, as a browser or a script opens one."""
    took = []
    for _ in range(n):
        start = time.perf_counter()
        r = httpx.get(f"{base}/v1/units", headers=headers, timeout=5)
        took.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
    return quantiles(took, n=20)[-1]


def test_thousands_of_half_sent_requests_are_cut_after_the_timeout_and_others_answered(
    server: tuple[str, dict[str, str]],
) -> None:
    base, headers = server
    quiet = p95_of_a_normal_client(base, headers)
    opened = time.monotonic()
    slow = open_slow(base, SLOW, HALF_A_REQUEST)
    # A few drip a byte now and then: every byte must not buy more time.
    dripping = slow[:20]
    # One sends its headers and only part of the body it announced.
    body = open_slow(base, 1, b"")[0]
    body.sendall(
        b"POST /v1/instructions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: {headers['Authorization']}\r\nContent-Length: 200\r\n\r\n".encode()
        + b'{"lead_unit": "HW'
    )
    busy = p95_of_a_normal_client(base, headers, n=20)
    print(
        f"\n{SLOW} half-sent requests open: a normal client's p95 {busy * 1000:.1f} ms "
        f"(with none open: {quiet * 1000:.1f} ms)"
    )
    assert time.monotonic() - opened < HEADER_TIMEOUT, "too slow to test the timeout"
    assert closed_by_server(slow[-50:], within=0) == {}, "cut before the timeout"
    for s in dripping:
        s.sendall(b"e")

    cut = closed_by_server([*slow, body], within=HEADER_TIMEOUT + 5)
    waited = time.monotonic() - opened
    assert len(cut) == SLOW + 1, f"{SLOW + 1 - len(cut)} still open after {waited:.1f} s"
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in cut.values())
    assert b"application/problem+json" in cut[0]
    # The body's timeout, set to the same here.
    assert f"body did not arrive within {HEADER_TIMEOUT:g} s".encode() in cut[SLOW]
    for s in [*slow, body]:
        s.close()
    assert p95_of_a_normal_client(base, headers, n=10) < 5


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    enough_open_files(3000)
    yield from serve(tmp_path, CLOSEDLOOP_MAX_CONNECTIONS="300")


def test_past_the_connection_bound_the_longest_waiting_connection_makes_room(
    small_server: tuple[str, dict[str, str]],
) -> None:
    base, headers = small_server
    slow = open_slow(base, 1000, HALF_A_REQUEST)
    # The first 700 made room for the last 300, each told why.
    cut = closed_by_server(slow, within=2)
    assert 690 <= len(cut) <= 710, len(cut)
    assert max(cut) < 710
    # Those whose bytes the server had read are told why (503); the others, accepted in
    # the same burst as the ones they made room for, had sent nothing it had seen.
    told = [a for a in cut.values() if a]
    assert told
    assert all(a.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in a for a in told)
    # A normal client's connection is taken too, and answered.
    p95_of_a_normal_client(base, headers, n=10)
    for s in slow:
        s.close()

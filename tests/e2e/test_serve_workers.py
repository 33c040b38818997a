"""``closedloop serve --workers N`` on a fresh PostgreSQL database: every worker starts,
and their connections go without Nagle's delay."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from closedloop.cli import tcp_listener
from tests.e2e.server import BIN, free_port, wait_until_healthy

pytestmark = pytest.mark.slow


@pytest.mark.postgres
def test_four_workers_start_together_on_a_fresh_database_and_all_serve(postgres_url: str) -> None:
    # Nothing exists in the schema yet: the workers would all create the same tables.
    port = free_port()
    env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": postgres_url, "CLOSEDLOOP_PORT": str(port)}
    env.pop("CLOSEDLOOP_PROJECTIONS", None)
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--workers", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, 60)
        # Let the slowest worker finish its start; a failed start stops the server.
        time.sleep(3)
        assert proc.poll() is None, "a worker failed to start and the server stopped"
        # Fresh connections land on various workers: every one of them answers.
        answers = [httpx.get(f"{base}/health", timeout=5).status_code for _ in range(24)]
        assert answers == [200] * 24
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    log = out.decode(errors="replace")
    # Nor at the stop: each worker's followers stop before the store they use closes.
    assert "Traceback" not in log, log[-3000:]
    assert "ERROR" not in log, log[-3000:]
    assert log.count("Application startup complete") == 4, log[-3000:]


def test_connections_to_the_workers_listener_go_without_nagles_delay() -> None:
    config = uvicorn.Config("closedloop.cli:asgi_app", host="127.0.0.1", port=free_port())
    listener = tcp_listener(config)
    seen: list[int] = []

    async def accept_one() -> None:
        def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=listener)
        async with server:
            port = listener.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(50):
                if seen:
                    break
                await asyncio.sleep(0.02)
            writer.close()

    asyncio.run(accept_one())

    assert seen == [seen[0]]
    assert seen[0] != 0


def test_a_server_that_cannot_listen_exits_with_a_failure(tmp_path: Path) -> None:
    # A supervisor (systemd, a container runtime) must see that the server did not start.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/taken.sqlite3",
            "CLOSEDLOOP_PORT": str(port),
        }
        done = subprocess.run(
            [str(BIN), "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "address already in use" in (done.stdout + done.stderr).lower()

"""``closedloop serve --workers N`` on a fresh PostgreSQL database: every worker starts,
keep-alive connections spread over the workers (ADR 0088), the port stays reserved while
they start, a worker's failed start is the server's exit status, and their connections
go without Nagle's delay."""

from __future__ import annotations

import asyncio
import errno
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from closedloop.cli import tcp_listener, worker_listeners
from closedloop.listeners import OwnListeners, kernel_balances
from tests.e2e.server import (
    BIN,
    connection_owners,
    free_port,
    listeners_by_process,
    wait_until_healthy,
)

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
    failure = None
    try:
        wait_until_healthy(base, proc, 60)
        # Let the slowest worker finish its start; a failed start stops the server.
        time.sleep(3)
        assert proc.poll() is None, "a worker failed to start and the server stopped"
        # Fresh connections land on various workers: every one of them answers.
        answers = [httpx.get(f"{base}/health", timeout=5).status_code for _ in range(24)]
        assert answers == [200] * 24
    except (AssertionError, RuntimeError) as e:
        # Said with the server's log: a start that failed once could not be explained
        # without it (ADR 0088).
        failure = e
    finally:
        out = stopped(proc, signal.SIGINT)
    log = out.decode(errors="replace")
    assert failure is None, f"{failure} (status {proc.returncode})\n{log[-4000:]}"
    # Nor at the stop: each worker's followers stop before the store they use closes.
    assert "Traceback" not in log, log[-3000:]
    assert "ERROR" not in log, log[-3000:]
    assert log.count("Application startup complete") == 4, log[-3000:]


@pytest.mark.postgres
@pytest.mark.skipif(not kernel_balances(), reason="only Linux balances SO_REUSEPORT listeners")
def test_keep_alive_connections_spread_over_two_workers(postgres_url: str) -> None:
    port = free_port()
    env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": postgres_url, "CLOSEDLOOP_PORT": str(port)}
    env.pop("CLOSEDLOOP_PROJECTIONS", None)
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--workers", "2", "--no-projections"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # The API alone: what is measured is where connections land, not what follows the log.
    base = f"http://127.0.0.1:{port}"
    clients = [httpx.Client(base_url=base, timeout=5) for _ in range(16)]
    failure = None
    try:
        wait_until_healthy(base, proc, 60)
        # Each worker listens on a socket of its own (the supervisor on none: it only
        # holds the port); a connection made while only one listens lands on that one.
        deadline = time.monotonic() + 60
        while len(listening := listeners_by_process(proc.pid, port)) < 2:
            assert time.monotonic() < deadline, f"listeners: {listening}"
            time.sleep(0.1)
        assert proc.pid not in listening
        assert sorted(listening.values()) == [1, 1]

        # Each client keeps one connection open and asks on it several times.
        for _ in range(3):
            for client in clients:
                assert client.get("/health").status_code == 200
        # Who holds the server's end of each client's connection answered on it.
        owners = connection_owners(proc.pid, port)
        assert len(owners) == 16, owners
        # The kernel hashes each connection to a listener: all 16 on one worker
        # would happen once in 2**15 runs.
        answered = Counter(owners.values())
        assert set(answered) == set(listening), answered
    except (AssertionError, RuntimeError) as e:
        failure = e
    finally:
        for client in clients:
            client.close()
        # The graceful stop a service manager asks for.
        out = stopped(proc, signal.SIGTERM)
    log = out.decode(errors="replace")
    assert failure is None, f"{failure} (status {proc.returncode})\n{log[-4000:]}"
    assert proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    # Both workers stop cleanly, and the supervisor after them.
    assert log.count("Application shutdown complete") == 2, log[-3000:]


def stopped(proc: subprocess.Popen[bytes], how: signal.Signals) -> bytes:
    """``proc``'s output once it has stopped, asked by ``how`` (killed after 30 s)."""
    if proc.poll() is None:
        os.killpg(proc.pid, how)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out


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


@pytest.mark.skipif(not kernel_balances(), reason="only Linux balances SO_REUSEPORT listeners")
def test_each_worker_binds_a_listener_of_its_own_on_the_address_the_supervisor_checked() -> None:
    config = uvicorn.Config("closedloop.cli:asgi_app", host="127.0.0.1", port=free_port())
    handed = worker_listeners(config)
    assert isinstance(handed, OwnListeners)
    assert handed == []  # the supervisor listens on none: no connection may wait on it
    # What each worker finds as it is spawned: its own socket, on the same port.
    first, second = (pickle.loads(pickle.dumps(handed))[0] for _ in range(2))  # noqa: S301 (our own bytes)
    try:
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", config.port)
        assert first.fileno() != second.fileno()
        assert first.proto == second.proto == socket.IPPROTO_TCP
    finally:
        first.close()
        second.close()
        handed.close()


@pytest.mark.skipif(not kernel_balances(), reason="only Linux balances SO_REUSEPORT listeners")
def test_the_supervisor_keeps_the_port_while_its_workers_start_and_takes_no_connection() -> None:
    config = uvicorn.Config("closedloop.cli:asgi_app", host="127.0.0.1", port=free_port())
    handed = worker_listeners(config)
    try:
        # Before any worker listens, nobody else may take the port (a bind of port 0
        # elsewhere, an outgoing connection): the workers' own binds would then fail.
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError, match="in use") as taken:
                other.bind(("127.0.0.1", config.port))
        assert taken.value.errno == errno.EADDRINUSE
        # And the reservation is no listener: a client is refused, not left waiting.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", config.port), timeout=2).close()
        # A worker that listens takes the connections.
        worker = pickle.loads(pickle.dumps(handed))[0]  # noqa: S301 (our own bytes)
        with worker:
            worker.listen()
            socket.create_connection(("127.0.0.1", config.port), timeout=2).close()
    finally:
        handed.close()
    # Once the supervisor has stopped, the port is free again.
    with socket.socket() as again:
        again.bind(("127.0.0.1", config.port))


def test_without_a_balancing_kernel_the_workers_share_the_supervisors_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from closedloop import cli

    monkeypatch.setattr(cli, "kernel_balances", lambda: False)
    config = uvicorn.Config("closedloop.cli:asgi_app", host="127.0.0.1", port=free_port())
    handed = worker_listeners(config)
    try:
        assert len(handed) == 1
        assert type(handed) is list
        assert handed[0].getsockname() == ("127.0.0.1", config.port)
    finally:
        for sock in handed:
            sock.close()


def test_a_worker_that_fails_to_start_fails_the_servers_exit_status() -> None:
    # uvicorn's supervisor stops every worker then, and returned as from a clean stop: a
    # service manager (and a test) saw status 0, with the cause only in the log.
    app = "tests.e2e.failing_app:create_app"
    serve = f"sys.exit(run_asgi({app!r}, '127.0.0.1', {free_port()}, 2))"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; from closedloop.cli import run_asgi; {serve}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == STARTUP_FAILURE, done.stdout + done.stderr
    assert "failed to start" in done.stdout + done.stderr


def test_a_port_taken_stops_the_workers_start_before_any_worker(tmp_path: Path) -> None:
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
            [str(BIN), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "address already in use" in (done.stdout + done.stderr).lower()
    assert "Started parent process" not in done.stdout + done.stderr

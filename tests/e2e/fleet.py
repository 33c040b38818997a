"""The processes of a PostgreSQL deployment, started for real, each one killable with
SIGKILL and restartable: the API (``serve --no-projections``), ``projections run``
(the views and the audit chain), ``notifiers run`` and ``watch run``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.server import BIN, wait_until_healthy

KINDS = ("api", "projections", "notifiers", "watch")
#: The loopback ports these tests' servers take (the first one free).
PORTS = range(18700, 18800)


def fleet_port() -> int:
    """A free loopback port of :data:`PORTS`."""
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {PORTS.start} to {PORTS.stop - 1}")


def deployment_env(url: str, port: int, folder: Path) -> dict[str, str]:
    """The environment every process of the deployment shares."""
    return {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": url,
        "CLOSEDLOOP_PORT": str(port),
        "CLOSEDLOOP_AUDIT_KEY": str(folder / "audit.key"),
        "CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS": "200",
        "CLOSEDLOOP_WEBHOOK_KEY": str(folder / "webhook.key"),
        "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CLOSEDLOOP_WEBHOOK_RETRY_SCHEDULE": "50ms,100ms,200ms,200ms,200ms,200ms,200ms,200ms",
        # A killed worker's leases run out soon, so its deliveries are taken over soon.
        "CLOSEDLOOP_WEBHOOK_LEASE": "3s",
        "CLOSEDLOOP_WEBHOOK_TIMEOUT": "900ms",
        "CLOSEDLOOP_WEBHOOK_POLL": "50ms",
        "CLOSEDLOOP_WEBHOOK_CONCURRENCY": "4",
        "CLOSEDLOOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


class Fleet:
    """One process of each kind; :meth:`kill` and :meth:`start` one kind at a time."""

    def __init__(self, env: dict[str, str], folder: Path, *, api_follows: bool = False) -> None:
        self.env = env
        #: Whether the API process follows the log itself (``serve`` as on SQLite).
        self.api_follows = api_follows
        self.folder = folder
        self.port = int(env["CLOSEDLOOP_PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def command(self, kind: str) -> list[str]:
        return {
            "api": [
                str(BIN),
                "serve",
                "--port",
                str(self.port),
                *([] if self.api_follows else ["--no-projections"]),
            ],
            "projections": [str(BIN), "projections", "run", "--poll", "0.2"],
            "notifiers": [str(BIN), "notifiers", "run"],
            "watch": [str(BIN), "watch", "run"],
        }[kind]

    def start(self, kind: str) -> None:
        with (self.folder / f"{kind}.log").open("ab") as log:
            self.procs[kind] = subprocess.Popen(
                self.command(kind), env=self.env, stdout=log, stderr=log
            )
        if kind == "api":
            wait_until_healthy(self.base, self.procs[kind], 60)

    def start_all(self) -> None:
        for kind in KINDS:
            self.start(kind)

    def kill(self, kind: str) -> None:
        proc = self.procs.pop(kind)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def alive(self) -> dict[str, bool]:
        return {kind: proc.poll() is None for kind, proc in self.procs.items()}

    def stop_all(self) -> dict[str, int | None]:
        """SIGTERM to each, then their exit statuses (None: had to be killed)."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for kind, proc in self.procs.items():
            try:
                codes[kind] = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes[kind] = None
        self.procs = {}
        return codes

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``closedloop ARGS`` in the deployment's environment (not checked)."""
        return subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def log(self, kind: str) -> str:
        return (self.folder / f"{kind}.log").read_text(errors="replace")


def wait_for(check: Callable[[], object], seconds: float, every: float = 0.1) -> float | None:
    """Seconds until ``check()`` is true, or None after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    return None

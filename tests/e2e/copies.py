"""Copies of one follower (``closedloop projections run``, ``watch run`` or ``notifiers
run``) started for real on one PostgreSQL schema, each killable with SIGKILL or stopped
with SIGTERM, and what the copies table says they lead (ADR 0074, 0089). For the tests
of copies dividing their work and for ``python -m bench followers``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit.notes import Signer
from projections.leadership import copies_of
from projections.store import ViewStore
from tests.e2e.server import BIN

COMMANDS = {
    "projections": ["projections", "run", "--poll", "0.2"],
    "watch": ["watch", "run"],
    "notifiers": ["notifiers", "run"],
}


class Copies:
    """The copies of ``role``'s command on ``url``, their logs in ``folder``."""

    def __init__(
        self, url: str, folder: Path, role: str = "projections", env: dict[str, str] | None = None
    ) -> None:
        self.role = role
        self.folder = folder
        key = folder / "audit.key"
        # Made once here: copies starting together must not each write a key of their own.
        Signer.from_file(key)
        self.env = {
            **os.environ,
            **(env or {}),
            "CLOSEDLOOP_DATABASE_URL": url,
            "CLOSEDLOOP_AUDIT_KEY": str(key),
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.store = ViewStore.for_url(url)

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        with (self.folder / f"{self.role}-{n}.log").open("ab") as log:
            proc = subprocess.Popen(
                [str(BIN), *COMMANDS[self.role]], env=self.env, stdout=log, stderr=log
            )
        self.procs.append(proc)
        return proc

    def live(self) -> list[dict[str, Any]]:
        """The copies the table counts as live, with what each leads."""
        return copies_of(self.store, self.role)

    def leads(self, proc: subprocess.Popen[bytes]) -> set[str]:
        return {p for c in self.live() if c["pid"] == proc.pid for p in c["leads"]}

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=20)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.store.close()

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        n = self.procs.index(proc)
        return (self.folder / f"{self.role}-{n}.log").read_text(errors="replace")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, timeout=120
        )


def wait_for(check: Callable[[], object], seconds: float, every: float = 0.05) -> float | None:
    """Seconds until ``check()`` is true, or None after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    return None

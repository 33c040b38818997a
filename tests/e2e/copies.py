"""Copies of one follower (``closedloop projections run``, ``watch run`` or ``notifiers
run``) started for real on one PostgreSQL schema, each killable with SIGKILL or stopped
with SIGTERM, and what the copies table says they lead (ADR 0074, 0089). For the tests
of copies dividing their work and for ``python -m bench followers`` and ``python -m
bench notifier_copies``."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit.notes import Signer
from domain.application import CommandCenter
from notifiers.delivery import deliveries, delivery, partition_of, partitions_led
from projections.leadership import copies_of
from projections.store import ViewStore
from tests.e2e.server import BIN
from tests.fakes import Answer, Received, Receiver
from tests.integration.notifiers.test_delivery import a_loop

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


def kill_mid_attempt(
    copies: Copies,
    victim: subprocess.Popen[bytes],
    center: CommandCenter,
    store: ViewStore,
    receiver: Receiver,
    limit: float,
) -> tuple[set[str], float | None]:
    """SIGKILL a copy of ``notifiers run`` while it has deliveries on their way (ADR 0101).

    Until the kill, the endpoints of the victim's partitions hold what they are sent (the
    victim's tries, cut by the kill); every other endpoint, and every one after the kill,
    answers at once. A loop is closed, and once the victim's tries have reached the
    receiver it is killed. Answers the deliveries that were on their way at the kill and
    the seconds from the kill until they were all delivered (None after ``limit``)."""
    parts = partitions_led(copies.leads(victim))
    held: set[str] = set()
    holding = threading.Event()
    holding.set()

    def answer(item: Received) -> Answer:
        found = delivery(store, item.id) if holding.is_set() else None
        if found is not None and partition_of(str(found["subscription_id"])) in parts:
            held.add(item.id)
            return 200, {}, 15.0
        return 200, {}, 0.0

    receiver.answer = answer
    a_loop(center, "on its way when its copy is killed")
    if wait_for(lambda: held, 30) is None:
        raise RuntimeError(f"nothing reached the victim's endpoints: {copies.live()}")
    time.sleep(0.3)  # the victim's other senders start theirs
    pending = deliveries(store, status="pending", limit=100_000)
    on_their_way = {d["id"] for d in pending if d["id"] in held}
    holding.clear()
    copies.kill(victim)
    killed = time.monotonic()
    took = wait_for(
        lambda: all((delivery(store, i) or {}).get("status") == "delivered" for i in on_their_way),
        limit,
    )
    return on_their_way, None if took is None else time.monotonic() - killed

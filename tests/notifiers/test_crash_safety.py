"""Crash safety on PostgreSQL: ``closedloop notifiers run`` killed with SIGKILL at random
moments and right after a POST was answered (before its attempt is recorded), restarted
until drained. Every notification reaches the receiver, which acts on each
``webhook-id`` once, and the record shows each delivered once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from domain.demo import load_demo
from notifiers.delivery import CRASH_AFTER_POST, deliveries
from notifiers.outbox import ATTEMPTS
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.base import ViewStore
from tests.conftest import make_center
from tests.notifiers.conftest import Receiver, fast_config
from tests.notifiers.test_delivery import a_loop, raise_warning, subscribe

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    url: str, key: Path, crash: float, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``closedloop notifiers run`` on ``url``; its log goes to ``log`` when given."""
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": url,
        "CLOSEDLOOP_WEBHOOK_KEY": str(key),
        "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CLOSEDLOOP_WEBHOOK_RETRY_SCHEDULE": "50ms,100ms,200ms,200ms,200ms,200ms,200ms,200ms",
        "CLOSEDLOOP_WEBHOOK_LEASE": "3s",
        "CLOSEDLOOP_WEBHOOK_TIMEOUT": "900ms",
        "CLOSEDLOOP_WEBHOOK_POLL": "50ms",
        "CLOSEDLOOP_WEBHOOK_CONCURRENCY": "4",
        CRASH_AFTER_POST: str(crash),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "closedloop.notifiers_cli", "notifiers", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log is not None else subprocess.DEVNULL,
    )


@pytest.mark.postgres
def test_killed_delivery_processes_lose_nothing_and_act_once(
    postgres_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    center = make_center(postgres_url)
    store = ViewStore.for_url(postgres_url)
    key = tmp_path / "webhook.key"
    try:
        load_demo(center)
        setup = Notifiers(
            center, store, keyring=Keyring.from_file(key), config=fast_config(), deliver=False
        )
        setup.prepare()
        subscribe(setup, receiver)
        subscribe(setup, receiver, language="en")
        for n in range(6):
            raise_warning(center, f"warning {n}")
            a_loop(center, f"loop {n}")
        setup.catch_up()
        expected = {d["id"] for d in deliveries(store, limit=10_000)}
        assert len(expected) >= 40

        rng = random.Random(20260601)
        deadline = time.monotonic() + 120
        rounds = 0
        while time.monotonic() < deadline:
            pending = deliveries(store, status="pending", limit=10_000)
            if not pending and rounds >= 4:
                break
            rounds += 1
            # Half the rounds die at the worst moment; the others at a random one.
            worst = rounds % 2 == 1
            proc = start_worker(postgres_url, key, 0.25 if worst else 0.0)
            try:
                proc.wait(timeout=rng.uniform(1.0, 2.5))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        # A last clean run drains what the kills left (leases must run out first).
        proc = start_worker(postgres_url, key, 0.0)
        try:
            end = time.monotonic() + 30
            while time.monotonic() < end and deliveries(store, status="pending", limit=10):
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)

        assert rounds >= 4
        assert all(r.verified for r in receiver.received)
        assert set(receiver.acted) == expected, "a notification was lost"
        records = deliveries(store, limit=10_000)
        assert Counter(d["status"] for d in records) == {"delivered": len(expected)}
        with store.read() as tx:
            ok = tx.execute(
                f"SELECT delivery_id, COUNT(*) FROM {ATTEMPTS} "  # noqa: S608
                "WHERE status_code BETWEEN 200 AND 299 GROUP BY delivery_id"
            )
        assert {d: int(c) for d, c in ok} == dict.fromkeys(expected, 1)
        seen = Counter(r.id for r in receiver.received if r.verified)
        # At least once on the wire; the crashes at the worst moment made some twice.
        assert set(seen) == expected
        print(f"{rounds} kills, {sum(seen.values()) - len(seen)} deliveries seen twice")
    finally:
        store.close()
        center.close()

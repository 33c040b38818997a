"""Crash safety on PostgreSQL: ``closedloop notifiers run`` killed with SIGKILL at random
moments and right after a POST was answered (before its attempt is recorded), restarted
until drained. Every notification reaches the receiver, which acts on each
``webhook-id`` once, and the record shows each delivered once."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from notifiers.delivery import deliveries
from notifiers.outbox import ATTEMPTS
from tests.e2e.processes import start_worker, subscribed_demo
from tests.fakes import Receiver
from tests.integration.notifiers.test_delivery import a_loop, raise_warning


@pytest.mark.postgres
def test_killed_delivery_processes_lose_nothing_and_act_once(
    postgres_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    key = tmp_path / "webhook.key"
    with subscribed_demo(postgres_url, receiver, key, {}, {"language": "en"}) as (
        center,
        store,
        setup,
    ):
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

"""Two ``closedloop notifiers run`` processes at once on one PostgreSQL schema: both follow
the log and both deliver, while commands keep coming. Each notification reaches the
receiver exactly once (it answers 2xx at once, so no attempt is ever retried), in log
order per endpoint and loop, and the record shows one attempt and one delivery each."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from notifiers.delivery import deliveries
from notifiers.outbox import ATTEMPTS
from projections.store import tracking_name
from tests.e2e.processes import start_worker, subscribed_demo
from tests.fakes import Receiver
from tests.integration.notifiers.test_delivery import a_loop, raise_warning

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


def test_two_delivery_processes_never_send_the_same_attempt_twice(
    postgres_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    key = tmp_path / "webhook.key"
    procs: list[subprocess.Popen[bytes]] = []
    with subscribed_demo(
        postgres_url, receiver, key, {}, {"language": "en"}, {"unit": "HW-DH"}
    ) as (center, store, setup):
        try:
            # A backlog both processes find on starting, then more while they run.
            for n in range(5):
                raise_warning(center, f"backlog {n}")
                a_loop(center, f"backlog loop {n}")
            logs_of = [tmp_path / f"worker{n}.log" for n in range(2)]
            procs = [start_worker(postgres_url, key, 0.0, log) for log in logs_of]
            for n in range(10):
                raise_warning(center, f"live {n}")
                a_loop(center, f"live loop {n}")
                time.sleep(0.05)

            head = center.head_position()
            deadline = time.monotonic() + 90
            drained = False
            while time.monotonic() < deadline and not drained:
                reached = store.max_tracking_id(tracking_name(setup.outbox.name)) or 0
                drained = reached >= head and not deliveries(store, status="pending", limit=1)
                time.sleep(0.1)
            assert drained, "the two processes did not drain the outbox"
            assert all(p.poll() is None for p in procs), "a delivery process died"
            assert [stop(p) for p in procs] == [0, 0]
            procs = []

            records = deliveries(store, limit=10_000)
            expected = {d["id"] for d in records}
            assert len(expected) >= 100
            assert Counter(d["status"] for d in records) == {"delivered": len(expected)}
            assert all(r.verified for r in receiver.received), "every delivery verifies"
            # On the wire: every notification once, none twice.
            seen = Counter(r.id for r in receiver.received)
            assert set(seen) == expected, "a notification was lost"
            twice = {i: c for i, c in seen.items() if c > 1}
            assert not twice, f"sent more than once: {twice}"
            # On the record: one attempt per delivery. Which process sends is the
            # followers' leadership since ADR 0089: this one subscription's partition has
            # one leader at a time, so one process may well send all of it (how copies
            # divide several subscriptions is tests/e2e/test_notifier_copies.py's).
            with store.read() as tx:
                attempts = tx.execute(
                    f"SELECT delivery_id, owner, status_code FROM {ATTEMPTS}"  # noqa: S608
                )
            assert Counter(a[0] for a in attempts) == dict.fromkeys(expected, 1)
            assert {a[2] for a in attempts} == {200}
            # In log order per endpoint and loop, as received.
            order: dict[tuple[str, str], list[int]] = {}
            for r in receiver.received:
                data = r.json["data"]
                order.setdefault((data["subscription_id"], data["loop"]["id"]), []).append(
                    data["position"]
                )
            assert all(positions == sorted(positions) for positions in order.values())
            # The processes logged every request, and never a secret.
            logs = "".join(log.read_text() for log in logs_of)
            assert "POST" in logs
            assert not [
                s for s in receiver.secrets if s in logs or s.removeprefix("whsec_") in logs
            ]
        finally:
            for p in procs:
                p.kill()
                p.wait()

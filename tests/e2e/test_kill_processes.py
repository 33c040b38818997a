"""Each process of a PostgreSQL deployment killed with SIGKILL mid-load and restarted:
the API, ``projections run``, ``notifiers run`` and ``watch run``, one after the other,
while eight clients step closed loops through their life over HTTP.

Afterwards nothing acknowledged is lost, the views equal a rebuild (``projections
verify``), the audit chain verifies (``audit verify``), and every webhook reached the
receiver: at least once, and the repeats (the at-least-once allowance) are counted.
The test prints the counts and each kind's seconds to recover.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from closedloop.workers import INTAKE_TRACKING
from notifiers.delivery import deliveries
from projections.registry import view_names
from projections.store import ViewStore, tracking_name
from tests.e2e.fleet import KINDS, Fleet, deployment_env, wait_for
from tests.e2e.load_kill import Load, issue_tokens, summary
from tests.e2e.processes import subscribed_demo
from tests.e2e.server import free_port
from tests.fakes import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 8


def reached(store: ViewStore, kind: str, outbox: str) -> int:
    """How far the followers of ``kind`` have read the log (the API: not a follower)."""
    positions = store.positions()
    if kind == "projections":
        return min(positions.get(tracking_name(n), 0) for n in view_names())
    if kind == "notifiers":
        return positions.get(tracking_name(outbox), 0)
    return store.max_tracking_id(INTAKE_TRACKING) or 0


def test_each_process_killed_mid_load_and_restarted_loses_nothing_and_verifies(
    postgres_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    rng = random.Random(20261206)
    with subscribed_demo(postgres_url, receiver, tmp_path / "webhook.key", {}) as (
        center,
        store,
        setup,
    ):
        outbox = setup.outbox.name
        tokens = issue_tokens(center)
        fleet = Fleet(deployment_env(postgres_url, free_port(), tmp_path), tmp_path)
        load = Load(fleet.base, tokens, CLIENTS)
        recovery: dict[str, float | None] = {}
        try:
            fleet.start_all()
            load.start()
            for kind in KINDS:
                time.sleep(rng.uniform(1.5, 3.0))
                head = center.head_position()
                killed = time.monotonic()
                fleet.kill(kind)
                time.sleep(0.3)
                fleet.start(kind)  # the API: until it answers /health again
                if kind != "api":
                    done = wait_for(lambda k=kind, h=head: reached(store, k, outbox) >= h, 120)
                    if done is None:
                        recovery[kind] = None
                        continue
                recovery[kind] = time.monotonic() - killed
            time.sleep(1.0)
            tally = load.stop()

            def drained() -> bool:
                head = center.head_position()
                followed = all(reached(store, k, outbox) >= head for k in KINDS if k != "api")
                return followed and not deliveries(store, status="pending", limit=1)

            assert wait_for(drained, 90, every=0.3) is not None, "the followers did not drain"
            assert fleet.alive() == dict.fromkeys(KINDS, True), "a process died"
            lost = load.lost()
        finally:
            load.stop()
            codes = fleet.stop_all()
        # uvicorn raises SIGTERM again once it has shut down cleanly (status -15).
        assert codes == {**dict.fromkeys(KINDS, 0), "api": -15}, codes
        assert "Application shutdown complete" in fleet.log("api")
        verified_views = fleet.cli("projections", "verify")
        verified_chain = fleet.cli("audit", "verify")
        records = deliveries(store, limit=1_000_000)

    expected = {d["id"] for d in records}
    seen = Counter(r.id for r in receiver.received if r.verified)
    repeats = sum(seen.values()) - len(seen)
    seconds = ", ".join(
        f"{k} {'never' if v is None else f'{v:.1f} s'}" for k, v in recovery.items()
    )
    print(f"\n{summary(tally)}")
    print(
        f"lost {len(lost)}; webhooks: {len(expected)} notifications, {len(set(seen) & expected)} "
        f"received, {len(expected - set(seen))} never received, {repeats} received twice or "
        f"more (at least once); recovered after SIGKILL: {seconds}"
    )
    assert tally.refused == [], tally.refused[:5]
    assert tally.abandoned == 0
    assert tally.acknowledged > 100
    assert lost == [], lost[:5]
    assert all(v is not None for v in recovery.values()), recovery
    assert verified_views.returncode == 0, verified_views.stderr
    assert "moved on" not in verified_views.stderr
    assert verified_chain.returncode == 0, verified_chain.stderr
    assert Counter(d["status"] for d in records) == {"delivered": len(expected)}
    assert all(r.verified for r in receiver.received)
    assert set(receiver.acted) == expected, "a notification was lost"

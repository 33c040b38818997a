"""Each process of a PostgreSQL deployment killed with SIGKILL mid-load and restarted:
the API, ``projections run``, ``notifiers run`` and ``watch run``, one after the other,
while eight clients step closed loops through their life over HTTP.

Afterwards nothing acknowledged is lost, the views equal a rebuild (``projections
verify``), the audit chain verifies (``audit verify``), and every webhook reached the
receiver: at least once, and the repeats (the at-least-once allowance) are counted.
The test prints the counts and each kind's seconds to recover. On the embedded SQLite
store the one server process, which runs everything, is killed twice the same way.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from closedloop.workers import INTAKE_TRACKING
from notifiers.delivery import deliveries
from projections.registry import view_names
from projections.store import ViewStore, tracking_name
from tests.e2e.fleet import KINDS, Fleet, deployment_env, fleet_port, wait_for
from tests.e2e.load_kill import Load, Tally, issue_tokens, summary
from tests.e2e.processes import subscribed_demo
from tests.fakes import Receiver

pytestmark = pytest.mark.slow

CLIENTS = 8


def reached(store: ViewStore, kind: str, outbox: str) -> int:
    """How far the followers of ``kind`` have read the log (the API: not a follower)."""
    positions = store.positions()
    if kind == "projections":
        return min(positions.get(tracking_name(n), 0) for n in view_names())
    if kind == "notifiers":
        return positions.get(tracking_name(outbox), 0)
    return store.max_tracking_id(INTAKE_TRACKING) or 0


FOLLOWERS = ("projections", "notifiers", "watch")


@dataclass
class Outcome:
    tally: Tally
    lost: list[str]
    recovery: dict[str, float | None]
    codes: dict[str, int | None]
    api_log: str
    verified_views: Any
    verified_chain: Any
    records: list[dict[str, Any]]


def kill_under_load(
    url: str, receiver: Receiver, folder: Path, kills: list[str], *, api_follows: bool
) -> Outcome:
    """Eight clients on a fresh deployment at ``url``; each process kind of ``kills`` in
    turn killed with SIGKILL at a random moment and started again; then drained."""
    rng = random.Random(20261206)
    with subscribed_demo(url, receiver, folder / "webhook.key", {}) as (center, store, setup):
        outbox = setup.outbox.name
        tokens = issue_tokens(center)
        fleet = Fleet(deployment_env(url, fleet_port(), folder), folder, api_follows=api_follows)
        kinds = ["api"] if api_follows else list(KINDS)
        load = Load(fleet.base, tokens, CLIENTS)
        recovery: dict[str, float | None] = {}
        try:
            for kind in kinds:
                fleet.start(kind)
            load.start()
            for n, kind in enumerate(kills):
                time.sleep(rng.uniform(1.5, 3.0))
                head = center.head_position()
                killed = time.monotonic()
                fleet.kill(kind)
                time.sleep(0.3)
                fleet.start(kind)  # the API: until it answers /health again
                # The kinds that follow the log in the process killed.
                following = FOLLOWERS if kind == "api" and api_follows else (kind,)
                done = wait_for(
                    lambda f=following, h=head: all(
                        reached(store, k, outbox) >= h for k in f if k in FOLLOWERS
                    ),
                    120,
                )
                recovery[f"{kind} #{n + 1}"] = None if done is None else time.monotonic() - killed
            time.sleep(1.0)
            tally = load.stop()

            def drained() -> bool:
                head = center.head_position()
                followed = all(reached(store, k, outbox) >= head for k in FOLLOWERS)
                return followed and not deliveries(store, status="pending", limit=1)

            assert wait_for(drained, 90, every=0.3) is not None, "the followers did not drain"
            assert all(fleet.alive().values()), "a process died"
            lost = load.lost()
        finally:
            load.stop()
            codes = fleet.stop_all()
        return Outcome(
            tally,
            lost,
            recovery,
            codes,
            fleet.log("api"),
            fleet.cli("projections", "verify"),
            fleet.cli("audit", "verify"),
            deliveries(store, limit=1_000_000),
        )


def check(outcome: Outcome, receiver: Receiver) -> None:
    """Nothing acknowledged lost, the views and the chain verify, every webhook received
    at least once; the figures printed."""
    tally, records = outcome.tally, outcome.records
    expected = {d["id"] for d in records}
    seen = Counter(r.id for r in receiver.received if r.verified)
    repeats = sum(seen.values()) - len(seen)
    seconds = ", ".join(
        f"{k} {'never' if v is None else f'{v:.1f} s'}" for k, v in outcome.recovery.items()
    )
    print(f"\n{summary(tally)}")
    print(
        f"lost {len(outcome.lost)}; webhooks: {len(expected)} notifications, "
        f"{len(set(seen) & expected)} received, {len(expected - set(seen))} never received, "
        f"{repeats} received twice or more (at least once); recovered after SIGKILL: {seconds}"
    )
    # uvicorn raises SIGTERM again once it has shut down cleanly (status -15).
    assert outcome.codes == {**dict.fromkeys(outcome.codes, 0), "api": -15}, outcome.codes
    assert "Application shutdown complete" in outcome.api_log
    assert tally.refused == [], tally.refused[:5]
    assert tally.abandoned == 0
    assert tally.acknowledged > 100
    assert outcome.lost == [], outcome.lost[:5]
    assert all(v is not None for v in outcome.recovery.values()), outcome.recovery
    views, chain = outcome.verified_views, outcome.verified_chain
    assert views.returncode == 0, views.stderr
    assert "moved on" not in views.stderr
    assert chain.returncode == 0, chain.stderr
    assert Counter(d["status"] for d in records) == {"delivered": len(expected)}
    assert all(r.verified for r in receiver.received)
    assert set(receiver.acted) == expected, "a notification was lost"


@pytest.mark.postgres
def test_each_process_killed_mid_load_and_restarted_loses_nothing_and_verifies(
    postgres_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    outcome = kill_under_load(postgres_url, receiver, tmp_path, list(KINDS), api_follows=False)
    check(outcome, receiver)


def test_the_embedded_server_killed_mid_load_twice_loses_nothing_and_verifies(
    sqlite_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    outcome = kill_under_load(sqlite_url, receiver, tmp_path, ["api", "api"], api_follows=True)
    check(outcome, receiver)

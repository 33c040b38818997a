"""Copies of ``notifiers run`` as real processes on one PostgreSQL schema divide their
work (ADR 0089): the outbox and the partitions of the subscriptions split evenly, each
endpoint sent to by the copy that leads its partition only, a SIGKILLed copy's share
taken by the other within 10 s, every webhook delivered once, ``projections status``
naming who leads what, and a clean stop that leaves nothing behind; and a copy SIGKILLed
with deliveries on their way has them sent by the other within 10 s, not when their lease
runs out (ADR 0101). (Two copies in one process, and a clean stop's hand-over at once:
tests/integration/notifiers/test_notifier_copies.py; the leases of a live or a silent
copy left alone: tests/integration/notifiers/test_lease_takeover.py.)"""

# Table names are module constants.
# ruff: noqa: S608

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from domain.application import CommandCenter
from notifiers.delivery import (
    PARTITION_PIECES,
    deliveries,
    partition_of,
    partitions_led,
)
from notifiers.outbox import ATTEMPTS, DELIVERIES
from projections.store import ViewStore, tracking_name
from tests.e2e.copies import Copies, kill_mid_attempt, wait_for
from tests.e2e.fleet import deployment_env
from tests.e2e.processes import subscribed_demo
from tests.e2e.server import free_port
from tests.fakes import Receiver
from tests.integration.notifiers.test_delivery import a_loop

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PIECES = {"outbox", *PARTITION_PIECES}
#: The goal for a SIGKILLed copy's share to be taken (issue 23); it takes about a beat.
TAKEOVER = 10.0
#: Endpoints enough that both copies' partitions have some (a hash decides).
ENDPOINTS = 16


def drained(center: CommandCenter, store: ViewStore) -> bool:
    """Every event derived and every delivery sent."""
    head = center.head_position()
    derived = store.positions().get(tracking_name("outbox"), 0) >= head
    return derived and not deliveries(store, status="pending", limit=1)


def senders(store: ViewStore) -> dict[str, set[int]]:
    """Per subscription, the pids of the processes that sent to it (a worker's owner is
    ``host:pid:suffix``)."""
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT d.subscription_id, a.owner FROM {DELIVERIES} d "
            f"JOIN {ATTEMPTS} a ON a.delivery_id = d.id"
        )
    found: dict[str, set[int]] = defaultdict(set)
    for sid, owner in rows:
        found[str(sid)].add(int(str(owner).split(":")[1]))
    return found


def test_two_notifier_copies_split_the_endpoints_and_a_killed_ones_share_is_taken(
    postgres_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    subs = [{} for _ in range(ENDPOINTS)]
    with subscribed_demo(postgres_url, receiver, tmp_path / "webhook.key", *subs) as (
        center,
        store,
        _,
    ):
        env = deployment_env(postgres_url, free_port(), tmp_path)
        copies = Copies(postgres_url, tmp_path, role="notifiers", env=env)
        try:
            a, b = copies.start(), copies.start()
            assert wait_for(
                lambda: sorted((len(copies.leads(a)), len(copies.leads(b)))) == [4, 5], 60
            ), copies.live()
            assert copies.leads(a) | copies.leads(b) == PIECES
            parts = {
                a.pid: partitions_led(copies.leads(a)),
                b.pid: partitions_led(copies.leads(b)),
            }
            for n in range(3):
                a_loop(center, f"before {n}")
            assert wait_for(lambda: drained(center, store), 60), copies.live()
            # Each endpoint was sent to by the copy that leads its partition, and only it.
            for sid, pids in senders(store).items():
                (pid,) = pids
                assert partition_of(sid) in parts[pid]

            copies.kill(b)
            took = wait_for(lambda: copies.leads(a) == PIECES, TAKEOVER)
            assert took is not None, copies.live()
            for n in range(3):
                a_loop(center, f"after {n}")
            assert wait_for(lambda: drained(center, store), 60), copies.live()

            sent = deliveries(store, limit=100_000)
            assert {d["status"] for d in sent} == {"delivered"}
            # Nothing was on its way when b was killed: each notification came once.
            assert sorted(r.id for r in receiver.received) == sorted(d["id"] for d in sent)
            (survivor,) = copies.live()
            shown = copies.cli("projections", "status")
            assert shown.returncode == 0, shown.stderr
            leads = ", ".join(sorted(PIECES))
            assert f"copy notifiers\t{survivor['copy']}\tleads {leads}" in shown.stdout
            assert "lost" not in copies.log(a)

            # A clean stop lets go and leaves the table.
            assert copies.stop(a) == 0
            assert copies.live() == []
        finally:
            copies.close()


def test_a_killed_copys_deliveries_on_their_way_are_sent_by_the_other_within_10_s(
    postgres_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    subs = [{} for _ in range(ENDPOINTS)]
    with subscribed_demo(postgres_url, receiver, tmp_path / "webhook.key", *subs) as (
        center,
        store,
        _,
    ):
        env = deployment_env(postgres_url, free_port(), tmp_path)
        # A lease of a minute, and attempts that may last long enough to be killed in:
        # what comes within 10 s was taken over, not left to run out.
        env |= {"CLOSEDLOOP_WEBHOOK_LEASE": "60s", "CLOSEDLOOP_WEBHOOK_TIMEOUT": "10s"}
        copies = Copies(postgres_url, tmp_path, role="notifiers", env=env)
        try:
            a, b = copies.start(), copies.start()
            assert wait_for(
                lambda: sorted((len(copies.leads(a)), len(copies.leads(b)))) == [4, 5], 60
            ), copies.live()
            on_their_way, took = kill_mid_attempt(copies, b, center, store, receiver, TAKEOVER)
            assert on_their_way
            assert took is not None, copies.live()
            assert "takes over" in copies.log(a)
            assert wait_for(lambda: drained(center, store), 60), copies.live()
            # Each taken over was sent twice under its webhook-id (b's cut try, a's), and
            # recorded once, by a: b died before it could record its try.
            times = Counter(r.id for r in receiver.received)
            assert all(times[i] == 2 for i in on_their_way), times
            with store.read() as tx:
                rows = tx.execute(f"SELECT delivery_id, owner FROM {ATTEMPTS}")
            attempts = [(str(d), int(str(o).split(":")[1])) for d, o in rows]
            for i in on_their_way:
                assert [pid for d, pid in attempts if d == i] == [a.pid]
            assert {d["status"] for d in deliveries(store, limit=100_000)} == {"delivered"}
        finally:
            copies.close()

"""Two copies of the notifiers on one PostgreSQL schema divide their work (ADR 0089): the
outbox's derivation is led by one copy, the partitions of the subscriptions are split
evenly, each endpoint is sent to by the one copy that leads its partition, nothing is
sent twice, and a copy that stops cleanly hands its share to the other at once. Each
copy has its own store, connections and :class:`Leadership`, as each process would.
(Copies as real processes, one SIGKILLed: tests/e2e/test_notifier_copies.py.)"""

# Table names are module constants.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import pytest

from domain.application import CommandCenter
from domain.demo import load_demo
from notifiers.delivery import PARTITION_PIECES, deliveries, partition_of, partitions_led
from notifiers.outbox import ATTEMPTS, DELIVERIES
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.leadership import NOTIFIERS, Leadership, copies_of, leaders
from projections.store import ViewStore, tracking_name
from tests.fakes import Receiver, fast_config
from tests.integration.notifiers.test_delivery import a_loop, subscribe

pytestmark = pytest.mark.postgres

PIECES = {"outbox", *PARTITION_PIECES}


def until(check: Callable[[], object], seconds: float = 15.0) -> float | None:
    """Seconds until ``check()`` holds, or None after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


class Copy:
    """One copy of ``notifiers run``: its notifiers and its leadership."""

    def __init__(self, center: CommandCenter, keyring: Keyring) -> None:
        self.store = ViewStore.for_env(center.env)
        self.notifiers = Notifiers(
            center, self.store, keyring=keyring, config=fast_config(concurrency=4)
        )
        self.leadership = Leadership(self.store, NOTIFIERS, self.notifiers.pieces(), beat_every=0.2)
        self.notifiers.share(self.leadership)
        self.stopped = False

    @property
    def owner(self) -> str:
        assert self.notifiers.worker is not None
        return self.notifiers.worker.owner

    def start(self) -> Copy:
        self.notifiers.start()
        self.leadership.start()
        return self

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.leadership.stop()
            self.notifiers.stop()
            self.store.close()


@pytest.fixture
def copies(pg_center: CommandCenter, keyring: Keyring) -> Iterator[Callable[[], Copy]]:
    made: list[Copy] = []

    def make() -> Copy:
        copy = Copy(pg_center, keyring)
        made.append(copy)
        return copy

    yield make
    for copy in made:
        copy.stop()


def derived(store: ViewStore) -> int:
    """How far the outbox has read the log (whichever copy leads it)."""
    return store.positions().get(tracking_name("outbox"), 0)


def owners_by_subscription(store: ViewStore) -> dict[str, set[str]]:
    """Per subscription, the owners of the workers that sent to it."""
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT d.subscription_id, a.owner FROM {DELIVERIES} d "
            f"JOIN {ATTEMPTS} a ON a.delivery_id = d.id"
        )
    found: dict[str, set[str]] = defaultdict(set)
    for sid, owner in rows:
        found[str(sid)].add(str(owner))
    return found


def test_two_copies_divide_the_outbox_and_the_endpoints_and_a_clean_stop_hands_over_at_once(
    pg_center: CommandCenter, copies: Callable[[], Copy], receiver: Receiver
) -> None:
    load_demo(pg_center)
    a, b = copies(), copies()
    a.start()
    b.start()
    # Nine pieces between two copies: five and four, the outbox with one of them.
    assert until(lambda: sorted((len(a.leadership.led), len(b.leadership.led))) == [4, 5]), (
        a.leadership.led,
        b.leadership.led,
    )
    assert a.leadership.led | b.leadership.led == PIECES
    assert not a.leadership.led & b.leadership.led
    parts = {a.owner: partitions_led(a.leadership.led), b.owner: partitions_led(b.leadership.led)}
    # Endpoints until each copy has at least one of them (a hash decides the partition).
    sids: list[str] = []
    while len(sids) < 4 or not all(any(partition_of(s) in p for s in sids) for p in parts.values()):
        sids.append(subscribe(a.notifiers, receiver, concurrency=2))
    for n in range(4):
        a_loop(pg_center, f"loop {n}")
    head = pg_center.head_position()
    assert until(lambda: derived(a.store) >= head, 30)
    expected = len(deliveries(a.store, limit=10_000))
    assert expected >= 4 * 3 * len(sids)  # each loop's events go to every endpoint
    assert until(lambda: len(receiver.acted) >= expected, 30), (
        f"{len(receiver.acted)} of {expected}"
    )
    # The endpoint has each request before its sender records the answer: wait for that.
    assert until(
        lambda: all(d["status"] == "delivered" for d in deliveries(a.store, limit=10_000)), 30
    )
    # Nothing sent twice, and each endpoint by the copy that leads its partition only.
    assert len(receiver.received) == expected
    by = owners_by_subscription(a.store)
    for sid in sids:
        (owner,) = by[sid]
        assert partition_of(sid) in parts[owner]
    assert {o for owners in by.values() for o in owners} == set(parts)
    # What the copies table shows (projections status, /health): who leads what.
    rows = copies_of(a.store, NOTIFIERS)
    assert set(leaders(rows)) == PIECES
    assert sorted(len(c["leads"]) for c in rows) == [4, 5]

    # A clean stop lets go at once: the other copy leads everything within a beat or two.
    a.stop()
    # At once: the next look after its NOTIFY (a loaded machine given some seconds).
    took = until(lambda: b.leadership.led == PIECES, 5.0)
    assert took is not None, b.leadership.led
    a_loop(pg_center, "after the stop")
    head = pg_center.head_position()
    assert until(lambda: derived(b.store) >= head, 30)
    expected = len(deliveries(b.store, limit=10_000))
    assert until(lambda: len(receiver.acted) >= expected, 30)
    assert len(receiver.received) == len(receiver.acted)
    assert [c["pid"] for c in copies_of(b.store, NOTIFIERS)] == [b.leadership.me.pid]


def test_a_copy_that_only_delivers_leaves_the_outbox_to_one_that_derives(
    pg_center: CommandCenter, keyring: Keyring, receiver: Receiver
) -> None:
    load_demo(pg_center)
    stores = [ViewStore.for_env(pg_center.env) for _ in range(2)]
    deliver = Notifiers(pg_center, stores[0], keyring=keyring, config=fast_config(), follow=False)
    derive = Notifiers(pg_center, stores[1], keyring=keyring, config=fast_config(), deliver=False)
    assert set(deliver.pieces()) == set(PARTITION_PIECES)
    assert set(derive.pieces()) == {"outbox"}
    ships = []
    try:
        for n in (deliver, derive):
            lead = Leadership(n.store, NOTIFIERS, n.pieces(), beat_every=0.2)
            n.share(lead)
            n.start()
            ships.append(lead.start())
        assert until(lambda: ships[0].led == set(PARTITION_PIECES) and ships[1].led == {"outbox"})
        subscribe(derive, receiver)
        a_loop(pg_center, "one loop")
        assert until(lambda: derived(derive.store) >= pg_center.head_position(), 30)
        expected = len(deliveries(derive.store, limit=1000))
        assert expected >= 3
        assert until(lambda: len(receiver.acted) >= expected, 30)
    finally:
        for lead in ships:
            lead.stop()
        deliver.stop()
        derive.stop()
        for s in stores:
            s.close()

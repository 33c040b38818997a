"""The new leader of a partition takes over the leases of a copy that is gone, and only of
one that is gone (ADR 0101). A copy is gone when it is registered, its session has
ended and its beat was recent until then: a killed process. Its leased deliveries are
sent again within seconds, not when the lease (a minute here) runs out. A live copy's
leases, and those of a copy that stopped beating while its session lingers (cut off the
network, perhaps still sending), are left to run out. (The same with real processes, one
SIGKILLed mid-attempt: tests/e2e/test_notifier_copies.py.)"""

# Table names are module constants.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from domain.application import CommandCenter
from domain.demo import load_demo
from notifiers.delivery import PARTITION_PIECES, deliveries, lease_owner
from notifiers.outbox import ATTEMPTS, DELIVERIES
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.leadership import COPIES_TABLE, NOTIFIERS, Leadership
from projections.store import ViewStore
from projections.values import iso
from tests.fakes import Receiver, fast_config
from tests.integration.notifiers.test_delivery import a_loop, subscribe
from tests.integration.notifiers.test_notifier_copies import until

pytestmark = pytest.mark.postgres

#: Long enough that a delivery sent within seconds was taken over, not left to run out.
LEASE = 60.0


@dataclass
class Scene:
    """Deliveries leased by another copy of the notifiers, and this copy about to start."""

    center: CommandCenter
    store: ViewStore
    #: The other copy: registered, beating, leading nothing (its leases are the point).
    other: Leadership
    leased: list[str]
    notifiers: Notifiers
    leadership: Leadership

    def start(self) -> None:
        self.notifiers.start()
        self.leadership.start()

    def pending_of_other(self) -> set[str]:
        owner = lease_owner(self.other.me)
        with self.store.read() as tx:
            rows = tx.execute(
                f"SELECT id FROM {DELIVERIES} WHERE status = 'pending' AND lease_owner = ?",
                (owner,),
            )
        return {str(r[0]) for r in rows}

    def attempts(self) -> list[tuple[str, str]]:
        with self.store.read() as tx:
            rows = tx.execute(f"SELECT delivery_id, owner FROM {ATTEMPTS}")
        return [(str(d), str(o)) for d, o in rows]


@pytest.fixture
def scene(pg_center: CommandCenter, keyring: Keyring, receiver: Receiver) -> Iterator[Scene]:
    load_demo(pg_center)
    config = fast_config(lease=LEASE, concurrency=4)
    store = ViewStore.for_env(pg_center.env)
    deriver = Notifiers(pg_center, store, keyring=keyring, config=config, deliver=False)
    deriver.prepare()
    subscribe(deriver, receiver)
    a_loop(pg_center, "on its way when its copy went")
    deriver.catch_up()
    other_store = ViewStore.for_env(pg_center.env)
    other = Leadership(other_store, NOTIFIERS, {}, beat_every=0.2).start()
    assert until(lambda: other.backend_pid != 0)
    # The other copy claimed them all a moment ago: leased for a minute.
    with store.transaction() as tx:
        leased = tx.execute(
            f"UPDATE {DELIVERIES} SET lease_owner = ?, lease_until = ? "
            "WHERE status = 'pending' RETURNING id",
            (lease_owner(other.me), _in(LEASE)),
        )
    own = ViewStore.for_env(pg_center.env)
    notifiers = Notifiers(pg_center, own, keyring=keyring, config=config, follow=False)
    leadership = Leadership(own, NOTIFIERS, notifiers.pieces(), beat_every=0.2)
    notifiers.share(leadership)
    made = Scene(pg_center, store, other, [str(r[0]) for r in leased], notifiers, leadership)
    assert len(made.leased) >= 3
    try:
        yield made
    finally:
        leadership.stop()
        notifiers.stop()
        other.halt()
        other.join(5)
        other.stop()
        own.close()
        other_store.close()
        store.close()


def _in(seconds: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=seconds))


def _silence(other: Leadership) -> None:
    """The other copy stops beating, its session still open (its thread halted, as a
    process frozen or cut off the network: its connection is left as it was)."""
    other.halt()
    other.join(5)


def _end_session(store: ViewStore, backend_pid: int) -> None:
    """The other copy's session ends, as the server ends a killed process's."""
    with store.transaction() as tx:
        tx.execute("SELECT pg_terminate_backend(?)", (backend_pid,))

    def ended() -> bool:
        with store.read() as tx:
            return not tx.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ?", (backend_pid,))

    assert until(ended, 5.0) is not None


def test_the_new_leader_sends_a_gone_copys_leased_deliveries_within_seconds(
    scene: Scene, receiver: Receiver
) -> None:
    _silence(scene.other)
    _end_session(scene.store, scene.other.backend_pid)
    started = time.monotonic()
    scene.start()
    took = until(lambda: len(receiver.acted) >= len(scene.leased) and not scene.pending_of_other())
    assert took is not None, (len(receiver.acted), scene.pending_of_other())
    # Within seconds (a beat, the locks, a claim), not the lease's minute.
    assert time.monotonic() - started < 10
    assert until(
        lambda: all(d["status"] == "delivered" for d in deliveries(scene.store, limit=100))
    )
    # Each sent once, each attempt recorded once, by the new leader.
    assert sorted(r.id for r in receiver.received) == sorted(scene.leased)
    attempts = scene.attempts()
    assert sorted(d for d, _ in attempts) == sorted(scene.leased)
    assert {o for _, o in attempts} == {scene.notifiers.worker.owner}  # type: ignore[union-attr]
    assert [c.copy_id for c in scene.leadership.gone_copies()] == [scene.other.me.copy_id]


def test_a_live_copys_leases_are_not_taken(scene: Scene, receiver: Receiver) -> None:
    scene.start()
    assert until(lambda: scene.leadership.led == set(PARTITION_PIECES))
    time.sleep(2.0)  # ten beats and many claims
    assert receiver.received == []
    assert scene.pending_of_other() == set(scene.leased)
    assert scene.leadership.gone_copies() == ()


def test_a_copy_silent_with_its_session_lingering_keeps_its_leases(
    scene: Scene, receiver: Receiver
) -> None:
    # Its beat stale, its session still there: a machine cut off the network, whose
    # attempts may still be on their way. Not live (it leads nothing), and not gone.
    _silence(scene.other)
    with scene.store.transaction() as tx:
        tx.execute(
            f"UPDATE {COPIES_TABLE} SET heartbeat = now() - interval '20 seconds' "
            "WHERE copy_id = ?",
            (scene.other.me.copy_id,),
        )
    scene.start()
    assert until(lambda: scene.leadership.led == set(PARTITION_PIECES))
    time.sleep(2.0)
    assert receiver.received == []
    assert scene.pending_of_other() == set(scene.leased)
    assert scene.leadership.gone_copies() == ()

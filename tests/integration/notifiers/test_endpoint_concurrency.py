"""One endpoint, several loops: a loop's notifications one after another in log order,
different loops side by side up to the subscription's concurrency, counted by each copy of
the worker for itself (a dead copy holds no room), each notification sent by one worker
only (ADR 0081); on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from domain.application import CommandCenter
from domain.errors import InvalidValue
from domain.subscription import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from notifiers.delivery import deliveries
from notifiers.service import Notifiers
from tests.fakes import Received, Receiver, admin, fast_config
from tests.integration.notifiers.test_delivery import a_loop, subscribe

#: The receiver takes this long over each notification.
SLOW = 0.05


class Slow:
    """A receiver's answer that takes :data:`SLOW` seconds, counting how many of them are
    under way at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, received: Received) -> tuple[int, dict[str, str], float]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(SLOW)
        with self.lock:
            self.now -= 1
        return 200, {}, 0.0


def order_per_loop(receiver: Receiver) -> dict[str, list[int]]:
    """Each loop's positions, in the order the receiver acted on them."""
    seen: dict[str, list[int]] = {}
    for r in receiver.received:
        if receiver.acted.get(r.id) is r:
            data = r.json["data"]
            seen.setdefault(data["loop"]["id"], []).append(data["position"])
    return seen


def run_until_delivered(receiver: Receiver, workers: list[Notifiers], count: int) -> None:
    for n in workers:
        assert n.worker is not None
        n.worker.start()
    assert receiver.wait_for(count, timeout=30), f"{len(receiver.acted)} of {count} arrived"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_loops_go_side_by_side_up_to_the_endpoints_concurrency_each_in_its_order(
    make_notifiers: Callable[..., Notifiers],
    receiver: Receiver,
    demo: CommandCenter,
    concurrency: int,
) -> None:
    slow = Slow()
    receiver.answer = slow
    # The worker has room for more than the endpoint allows.
    notifiers = make_notifiers(fast_config(concurrency=8))
    subscribe(notifiers, receiver, concurrency=concurrency)
    for n in range(6):
        a_loop(demo, f"loop {n}")
    notifiers.catch_up()
    expected = deliveries(notifiers.store, limit=1000)
    assert len(expected) >= 18

    run_until_delivered(receiver, [notifiers], len(expected))

    assert slow.peak <= concurrency
    if concurrency > 1:
        assert slow.peak > 1  # six loops were due at once: more than one went at a time
    seen = order_per_loop(receiver)
    assert len(seen) == 6
    assert all(positions == sorted(positions) for positions in seen.values())
    # Every notification sent once: no lease was lost, nothing sent twice.
    assert len(receiver.received) == len(expected)


def test_two_workers_each_keep_within_the_endpoints_concurrency_and_never_send_twice(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    slow = Slow()
    receiver.answer = slow
    first = make_notifiers(fast_config(concurrency=8))
    second = make_notifiers(fast_config(concurrency=8))
    subscribe(first, receiver, concurrency=2)
    for n in range(6):
        a_loop(demo, f"loop {n}")
    first.catch_up()
    second.catch_up()
    expected = deliveries(first.store, limit=1000)

    run_until_delivered(receiver, [first, second], len(expected))

    # Each copy counts its own: together at most twice the endpoint's concurrency.
    assert slow.peak <= 2 * 2
    assert len(receiver.received) == len(expected)
    assert sorted(r.id for r in receiver.received) == sorted(d["id"] for d in expected)
    assert all(p == sorted(p) for p in order_per_loop(receiver).values())


def test_a_change_of_concurrency_takes_effect_at_the_next_claim(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    slow = Slow()
    receiver.answer = slow
    notifiers = make_notifiers(fast_config(concurrency=8))
    sid = subscribe(notifiers, receiver, concurrency=4)
    notifiers.catch_up()
    [row] = notifiers.book.listed()
    assert row["concurrency"] == 4
    notifiers.book.update(admin("HW"), UUID(sid), {"concurrency": 1})
    for n in range(4):
        a_loop(demo, f"loop {n}")
    notifiers.catch_up()
    assert notifiers.book.listed()[0]["concurrency"] == 1
    expected = deliveries(notifiers.store, limit=1000)

    run_until_delivered(receiver, [notifiers], len(expected))

    assert slow.peak == 1


@pytest.mark.parametrize("bad", [0, -1, MAX_CONCURRENCY + 1, True, "4", 2.5])
def test_a_concurrency_outside_its_bounds_is_refused_and_nothing_is_stored(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, bad: Any
) -> None:
    notifiers = make_notifiers()
    head = notifiers.center.head_position()
    with pytest.raises(InvalidValue, match="concurrency"):
        subscribe(notifiers, receiver, concurrency=bad)
    sid = subscribe(notifiers, receiver)
    after = notifiers.center.head_position()
    assert after > head
    with pytest.raises(InvalidValue, match="concurrency"):
        notifiers.book.update(admin("HW"), UUID(sid), {"concurrency": bad})
    assert notifiers.center.head_position() == after
    notifiers.catch_up()
    assert [s["concurrency"] for s in notifiers.book.listed()] == [DEFAULT_CONCURRENCY]


def test_a_worker_dead_mid_attempt_holds_no_room_only_its_loops_until_its_lease_ends(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    # A lease just longer than an attempt may last (three times the timeout).
    config = fast_config(concurrency=8, timeout=0.2, connect_timeout=0.2, lease=0.8)
    dead = make_notifiers(config)
    alive = make_notifiers(config)
    subscribe(dead, receiver, concurrency=2)
    for n in range(3):
        a_loop(demo, f"loop {n}")
    dead.catch_up()
    expected = deliveries(dead.store, limit=1000)
    assert dead.worker is not None
    assert alive.worker is not None

    # The first worker takes two notifications (its room: the endpoint's concurrency),
    # sends them, and dies before recording.
    taken = dead.worker.claim(8)
    assert len(taken) == 2
    for item in taken:
        assert dead.worker.send(item).ok
    # Its leases do not fill the endpoint for anyone else: the third loop goes at once;
    # the two loops it held wait for their leases to end, in their order.
    [third] = alive.worker.claim(8)
    assert third.id not in {t.id for t in taken}
    assert alive.worker.deliver(third).ok
    time.sleep(0.9)

    run_until_delivered(receiver, [alive], len(expected))
    alive.worker.stop()

    # The two are sent again under the same webhook-id: the receiver acts once on each.
    assert len(receiver.acted) == len(expected)
    assert len(receiver.received) == len(expected) + 2
    again = [r.id for r in receiver.received[2:] if r.id in {t.id for t in taken}]
    assert sorted(again) == sorted(t.id for t in taken)
    assert all(p == sorted(p) for p in order_per_loop(receiver).values())
    assert all(d["status"] == "delivered" for d in deliveries(alive.store, limit=1000))

"""Deliveries to a real receiver on 127.0.0.1, verified with ``standardwebhooks``:
signatures, order per loop, retries, Retry-After, timeouts, 410, dead letters,
redelivery, rotation; on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.application import CommandCenter
from domain.meta import Actor, Context, now
from notifiers.delivery import deliveries, redeliver
from notifiers.service import Notifiers
from tests.fakes import Received, Receiver, admin, fast_config

DUTY = Actor(person="duty", unit="HW", role="duty_officer")
MONITOR = Actor(person="monitor", unit="HW", role="monitor")
DISPATCHER = Actor(person="dispatcher", unit="HW", role="dispatcher")
HANDLER = Actor(person="handler", unit="HW-DH", role="handler")


def raise_warning(center: CommandCenter, title: str = "暴雨红色预警", level: int = 1) -> UUID:
    outcome = center.raise_warning(
        Context(actor=MONITOR),
        source="met",
        rule="rainstorm",
        theme="meteorological",
        level=level,
        title=title,
        unit="HW",
        dedup_key=title,
    )
    return outcome.id


def a_loop(center: CommandCenter, title: str) -> UUID:
    """An instruction from the district to an office, signed for and reported on."""
    iid = center.issue_instruction(
        Context(actor=DISPATCHER),
        lead_unit="HW-DH",
        title=title,
        deadline=now() + timedelta(days=3),
    ).id
    center.sign_for(Context(actor=HANDLER), iid)
    center.report_progress(Context(actor=HANDLER), iid, "on our way")
    return iid


def subscribe(notifiers: Notifiers, receiver: Receiver, unit: str = "HW", **fields: Any) -> str:
    args: dict[str, Any] = {
        "url": receiver.url,
        "event_types": [],
        "themes": [],
        "min_level": None,
        "units": [],
        "subtrees": [],
        "addressed_only": False,
        "language": "zh",
        "template": None,
        "description": "test",
        "active": True,
    }
    args.update(fields)
    done = notifiers.book.register(admin(unit), unit=unit, **args)
    assert done.secret is not None
    receiver.secrets.append(done.secret)
    return str(done.id)


def settle(notifiers: Notifiers, receiver: Receiver, count: int, timeout: float = 20) -> None:
    notifiers.catch_up()
    assert notifiers.worker is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (
        len(receiver.acted) < count or deliveries(notifiers.store, status="pending")
    ):
        notifiers.worker.drain(timeout=1)
        time.sleep(0.02)
    assert len(receiver.acted) >= count, f"{len(receiver.acted)} of {count} arrived"


def test_every_delivery_verifies_with_the_reference_library(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers()
    subscribe(notifiers, receiver)
    raise_warning(demo)
    a_loop(demo, "清理下水道")
    notifiers.catch_up()
    expected = deliveries(notifiers.store)
    assert len(expected) >= 4
    settle(notifiers, receiver, len(expected))
    assert all(r.verified for r in receiver.received), [r.error for r in receiver.received]
    types = [r.json["type"] for r in receiver.received]
    assert "warning.raised" in types
    assert "instruction.signed_for" in types
    raised = next(r.json for r in receiver.received if r.json["type"] == "warning.raised")
    assert raised["data"]["aggregate"]["summary"]["title"] == "暴雨红色预警"
    assert raised["data"]["actor"]["unit"] == "HW"
    assert raised["data"]["links"]["self"].startswith("http://api.example/v1/warnings/")
    assert "暴雨红色预警" in raised["data"]["text"]
    assert all(d["status"] == "delivered" for d in deliveries(notifiers.store))


def test_a_tampered_body_or_an_old_timestamp_fails_at_the_receiver(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers()
    subscribe(notifiers, receiver)
    raise_warning(demo)
    settle(notifiers, receiver, 1)
    good = receiver.received[0]
    headers = {
        "webhook-id": good.id,
        "webhook-timestamp": good.timestamp,
        "webhook-signature": good.signature,
    }
    Webhook(receiver.secrets[0]).verify(good.body, headers)
    tampered = good.body.replace("暴雨".encode(), "大雨".encode())
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secrets[0]).verify(tampered, headers)
    old = {**headers, "webhook-timestamp": str(int(good.timestamp) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secrets[0]).verify(good.body, old)


def test_receiver_down_then_up_everything_arrives_in_order_per_loop(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers(fast_config(schedule=(0.05,) * 30))
    subscribe(notifiers, receiver)
    down = {"on": True}
    receiver.answer = lambda r: (503, {}, 0.0) if down["on"] else (200, {}, 0.0)
    loops = [a_loop(demo, f"loop {n}") for n in range(4)]
    notifiers.catch_up()
    expected = {d["id"]: d for d in deliveries(notifiers.store, limit=1000)}
    assert notifiers.worker is not None
    notifiers.worker.start()
    time.sleep(0.5)
    assert not receiver.acted
    down["on"] = False
    assert receiver.wait_for(len(expected))
    assert set(receiver.acted) == set(expected)
    # Per loop, the first successful delivery of each id comes in log order.
    firsts = [r for r in receiver.received if r.verified and r.id in expected]
    seen: dict[str, list[int]] = {}
    done: set[str] = set()
    for r in firsts:
        if r.id in done:
            continue
        if receiver.acted[r.id] is r:
            done.add(r.id)
            seen.setdefault(r.json["data"]["loop"]["id"], []).append(r.json["data"]["position"])
    assert len(seen) == len(loops)
    assert all(positions == sorted(positions) for positions in seen.values())


@pytest.mark.parametrize("busy", [429, 503])
def test_a_429_or_503_with_retry_after_waits_as_long_as_asked(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter, busy: int
) -> None:
    notifiers = make_notifiers()
    subscribe(notifiers, receiver)
    answers = iter([(busy, {"Retry-After": "1"}, 0.0)])
    receiver.answer = lambda r: next(answers, (200, {}, 0.0))
    raise_warning(demo)
    notifiers.catch_up()
    assert notifiers.worker is not None
    notifiers.worker.drain()
    first = receiver.received[0]
    notifiers.worker.drain()
    assert not receiver.acted, "retried before Retry-After"
    time.sleep(1.1)
    settle(notifiers, receiver, 1)
    assert receiver.acted[first.id].id == first.id
    [record] = deliveries(notifiers.store, attempts=True)
    assert [a["status_code"] for a in record["attempts"]] == [busy, 200]


def test_a_slow_receiver_times_out_and_is_tried_again(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers(fast_config(timeout=0.3))
    subscribe(notifiers, receiver)
    slow: Iterator[tuple[int, dict[str, str], float]] = iter([(200, {}, 1.0)])
    receiver.answer = lambda r: next(slow, (200, {}, 0.0))
    raise_warning(demo)
    settle(notifiers, receiver, 1)
    [record] = deliveries(notifiers.store, attempts=True)
    assert record["status"] == "delivered"
    assert "Timeout" in (record["attempts"][0]["error"] or "")
    assert record["attempts"][-1]["status_code"] == 200


def test_a_410_disables_the_endpoint_on_the_record(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers()
    sid = subscribe(notifiers, receiver)
    receiver.answer = lambda r: (410, {}, 0.0)
    raise_warning(demo)
    notifiers.catch_up()
    assert notifiers.worker is not None
    notifiers.worker.drain()
    assert not notifiers.book.get(UUID(sid)).active
    history = demo.history(UUID(sid))
    assert type(history[-1]).__name__ == "Disabled"
    assert "410" in history[-1].reason
    raise_warning(demo, "again")
    notifiers.catch_up()
    notifiers.worker.drain()
    assert len(receiver.received) == 1, "a disabled endpoint is not called"


def test_persistent_failure_dead_letters_then_disables_and_tells_the_unit(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers(fast_config(disable_after_dead=2))
    failing = subscribe(notifiers, receiver)
    watcher = Receiver()
    from tests.fakes import serve

    server = serve(watcher)
    try:
        subscribe(notifiers, watcher, event_types=["subscription.disabled"])
        receiver.answer = lambda r: (500, {}, 0.0)
        raise_warning(demo, "one")
        raise_warning(demo, "two")
        notifiers.catch_up()
        assert notifiers.worker is not None
        deadline = time.monotonic() + 10
        while notifiers.book.get(UUID(failing)).active and time.monotonic() < deadline:
            notifiers.worker.drain(timeout=1)
            time.sleep(0.05)
        dead = deliveries(notifiers.store, subscription_ids=[failing], attempts=True)
        assert {d["status"] for d in dead} == {"dead"}
        assert all(len(d["attempts"]) == 4 for d in dead)  # the first try and 3 retries
        assert not notifiers.book.get(UUID(failing)).active
        settle(notifiers, watcher, 1)
        [told] = list(watcher.acted.values())
        assert told.json["type"] == "subscription.disabled"
        assert told.json["data"]["aggregate"]["id"] == failing
    finally:
        server.shutdown()
        server.server_close()


def test_a_dead_letter_is_redelivered_by_hand_under_the_same_id(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers(fast_config(schedule=(0.01,)))
    subscribe(notifiers, receiver)
    receiver.answer = lambda r: (500, {}, 0.0)
    raise_warning(demo)
    notifiers.catch_up()
    assert notifiers.worker is not None
    for _ in range(20):
        notifiers.worker.drain()
        time.sleep(0.02)
    [record] = deliveries(notifiers.store)
    assert record["status"] == "dead"
    receiver.answer = lambda r: (200, {}, 0.0)
    assert redeliver(notifiers.store, record["id"])
    notifiers.worker.drain()
    assert list(receiver.acted) == [record["id"]]
    assert deliveries(notifiers.store)[0]["status"] == "delivered"


def test_during_a_rotation_both_secrets_verify(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers()
    sid = subscribe(notifiers, receiver)
    old = receiver.secrets[0]
    done = notifiers.book.rotate(admin(), UUID(sid))
    assert done.secret is not None
    assert done.secret != old
    raise_warning(demo)
    settle(notifiers, receiver, 1)
    item: Received = next(iter(receiver.acted.values()))
    headers = {
        "webhook-id": item.id,
        "webhook-timestamp": item.timestamp,
        "webhook-signature": item.signature,
    }
    assert len(item.signature.split(" ")) == 2
    Webhook(old).verify(item.body, headers)
    Webhook(done.secret).verify(item.body, headers)


def test_filters_choose_who_hears_what(
    make_notifiers: Callable[..., Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    notifiers = make_notifiers()
    red_only = subscribe(notifiers, receiver, min_level=1, event_types=["warning.raised"])
    office = subscribe(notifiers, receiver, unit="HW-DH", addressed_only=True)
    other_office = subscribe(notifiers, receiver, unit="HW-XL")
    raise_warning(demo, "blue", level=4)
    raise_warning(demo, "red", level=1)
    a_loop(demo, "for the office")
    notifiers.catch_up()

    def types(sid: str) -> list[str]:
        rows = deliveries(notifiers.store, subscription_ids=[sid], limit=1000)
        return sorted(d["event_type"] for d in rows)

    assert types(red_only) == ["warning.raised"]
    # The office hears what the district addressed to it, not its own acts.
    assert types(office) == ["instruction.issued"]
    assert types(other_office) == []

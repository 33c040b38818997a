"""``/v1/subscriptions`` and ``/v1/deliveries`` through the test client, on SQLite and
PostgreSQL, with the outbox follower and the worker running beside the API."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.service import ReadModels
from projections.store import ViewStore
from tests.fakes import Receiver, fast_config

PEOPLE = {
    "admin_hw": ("HW", ["admin"]),
    "admin_dh": ("HW-DH", ["admin"]),
    "admin_xl": ("HW-XL", ["admin"]),
    "monitor": ("HW", ["monitor"]),
}


@pytest.fixture
def api(demo: CommandCenter, keyring: Keyring) -> Iterator[tuple[TestClient[Any], Notifiers]]:
    book = TokenBook(demo)
    tokens = {
        name: book.issue(user=name, unit=unit, roles=roles).secret
        for name, (unit, roles) in PEOPLE.items()
    }
    store = ViewStore.for_env(demo.env)
    notifiers = Notifiers(demo, store, keyring=keyring, config=fast_config())
    app = create_app(
        demo,
        reads=build_read_models(demo),
        on_startup=[lambda: notifiers.start()],
        on_shutdown=[lambda: notifiers.stop()],
    )
    app.state["webhooks"] = notifiers

    def fresh(request: httpx.Request) -> None:
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(demo.head_position())

    with TestClient(app) as client:
        client.event_hooks["request"] = [fresh]
        client.headers["Authorization"] = f"Bearer {tokens['admin_hw']}"
        client.app.state["tokens"] = tokens
        yield client, notifiers
    store.close()


def as_(client: TestClient[Any], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app.state['tokens'][name]}"}


def test_a_subscription_is_created_with_its_secret_shown_once(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver
) -> None:
    client, _ = api
    r = client.post("/v1/subscriptions", json={"url": receiver.url, "event_types": []})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_")
    assert created["unit"] == "HW"
    assert created["active"]
    shown = client.get(f"/v1/subscriptions/{created['id']}")
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert created["secret"] not in shown.text
    listed = client.get("/v1/subscriptions").json()
    assert [s["id"] for s in listed] == [created["id"]]
    assert created["secret"] not in str(listed)


def test_an_admin_manages_only_its_own_subtree(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver
) -> None:
    client, _ = api
    sid = client.post("/v1/subscriptions", json={"url": receiver.url, "unit": "HW-DH"}).json()["id"]
    assert (
        client.get(f"/v1/subscriptions/{sid}", headers=as_(client, "admin_dh")).status_code == 200
    )
    assert (
        client.get(f"/v1/subscriptions/{sid}", headers=as_(client, "admin_xl")).status_code == 404
    )
    assert client.get("/v1/subscriptions", headers=as_(client, "admin_xl")).json() == []
    r = client.post(
        "/v1/subscriptions",
        json={"url": receiver.url, "unit": "HW"},
        headers=as_(client, "admin_dh"),
    )
    assert r.status_code == 403
    assert "subscribes only for units under it" in r.json()["detail"]
    r = client.post("/v1/subscriptions", json={"url": receiver.url}, headers=as_(client, "monitor"))
    assert r.status_code == 403


def test_update_rotate_disable_enable_delete_are_events_on_the_record(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    client, _ = api
    created = client.post("/v1/subscriptions", json={"url": receiver.url}).json()
    sid = created["id"]
    r = client.patch(f"/v1/subscriptions/{sid}", json={"language": "en", "min_level": 2})
    assert r.status_code == 200
    assert r.json()["language"] == "en"
    rotated = client.post(f"/v1/subscriptions/{sid}/rotate").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_secret_until"] is not None
    assert (
        client.post(f"/v1/subscriptions/{sid}/disable", json={"reason": "maintenance"}).json()[
            "active"
        ]
        is False
    )
    assert client.post(f"/v1/subscriptions/{sid}/enable").json()["active"] is True
    assert client.delete(f"/v1/subscriptions/{sid}").status_code == 204
    assert client.get(f"/v1/subscriptions/{sid}").status_code == 404
    from uuid import UUID

    names = [type(e).__name__ for e in demo.history(UUID(sid))]
    assert names == ["Registered", "Updated", "SecretRotated", "Disabled", "Enabled", "Deleted"]
    for e in demo.history(UUID(sid)):
        assert created["secret"] not in str(vars(e))
        assert rotated["secret"] not in str(vars(e))


#: A private-range address the test names and must never reach (ADR 0014's guard).
PRIVATE = "10.1.2.3"


def test_a_private_target_is_refused_unless_its_network_is_allowed(
    api: tuple[TestClient[Any], Notifiers], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, notifiers = api
    allowed = notifiers.config
    object.__setattr__(notifiers, "config", fast_config(allowed_networks=()))
    reached: list[object] = []

    lookup, connect = socket.getaddrinfo, socket.create_connection

    def guarded(real: Any) -> Any:
        def call(address: Any, *args: Any, **kwargs: Any) -> Any:
            host = address[0] if isinstance(address, tuple) else address
            if host == PRIVATE:
                reached.append(host)
                raise OSError(f"the test reached for {host}; a private target never is")
            return real(address, *args, **kwargs)

        return call

    # The test's own promise (traffic to loopback only), checked rather than trusted: the
    # refusal must come from the literal address, before any name lookup or socket.
    monkeypatch.setattr(socket, "getaddrinfo", guarded(lookup))
    monkeypatch.setattr(socket, "create_connection", guarded(connect))
    try:
        r = client.post("/v1/subscriptions", json={"url": f"http://{PRIVATE}/hook"})
        assert r.status_code == 422
        assert "private" in r.text
    finally:
        object.__setattr__(notifiers, "config", allowed)
        monkeypatch.undo()
    assert reached == []
    listed = client.get("/v1/subscriptions").json()
    assert PRIVATE not in str(listed)
    r = client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 201


def test_deliveries_are_listed_and_a_dead_letter_is_redelivered(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    client, _notifiers = api
    created = client.post("/v1/subscriptions", json={"url": receiver.url}).json()
    receiver.secrets.append(created["secret"])
    receiver.answer = lambda r: (500, {}, 0.0)
    from tests.integration.notifiers.test_delivery import raise_warning

    raise_warning(demo)
    deadline = time.monotonic() + 15
    dead: list[Any] = []
    while time.monotonic() < deadline and not dead:
        dead = client.get("/v1/deliveries", params={"status": "dead"}).json()
        time.sleep(0.1)
    assert dead, "the delivery never died"
    assert len(dead[0]["attempts"]) == 4
    receiver.answer = lambda r: (200, {}, 0.0)
    r = client.post(f"/v1/deliveries/{dead[0]['id']}/redeliver")
    assert r.status_code == 202
    assert receiver.wait_for(1, timeout=10)
    assert list(receiver.acted) == [dead[0]["id"]]
    other = client.post(
        f"/v1/deliveries/{dead[0]['id']}/redeliver", headers=as_(client, "admin_xl")
    )
    assert other.status_code == 404


def test_metrics_show_an_endpoint_failing_then_disabled_for_the_operators_to_alert_on(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    """The unit's only endpoint is down: the department hears nothing, so whoever
    watches the center's metrics must (fast_config disables after 3 dead in a row)."""
    from tests.integration.notifiers.test_delivery import raise_warning

    client, _ = api
    created = client.post("/v1/subscriptions", json={"url": receiver.url}).json()

    def metrics_once(*lines: str) -> str:
        """/metrics as soon as it shows ``lines`` (the outbox follows the log)."""
        deadline = time.monotonic() + 20
        while True:
            text = client.get("/metrics").text
            if all(line in text for line in lines) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    active = 'closedloop_webhook_subscriptions{state="active"} 1'
    healthy = metrics_once(active)
    assert active in healthy
    assert "closedloop_webhook_failing_endpoints 0" in healthy

    receiver.answer = lambda r: (500, {}, 0.0)
    raise_warning(demo, "storm 0")
    failing = metrics_once("closedloop_webhook_failing_endpoints 1")
    assert "closedloop_webhook_failing_endpoints 1" in failing
    for n in (1, 2, 3):
        raise_warning(demo, f"storm {n}")
    disabled = 'closedloop_webhook_subscriptions{state="disabled"} 1'
    metrics = metrics_once(disabled, "closedloop_webhook_pending 0")

    assert disabled in metrics
    assert 'closedloop_webhook_subscriptions{state="active"} 0' in metrics
    # What waits for a disabled endpoint is not a backlog: no alert that never clears.
    assert "closedloop_webhook_pending 0" in metrics
    assert "closedloop_webhook_oldest_pending_age_seconds 0.0\n" in metrics
    assert created["id"] not in metrics  # /metrics answers anyone: counts, no names


def test_metrics_answer_before_any_notifier_made_its_tables(demo: CommandCenter) -> None:
    """With the notifiers in processes of their own, the API may be scraped first."""
    reads = ReadModels.beside(demo, run=False)
    with TestClient(create_app(demo, reads=reads)) as client:
        r = client.get("/metrics")
    assert r.status_code == 200
    assert "closedloop_webhook_pending 0" in r.text
    assert "closedloop_log_head " in r.text


def test_deliveries_are_filtered_by_subscription_status_and_time(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver, demo: CommandCenter
) -> None:
    from tests.integration.notifiers.test_delivery import raise_warning

    client, _ = api
    first = client.post("/v1/subscriptions", json={"url": receiver.url}).json()
    second = client.post(
        "/v1/subscriptions", json={"url": receiver.url, "event_types": ["warning.raised"]}
    ).json()
    receiver.secrets += [first["secret"], second["secret"]]
    raise_warning(demo, "before")
    assert receiver.wait_for(2, timeout=10)
    between = datetime.now(UTC)
    time.sleep(0.01)
    receiver.answer = lambda r: (500, {}, 0.0)
    raise_warning(demo, "after")
    deadline = time.monotonic() + 15
    dead: list[Any] = []
    while time.monotonic() < deadline and len(dead) < 2:
        dead = client.get("/v1/deliveries", params={"status": "dead"}).json()
        time.sleep(0.1)

    def ids(**params: Any) -> set[str]:
        r = client.get("/v1/deliveries", params=params)
        assert r.status_code == 200, r.text
        return {d["id"] for d in r.json()}

    everything = ids()
    assert len(everything) == 4
    mine = ids(subscription=second["id"])
    assert len(mine) == 2
    assert mine < everything
    assert ids(subscription=second["id"], status="dead") == mine & {d["id"] for d in dead}
    assert len(ids(status="delivered")) == 2
    assert ids(since=between.isoformat()) == {d["id"] for d in dead}
    assert ids(until=between.isoformat()) == everything - {d["id"] for d in dead}
    assert client.get("/v1/deliveries", params={"status": "lost"}).status_code == 422


def test_a_repeated_creation_does_not_show_the_secret_again(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver
) -> None:
    client, _ = api
    headers = {"Idempotency-Key": "create-once"}
    first = client.post("/v1/subscriptions", json={"url": receiver.url}, headers=headers)
    again = client.post("/v1/subscriptions", json={"url": receiver.url}, headers=headers)
    assert first.status_code == 201
    assert first.json()["secret"].startswith("whsec_")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["secret"] is None
    assert first.json()["secret"] not in again.text


@pytest.mark.parametrize("bad", [0, -3, 33, 1000, "many", 2.5, True, None])
def test_an_endpoints_concurrency_outside_1_to_32_is_refused_as_a_problem(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver, bad: Any
) -> None:
    client, notifiers = api
    head = notifiers.center.head_position()
    r = client.post("/v1/subscriptions", json={"url": receiver.url, "concurrency": bad})
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "concurrency" in r.text
    assert notifiers.center.head_position() == head
    created = client.post("/v1/subscriptions", json={"url": receiver.url}).json()
    after = notifiers.center.head_position()
    r = client.patch(f"/v1/subscriptions/{created['id']}", json={"concurrency": bad})
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert notifiers.center.head_position() == after


def test_an_endpoints_concurrency_has_a_default_is_shown_and_changes(
    api: tuple[TestClient[Any], Notifiers], receiver: Receiver
) -> None:
    client, _ = api
    created = client.post("/v1/subscriptions", json={"url": receiver.url}).json()
    assert created["concurrency"] == 4
    sid = created["id"]
    r = client.patch(f"/v1/subscriptions/{sid}", json={"concurrency": 32})
    assert r.status_code == 200, r.text
    assert r.json()["concurrency"] == 32
    assert client.get(f"/v1/subscriptions/{sid}").json()["concurrency"] == 32
    r = client.get("/v1/subscriptions", headers={"X-Min-Position": str(r.json()["position"])})
    assert [s["concurrency"] for s in r.json() if s["id"] == sid] == [32]
    other = client.post("/v1/subscriptions", json={"url": receiver.url, "concurrency": 1})
    assert other.status_code == 201, other.text
    assert other.json()["concurrency"] == 1

"""``/admin/webhooks`` over the test client, with the outbox follower and the delivery
worker running beside the pages: a subscription's state, its deliveries, the switch and
the redeliver button, each within the admin's subtree only (issue 20, ADR 0058)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from projections.store import ViewStore
from tests.api.screens.conftest import Desk
from tests.fakes import Receiver, fast_config
from tests.integration.notifiers.test_delivery import raise_warning

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


@pytest.fixture
def served(demo: CommandCenter, keyring: Keyring) -> Iterator[TestClient[Any]]:
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
        yield client
    store.close()


def signed_in(client: TestClient[Any], center: CommandCenter, unit: str) -> tuple[Desk, str]:
    secret = TokenBook(center).issue(user=f"admin-{unit}", unit=unit, roles=["admin"]).secret
    desk = Desk(client)
    assert desk.sign_in(token=secret).status_code == 303
    return desk, secret


@contextmanager
def another_browser(client: TestClient[Any], center: CommandCenter, unit: str) -> Iterator[Desk]:
    """An admin of ``unit`` at another browser (the client's cookies set aside meanwhile)."""
    kept = httpx.Cookies(client.cookies)
    client.cookies.clear()
    try:
        yield signed_in(client, center, unit)[0]
    finally:
        client.cookies.clear()
        client.cookies.update(kept)


def wait_for(read: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("it never happened")


def test_an_admin_sees_its_subscriptions_deliveries_and_sends_a_dead_one_again(
    served: TestClient[Any], demo: CommandCenter, receiver: Receiver
) -> None:
    desk, secret = signed_in(served, demo, "HW")
    created = served.post(
        "/v1/subscriptions",
        json={"url": receiver.url, "description": XSS},
        headers={"Authorization": f"Bearer {secret}"},
    ).json()
    sid = created["id"]
    receiver.secrets.append(created["secret"])
    receiver.answer = lambda r: (500, {}, 0.0)
    raise_warning(demo)
    page = f"/admin/webhooks/{sid}"
    wait_for(lambda: 'action="/admin/deliveries/' in desk.get(page).text)
    listed = desk.get("/admin/webhooks").text
    assert f'href="/admin/webhooks/{sid}"' in listed
    assert XSS not in listed
    assert "&lt;script&gt;" in listed
    html = desk.get(page).text
    assert "已放弃" in html  # given up after its attempts
    assert created["secret"] not in html
    assert created["secret"] not in listed
    delivery_id = html.split('action="/admin/deliveries/', 1)[1].split("/", 1)[0]

    with another_browser(served, demo, "HW-XL") as other:
        assert f"/admin/webhooks/{sid}" not in other.get("/admin/webhooks").text
        assert other.get(page).status_code == 404
        refused = other.post(f"/admin/deliveries/{delivery_id}/redeliver", {"command_id": "x"})
        assert refused.status_code == 404

    receiver.answer = lambda r: (200, {}, 0.0)
    again = desk.post(f"/admin/deliveries/{delivery_id}/redeliver", {"command_id": "r1"})
    assert again.status_code == 303
    assert again.headers["location"] == page
    assert receiver.wait_for(1, timeout=10)
    wait_for(lambda: "已送达" in desk.get(page).text)


def test_an_admin_disables_a_subscription_saying_why_and_enables_it_again(
    served: TestClient[Any], demo: CommandCenter, receiver: Receiver
) -> None:
    desk, secret = signed_in(served, demo, "HW")
    created = served.post(
        "/v1/subscriptions",
        json={"url": receiver.url},
        headers={"Authorization": f"Bearer {secret}"},
    ).json()
    page = f"/admin/webhooks/{created['id']}"
    head = demo.head_position()
    no_reason = desk.post(f"{page}/disable", {"command_id": "d0"})
    assert no_reason.status_code == 422
    assert 'id="reason-error"' in no_reason.text
    assert demo.head_position() == head
    assert served.post(f"{page}/disable", data={"reason": "维护"}).status_code == 403
    assert demo.head_position() == head
    done = desk.post(f"{page}/disable", {"reason": "对方系统维护", "command_id": "d1"})
    assert done.status_code == 303
    html = desk.get(page).text
    assert "对方系统维护" in html
    assert f'action="{page}/enable"' in html
    assert f'action="{page}/disable"' not in html
    with another_browser(served, demo, "HW-XL") as other:
        assert other.post(f"{page}/enable", {"command_id": "e0"}).status_code == 404
    assert desk.post(f"{page}/enable", {"command_id": "e1"}).status_code == 303
    assert f'action="{page}/disable"' in desk.get(page).text


def test_a_subscriptions_page_shows_its_endpoints_concurrency(
    served: TestClient[Any], demo: CommandCenter, receiver: Receiver
) -> None:
    desk, secret = signed_in(served, demo, "HW")
    created = served.post(
        "/v1/subscriptions",
        json={"url": receiver.url, "concurrency": 7},
        headers={"Authorization": f"Bearer {secret}"},
    ).json()
    html = desk.get(f"/admin/webhooks/{created['id']}").text
    row = html.split("并行推送（不同闭环）", 1)[1].split("</tr>", 1)[0]
    assert "<td>7</td>" in row

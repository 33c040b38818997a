"""Administration in a real browser: an admin registers a unit, issues a token and
revokes it; every administration page photographed in both languages and sizes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in
from tests.fakes import Receiver

pytestmark = pytest.mark.slow

SIZES = [(1920, 1080), (1366, 768)]


@pytest.fixture
def loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The served demo may deliver webhooks to this machine (asked before ``server``)."""
    monkeypatch.setenv("CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")


def a_delivery(server: Server, admin: str, receiver: Receiver) -> str:
    """A subscription of the district, and a warning for it to deliver; its id."""
    with server.api(admin) as api:
        created = api.post(
            "/v1/subscriptions", json={"url": receiver.url, "description": "区应急局值班系统"}
        )
        assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    monitor = server.token("HW", "monitor", "孙监测")
    warning = {
        "rule": "reservoir.level",
        "theme": "reservoir",
        "level": 2,
        "title": "青山水库水位超汛限",
        "unit": "HW-DH-QS",
        "dedup_key": "qs-level",
    }
    with server.api(monitor) as api:
        assert api.post("/v1/warnings", json=warning).status_code == 201
    assert receiver.wait_for(1, timeout=20)
    sid: str = created.json()["id"]
    return sid


def test_an_admin_registers_a_unit_issues_a_token_and_revokes_it(
    loopback_webhooks: None, browser: Any, server: Server, receiver: Receiver
) -> None:
    admin = server.token("HW", "admin", "赵管理")
    sid = a_delivery(server, admin, receiver)
    # The hall's machines are set up in Chinese: their date fields read so.
    # bypass_csp: axe-core is injected to check each page (tests/browser/axe.py).
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    sign_in(page, server.base, admin)
    assert page.url.endswith("/admin")

    page.select_option("#parent", "HW-DH-QS")
    page.select_option("#level", "enterprise")
    page.select_option("#kind", "enterprise")
    page.fill("#code", "E-QSTEA")
    page.fill("#name", "青山茶园")
    page.fill("#name_en", "Qingshan Tea Garden")
    page.get_by_role("button", name="登记单位").click()
    page.wait_for_load_state()
    assert page.url.endswith("/admin/units/E-QSTEA")
    assert "青山茶园" in page.locator("h1").inner_text()

    page.goto(f"{server.base}/admin/tokens")
    page.fill("#user", "钱值班")
    page.select_option("#unit", "E-QSTEA")
    page.check("input[name=roles][value=handler]")
    page.fill("#expires_at", "2099-03-01T08:00")
    page.get_by_role("button", name="发放令牌").click()
    page.wait_for_load_state()
    secret = page.locator("#secret").inner_text().strip()
    assert secret.startswith("cl_")
    assert violations(page) == []
    # Photographed now: no other page ever shows the secret again.
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"admin-token-issued-zh-{width}x{height}")
    page.set_viewport_size({"width": 1920, "height": 1080})
    with server.api(secret) as api:
        assert api.get("/v1/units/E-QSTEA/inbox").status_code == 200

    page.goto(f"{server.base}/admin/tokens")
    assert secret not in page.content()
    row = page.locator("tr", has_text="钱值班")
    assert "2099-03-01 08:00" in row.inner_text()
    row.locator("input[name=reason]").fill("测试结束")
    row.get_by_role("button", name="撤销").click()
    page.wait_for_load_state()
    assert "已撤销" in page.locator("tr", has_text="钱值班").inner_text()
    with server.api(secret) as api:
        assert api.get("/v1/units/E-QSTEA/inbox").status_code == 401

    page.goto(f"{server.base}/admin/accounts")
    page.fill("#username", "qian.duty")
    page.fill("#name", "钱值班")
    page.select_option("#unit", "E-QSTEA")
    page.check("input[name=roles][value=handler]")
    page.get_by_role("button", name="开设账号").click()
    page.wait_for_load_state()
    password = page.locator("#secret").inner_text().strip()
    assert len(password) >= 12
    assert violations(page) == []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"admin-account-password-zh-{width}x{height}")
    page.set_viewport_size({"width": 1920, "height": 1080})

    # A refusal at its field: a code registered already.
    page.goto(f"{server.base}/admin")
    page.select_option("#level", "community")
    page.select_option("#kind", "government")
    page.select_option("#parent", "HW-DH")
    page.fill("#code", "HW-DH")
    page.fill("#name", "重复")
    page.get_by_role("button", name="登记单位").click()
    page.wait_for_load_state()
    assert page.locator("#code").get_attribute("aria-invalid") == "true"
    assert page.locator("#code-error").is_visible()

    pages = {
        "units": "/admin",
        "unit": "/admin/units/HW-DH-QS",
        "tokens": "/admin/tokens",
        "accounts": "/admin/accounts",
        "webhooks": "/admin/webhooks",
        "webhook": f"/admin/webhooks/{sid}",
    }
    for language in ("zh", "en"):
        if language == "en":
            page.get_by_role("link", name="English").click()
            page.wait_for_load_state()
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, path in pages.items():
                page.goto(f"{server.base}{path}")
                assert page.locator("h1").count() == 1
                if width == 1366:
                    assert violations(page) == [], (language, path)
                screenshot(page, f"admin-{name}-{language}-{width}x{height}")
    context.close()

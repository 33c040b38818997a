"""The auditor's room and the reports in a real browser: a loop run through the API is
opened from the room, a past version of its warning is shown, the chain is verified;
the reports drill down one level; hostile titles stay text. Screenshots of each page at
both sizes, in Chinese and English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow

SIZES = [(1920, 1080), (1366, 768)]
SCRIPT_TITLE = "<script>alert(1)</script> Qingshan reservoir"
IMG_TITLE = '"><img src=x onerror=alert(1)> Lower the reservoir'


@pytest.fixture(autouse=True)
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server signs a checkpoint soon after the demo's events (its key kept here).
    monkeypatch.setenv("CLOSEDLOOP_AUDIT_KEY", str(tmp_path / "audit.key"))
    monkeypatch.setenv("CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS", "5")


def run_a_loop(server: Server) -> dict[str, Any]:
    """A warning acknowledged, an instruction for it signed for, submitted and verified."""
    who = {
        "monitor": server.token("HW", "monitor", "监测员"),
        "duty": server.token("HW", "duty_officer", "值班员"),
        "district": server.token("HW", "dispatcher", "调度员"),
        "office": server.token("HW-DH", "handler", "街道办理人"),
    }

    def act(name: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with server.api(who[name]) as http:
            r = http.post(path, json=body or {})
        assert r.status_code in (200, 201), r.text
        return r.json()

    warning = act(
        "monitor",
        "/v1/warnings",
        {
            "rule": "reservoir.flood_limit",
            "theme": "reservoir",
            "level": 2,
            "title": SCRIPT_TITLE,
            "unit": "HW-DH-QS",
        },
    )
    act("duty", f"/v1/warnings/{warning['id']}/acknowledge")
    order = act(
        "district",
        "/v1/instructions",
        {
            "lead_unit": "HW-DH",
            "title": IMG_TITLE,
            "due_in": "P2D",
            "warning_ids": [warning["id"]],
        },
    )
    url = f"/v1/instructions/{order['id']}"
    act("office", f"{url}/sign")
    act("office", f"{url}/submit", {"result": "gates opened, level under the limit"})
    act("district", f"{url}/verify", {"accepted": True})
    return {"warning": warning["id"], "instruction": order["id"]}


def no_dialog(page: Any) -> list[str]:
    dialogs: list[str] = []

    def seen(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    return dialogs


def test_the_auditor_reads_a_loop_its_past_and_the_chain_and_the_reports_drill_down(
    browser: Any, server: Server
) -> None:
    ids = run_a_loop(server)
    auditor = server.token("HC", "auditor", "审计员")
    for width, height in SIZES:
        size = f"{width}x{height}"
        # bypass_csp: axe-core is injected to check each page (tests/browser/axe.py).
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        dialogs = no_dialog(page)
        sign_in(page, server.base, auditor)
        for language in ("zh", "en"):
            page.goto(f"{server.base}/language/{language}?next=/audit")
            page.wait_for_load_state()
            assert "/audit" in page.url
            assert violations(page) == []
            screenshot(page, f"audit-room-{language}-{size}")

            # The loop run through the API, opened from the room's list.
            page.locator("table.loops a", has_text="Qingshan reservoir").first.click()
            page.wait_for_load_state()
            assert page.url.endswith(f"/loops/{ids['warning']}")
            timeline = page.locator("table.timeline")
            assert timeline.locator("tbody tr").count() >= 8
            assert "<script>alert(1)</script>" in page.locator("h1 .loop-title").inner_text()
            assert "审计员" not in timeline.inner_text()  # only those who acted
            assert "街道办理人" in timeline.inner_text()
            assert violations(page) == []
            screenshot(page, f"audit-loop-{language}-{size}")

            # The warning as it stood at its first version: raised, not yet acknowledged.
            page.locator("a.version-link").first.click()
            page.wait_for_load_state()
            state = page.locator("table.state")
            assert state.is_visible()
            assert "<script>alert(1)</script>" in state.inner_text()
            status = state.locator("tr", has_text="status").locator("td").inner_text()
            assert status == ("已发布" if language == "zh" else "Raised")
            page.locator("#state").scroll_into_view_if_needed()
            assert violations(page) == []
            screenshot(page, f"audit-loop-past-{language}-{size}")

            # The chain verified, with its last signed checkpoint.
            page.goto(f"{server.base}/audit")
            assert page.locator("dd.hash").count() >= 2  # a checkpoint is shown
            page.locator(
                "form[action='/audit'] button", has_text="审计链" if language == "zh" else "Verify"
            ).click()
            page.wait_for_load_state()
            verdict = page.locator(".verdict")
            assert "ok" in (verdict.get_attribute("class") or "")
            assert violations(page) == []
            screenshot(page, f"audit-verified-{language}-{size}")

            # Reports: the city, then one level down by clicking a child.
            page.goto(f"{server.base}/reports")
            page.wait_for_load_state()
            assert page.url.endswith("/reports/HC")
            assert page.locator("svg.chart").count() >= 2
            assert violations(page) == []
            screenshot(page, f"reports-city-{language}-{size}")
            page.locator("table#children a[href='/reports/HW']").click()
            page.wait_for_load_state()
            assert page.url.split("?")[0].endswith("/reports/HW")
            assert page.locator("nav.crumbs li").count() == 2
            assert violations(page) == []
            screenshot(page, f"reports-district-{language}-{size}")
            page.emulate_media(media="print")
            screenshot(page, f"reports-print-{language}-{size}")
            page.emulate_media(media="screen")
        assert dialogs == []
        context.close()

    # A handler of another district typing the loop's address gets the not-found page.
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, server.base, server.token("HW-XL", "handler", "西岭办理人"))
    answer = page.goto(f"{server.base}/loops/{ids['warning']}")
    assert answer is not None
    assert answer.status == 404
    assert "Qingshan" not in page.content()
    assert page.goto(f"{server.base}/reports/HW").status == 404  # type: ignore[union-attr]
    context.close()

"""The evaluation's printable page in a real browser (ADR 0086): a rework in Donghu
costs it points, the offices are charted and ranked, a hostile unit name stays text.
Screenshots at both sizes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow

SIZES = [(1920, 1080), (1366, 768)]
HOSTILE = "<img src=x onerror=alert(1)> 新社区"


def _act(server: Server, secret: str, path: str, body: dict[str, Any]) -> Any:
    with server.api(secret) as http:
        r = http.post(path, json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_the_printed_evaluation_charts_ranks_and_explains(browser: Any, server: Server) -> None:
    admin = server.token("HC", "admin", "管理员")
    district = server.token("HW", "dispatcher", "调度员")
    office = server.token("HW-DH", "handler", "街道办理人")
    _act(
        server,
        admin,
        "/v1/units",
        {"code": "HW-DH-X", "name": HOSTILE, "name_en": HOSTILE, "parent": "HW-DH",
         "level": "community", "kind": "government"},
    )  # fmt: skip
    body = {"lead_unit": "HW-DH", "title": "堤防巡查", "due_in": "P2D"}
    order = _act(server, district, "/v1/instructions", body)
    url = f"/v1/instructions/{order['id']}"
    _act(server, office, f"{url}/sign", {})
    _act(server, office, f"{url}/submit", {"result": "巡查完毕"})
    _act(server, district, f"{url}/verify", {"accepted": False, "note": "缺照片"})
    dialogs: list[str] = []
    for width, height in SIZES:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.set_extra_http_headers({"Authorization": f"Bearer {district}"})
        page.goto(f"{server.base}/v1/evaluations/HW?format=html&min_position=0")
        page.wait_for_load_state()
        assert "综合评价" in page.title()
        assert page.locator("svg.chart").count() >= 2
        assert page.get_by_text("98.00").count() >= 1  # Donghu: one rework
        assert page.get_by_text(HOSTILE).count() >= 1
        screenshot(page, f"evaluation-print-{width}")
        page.close()
    assert dialogs == []


def test_the_evaluation_page_ranks_unfolds_a_score_and_reaches_the_case(
    browser: Any, server: Server
) -> None:
    """The page in the screens' layout (ADR 0086): reached from the reports, the offices
    ranked with grades in words, Donghu's lines unfolded down to the reworked case."""
    admin = server.token("HC", "admin", "管理员")
    district = server.token("HW", "dispatcher", "调度员")
    office = server.token("HW-DH", "handler", "街道办理人")
    _act(
        server,
        admin,
        "/v1/units",
        {"code": "HW-DH-X", "name": HOSTILE, "name_en": HOSTILE, "parent": "HW-DH",
         "level": "community", "kind": "government"},
    )  # fmt: skip
    order = _act(
        server,
        district,
        "/v1/instructions",
        {"lead_unit": "HW-DH", "title": "堤防巡查", "due_in": "P2D"},
    )
    url = f"/v1/instructions/{order['id']}"
    _act(server, office, f"{url}/sign", {})
    _act(server, office, f"{url}/submit", {"result": "巡查完毕"})
    _act(server, district, f"{url}/verify", {"accepted": False, "note": "缺照片"})
    dialogs: list[str] = []
    for width, height in SIZES:
        # bypass_csp: axe-core is injected to check each page (tests/browser/axe.py).
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in(page, server.base, district)
        for language in ("zh", "en"):
            page.goto(f"{server.base}/language/{language}?next=/reports/HW")
            page.wait_for_load_state()
            page.locator("a[href='/evaluations/HW']").click()
            page.wait_for_load_state()
            assert page.url.split("?")[0].endswith("/evaluations/HW")
            assert page.locator("svg.chart").count() >= 2
            grade = "98.00 绿" if language == "zh" else "98.00 Green"
            assert page.get_by_text(grade).count() >= 1  # Donghu: one rework
            assert page.get_by_text(HOSTILE).count() >= 1
            page.locator("#lines-HW-DH summary").click()
            link = page.locator(f"#lines-HW-DH a[href='/instructions/{order['id']}']")
            assert link.is_visible()
            assert violations(page) == []
            screenshot(page, f"evaluation-page-{language}-{width}")
        link.click()
        page.wait_for_load_state()
        assert page.url.endswith(f"/instructions/{order['id']}")
        context.close()
    assert dialogs == []

"""The hall board in a real browser: live within 2 s, and back after a cut (ADR 0054)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow


def raise_warning(api: Any, title: str, level: int, theme: str, unit: str) -> None:
    body = {
        "rule": f"{theme}.test",
        "theme": theme,
        "level": level,
        "title": title,
        "unit": unit,
        "dedup_key": f"{title}-{time.time()}",
    }
    r = api.post("/v1/warnings", json=body)
    assert r.status_code == 201, r.text


def seed(server: Server) -> None:
    """A morning in the demo district: warnings of several themes and levels, orders."""
    monitor = server.api(server.token("HW", "monitor", "监测员"))
    dispatcher = server.api(server.token("HW", "dispatcher", "调度员"))
    for title, level, theme, unit in [
        ("青山水库水位超汛限 0.8 米", 2, "reservoir", "HW-DH-QS"),
        ("东湖风景区游客超载", 3, "tourism", "HW-DH-HP"),
        ("南港精密制造重大隐患未整改", 1, "safety_production", "HW-NG-GK"),
        ("海湾客运 K312 次疲劳驾驶", 3, "transportation", "HW-XL-SQ"),
        ("<script>alert(1)</script>", 4, "environment", "HW-XL-FL"),
        ('"><img src=x onerror=alert(1)>', 4, "meteorological", "HW-NG-BS"),
    ]:
        raise_warning(monitor, title, level, theme, unit)
    for lead, title, due in [
        ("HW-DH", "巡查低洼易涝点", "PT2H"),
        ("HW-XL-SQ", "核查客运车辆动态", "P1D"),
        ("HW-NG-GK", "督促隐患整改", "PT3H"),
    ]:
        r = dispatcher.post(
            "/v1/instructions", json={"lead_unit": lead, "title": title, "due_in": due}
        )
        assert r.status_code == 201, r.text


def open_board(browser: Any, server: Server, token: str, size: tuple[int, int]) -> Any:
    # bypass_csp: axe-core is injected to check the page (tests/browser/axe.py).
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, server.base, token)
    page.goto(f"{server.base}/board")
    page.wait_for_selector("#board-parts .tile")
    return page


def fits_one_screen(page: Any) -> bool:
    """Whether the board shows all of itself without scrolling: a wall is not scrolled."""
    return bool(
        page.evaluate(
            "document.documentElement.scrollHeight <= window.innerHeight"
            " && document.documentElement.scrollWidth <= window.innerWidth"
        )
    )


def test_a_warning_appears_within_2_s_and_the_board_catches_up_after_a_cut(
    browser: Any, server: Server
) -> None:
    seed(server)
    monitor = server.api(server.token("HW", "monitor", "值守"))
    page = open_board(browser, server, server.token("HW", "duty_officer", "值班员"), (1920, 1080))
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    time.sleep(1)  # the stream is connected
    raise_warning(monitor, "西岭山体滑坡风险", 1, "ecology", "HW-XL-YT")
    started = time.monotonic()
    page.locator(".named-title", has_text="西岭山体滑坡风险").wait_for(timeout=2000)
    assert time.monotonic() - started < 2
    assert page.locator("img[src=x]").count() == 0
    assert alerts == []
    assert violations(page) == []
    screenshot(page, "board-board-zh-1920x1080")

    # The cut: the stream's connection dropped, and every new one refused for a while.
    page.route("**/board/stream*", lambda route: route.abort())
    page.evaluate("window.stop()")
    banner = page.locator("#board-offline")
    banner.wait_for(state="visible", timeout=10000)
    assert "数据可能自" in banner.inner_text()
    assert violations(page) == []
    screenshot(page, "board-board-reconnecting-zh-1920x1080")
    raise_warning(monitor, "断线期间的新预警", 2, "reservoir", "HW-DH-LY")
    page.unroute("**/board/stream*")
    page.locator(".named-title", has_text="断线期间的新预警").wait_for(timeout=15000)
    banner.wait_for(state="hidden", timeout=5000)

    page.get_by_role("link", name="English").click()
    page.wait_for_selector("#board-parts .tile")
    assert "Hall board" in page.content()
    assert violations(page) == []
    screenshot(page, "board-board-en-1920x1080")
    assert fits_one_screen(page)
    page.context.close()

    small = open_board(browser, server, server.token("HW", "duty_officer", "值班员"), (1366, 768))
    screenshot(small, "board-board-zh-1366x768")
    assert fits_one_screen(small)
    small.get_by_role("link", name="English").click()
    small.wait_for_selector("#board-parts .tile")
    screenshot(small, "board-board-en-1366x768")
    assert fits_one_screen(small)
    small.context.close()

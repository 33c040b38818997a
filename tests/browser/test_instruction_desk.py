"""The issue's main flow at the duty desk in a real browser (issue 20, ADR 0056): a
dispatcher issues an instruction, the office's handler finds it in the inbox with its
countdown, signs for it and submits, the dispatcher verifies it. Screenshots of the
inbox, the issue form and the instruction, in both languages, at both sizes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow

SIZES = ((1920, 1080), (1366, 768))


def _sign_out(page: Any) -> None:
    page.locator("form[action='/sign-out'] button").click()
    page.wait_for_load_state()
    assert "/sign-in" in page.url


def _shots(browser: Any, server: Server, token: str, pages: dict[str, str]) -> None:
    """Each page at each size in each language, from one session per size, with no
    serious accessibility violation (axe-core, injected past the page's policy)."""
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = context.new_page()
        sign_in(page, server.base, token)
        for language in ("zh", "en"):
            page.goto(f"{server.base}/language/{language}?next=/me")
            for name, path in pages.items():
                page.goto(server.base + path)
                screenshot(page, f"idesk-{name}-{language}-{width}x{height}")
                if width == SIZES[0][0]:
                    assert violations(page) == [], (name, language)
        context.close()


def test_an_instruction_goes_round_the_loop_at_the_desk(browser: Any, server: Server) -> None:
    dispatcher = server.token("HW", "dispatcher", "李调度")
    handler = server.token("HW-DH", "handler", "王经办")
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()

    sign_in(page, server.base, dispatcher)
    page.goto(f"{server.base}/instructions/new")
    page.select_option("#lead_unit", "HW-DH")
    page.fill("#title", "清理东湖排水口")
    page.fill("#content", "暴雨前清理东湖片区排水口，疏通雨水篦子。")
    page.fill("#due_in", "4小时")
    page.get_by_role("button", name="下达", exact=True).click()
    page.wait_for_load_state()
    assert "/instructions/" in page.url
    instruction = page.url.removeprefix(server.base)
    assert "清理东湖排水口" in page.content()
    _sign_out(page)

    sign_in(page, server.base, handler)
    assert page.url.endswith("/inbox")
    row = page.locator("tr", has_text="清理东湖排水口")
    assert "剩余" in row.locator(".countdown").inner_text()
    row.get_by_role("link", name="清理东湖排水口").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="签收").click()
    page.wait_for_load_state()
    assert "已签收" in page.content()
    page.locator("summary", has_text="提交办理结果").click()
    page.fill("#submit-result", "排水口已清理完毕，共疏通十二处。")
    page.locator("form[action$='/submit'] button[type=submit]").click()
    page.wait_for_load_state()
    assert "排水口已清理完毕" in page.content()
    _sign_out(page)

    sign_in(page, server.base, dispatcher)
    page.goto(server.base + instruction)
    page.locator("summary", has_text="核查").click()
    page.get_by_role("button", name="核查通过，办结").click()
    page.wait_for_load_state()
    assert "已办结" in page.content()
    context.close()

    # Another one left open, so that the pages show a live clock and its steps.
    shots = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = shots.new_page()
    sign_in(page, server.base, dispatcher)
    page.goto(f"{server.base}/instructions/new")
    page.select_option("#lead_unit", "HW-DH")
    page.check("input[name=cooperating_units][value=HW-WATER]")
    page.fill("#title", "青山水库超汛限水位巡查")
    page.fill("#due_in", "1h")
    page.get_by_role("button", name="下达", exact=True).click()
    page.wait_for_load_state()
    live = page.url.removeprefix(server.base)
    shots.close()
    _shots(browser, server, dispatcher, {"new": "/instructions/new", "issued": live})
    _shots(
        browser, server, handler, {"inbox": "/inbox", "instruction": live, "closed": instruction}
    )

"""The whistle and the notice pages in a real browser (吹哨报到, 通知签收; ADR 0077, 0078,
0090): an office blows the whistle on two departments, one checks in at the scene; the
district sends a notice to every unit under it and an office's duty officer confirms it.
Screenshots at 1920x1080 in both languages; axe-core finds no serious or critical
violation on any of the four pages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow


def _context(browser: Any) -> Any:
    # bypass_csp: axe-core is injected to check each page (tests/browser/axe.py).
    return browser.new_context(
        viewport={"width": 1920, "height": 1080}, bypass_csp=True, locale="zh-CN"
    )


def test_an_office_blows_the_whistle_and_a_department_checks_in(
    browser: Any, server: Server
) -> None:
    office = _context(browser)
    page = office.new_page()
    sign_in(page, server.base, server.token("HW-DH", "dispatcher", "东湖调度员"))
    page.goto(f"{server.base}/whistles")
    page.fill("#blow-matter", "湖畔路积水，需水务、城管到场")
    page.fill("#blow-place", "湖畔路12号")
    page.locator("#blow-departments input[value=HW-WATER]").check()
    page.locator("#blow-departments input[value=HW-URBAN]").check()
    screenshot(page, "whistles-blow-zh-1920x1080")
    assert violations(page) == []
    page.locator("aside button[type=submit]").click()
    page.wait_for_load_state()
    at = page.url
    assert "/whistles/" in at
    assert "湖畔路积水" in page.locator("main").inner_text()

    department = _context(browser)
    water = department.new_page()
    sign_in(water, server.base, server.token("HW-WATER", "handler", "水务李工"))
    water.goto(at)
    water.fill("#check-in-person", "李工、王工")
    water.locator("form[action$='/check-in'] button[type=submit]").click()
    water.wait_for_load_state()
    screenshot(water, "whistle-checked-in-zh-1920x1080")
    assert violations(water) == []
    assert "李工、王工" in water.locator("main").inner_text()

    page.reload()
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    screenshot(page, "whistle-en-1920x1080")
    assert violations(page) == []
    office.close()
    department.close()


def test_the_district_sends_a_notice_and_an_office_confirms_it(
    browser: Any, server: Server
) -> None:
    district = _context(browser)
    page = district.new_page()
    sign_in(page, server.base, server.token("HW", "dispatcher", "调度员王芳"))
    page.goto(f"{server.base}/notices")
    page.fill("#send-title", "台风“海葵”来临，今晚22时前完成转移准备")
    page.fill("#send-body", "各街道、社区按预案做好人员转移和物资准备，签收后回复。")
    screenshot(page, "notices-send-zh-1920x1080")
    assert violations(page) == []
    page.locator("aside button[type=submit]").click()
    page.wait_for_load_state()
    at = page.url
    assert "/notices/" in at

    office = _context(browser)
    duty = office.new_page()
    sign_in(duty, server.base, server.token("HW-DH", "duty_officer", "东湖值班员"))
    duty.goto(at)
    duty.locator("form[action$='/receipt'] button[type=submit]").click()
    duty.wait_for_load_state()
    assert duty.locator("form[action$='/receipt']").count() == 0  # a unit confirms once

    page.reload()
    report = page.locator("table.report").inner_text()
    assert "街道" in report  # the levels in words, never their codes
    assert "office" not in report
    assert "district" not in report
    screenshot(page, "notice-report-zh-1920x1080")
    assert violations(page) == []
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    screenshot(page, "notice-report-en-1920x1080")
    district.close()
    office.close()

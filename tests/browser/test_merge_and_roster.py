"""The warning desk's merge form and a unit's duty roster in a real browser (ADR 0090):
a dispatcher merges a warning into its main case; a duty officer reads who is on duty,
the week's shifts, and sees an overlapping shift refused at its field. Screenshots at
1920x1080 in both languages; axe-core finds no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow


def _raise(server: Server, monitor: str, n: int, **fields: Any) -> str:
    body = {
        "rule": "reservoir.level",
        "theme": "reservoir",
        "level": 2,
        "title": "青山水库水位超过汛限",
        "unit": "HW-DH-QS",
        "location": "青山水库大坝",
        "dedup_key": f"merge-{n}",
        **fields,
    }
    with server.api(monitor) as api:
        answer = api.post("/v1/warnings", json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])


def test_a_dispatcher_merges_a_warning_into_its_main_case(browser: Any, server: Server) -> None:
    monitor = server.token("HW", "monitor", "监测员")
    main = _raise(server, monitor, 1)
    merged = _raise(server, monitor, 2, title="青山水库坝前水位告警（二号水位计）")
    _raise(
        server,
        monitor,
        3,
        rule="drain.blocked",
        title="湖畔路12号排水口堵塞",
        location="湖畔路12号",
    )
    # bypass_csp: axe-core is injected to check each page (tests/browser/axe.py).
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, bypass_csp=True, locale="zh-CN"
    )
    page = context.new_page()
    sign_in(page, server.base, server.token("HW", "dispatcher", "调度员王芳"))
    page.goto(f"{server.base}/warnings/{merged}")
    page.locator(".step-merge summary").click()
    assert page.locator("#merge-into input[type=radio]").count() == 2
    screenshot(page, "merge-form-zh-1920x1080")
    assert violations(page) == []
    page.fill("#merge-reason", "同一水库两台水位计报同一险情")
    page.locator(".step-merge button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".whead .badge.state").inner_text() == "已并单"
    assert page.locator(".step-unmerge").count() == 1
    screenshot(page, "merge-done-zh-1920x1080")
    page.goto(f"{server.base}/warnings/{main}")
    assert "并入本案的预警" in page.locator("table.facts").inner_text()
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    screenshot(page, "merge-main-en-1920x1080")
    assert violations(page) == []
    context.close()


def test_a_duty_officer_reads_the_roster_and_an_overlap_is_refused_at_its_field(
    browser: Any, server: Server
) -> None:
    # bypass_csp: axe-core is injected to check each page (tests/browser/axe.py).
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, bypass_csp=True, locale="zh-CN"
    )
    page = context.new_page()
    sign_in(page, server.base, server.token("HW", "duty_officer", "值班长李明"))
    page.goto(f"{server.base}/units/HW-DH/roster")
    assert page.locator(".on-duty .post").count() == 2
    assert page.locator("table.roster tbody tr").count() >= 7
    screenshot(page, "roster-zh-1920x1080")
    assert violations(page) == []
    # The demo's day shift covers now: a shift of the same post over the next hours overlaps.
    page.fill("#shift-person", "dh.huang")
    page.fill("#shift-deputy", "dh.ma")
    page.locator("aside button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#shift-starts_at-error").count() == 1
    screenshot(page, "roster-overlap-zh-1920x1080")
    assert violations(page) == []
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    screenshot(page, "roster-en-1920x1080")
    context.close()

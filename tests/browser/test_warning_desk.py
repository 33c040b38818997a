"""The warning desk in a real browser: a duty officer works a warning raised through the
API from raised to resolved, in both languages and at both desk sizes (ADR 0055)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow

SIZES = ((1920, 1080), (1366, 768))
WARNINGS = (
    ("reservoir.level", "reservoir", 2, "青山水库水位超过汛限", "HW-DH-QS", "青山水库大坝"),
    ("rain.signal", "meteorological", 1, "暴雨红色预警信号", "HW", "海湾区全境"),
    ("coach.fatigue", "transportation", 3, "客车驾驶员连续驾驶超过四小时", "HW-XL", "沿海高速"),
    ("air.pm25", "environment", 4, "南港空气质量指数超标", "HW-NG-GK", "港口监测站"),
)


def _raise(server: Server, monitor: str) -> list[str]:
    ids = []
    with server.api(monitor) as api:
        for n, (rule, theme, level, title, unit, location) in enumerate(WARNINGS):
            answer = api.post(
                "/v1/warnings",
                json={
                    "rule": rule,
                    "theme": theme,
                    "level": level,
                    "title": title,
                    "unit": unit,
                    "location": location,
                    "dedup_key": f"browser-{n}",
                },
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return ids


def _shoot(page: Any, name: str) -> None:
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, f"warnings-{name}-{width}x{height}")


def test_a_duty_officer_acknowledges_assesses_and_resolves_a_warning(
    browser: Any, server: Server
) -> None:
    ids = _raise(server, server.token("HW", "monitor", "监测员"))
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    sign_in(page, server.base, server.token("HW", "duty_officer", "值班长李明"))
    assert page.url.endswith("/warnings")
    assert page.locator("table.warnings tbody tr").count() == len(WARNINGS)
    _shoot(page, "list-zh")

    page.get_by_role("link", name=WARNINGS[0][3]).click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/warnings/{ids[0]}")
    _shoot(page, "detail-zh")
    page.get_by_role("button", name="确认收到").click()
    page.wait_for_load_state()
    assert page.locator(".whead .badge.state").inner_text() == "已确认收到"
    page.fill("#assess-note", "现场核实：水位31.2米，超过汛限")
    page.get_by_role("button", name="研判属实").click()
    page.wait_for_load_state()
    assert "现场核实" in page.locator("table.facts").inner_text()
    page.locator(".step-resolve summary").click()
    page.fill("#resolve-note", "水位回落")
    page.locator(".step-resolve button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".whead .badge.state").inner_text() == "已解除"
    assert page.locator(".timeline li").count() >= 4
    _shoot(page, "worked-zh")

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator(".whead .badge.state").inner_text() == "Resolved"
    _shoot(page, "worked-en")
    page.get_by_role("link", name="Back to the warning desk").click()
    page.wait_for_load_state()
    assert page.locator("table.warnings tbody tr").count() == len(WARNINGS) - 1
    _shoot(page, "list-en")
    page.goto(f"{server.base}/warnings/{ids[1]}")
    _shoot(page, "detail-en")
    context.close()


def test_an_inhibited_warning_and_its_inhibitor_read_at_a_glance(
    browser: Any, server: Server
) -> None:
    # ADR 0087: the district's red rainstorm warning inhibits the community's yellow one.
    with server.api(server.token("HW", "monitor", "气象台")) as api:
        ids = []
        for n, (level, unit, title) in enumerate(
            [(1, "HW-DH", "东湖街道暴雨红色预警"), (3, "HW-DH-QS", "青山社区暴雨黄色预警")]
        ):
            answer = api.post(
                "/v1/warnings",
                json={
                    "rule": "cap:暴雨",
                    "theme": "meteorological",
                    "level": level,
                    "title": title,
                    "unit": unit,
                    "dedup_key": f"inhibit-{n}",
                },
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    sign_in(page, server.base, server.token("HW", "duty_officer", "值班长李明"))
    assert page.locator("table.warnings .badge.state-inhibited").count() == 1
    _shoot(page, "inhibited-list-zh")
    page.get_by_role("link", name="青山社区暴雨黄色预警").click()
    page.wait_for_load_state()
    assert "已抑制" in page.locator("table.facts").inner_text()
    _shoot(page, "inhibited-detail-zh")
    page.get_by_role(
        "link", name="被更高级别预警抑制（rainstorm-red-over-lesser），暂不启动预案"
    ).click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/warnings/{ids[0]}")
    context.close()

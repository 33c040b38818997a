"""Signing in and out in a real browser: a token pasted, the person's page, sign-out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Server, screenshot, sign_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)], ids=["1920x1080", "1366x768"])
def test_a_person_signs_in_with_a_token_and_out_again(
    browser: Any, server: Server, size: tuple[int, int]
) -> None:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{server.base}/sign-in")
    screenshot(page, f"sign-in-zh-{size[0]}x{size[1]}")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.title().startswith("Sign in")
    screenshot(page, f"sign-in-en-{size[0]}x{size[1]}")
    page.get_by_role("link", name="中文").click()
    token = server.token("HW-DH", "handler", "张三")
    sign_in(page, server.base, token)
    page.goto(f"{server.base}/me")
    assert "张三" in page.content()
    screenshot(page, f"me-zh-{size[0]}x{size[1]}")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_load_state()
    assert "/sign-in" in page.url
    page.goto(f"{server.base}/me")
    assert "/sign-in" in page.url
    context.close()

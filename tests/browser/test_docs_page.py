"""The API's documentation page, opened in a real browser with no way out to the
internet, shows the operations and breaks none of its own policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)], ids=["1920x1080", "1366x768"])
def test_the_documentation_page_renders_offline(
    browser: Any, served: str, size: tuple[int, int]
) -> None:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    problems: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def only_here(route: Any) -> None:
        if urlsplit(route.request.url).netloc != urlsplit(served).netloc:
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_here)
    page.goto(f"{served}/schema")
    page.wait_for_selector(".opblock-tag", timeout=15_000)

    assert page.locator(".opblock").count() > 20
    assert "/v1/instructions" in page.content()
    screenshot(page, f"schema-{size[0]}x{size[1]}")
    assert elsewhere == []
    assert problems == []
    context.close()

"""The sign-in page passes axe-core with no serious violation, in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import violations
from tests.browser.conftest import Server

pytestmark = pytest.mark.slow


def test_the_sign_in_page_has_no_serious_accessibility_violation(
    browser: Any, server: Server
) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
    page = context.new_page()
    for language in ("zh", "en"):
        page.goto(f"{server.base}/language/{language}?next=/sign-in")
        assert violations(page) == [], language
    context.close()

"""The API's documentation page works without internet (issue 20): everything it loads
comes from this server, and its policy forbids inline scripts and other hosts."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from api.headers import DOCS_POLICY

Client = TestClient[Any]


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_documentation_page_loads_only_this_servers_files(client: Client) -> None:
    page = client.get("/schema")

    assert page.status_code == 200
    assets = _assets(page.text)
    assert assets, "the page loads the viewer"
    assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert r.content, asset
    assert "cdn" not in page.text.lower()


def test_the_documentation_page_has_no_inline_script_and_its_own_policy(client: Client) -> None:
    page = client.get("/schema")

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert page.headers["content-security-policy"] == DOCS_POLICY
    assert "'unsafe-inline'" not in DOCS_POLICY.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["x-frame-options"] == "DENY"


def test_the_vendored_viewer_is_served_with_its_licence_and_needs_no_token(
    client: Client,
) -> None:
    # No Authorization header: the page's assets carry nothing secret.
    licence = client.get("/static/vendor/swagger-ui-5.36.0/LICENSE")
    script = client.get("/static/vendor/swagger-ui-5.36.0/swagger-ui-bundle.js")

    assert licence.status_code == 200
    assert "Apache License" in licence.text
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["x-content-type-options"] == "nosniff"


def test_a_path_outside_the_static_folder_is_not_found(client: Client) -> None:
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/vendor/../../app.py"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "create_app" not in r.text

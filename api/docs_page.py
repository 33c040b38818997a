"""The API's documentation page at ``/schema``, working offline (issue 20).

Litestar's own Swagger plugin loads the viewer from a CDN and starts it with an inline
script; in a command center's closed network that page is blank, and an inline script
would need the page's policy to allow inline scripts. This page loads the vendored viewer
from ``/static/`` and starts it from a file of its own, so its policy allows scripts and
styles from this server only.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
SWAGGER = "/static/vendor/swagger-ui-5.36.0"


def static_files() -> Router:
    """The ``/static/`` files, public (a page's assets carry nothing secret)."""
    return create_static_files_router(
        path="/static",
        directories=[STATIC],
        opt={"public": True},
        include_in_schema=False,
        cache_control=None,
    )


class OfflineSwagger(OpenAPIRenderPlugin):
    """Swagger UI from this server's own files."""

    def __init__(self, path: str = "/") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec = escape(self.get_openapi_json_route(request), quote=True)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title>"
            f'<link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">'
            "</head><body>"
            f'<div id="swagger-ui" data-spec="{spec}"></div>'
            f'<script src="{SWAGGER}/swagger-ui-bundle.js"></script>'
            '<script src="/static/schema.js"></script>'
            "</body></html>"
        ).encode()

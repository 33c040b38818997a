"""The headers every response carries so that a browser opening one cannot be turned
against its reader (issue 19, "Output that others open").

Every response: ``X-Content-Type-Options: nosniff`` (a CSV or JSON body is never run as a
script or page), ``X-Frame-Options: DENY`` and a policy of ``frame-ancestors 'none'`` (no
page of ours in another site's frame), ``Referrer-Policy: no-referrer`` (a URL with ids in
it stays here). The policy of a response that names none is ``default-src 'none'``:
nothing loads. A page we render (:func:`html_page`) loads nothing but its own ``<style>``
elements, allowed by their hashes, so no injected markup can run a script or load
anything. The API's own documentation page under ``/schema`` loads its viewer's files
from this server (``api/docs_page.py``) under a policy of its own, :data:`DOCS_POLICY`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from litestar import Response
from litestar.types import Message, Scope

#: The policy of every response that is not a page of ours: nothing may load or frame it.
NOTHING = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

_ALWAYS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_POLICY = b"content-security-policy"
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
#: Where the documentation viewer lives.
_DOCS = "/schema"
#: The documentation page's policy: the viewer's files from here, the inline style
#: attributes it sets as it renders, images as data URLs, the document fetched from
#: here; nothing from elsewhere, no inline script, no frame.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def page_policy(html: str) -> str:
    """The policy of one rendered page: its inline ``<style>`` elements by their SHA-256
    (the templates style themselves inline, so the page prints as one file), nothing else.
    No script at all, inline or not."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _STYLE.findall(html)
    )
    styles = f"; style-src {hashes}" if hashes else ""
    return NOTHING.replace("default-src 'none'", "default-src 'none'" + styles, 1)


def html_page(html: str, **kwargs: Any) -> Response[str]:
    """A rendered page as the response, with the policy its styles need. The media type
    is given bare: Litestar adds ``; charset=utf-8`` to a ``text/`` type itself."""
    headers = {"Content-Security-Policy": page_policy(html), **kwargs.pop("headers", {})}
    return Response(html, media_type="text/html", headers=headers, **kwargs)


async def add_safety_headers(message: Message, scope: Scope) -> None:
    """Litestar's ``before_send`` hook: the headers above on every response's start,
    errors and 404s included (the hook runs outside the routing)."""
    if message["type"] != "http.response.start":
        return
    headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    headers += [(name, value) for name, value in _ALWAYS if name not in present]
    path = str(scope.get("path", ""))
    if _POLICY not in present:
        docs = path == _DOCS or path.startswith(_DOCS + "/")
        headers.append((_POLICY, (DOCS_POLICY if docs else NOTHING).encode()))
    message["headers"] = headers


#: Where a read leaves the headers it answers with (``X-View-Lag``…) for
#: :func:`add_read_headers`: they are known before the handler's response is built.
READ_HEADERS = "read_headers"


async def add_read_headers(message: Message, scope: Scope) -> None:
    """Litestar's ``before_send`` hook: the headers a read set aside on the request's
    state (how it was made consistent, how far behind the views were; ADR 0045)."""
    if message["type"] != "http.response.start":
        return
    extra: dict[str, str] | None = (scope.get("state") or {}).get(READ_HEADERS)
    if extra:
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        headers += [(name.lower().encode(), value.encode()) for name, value in extra.items()]
        message["headers"] = headers

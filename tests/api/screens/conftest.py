"""Pages over the test client: a browser's requests without the browser (issue 20).

:class:`Desk` signs a person in as a browser would (the sign-in page's form and cookie)
and keeps the session's CSRF token, read from the pages' forms, for its posts.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar.testing import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


class Desk:
    """One browser at the pages: its cookies, and its session's CSRF token."""

    def __init__(self, client: TestClient[Any]) -> None:
        self.client = client
        self.csrf = ""

    def sign_in(self, **fields: str) -> httpx.Response:
        form = self.client.get("/sign-in")
        response = self.client.post(
            "/sign-in", data={"csrf": csrf_of(form.text), **fields}, follow_redirects=False
        )
        if response.status_code == 303:
            self.csrf = csrf_of(self.client.get("/me").text)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(
            path, data={"csrf": self.csrf, **(data or {})}, follow_redirects=False, **kwargs
        )


def desk_of(client: TestClient[Any], tokens: dict[str, str], who: str) -> Desk:
    """A fresh browser (no cookies) signed in with ``who``'s token."""
    client.cookies.clear()
    desk = Desk(client)
    assert desk.sign_in(token=tokens[who]).status_code == 303
    return desk

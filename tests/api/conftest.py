"""The API on the ``center`` fixture (SQLite and PostgreSQL), the demo district loaded,
and a token per role and unit that the tests act with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from domain.demo import bind_demo_senders, load_demo
from domain.meta import now

# name: (unit, roles)
PEOPLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("HC", ("admin",)),
    "auditor": ("HC", ("auditor",)),
    "monitor": ("HW", ("monitor",)),
    "duty": ("HW", ("duty_officer",)),
    "duty_xl": ("HW-XL", ("duty_officer",)),
    "district": ("HW", ("dispatcher",)),
    "office": ("HW-DH", ("handler", "dispatcher")),
    "office_xl": ("HW-XL", ("handler", "dispatcher")),
    "community": ("HW-DH-QS", ("handler",)),
    "community_b": ("HW-DH-HP", ("handler",)),
}


def _no_server_error(response: httpx.Response) -> None:
    if response.status_code >= 500:
        response.read()
        raise AssertionError(f"server error {response.status_code}: {response.text}")


@pytest.fixture
def tokens(center: CommandCenter) -> dict[str, str]:
    load_demo(center)
    bind_demo_senders(center)
    book = TokenBook(center)
    return {
        name: book.issue(user=f"{name}-person", unit=unit, roles=list(roles), label="test").secret
        for name, (unit, roles) in PEOPLE.items()
    }


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    def sees_everything_written(request: httpx.Request) -> None:
        # The views follow the log asynchronously; like a client that carries the
        # position of its last write, each read here asks for everything written so far.
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    with TestClient(create_app(center, reads=build_read_models(center))) as c:
        c.event_hooks["request"] = [sees_everything_written]
        c.event_hooks["response"] = [_no_server_error]
        yield c


class As:
    """Headers for acting as one of :data:`PEOPLE`."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = tokens

    def __call__(self, name: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}", **extra}


@pytest.fixture
def as_(tokens: dict[str, str]) -> As:
    return As(tokens)


def later(days: int = 3) -> str:
    return (now() + timedelta(days=days)).isoformat()


def raise_warning(client: TestClient[Any], as_: As, **fields: Any) -> dict[str, Any]:
    body = {
        "rule": "reservoir.level",
        "theme": "reservoir",
        "level": 2,
        "title": "Qingshan reservoir above the flood limit",
        "unit": "HW-DH-QS",
        "dedup_key": f"res-{now().timestamp()}",
        **fields,
    }
    r = client.post("/v1/warnings", json=body, headers=as_("monitor"))
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def issue(client: TestClient[Any], as_: As, who: str = "district", **fields: Any) -> dict[str, Any]:
    body = {"lead_unit": "HW-DH", "title": "Inspect the dam", "due_in": "P2D", **fields}
    r = client.post("/v1/instructions", json=body, headers=as_(who))
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result

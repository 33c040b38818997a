"""The API with its PostgreSQL store gone (ADR 0047): every request that needs the store
answers 503 with ``Retry-After`` and says what is wrong, stores nothing, and ``/health``
says so within a second. The store here is a real PostgreSQL database whose connection
pools were shut, as a database that went away leaves them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.service import ReadModels

pytestmark = pytest.mark.postgres


@pytest.fixture
def gone(pg_center: CommandCenter) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    load_demo(pg_center)
    reads = ReadModels.beside(pg_center, run=False)
    book = TokenBook(pg_center)
    tokens = {
        "monitor": book.issue(user="m", unit="HW", roles=["monitor"]).secret,
        "office": book.issue(user="o", unit="HW-DH", roles=["handler"]).secret,
    }
    with TestClient(app=create_app(pg_center, reads=reads)) as client:
        for secret in tokens.values():
            # Known to the token cache: the requests below fail on what they do.
            assert client.get("/v1/units", headers={"Authorization": f"Bearer {secret}"}).is_success
        head = pg_center.head_position()
        pg_center.recorder.datastore.pool.close()  # type: ignore[attr-defined]
        reads.store.pool.close()  # type: ignore[attr-defined]
        yield client, tokens
    # Nothing was stored meanwhile.
    with pytest.raises(Exception):  # noqa: B017, PT011 - the pool is shut for good
        pg_center.head_position()
    assert head > 0


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("who", ["monitor", "office"])
def test_a_command_while_the_store_is_gone_is_a_503_to_try_again(
    gone: tuple[TestClient[Any], dict[str, str]], who: str
) -> None:
    client, tokens = gone
    began = time.monotonic()
    r = client.post(
        "/v1/warnings",
        json={
            "rule": "load.ecology",
            "theme": "ecology",
            "level": 4,
            "title": "while the store is gone",
            "unit": "HW-DH",
        },
        headers=bearer(tokens[who]),
    )
    # The monitor may raise it; the handler may not: either way the store decides
    # nothing, and both hear that the server cannot answer now.
    assert r.status_code in (503, 403), r.text
    if who == "monitor":
        assert r.status_code == 503
        assert r.headers["retry-after"] == "2"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:closedloop:problem:store-unavailable"
    assert time.monotonic() - began < 10


def test_a_read_of_the_views_while_the_store_is_gone_is_a_503(
    gone: tuple[TestClient[Any], dict[str, str]],
) -> None:
    client, tokens = gone
    r = client.get("/v1/warnings", headers=bearer(tokens["office"]))
    assert r.status_code == 503, r.text
    assert "retry-after" in r.headers


def test_health_says_within_a_second_that_the_store_cannot_be_reached(
    gone: tuple[TestClient[Any], dict[str, str]],
) -> None:
    client, _ = gone
    began = time.monotonic()
    r = client.get("/health")
    assert time.monotonic() - began < 1.0
    assert r.status_code == 503
    assert "cannot be reached" in r.json()["detail"] or "did not answer" in r.json()["detail"]
    assert "requests being answered" in r.json()["detail"]

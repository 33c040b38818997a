"""The API on a PostgreSQL database that accepts connections but does not answer (ADR
0051): here the events' table locked by a session that never lets go. A request is
answered 503 with ``Retry-After`` within the statement timeout, never held until the
client gives up, stores nothing, and the API goes on once the lock is gone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient
from psycopg import sql

from api.tokens import TokenBook
from closedloop.bootstrap import build_app, build_command_center
from closedloop.settings import ServerSettings, Settings
from domain.demo import load_demo

pytestmark = pytest.mark.postgres

#: The server's statement timeout here (seconds): short, so that the test is quick.
TIMEOUT = 1.0
WARNING = {"rule": "load.ecology", "theme": "ecology", "level": 4, "unit": "HW-DH"}


@pytest.fixture
def served(postgres_url: str) -> Iterator[tuple[TestClient[Any], str, Settings]]:
    settings = Settings(
        database_url=postgres_url,
        server=ServerSettings(statement_timeout_seconds=TIMEOUT, request_deadline_seconds=30),
    )
    center = build_command_center(settings, serving=True)
    load_demo(center)
    secret = TokenBook(center).issue(user="m", unit="HW", roles=["monitor"]).secret
    app = build_app(center, follow_the_log=False, close_center=True, settings=settings)
    with TestClient(app=app) as client:
        # Known to the token cache: the requests below fail on what they do.
        assert client.get("/v1/units", headers=bearer(secret)).is_success
        yield client, secret, settings


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def head(url: str, schema: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        events = sql.Identifier(schema, "closedloop_events")
        row = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(events))
        return int(row.fetchone()[0] or 0)  # type: ignore[index]


def test_a_command_on_a_locked_log_is_a_503_within_the_statement_timeout(
    served: tuple[TestClient[Any], str, Settings],
) -> None:
    client, secret, settings = served
    store = settings.store()
    assert store.conninfo is not None
    schema = store.env["POSTGRES_SCHEMA"]
    before = head(store.conninfo, schema)
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock_until_released() -> None:
        with psycopg.connect(store.conninfo) as conn, conn.transaction():  # type: ignore[arg-type]
            events = sql.Identifier(schema, "closedloop_events")
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(events))
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_lock_until_released)
    holder.start()
    try:
        assert locked.wait(10)
        answers = []
        for n in range(3):
            began = time.monotonic()
            r = client.post(
                "/v1/warnings", json={**WARNING, "title": f"hung {n}"}, headers=bearer(secret)
            )
            answers.append((r, time.monotonic() - began))
        for r, took in answers:
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "2"
            assert r.json()["type"] == "urn:closedloop:problem:store-unavailable"
            assert "did not answer in time" in r.json()["detail"]
            # One statement's timeout, not the pool's retries of it nor the client's.
            assert took < 3 * TIMEOUT, answers
    finally:
        release.set()
        holder.join()
    # Nothing of the refused commands was stored, and the API goes on.
    assert head(store.conninfo, schema) == before
    r = client.post("/v1/warnings", json={**WARNING, "title": "after"}, headers=bearer(secret))
    assert r.status_code == 201, r.text


def test_the_tools_statements_have_no_timeout(postgres_url: str) -> None:
    # A catch-up or a verification may rightly run long: only the server is bounded.
    settings = Settings(
        database_url=postgres_url, server=ServerSettings(statement_timeout_seconds=TIMEOUT)
    )
    tool = build_command_center(settings)
    server = build_command_center(settings, serving=True)
    try:
        with tool.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "0"
        with server.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            shown = conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"]
            assert shown == "1s"
    finally:
        tool.close()
        server.close()

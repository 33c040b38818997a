"""Reports and the hall board read from the streaming replica (ADR 0089), on the real
standby that ``.ci/replica`` makes on 127.0.0.1:5433 from the test primary.

A report sees its reader's own write whether it is read from the replica or, past the
replica's wait or its lag bound, from the primary, and ``X-Read-From`` says which; the
board's stream polls the position of the views it builds its boards from: the replica's
copy while it serves (so a board never shows a position its views have not reached), the
primary's once the replica is out of the read path. ``/health`` says what the replica
serves. Skipped on a laptop without the standby; with ``CLOSEDLOOP_REQUIRE_POSTGRES=1``
(CI) they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from closedloop.settings import ServerSettings, Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from tests.api.screens.conftest import Desk
from tests.api.screens.test_board import read_events, serving
from tests.api.test_replica_reads import eventually, health, issue, replay_paused, served

pytestmark = pytest.mark.postgres


def report(client: Any, headers: dict[str, str]) -> tuple[int, str]:
    """The district's report now: how many instructions it counts filed, and where it
    was read."""
    r = client.get("/v1/reports/units/HW", headers=headers)
    assert r.status_code == 200, r.text
    return int(r.json()["total"]["filed"]), r.headers["x-read-from"]


def test_a_report_is_read_from_the_replica_and_sees_the_readers_own_writes(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    with served(pg_center, postgres_url, replica_url) as (client, headers):
        said = health(client)
        counts = []
        for n in range(10):
            issue(client, headers, f"Report me {n}")
            counts.append(report(client, headers))
    assert said["serves"] == ["views", "reports", "board"]
    # Each report counts the reader's write just made, wherever it was read from.
    filed = [f for f, _ in counts]
    assert filed == list(range(filed[0], filed[0] + 10))
    assert "replica" in {where for _, where in counts}, counts


def test_a_report_goes_to_the_primary_while_the_replica_is_behind(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    with served(pg_center, postgres_url, replica_url, max_lag=0.3) as (client, headers):
        before, _ = report(client, headers)
        with replay_paused(replica_url):
            issue(client, headers, "Written while the replica stands still")
            assert eventually(lambda: health(client)["state"] == "behind")
            during = report(client, headers)
        assert eventually(lambda: health(client)["state"] == "serving")
        issue(client, headers, "Written after")
        after = report(client, headers)
    assert during == (before + 1, "primary")
    assert after[0] == before + 2


@contextmanager
def board_stream(
    center: CommandCenter, postgres_url: str, read_url: str, max_lag: float
) -> Iterator[tuple[httpx.Client, dict[str, str], Any]]:
    """A real server whose views are read from the replica; a browser signed in as the
    district's dispatcher, the API's headers for the same person, and the read models."""
    load_demo(center)
    secret = (
        TokenBook(center)
        .issue(user="dispatcher", unit="HW", roles=["dispatcher"], label="board test")
        .secret
    )
    settings = Settings(
        database_url=postgres_url,
        server=ServerSettings(
            read_database_url=read_url, replica_max_lag_seconds=max_lag, replica_wait_seconds=2
        ),
    )
    reads = build_read_models(center, settings=settings)
    app = create_app(center, reads=reads)
    with serving(app) as (base, _), httpx.Client(base_url=base, timeout=10) as http:
        assert eventually(lambda: health(http)["state"] == "serving"), health(http)
        assert Desk(http).sign_in(token=secret).status_code == 303  # type: ignore[arg-type]
        yield http, {"Authorization": f"Bearer {secret}"}, reads


def first_board(http: httpx.Client, since: int, seconds: float) -> int | None:
    """The position of the first board the stream sends after ``since``, if any."""
    with http.stream("GET", "/board/stream", headers={"Last-Event-ID": str(since)}) as s:
        boards = [e for e in read_events(s, 1, seconds) if e.get("event") == "board"]
    return int(boards[0]["id"]) if boards else None


def test_the_boards_stream_follows_the_replicas_position_while_it_serves(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    # A bound the test's pause stays within: the replica serves throughout.
    with board_stream(pg_center, postgres_url, replica_url, max_lag=60) as (http, headers, _):
        shown = first_board(http, -1, 5)
        assert shown is not None
        with replay_paused(replica_url):
            issue(http, headers, "Not yet on the replica")
            written = pg_center.head_position()
            # The primary's views have it; the replica's do not: no newer board is sent.
            paused = first_board(http, shown, 1.5)
            assert health(http)["state"] == "serving"
        # Replayed: the board of the new position comes.
        after = first_board(http, shown, 8)
    assert paused is None or paused < written
    assert after is not None
    assert after >= written


def test_the_boards_stream_reads_the_primary_while_the_replica_is_behind(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    with board_stream(pg_center, postgres_url, replica_url, max_lag=0.3) as (
        http,
        headers,
        reads,
    ):
        shown = first_board(http, -1, 5)
        assert shown is not None
        with replay_paused(replica_url):
            issue(http, headers, "Only on the primary")
            written = pg_center.head_position()
            assert eventually(lambda: health(http)["state"] == "behind")
            assert reads.for_reading() is reads.store
            during = first_board(http, shown, 8)
    assert during is not None
    assert during >= written

"""Queries from a streaming replica (ADR 0072), on the real standby that ``.ci/replica``
makes on 127.0.0.1:5433 from the test primary.

A read sees its principal's own write whether it is sent to the replica or to the
primary; a replica whose replay is paused past the bound, or that cannot be reached (here
through a loopback relay the test cuts, so the shared standby keeps running), is out of
the read path, ``/health`` says so, and no read answers a 500; it is put back once it
has caught up or answers again.

Skipped on a laptop without the standby; with ``CLOSEDLOOP_REQUIRE_POSTGRES=1`` (CI)
they fail instead. The tests that pause the shared standby's replay hold a file lock,
and so do the others, so that two test processes never see each other's pause.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from closedloop.settings import ServerSettings, Settings, SettingsError
from domain.application import CommandCenter
from domain.demo import load_demo
from tests.e2e.server import free_port

Client = TestClient[Any]


def eventually(seen: Callable[[], bool], within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if seen():
            return True
        time.sleep(0.05)
    return False


@contextmanager
def served(
    center: CommandCenter, postgres_url: str, read_url: str, *, max_lag: float = 0.5
) -> Iterator[tuple[Client, dict[str, str]]]:
    """The API on ``center``, its views read from the replica at ``read_url``; with the
    district's dispatcher's headers."""
    load_demo(center)
    secret = (
        TokenBook(center)
        .issue(user="dispatcher", unit="HW", roles=["dispatcher"], label="replica test")
        .secret
    )
    settings = Settings(
        database_url=postgres_url,
        server=ServerSettings(
            read_database_url=read_url, replica_max_lag_seconds=max_lag, replica_wait_seconds=2
        ),
    )
    reads = build_read_models(center, settings=settings)
    with TestClient(create_app(center, reads=reads)) as client:
        assert eventually(lambda: health(client)["state"] == "serving"), health(client)
        yield client, {"Authorization": f"Bearer {secret}"}


def health(client: Client) -> dict[str, Any]:
    r = client.get("/health")
    assert r.status_code == 200, r.text
    replica: dict[str, Any] = r.json()["replica"]
    return replica


def issue(client: Client, headers: dict[str, str], title: str) -> dict[str, Any]:
    body = {"lead_unit": "HW-DH", "title": title, "due_in": "P2D"}
    r = client.post("/v1/instructions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return {**result, "title": title}


def read_back(client: Client, headers: dict[str, str], sent: dict[str, Any]) -> str:
    """Read the instruction just issued, with no position named; where it was read."""
    r = client.get(f"/v1/instructions/{sent['id']}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["title"] == sent["title"]
    return r.headers["x-read-from"]


@contextmanager
def replay_paused(url: str) -> Iterator[None]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


@pytest.mark.postgres
def test_each_write_is_read_back_at_once_through_the_replica(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    with served(pg_center, postgres_url, replica_url) as (client, headers):

        def write_and_read(writer: int) -> list[str]:
            return [
                read_back(client, headers, issue(client, headers, f"Check pump {writer}-{i}"))
                for i in range(100)
            ]

        # Two writers at once (as two tabs of one dispatcher): each read waits for the
        # principal's last write, whichever of the two made it.
        with ThreadPoolExecutor(2) as writers:
            where = [w for ws in writers.map(write_and_read, range(2)) for w in ws]
        # A list read too: the dispatcher's inbox shows the last of them first.
        r = client.get("/v1/units/HW/inbox", params={"limit": 10}, headers=headers)

    # 200 reads, none stale (read_back checked each), answered by the replica or, past
    # its wait, the primary.
    assert len(where) == 200
    assert where.count("replica") > 0, where
    assert r.status_code == 200
    assert r.headers["x-read-from"] == "replica"
    assert len(r.json()["issued"]) == 10


@pytest.mark.postgres
def test_a_replica_whose_replay_is_paused_is_out_of_the_read_path_until_it_catches_up(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    with served(pg_center, postgres_url, replica_url, max_lag=0.3) as (client, headers):
        with replay_paused(replica_url):
            sent = issue(client, headers, "Written while the replica stands still")
            assert eventually(lambda: health(client)["state"] == "behind")
            behind = health(client)
            during = read_back(client, headers, sent)
            listed = client.get("/v1/units", headers=headers)
        assert eventually(lambda: health(client)["state"] == "serving")
        after = read_back(client, headers, issue(client, headers, "Written after"))

    assert behind["reads"] == "primary"
    assert behind["lag_seconds"] > 0.3
    assert during == "primary"
    assert listed.status_code == 200
    assert listed.headers["x-read-from"] == "primary"
    assert after == "replica"


class Relay:
    """A loopback TCP relay to the standby that the test can cut (every connection
    closed, the port refused) and mend, so that the shared standby is never stopped."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.mend()

    def mend(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                inbound, _ = listener.accept()
            except OSError:
                return
            try:
                outbound = socket.create_connection(self.target, timeout=3)
            except OSError:
                inbound.close()
                continue
            with self._lock:
                self._open += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown first: it wakes the thread blocked in accept, which would
            # otherwise keep the port listening.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            open_now, self._open = self._open, []
        for s in open_now:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.mark.postgres
def test_a_replica_that_is_down_answers_no_500_and_comes_back(
    pg_center: CommandCenter, postgres_url: str, replica_url: str
) -> None:
    relay = Relay(("127.0.0.1", 5433))
    via_relay = replica_url.replace("127.0.0.1:5433", f"127.0.0.1:{relay.port}")
    try:
        with served(pg_center, postgres_url, via_relay) as (client, headers):
            before = read_back(client, headers, issue(client, headers, "Before the cut"))
            relay.cut()
            # At once, before any check has seen it: the reads already sent to the
            # replica are read again from the primary.
            at_once = [
                read_back(client, headers, issue(client, headers, f"During the cut {i}"))
                for i in range(5)
            ]
            listed = client.get("/v1/units", headers=headers)
            latest = client.get("/v1/units", headers={**headers, "X-Read-Consistency": "latest"})
            assert eventually(lambda: health(client)["state"] == "down")
            down = health(client)
            relay.mend()
            assert eventually(lambda: health(client)["state"] == "serving")
            assert eventually(
                lambda: read_back(client, headers, issue(client, headers, "Mended")) == "replica"
            )
    finally:
        relay.cut()

    assert before in {"replica", "primary"}  # answered 200, with its write
    assert set(at_once) <= {"replica", "primary"}  # each answered 200, with its write
    assert (listed.status_code, latest.status_code) == (200, 200)
    assert down["reads"] == "primary"
    assert down["fallbacks"] > 0


def test_a_read_database_that_is_not_postgresql_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_READ_DATABASE_URL"):
        Settings.from_env({"CLOSEDLOOP_READ_DATABASE_URL": "sqlite:///var/replica.sqlite3"})


def test_a_replica_of_an_sqlite_store_is_refused(tmp_path: Path) -> None:
    from closedloop.bootstrap import build_command_center

    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/events.sqlite3",
        server=ServerSettings(read_database_url="postgresql://postgres@127.0.0.1:1/none"),
    )
    center = build_command_center(settings)
    try:
        with pytest.raises(SettingsError, match="needs a PostgreSQL"):
            build_read_models(center, settings=settings)
    finally:
        center.close()

"""Fixtures shared by every layer of the suite.

The same tests run on the embedded SQLite store and on PostgreSQL (``center`` and
``database_url`` are parametrized over both). PostgreSQL tests talk to the real server
named by ``CLOSEDLOOP_TEST_POSTGRES_URL`` (default: the dev and CI machines' server);
each test gets a schema of its own, dropped afterwards. Without a server they are
skipped on a laptop, but with ``CLOSEDLOOP_REQUIRE_POSTGRES=1`` (as ``.ci/run`` sets)
they fail instead: in CI the PostgreSQL half never skips.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import freezegun
import psycopg
import pytest

import audit
from closedloop.bootstrap import build_command_center
from closedloop.catalogues import load_calendar
from closedloop.eventstore import CheckingPostgresRecorder
from closedloop.settings import DEFAULT_CALENDAR, Settings
from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from notifiers.secrets import Keyring
from tests.fakes import Receiver, serve

# The connection pool keeps its own clocks (connection ages, getconn deadlines). Under a
# frozen or moved clock it took live connections for expired ones and timed out waiting
# for new ones; it is outside what the tests freeze, so it reads the real clock.
freezegun.configure(extend_ignore_list=["psycopg_pool"])

POSTGRES_URL = os.environ.get(
    "CLOSEDLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("CLOSEDLOOP_REQUIRE_POSTGRES") == "1"


def _postgres_reason() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return f"PostgreSQL at {POSTGRES_URL} cannot be reached: {e}"


_POSTGRES_DOWN = _postgres_reason()


def require_postgres() -> None:
    """Skip (on a laptop) or fail (in CI) when PostgreSQL is not there."""
    if _POSTGRES_DOWN is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(_POSTGRES_DOWN + " (CLOSEDLOOP_REQUIRE_POSTGRES=1)")
    pytest.skip(_POSTGRES_DOWN)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``schema`` is fresh and is dropped after the test."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


REPLICA_URL = os.environ.get(
    "CLOSEDLOOP_TEST_REPLICA_URL", "postgresql://postgres@127.0.0.1:5433/test"
)
#: Held while a test reads from (or pauses) the shared standby.
LOCK = Path("/tmp/closedloop-test-replica.lock")  # noqa: S108


def _replica_reason() -> str | None:
    try:
        with psycopg.connect(REPLICA_URL, connect_timeout=3) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error as e:
        return f"no PostgreSQL standby at {REPLICA_URL}: {e} (bash .ci/replica makes it)"
    if row is None or not row[0]:
        return f"{REPLICA_URL} is not a standby (not in recovery)"
    return None


@pytest.fixture
def replica_url() -> Iterator[str]:
    """The streaming standby of the test primary (``.ci/replica`` makes it), held by this
    test alone: the tests that pause its replay must not be seen by another."""
    reason = _replica_reason()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason + " (CLOSEDLOOP_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield REPLICA_URL
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/closedloop.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    """The shipped calendar: Chinese office hours with the 2026 holidays."""
    return load_calendar(DEFAULT_CALENDAR)


def make_center(url: str) -> CommandCenter:
    return build_command_center(Settings(database_url=url))


@contextmanager
def opened_center(url: str) -> Iterator[CommandCenter]:
    """The application on the store at ``url``, closed afterwards (a server process)."""
    app = make_center(url)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def center(database_url: str) -> Iterator[CommandCenter]:
    """The application on a fresh store, SQLite or PostgreSQL."""
    with opened_center(database_url) as app:
        yield app


@pytest.fixture
def pg_center(postgres_url: str) -> Iterator[CommandCenter]:
    """The application on a fresh PostgreSQL schema, for what only PostgreSQL has."""
    with opened_center(postgres_url) as app:
        yield app


@pytest.fixture
def pg_recorder(pg_center: CommandCenter) -> CheckingPostgresRecorder:
    """The event store's recorder of ``pg_center``: commands written together (ADR 0027)."""
    recorder = pg_center.recorder
    assert isinstance(recorder, CheckingPostgresRecorder)
    return recorder


@pytest.fixture
def memory_center(calendar: WorkingCalendar) -> Iterator[CommandCenter]:
    """The application on the library's in-memory store: no I/O, for unit tests."""
    app = CommandCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=calendar)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def demo(center: CommandCenter) -> CommandCenter:
    """``center`` with the demo district loaded."""
    load_demo(center)
    return center


@pytest.fixture
def keyring() -> Keyring:
    """A fresh keyring for the webhooks' signing secrets."""
    return Keyring.generate()


@pytest.fixture
def audit_settings(tmp_path: Path) -> audit.AuditSettings:
    """The audit chain's settings: a key under ``tmp_path``, a checkpoint every ten events."""
    return audit.AuditSettings(key_path=tmp_path / "keys" / "audit-signing.key", every_events=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A department's webhook endpoint: a real HTTP server on loopback that checks each
    delivery's signature (the notifiers' tests and the end-to-end ones)."""
    r = Receiver()
    server = serve(r)
    yield r
    server.shutdown()
    server.server_close()

"""Our PostgreSQL recorder keeps the library's recorder contract: the library's own cases.

``CheckingPostgresRecorder`` (ADR 0027) is the only recorder of ours that writes events
(SQLite and the in-memory store use the library's recorders as they are). It replaces the
library's write, so the library's test cases for an application recorder are run against
it as written: positions handed out in order and contiguous, a taken version refused,
notifications selected by range and topic, ten writers and two readers at once, the
concurrent-throughput case, and two commands of 1,000 events written at the same moment
whose positions do not interleave (the table lock of ADR 0002).

Each case gets a schema of its own in the database at ``CLOSEDLOOP_TEST_POSTGRES_URL``,
dropped afterwards, and a datastore as the library's own suite makes it (one pooled
connection; ids of type ``uuid`` as ours are, and of type ``text`` too). The throughput
case prints its rate (``pytest -s``); ``python -m bench recorder`` compares it with the
library's recorder.
"""

from __future__ import annotations

import uuid
from typing import Literal

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.tests import persistence as library

from closedloop.eventstore import CheckingPostgresRecorder
from tests.conftest import POSTGRES_URL, require_postgres

pytestmark = pytest.mark.postgres


class _OnAFreshSchema:
    """A datastore on a schema made for the test and dropped after it."""

    datastore: PostgresDatastore
    #: Ours are ``uuid``; the recorder makes its function for either type.
    originator_id_type: Literal["uuid", "text"] = "uuid"

    def setUp(self) -> None:
        require_postgres()  # never a skip with CLOSEDLOOP_REQUIRE_POSTGRES=1
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
        self.datastore = PostgresDatastore(
            dbname=str(info.get("dbname", "test")),
            host=str(info.get("host", "127.0.0.1")),
            port=str(info.get("port", "5432")),
            user=str(info.get("user", "postgres")),
            password=str(info.get("password", "")),
            schema=self.schema,
            # As the library's own suite: one connection, so a write that holds it
            # while others wait for it shows.
            pool_size=1,
            max_overflow=0,
            originator_id_type=self.originator_id_type,
        )

    def tearDown(self) -> None:
        self.datastore.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def create_recorder(self) -> CheckingPostgresRecorder:
        recorder = CheckingPostgresRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestCheckingRecorderIsAnApplicationRecorder(
    _OnAFreshSchema, library.ApplicationRecorderTestCase[CheckingPostgresRecorder]
):
    pass


class TestCheckingRecorderKeepsEachCommandsPositionsTogether(
    _OnAFreshSchema, library.NonInterleavingNotificationIDsBaseCase
):
    pass


class _WithTextIds(_OnAFreshSchema):
    originator_id_type = "text"

    def new_originator_id(self) -> str:
        return str(uuid.uuid4())  # the library reads a text id back only as a str


class TestCheckingRecorderWithTextIdsIsAnApplicationRecorder(
    _WithTextIds, TestCheckingRecorderIsAnApplicationRecorder
):
    pass


class TestCheckingRecorderWithTextIdsKeepsEachCommandsPositionsTogether(
    _WithTextIds, TestCheckingRecorderKeepsEachCommandsPositionsTogether
):
    pass

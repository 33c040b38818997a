"""The view store is a tracking recorder like the library's own: the library's test case."""

from __future__ import annotations

import pytest
from eventsourcing.tests.persistence import TrackingRecorderTestCase

from projections.store import SQLiteViewStore, ViewStore
from projections.store.postgres import _to_psycopg
from tests.conftest import POSTGRES_URL, require_postgres


class TestSQLiteViewStoreTracksLikeTheLibrary(TrackingRecorderTestCase):
    def setUp(self) -> None:
        self.stores: list[ViewStore] = []

    def tearDown(self) -> None:
        for store in self.stores:
            store.discard()

    def create_recorder(self) -> ViewStore:
        store = SQLiteViewStore.temporary()
        self.stores.append(store)
        store.create_own_tables()
        return store


@pytest.mark.postgres
class TestPostgresViewStoreTracksLikeTheLibrary(TrackingRecorderTestCase):
    def setUp(self) -> None:
        require_postgres()
        self.stores: list[ViewStore] = []

    def tearDown(self) -> None:
        for store in self.stores:
            store.discard()

    def create_recorder(self) -> ViewStore:
        # The store of the database's own schema only names where the scratch goes.
        public = ViewStore.for_url(POSTGRES_URL)
        try:
            store = public.scratch()
        finally:
            public.close()
        self.stores.append(store)
        store.create_own_tables()
        return store


def test_portable_sql_reaches_psycopg_with_its_placeholders_and_literals_intact() -> None:
    sql = "SELECT a FROM t WHERE b = ? AND c LIKE ? || '%' AND d = '?:x' AND e = :name"
    assert _to_psycopg(sql) == (
        "SELECT a FROM t WHERE b = %s AND c LIKE %s || '%' AND d = '?:x' AND e = %(name)s"
    )


def test_a_store_starts_its_helper_threads_when_first_asked_and_stops_them_when_closed() -> None:
    import threading

    def helpers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("closedloop-report")}

    before = helpers()
    store = SQLiteViewStore.temporary()
    try:
        assert helpers() == before, "a store made helper threads before it needed one"
        helper = store.beside_caller(threading.current_thread).result(10)
        assert helper in helpers() - before
    finally:
        store.discard()

    assert not helper.is_alive(), "closing the store left its helper thread running"
    assert helpers() == before


def test_each_dialect_answers_for_its_own_urls_and_settings() -> None:
    sqlite = ViewStore.for_url("sqlite:///:memory:")
    try:
        assert isinstance(sqlite, SQLiteViewStore)
        assert sqlite.dialect == "sqlite"
    finally:
        sqlite.discard()
    unknown = ViewStore.for_env({})
    try:
        assert isinstance(unknown, SQLiteViewStore), "the in-memory store's views: SQLite"
    finally:
        unknown.discard()
    with pytest.raises(ValueError, match="no view store for a mysql:// database"):
        ViewStore.for_url("mysql://127.0.0.1/x")

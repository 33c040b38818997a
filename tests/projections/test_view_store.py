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

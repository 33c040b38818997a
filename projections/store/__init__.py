"""The view store: where the views live, in SQLite or PostgreSQL (ADR 0010, ADR 0034).

:mod:`projections.store.common` holds what both dialects share (transactions, the
tracking of positions, the views' state); :mod:`projections.store.sqlite` and
:mod:`projections.store.postgres` each write what is their database's own. Importing
the package defines both dialects, so that :meth:`ViewStore.for_url` and
:meth:`ViewStore.for_env` find them.
"""

from projections.store.common import (
    STATE_TABLE,
    TRACKING_TABLE,
    Dialect,
    OwnTable,
    Params,
    Tx,
    ViewStore,
    ViewTables,
    Where,
    tracking_name,
)
from projections.store.postgres import PostgresTx, PostgresViewStore, postgres_conninfo
from projections.store.sqlite import SQLiteTx, SQLiteViewStore, views_path

__all__ = [
    "STATE_TABLE",
    "TRACKING_TABLE",
    "Dialect",
    "OwnTable",
    "Params",
    "PostgresTx",
    "PostgresViewStore",
    "SQLiteTx",
    "SQLiteViewStore",
    "Tx",
    "ViewStore",
    "ViewTables",
    "Where",
    "postgres_conninfo",
    "tracking_name",
    "views_path",
]

"""The view store's SQLite dialect: a file of its own beside the event store's (WAL),
one connection per thread, statements run as written."""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import SplitResult

from projections.store.common import Dialect, Params, Rows, Tx, ViewStore


def views_path(events_path: str) -> str:
    """The views' SQLite file beside the event store's: ``x.sqlite3`` → ``x-views.sqlite3``."""
    path = Path(events_path)
    return str(path.with_name(f"{path.stem}-views{path.suffix}"))


class SQLiteTx(Tx):
    """A transaction on the SQLite file: ``?`` and ``:name`` are SQLite's own placeholders."""

    dialect: ClassVar[Dialect] = "sqlite"
    # SQLite's default limit of variables per statement is 999 (older builds).
    max_params: ClassVar[int] = 900

    def lock_schema_changes(self) -> None:
        # A transaction here already holds the file's one write lock (BEGIN IMMEDIATE).
        return

    def execute(
        self, sql: str, params: Params = (), *, prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        cursor.execute(sql, params)
        if cursor.description is None:
            return []
        return [tuple(row) for row in cursor.fetchall()]

    def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        self._cursor.executemany(sql, seq)

    def _insert(self, table: str, columns: Sequence[str], rows: Rows, tail: str) -> None:
        # In process, a statement per row costs little: one prepared statement, run for each.
        names = ", ".join(columns)
        values = ", ".join("?" * len(columns))
        self._cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({values}) {tail}", rows)

    def has_table(self, table: str) -> bool:
        return bool(
            self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        )

    def has_column(self, table: str, column: str) -> bool:
        return bool(
            self.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column))
        )


class SQLiteViewStore(ViewStore):
    """Views in an SQLite file (WAL), one connection per thread."""

    dialect: ClassVar[Dialect] = "sqlite"

    def __init__(self, path: str, *, owned_dir: str | None = None) -> None:
        super().__init__()
        self.path = path
        self._owned_dir = owned_dir
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Each thread has a connection of its own: to a file, the same database; in
        # memory, a database of its own.
        self.concurrent_reads = path != ":memory:"

    @classmethod
    def at_url(cls, parts: SplitResult) -> ViewStore | None:
        if parts.scheme != "sqlite":
            return None
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if path == ":memory:":
            return cls.temporary()
        return cls(views_path(path))

    @classmethod
    def beside(cls, env: Mapping[str, str]) -> ViewStore | None:
        if env.get("PERSISTENCE_MODULE", "") != "eventsourcing.sqlite":
            return None
        path = env.get("SQLITE_DBNAME", ":memory:")
        if path == ":memory:" or path.startswith("file:"):
            return cls.temporary()
        return cls(views_path(path))

    @classmethod
    def temporary(cls) -> SQLiteViewStore:
        """A store in a fresh temporary folder (for in-memory event stores and scratch)."""
        folder = tempfile.mkdtemp(prefix="closedloop-views-")
        return cls(os.path.join(folder, "views.sqlite3"), owned_dir=folder)

    def scratch(self) -> ViewStore:
        return SQLiteViewStore.temporary()

    def discard(self) -> None:
        self.close()
        if self._owned_dir:
            shutil.rmtree(self._owned_dir, ignore_errors=True)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Tx]:
        conn = self._connection()
        cursor = conn.cursor()
        # IMMEDIATE takes the write lock at once: two writers wait instead of failing late.
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield SQLiteTx(cursor)
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    def scratch_table(self, statement: str) -> None:
        # Created outside any transaction, once per connection: a read that created it
        # would drop it again at its rollback, and rolling back a change of schema
        # makes SQLite read the schema again and prepare every statement anew.
        conn = self._connection()
        made: set[str] | None = getattr(self._local, "scratch", None)
        if made is None:
            made = self._local.scratch = set()
        if statement not in made or conn.in_transaction:
            conn.execute(statement)
            if not conn.in_transaction:  # else it may yet be rolled back with the rest
                made.add(statement)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        conn = self._connection()
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        try:
            yield SQLiteTx(cursor)
        finally:
            conn.rollback()
            cursor.close()

    def _close_connections(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

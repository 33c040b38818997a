"""What every dialect of the view store shares: transactions, tracking, the views' state.

A *view* is a set of tables that one projection builds from the event log. Its tables
live in a :class:`ViewStore`: on SQLite a file of its own beside the event store (so
that writing a view never holds the event store's write lock), on PostgreSQL the
database and schema of the events. SQL is written once, in a portable subset: ``?``
placeholders, types TEXT / INTEGER / BIGINT (booleans as INTEGER), instants as
ISO-8601 UTC text (:func:`projections.values.iso`, sortable as text),
``INSERT … ON CONFLICT … DO UPDATE``. What differs between the two databases is written
by each dialect, in :mod:`projections.store.sqlite` and :mod:`projections.store.postgres`
(ADR 0034).
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, TypeVar
from urllib.parse import SplitResult, urlsplit

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

from projections.values import iso

Params = Sequence[Any] | Mapping[str, Any]
Dialect = Literal["sqlite", "postgres"]
Rows = Sequence[Sequence[Any]]
_T = TypeVar("_T")

#: The store's own tables: positions, and per view its schema version and heartbeat.
TRACKING_TABLE = "projection_tracking"
STATE_TABLE = "projection_state"
_OWN_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
    "application_name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
    "name TEXT PRIMARY KEY, version INTEGER NOT NULL, heartbeat TEXT)",
)

#: How many helper threads a store runs reads in beside its caller's (a report reads
#: its two halves at once, :mod:`projections.reports.reading`).
HELPER_THREADS = 4


def tracking_name(view_name: str) -> str:
    """The tracking key of a view (one row per view in the tracking table)."""
    return f"closedloop/{view_name}"


class Tx(ABC):
    """One transaction (or one read) on the view store, in the SQL of its dialect.

    Statements are written with ``?`` placeholders (and ``:name`` for named ones); each
    dialect runs them as its driver needs.
    """

    dialect: ClassVar[Dialect]
    #: Bound parameters per statement of :meth:`select_in`.
    max_params: ClassVar[int]

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @abstractmethod
    def lock_schema_changes(self) -> None:
        """Hold, to the end of this transaction, the right to create and drop tables.

        Two PostgreSQL sessions creating one table at once (two server workers starting
        on a fresh database) collide even with ``IF NOT EXISTS``: the loser fails on a
        catalogue key and its process stops. On SQLite one writer at a time is the rule.
        """

    @abstractmethod
    def execute(
        self, sql: str, params: Params = (), *, prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (``[]`` for DML without ``RETURNING``).

        ``prepare=False`` keeps PostgreSQL from preparing the statement, so it is
        planned for its very values each time (psycopg prepares a statement after five
        runs, and the server may then use a generic plan, blind to the values).
        """

    @abstractmethod
    def executemany(self, sql: str, seq: Iterable[Params]) -> None: ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = ""
    ) -> None:
        """``INSERT INTO {table} ({columns})`` many rows, then ``tail`` (an ``ON CONFLICT``).

        On PostgreSQL the rows of one call must not repeat a conflict key.
        """
        if rows:
            self._insert(table, columns, rows, tail)

    @abstractmethod
    def _insert(self, table: str, columns: Sequence[str], rows: Rows, tail: str) -> None:
        """:meth:`insert_rows` of at least one row."""

    @abstractmethod
    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists (on PostgreSQL, in the schema of the search path)."""

    @abstractmethod
    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` has ``column`` (on PostgreSQL, in the current schema)."""

    def select_in(
        self, sql: str, keys: Sequence[Any], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose ``{keys}`` placeholder becomes ``?, ?, …`` for ``keys``
        (in chunks, after ``params``)."""
        found: list[tuple[Any, ...]] = []
        step = self.max_params
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            found += self.execute(sql.format(keys=", ".join("?" * len(chunk))), (*params, *chunk))
        return found


class Where:
    """The conditions of a query and their parameters, in the order they were added."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def equal(self, column: str, value: Any) -> None:
        """``column = value``, unless ``value`` is None (no condition on the column)."""
        if value is not None:
            self.add(f"{column} = ?", value)

    def clause(self) -> str:
        """``WHERE`` and the conditions joined by ``AND``; nothing without conditions."""
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


class ViewTables(Protocol):
    """What the store needs to know of a view to create, check and reset its tables."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def create_statements(self) -> list[str]: ...

    def tables(self) -> list[str]: ...


class ViewStore(TrackingRecorder):
    """Where the views live, with one tracking row per view (a :class:`TrackingRecorder`)."""

    dialect: ClassVar[Dialect]
    #: The dialects by name, each registered by defining its class (the package
    #: imports both): :meth:`for_url` and :meth:`for_env` ask each in turn.
    _dialects: ClassVar[dict[str, type[ViewStore]]] = {}

    def __init__(self) -> None:
        self._created = False
        self._helpers: ThreadPoolExecutor | None = None
        self._helpers_lock = threading.Lock()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "dialect" in cls.__dict__:
            ViewStore._dialects[cls.dialect] = cls

    # -- construction -----------------------------------------------------------------

    @staticmethod
    def for_url(database_url: str) -> ViewStore:
        """The view store beside the event store named by ``CLOSEDLOOP_DATABASE_URL``."""
        parts = urlsplit(database_url)
        for dialect in ViewStore._dialects.values():
            store = dialect.at_url(parts)
            if store is not None:
                return store
        raise ValueError(f"no view store for a {parts.scheme or '(no scheme)'}:// database")

    @staticmethod
    def for_env(env: Mapping[str, str]) -> ViewStore:
        """The view store beside the event store of an application's persistence settings."""
        for dialect in ViewStore._dialects.values():
            store = dialect.beside(env)
            if store is not None:
                return store
        # The in-memory event store (unit tests): views in a temporary SQLite file.
        return ViewStore._dialects["sqlite"].temporary()

    @classmethod
    @abstractmethod
    def at_url(cls, parts: SplitResult) -> ViewStore | None:
        """The store of this dialect at a database URL, or None if the URL is not its own."""

    @classmethod
    @abstractmethod
    def beside(cls, env: Mapping[str, str]) -> ViewStore | None:
        """The store of this dialect beside the event store of these persistence settings,
        or None if they name another kind of event store."""

    @classmethod
    def temporary(cls) -> ViewStore:
        """A store of this dialect that needs no server, in a fresh temporary place."""
        raise NotImplementedError(f"the {cls.dialect} view store has no temporary form")

    @abstractmethod
    def scratch(self) -> ViewStore:
        """An empty store of the same kind, for ``verify`` (dropped by :meth:`discard`)."""

    @abstractmethod
    def discard(self) -> None:
        """Close and delete a scratch store."""

    # -- transactions -----------------------------------------------------------------

    @abstractmethod
    def transaction(self, *, bulk: bool = False) -> contextlib.AbstractContextManager[Tx]:
        """A write transaction: committed when the block ends, rolled back on error.

        ``bulk`` is for the runner's batches: on PostgreSQL the statements are
        pipelined (see :class:`projections.store.postgres.PostgresTx`).
        """

    @abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Tx]:
        """A read-only snapshot: every statement inside sees the same committed state."""

    #: Whether reads in several threads at once are reads of the same database, and
    #: worth running side by side (a report splits its queries in two).
    concurrent_reads: bool = True

    def scratch_table(self, statement: str) -> None:
        """Make sure the calling thread's reads can use the temporary table that
        ``CREATE TEMP TABLE IF NOT EXISTS …`` ``statement`` makes (SQLite only; a
        PostgreSQL read is READ ONLY and uses none)."""

    def beside_caller(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """``fn(*args)`` in a helper thread of this store's, started when first needed
        and stopped by :meth:`close`: reads the caller wants run beside its own."""
        with self._helpers_lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(
                    max_workers=HELPER_THREADS, thread_name_prefix="closedloop-report"
                )
            return self._helpers.submit(fn, *args)

    def close(self) -> None:
        """Stop the helper threads (a read not begun is cancelled) and the connections."""
        with self._helpers_lock:
            helpers, self._helpers = self._helpers, None
        if helpers is not None:
            helpers.shutdown(wait=True, cancel_futures=True)
        self._close_connections()

    @abstractmethod
    def _close_connections(self) -> None: ...

    def create_own_tables(self) -> None:
        if self._created:
            return
        with self.transaction() as tx:
            tx.lock_schema_changes()
            for statement in _OWN_TABLES:
                tx.execute(statement)
        self._created = True

    # -- TrackingRecorder ---------------------------------------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.transaction() as tx:
            self.insert_tracking_in(tx, tracking)

    def insert_tracking_in(self, tx: Tx, tracking: Tracking) -> None:
        """Record a position inside ``tx``; a position not beyond the last is refused."""
        rows = tx.execute(
            f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id) VALUES (?, ?) "
            "ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = excluded.notification_id "
            f"WHERE {TRACKING_TABLE}.notification_id < excluded.notification_id "
            "RETURNING notification_id",
            (tracking.application_name, tracking.notification_id),
        )
        if not rows:
            raise IntegrityError(
                f"{tracking.application_name} is already at or beyond {tracking.notification_id}"
            )

    def max_tracking_id(self, application_name: str) -> int | None:
        self.create_own_tables()
        with self.read() as tx:
            rows = tx.execute(
                f"SELECT notification_id FROM {TRACKING_TABLE} WHERE application_name = ?",
                (application_name,),
            )
        return int(rows[0][0]) if rows else None

    def positions(self) -> dict[str, int]:
        """Every tracked position, by tracking name."""
        self.create_own_tables()
        with self.read() as tx:
            rows = tx.execute(f"SELECT application_name, notification_id FROM {TRACKING_TABLE}")
        return {str(name): int(position) for name, position in rows}

    def lock_position(self, tx: Tx, application_name: str) -> int:
        """The position of ``application_name``, its row locked until ``tx`` ends."""
        lock = (
            f"UPDATE {TRACKING_TABLE} SET notification_id = notification_id "
            "WHERE application_name = ? RETURNING notification_id"
        )
        rows = tx.execute(lock, (application_name,))
        if not rows:
            rows = tx.execute(
                f"INSERT INTO {TRACKING_TABLE} (application_name, notification_id) VALUES (?, 0) "
                "ON CONFLICT (application_name) DO NOTHING RETURNING notification_id",
                (application_name,),
            )
            if not rows:
                # Another runner created the row meanwhile: its transaction has ended.
                rows = tx.execute(lock, (application_name,))
        return int(rows[0][0])

    def set_position(self, tx: Tx, application_name: str, position: int) -> None:
        tx.execute(
            f"UPDATE {TRACKING_TABLE} SET notification_id = ? WHERE application_name = ?",
            (position, application_name),
        )

    # -- views' state -------------------------------------------------------------------

    def state(self) -> dict[str, tuple[int, str | None]]:
        """Per view name: the schema version its tables were built with, its heartbeat."""
        self.create_own_tables()
        with self.read() as tx:
            rows = tx.execute(f"SELECT name, version, heartbeat FROM {STATE_TABLE}")
        return {str(n): (int(v), h) for n, v, h in rows}

    def beat(self, names: Iterable[str], at: datetime) -> None:
        """Note that the runner of these views was alive and caught up at ``at``."""
        with self.transaction() as tx:
            tx.executemany(
                f"UPDATE {STATE_TABLE} SET heartbeat = ? WHERE name = ?",
                [(iso(at), name) for name in names],
            )

    def ensure(self, view: ViewTables) -> bool:
        """Create the view's tables; drop and recreate them if its version changed.

        Answers whether the view was (re)created empty and must replay from the start.
        """
        self.create_own_tables()
        with self.read() as tx:
            rows = tx.execute(f"SELECT version FROM {STATE_TABLE} WHERE name = ?", (view.name,))
        if rows and int(rows[0][0]) == view.version:
            # Tables added since (IF NOT EXISTS), each in a transaction of its own: on
            # PostgreSQL ``CREATE INDEX IF NOT EXISTS`` share-locks its table even when the
            # index is there, and one transaction holding several such locks deadlocks with
            # another process writing those tables (a second worker starting beside one
            # that runs).
            for statement in view.create_statements:
                with self.transaction() as tx:
                    tx.lock_schema_changes()
                    tx.execute(statement)
            return False
        with self.transaction() as tx:
            tx.lock_schema_changes()
            rows = tx.execute(f"SELECT version FROM {STATE_TABLE} WHERE name = ?", (view.name,))
            if rows and int(rows[0][0]) == view.version:
                return False  # another process built it meanwhile
            self._reset_in(tx, view)
            return True

    def reset(self, view: ViewTables) -> None:
        """Drop the view's tables and position, and create them empty."""
        self.create_own_tables()
        with self.transaction() as tx:
            tx.lock_schema_changes()
            self._reset_in(tx, view)

    def _reset_in(self, tx: Tx, view: ViewTables) -> None:
        for table in view.tables():
            tx.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in view.create_statements:
            tx.execute(statement)
        tx.execute(
            f"DELETE FROM {TRACKING_TABLE} WHERE application_name = ?",
            (tracking_name(view.name),),
        )
        tx.execute(
            f"INSERT INTO {STATE_TABLE} (name, version, heartbeat) VALUES (?, ?, NULL) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            (view.name, view.version),
        )

    def table_rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of a table in a stable order (for ``verify``)."""
        with self.read() as tx:
            rows = tx.execute(f"SELECT * FROM {table}")
        return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


class OwnTable:
    """A table a part of the system keeps on a view store beside the views (the pages'
    sessions, each principal's last write): made the first time it is needed, under the
    schema-change lock, so that processes starting together make it once."""

    def __init__(self, store: ViewStore, statement: str) -> None:
        self.store = store
        self.statement = statement
        self._made = False

    def make(self) -> None:
        if self._made:
            return
        with self.store.transaction() as tx:
            tx.lock_schema_changes()
            tx.execute(self.statement)
        self._made = True

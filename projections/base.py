"""The view store and the base class of every projection (ADR 0010).

A *view* is a set of tables that one projection builds from the event log. Its tables
live in a :class:`ViewStore`: on SQLite a file of its own beside the event store (so
that writing a view never holds the event store's write lock), on PostgreSQL the
database and schema of the events. SQL is written once, in a portable subset: ``?``
placeholders, types TEXT / INTEGER / BIGINT (booleans as INTEGER), instants as
ISO-8601 UTC text (:func:`iso`, sortable as text), ``INSERT … ON CONFLICT … DO UPDATE``.

Exactly-once: a batch of events and the view's tracking position are written in one
transaction, and the transaction first locks the view's tracking row, so that two
runners on one PostgreSQL database serialize per view and the second one skips what
the first applied (:meth:`View.process_in`). The runner applies a batch to every view in
one such transaction, and a view may keep its rows in memory for the batch
(:class:`RowBuffer`, ADR 0016).
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import inspect
import operator
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache, singledispatchmethod
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.projection import Projection

Params = Sequence[Any] | Mapping[str, Any]
Dialect = Literal["sqlite", "postgres"]

#: The store's own tables: positions, and per view its schema version and heartbeat.
TRACKING_TABLE = "projection_tracking"
STATE_TABLE = "projection_state"
_OWN_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
    "application_name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
    "name TEXT PRIMARY KEY, version INTEGER NOT NULL, heartbeat TEXT)",
)


def postgres_conninfo(env: Mapping[str, str]) -> dict[str, Any]:
    """psycopg's connection arguments from the event store library's PostgreSQL settings."""
    return {
        "dbname": env["POSTGRES_DBNAME"],
        "host": env.get("POSTGRES_HOST", "127.0.0.1"),
        "port": int(env.get("POSTGRES_PORT", "5432")),
        "user": env.get("POSTGRES_USER", "postgres"),
        "password": env.get("POSTGRES_PASSWORD", ""),
        "connect_timeout": int(env.get("POSTGRES_CONNECT_TIMEOUT", "5")),
    }


def iso(instant: datetime | None) -> str | None:
    """An instant as the views store it: ISO-8601 in UTC with microseconds, sortable."""
    if instant is None:
        return None
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    # Without a timespec the text is the same whenever there are microseconds to show,
    # and cheaper to ask for: a rebuild writes a few of these per event.
    if instant.microsecond:
        return instant.isoformat()
    return instant.isoformat(timespec="microseconds")


#: How many ids :func:`id_text` remembers.
ID_TEXTS = 16_384
_ID_TEXTS: dict[uuid.UUID, str] = {}


def id_text(value: uuid.UUID) -> str:
    """``str(value)``, remembered: the views key their rows by an aggregate's id as text,
    and the same few ids recur in many events of a batch (a UUID turns into text in
    Python, slowly)."""
    text = _ID_TEXTS.get(value)
    if text is None:
        if len(_ID_TEXTS) >= ID_TEXTS:
            _ID_TEXTS.clear()
        text = _ID_TEXTS[value] = str(value)
    return text


def from_iso(text: str | None) -> datetime | None:
    """The instant :func:`iso` wrote."""
    return None if text is None else datetime.fromisoformat(text)


def tracking_name(view_name: str) -> str:
    """The tracking key of a view (one row per view in the tracking table)."""
    return f"closedloop/{view_name}"


def views_path(events_path: str) -> str:
    """The views' SQLite file beside the event store's: ``x.sqlite3`` → ``x-views.sqlite3``."""
    path = Path(events_path)
    return str(path.with_name(f"{path.stem}-views{path.suffix}"))


_TOKEN = re.compile(r"'(?:[^']|'')*'|\?|%|:[A-Za-z_]\w*|[^'?%:]+|:")


@lru_cache(maxsize=1024)
def _to_psycopg(sql: str) -> str:
    """``?`` → ``%s``, ``:name`` → ``%(name)s``, ``%`` → ``%%``, string literals untouched."""
    out: list[str] = []
    for part in _TOKEN.findall(sql):
        if part == "?":
            out.append("%s")
        elif part == "%":
            out.append("%%")
        elif part.startswith(":") and len(part) > 1:
            out.append(f"%({part[1:]})s")
        else:
            out.append(part)
    return "".join(out)


_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)


@lru_cache(maxsize=1024)
def _returns_rows(sql: str) -> bool:
    return _ROWS.search(sql) is not None


#: Bound parameters per statement on PostgreSQL stay well under its 65,535.
_MAX_PARAMS = 30_000


#: PostgreSQL type per column of a view table (the same in every schema: one definition).
_COLUMN_TYPES: dict[str, dict[str, str]] = {}


class Tx:
    """One transaction (or one read) on the view store.

    A *pipelined* transaction (PostgreSQL, :meth:`ViewStore.transaction` with
    ``bulk=True``) sends statements without waiting for each answer; a statement that
    returns rows (``SELECT``, ``RETURNING``) waits for everything sent before it. An
    error then surfaces at the next such wait or at commit, and rolls the whole
    transaction back all the same.
    """

    def __init__(self, cursor: Any, dialect: Dialect, *, pipelined: bool = False) -> None:
        self._cursor = cursor
        self.dialect: Dialect = dialect
        self.pipelined = pipelined

    def lock_schema_changes(self) -> None:
        """Hold, to the end of this transaction, the right to create and drop tables.

        Two PostgreSQL sessions creating one table at once (two server workers starting
        on a fresh database) collide even with ``IF NOT EXISTS``: the loser fails on a
        catalogue key and its process stops. On SQLite one writer at a time is the rule.
        """
        if self.dialect == "postgres":
            self.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")

    def execute(
        self, sql: str, params: Params = (), *, prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (``[]`` for DML without ``RETURNING``).

        ``prepare=False`` keeps PostgreSQL from preparing the statement, so it is
        planned for its very values each time (psycopg prepares a statement after five
        runs, and the server may then use a generic plan, blind to the values).
        """
        cursor = self._cursor
        if self.dialect == "postgres":
            cursor.execute(_to_psycopg(sql), params, prepare=prepare)
            if self.pipelined:
                # The answer has not arrived yet: what the statement is says whether to wait.
                if not _returns_rows(sql):
                    return []
            elif cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchall()]
        cursor.execute(sql, params)
        if cursor.description is None:
            return []
        return [tuple(row) for row in cursor.fetchall()]

    def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        if self.dialect == "postgres":
            self._cursor.executemany(_to_psycopg(sql), list(seq))
        else:
            self._cursor.executemany(sql, seq)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = ""
    ) -> None:
        """``INSERT INTO {table} ({columns})`` many rows, then ``tail`` (an ``ON CONFLICT``).

        On PostgreSQL the rows go as one array per column in one statement (a statement
        per row costs a parse and an execution each, and a long ``VALUES`` list costs
        psycopg a slow parse); SQLite, in process, takes them one by one. On PostgreSQL
        the rows of one call must not repeat a conflict key.
        """
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect == "sqlite":
            values = ", ".join("?" * len(columns))
            self._cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({values}) {tail}", rows
            )
            return
        types = self._column_types(table)
        arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)
        self._cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {_to_psycopg(tail)}",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists (on PostgreSQL, in the schema of the search path)."""
        if self.dialect == "postgres":
            return bool(self.execute("SELECT to_regclass(?) IS NOT NULL", (table,))[0][0])
        return bool(
            self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        )

    def _column_types(self, table: str) -> dict[str, str]:
        types = _COLUMN_TYPES.get(table)
        if types is None:
            rows = self.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
            types = _COLUMN_TYPES[table] = {str(n): str(t) for n, t in rows}
        return types

    def select_in(
        self, sql: str, keys: Sequence[Any], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose ``{keys}`` placeholder becomes ``?, ?, …`` for ``keys``
        (in chunks, after ``params``)."""
        found: list[tuple[Any, ...]] = []
        step = 900 if self.dialect == "sqlite" else _MAX_PARAMS
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            found += self.execute(sql.format(keys=", ".join("?" * len(chunk))), (*params, *chunk))
        return found


class ViewStore(TrackingRecorder):
    """Where the views live, with one tracking row per view (a :class:`TrackingRecorder`)."""

    dialect: Dialect

    def __init__(self) -> None:
        self._created = False

    # -- construction -----------------------------------------------------------------

    @staticmethod
    def for_url(database_url: str) -> ViewStore:
        """The view store beside the event store named by ``CLOSEDLOOP_DATABASE_URL``."""
        parts = urlsplit(database_url)
        if parts.scheme == "sqlite":
            path = parts.path[1:] if parts.path.startswith("/") else parts.path
            if path == ":memory:":
                return SQLiteViewStore.temporary()
            return SQLiteViewStore(views_path(path))
        if parts.scheme in ("postgresql", "postgres"):
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            return PostgresViewStore(
                dbname=parts.path.lstrip("/"),
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                schema=query.get("schema", "public"),
                connect_timeout=int(query.get("connect_timeout", "5")),
            )
        raise ValueError(f"no view store for a {parts.scheme or '(no scheme)'}:// database")

    @staticmethod
    def for_env(env: Mapping[str, str]) -> ViewStore:
        """The view store beside the event store of an application's persistence settings."""
        module = env.get("PERSISTENCE_MODULE", "")
        if module == "eventsourcing.sqlite":
            path = env.get("SQLITE_DBNAME", ":memory:")
            if path == ":memory:" or path.startswith("file:"):
                return SQLiteViewStore.temporary()
            return SQLiteViewStore(views_path(path))
        if module == "eventsourcing.postgres":
            return PostgresViewStore(
                **postgres_conninfo(env), schema=env.get("POSTGRES_SCHEMA") or "public"
            )
        # The in-memory event store (unit tests): views in a temporary SQLite file.
        return SQLiteViewStore.temporary()

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
        pipelined (see :class:`Tx`).
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

    @abstractmethod
    def close(self) -> None: ...

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

    def ensure(self, view: View) -> bool:
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

    def reset(self, view: View) -> None:
        """Drop the view's tables and position, and create them empty."""
        self.create_own_tables()
        with self.transaction() as tx:
            tx.lock_schema_changes()
            self._reset_in(tx, view)

    def _reset_in(self, tx: Tx, view: View) -> None:
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


class SQLiteViewStore(ViewStore):
    """Views in an SQLite file (WAL), one connection per thread."""

    dialect: Dialect = "sqlite"

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
            yield Tx(cursor, "sqlite")
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
            yield Tx(cursor, "sqlite")
        finally:
            conn.rollback()
            cursor.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()


class PostgresViewStore(ViewStore):
    """Views in the events' PostgreSQL database and schema, through a connection pool."""

    dialect: Dialect = "postgres"

    def __init__(
        self,
        *,
        dbname: str,
        host: str = "127.0.0.1",
        port: int = 5432,
        user: str = "postgres",
        password: str = "",
        schema: str = "public",
        connect_timeout: int = 5,
        pool_size: int = 4,
    ) -> None:
        from psycopg_pool import ConnectionPool

        super().__init__()
        self.schema = schema
        self._conninfo: dict[str, Any] = {
            "dbname": dbname,
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "connect_timeout": connect_timeout,
        }
        self.pool = ConnectionPool(
            kwargs={**self._conninfo, "options": f"-c search_path={schema}"},
            min_size=1,
            max_size=pool_size,
            open=True,
            name=f"closedloop-views-{schema}",
        )

    def connect(self, **kwargs: Any) -> Any:
        """A connection of its own (for LISTEN), outside the pool."""
        import psycopg

        return psycopg.connect(**self._conninfo, options=f"-c search_path={self.schema}", **kwargs)

    def scratch(self) -> ViewStore:
        import psycopg

        schema = f"{self.schema}_scratch_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(**self._conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return PostgresViewStore(**self._conninfo, schema=schema, pool_size=2)

    def discard(self) -> None:
        import psycopg

        self.close()
        with psycopg.connect(**self._conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    @contextlib.contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Tx]:
        with self.pool.connection() as conn:
            if not bulk:
                with conn.transaction(), conn.cursor() as cursor:
                    yield Tx(cursor, "postgres")
                return
            with conn.pipeline(), conn.transaction(), conn.cursor() as cursor:
                yield Tx(cursor, "postgres", pipelined=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        from psycopg import IsolationLevel

        with self.pool.connection() as conn:
            # READ COMMITTED would take a new snapshot for each statement: a report's
            # subtree and its counts could then come from two states of the views.
            try:
                conn.isolation_level = IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                with conn.transaction(), conn.cursor() as cursor:
                    yield Tx(cursor, "postgres")
            finally:
                # A broken connection is dropped by the pool; resetting it would only
                # hide the error that broke it.
                if not conn.broken:
                    conn.isolation_level = None
                    conn.read_only = None

    def close(self) -> None:
        self.pool.close()


#: Per view class, per event type: the branch of its ``apply`` (None: ignored).
_BRANCHES: dict[type, dict[type, Callable[[Any, Any, Tx], None] | None]] = {}

_TABLE_NAME = re.compile(r"CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)


class View(Projection[ViewStore]):
    """A projection that builds some tables of a :class:`ViewStore` from the log.

    Subclasses set ``name``, ``create_statements`` and ``version`` and write
    :meth:`apply`, one branch per event type; anything else is ignored. ``apply`` is
    deterministic: no clock, only the event's fields (``event.timestamp``, the
    recorded time; ``event.meta.occurred_at``, the business time).

    When ``apply`` is a ``singledispatchmethod``, events of a type it has no branch
    for are not handed to it at all (its fallback ignores them). A view may also
    override :meth:`apply_batch` to change its rows in memory and write each once per
    batch (ADR 0016).
    """

    name: str = ""
    create_statements: ClassVar[list[str]] = []
    #: Bump when the tables change: the runner then drops and rebuilds the view.
    version: ClassVar[int] = 1
    #: The log position of the event being applied (set by :meth:`apply_batch`).
    at: int = 0
    #: The ``singledispatchmethod`` whose branches say which events the view follows.
    dispatcher: ClassVar[str] = "apply"

    @property
    def store(self) -> ViewStore:
        return self.view

    @property
    def tracking_name(self) -> str:
        return tracking_name(self.name)

    @classmethod
    def tables(cls) -> list[str]:
        """The tables the view creates, in creation order."""
        return [m.group(1) for s in cls.create_statements if (m := _TABLE_NAME.search(s))]

    @classmethod
    def branch(cls, event_type: type) -> Callable[[Any, Any, Tx], None] | None:
        """The function that applies events of ``event_type`` (called with the view, the
        event and the transaction), or None when the view ignores them."""
        known = _BRANCHES.setdefault(cls, {})
        if event_type not in known:
            method = inspect.getattr_static(cls, cls.dispatcher, None)
            if isinstance(method, singledispatchmethod):
                found = method.dispatcher.dispatch(event_type)
                # The fallback of a dispatching ``apply`` ignores the event.
                known[event_type] = None if found is method.dispatcher.registry[object] else found
            else:
                known[event_type] = getattr(cls, cls.dispatcher)
        return known[event_type]

    @abstractmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Change the view for one event (a no-op for events it does not follow)."""

    def apply_batch(self, events: Sequence[tuple[Any, int]], tx: Tx) -> None:
        """Change the view for events in log order (each with its position), inside ``tx``.

        By default :meth:`apply` for each event that the view follows.
        """
        branch = self.branch
        for event, position in events:
            # The branch itself, not the dispatching method: binding it costs per call.
            if (apply := branch(type(event))) is not None:
                self.at = position
                apply(self, event, tx)

    def position(self) -> int:
        return self.view.max_tracking_id(self.tracking_name) or 0

    def process_in(
        self, tx: Tx, events: Sequence[tuple[Any, int]], expected: int | None = None
    ) -> int:
        """Apply events (each with its log position) and set the position, inside ``tx``.

        The view's tracking row is locked first and events at or before its position
        are skipped (another runner applied them): an event is applied once. A view
        found behind ``expected`` (the position its runner last knew) was reset under
        it, by a rebuild: nothing is applied, or the events before this batch would be
        missing from it for good; the runner reads again from the position answered.
        Answers the view's position afterwards.
        """
        current = self.view.lock_position(tx, self.tracking_name)
        if expected is not None and current < expected:
            return current
        todo = [(e, p) for e, p in events if p > current] if events[0][1] <= current else events
        if not todo:
            return current
        self.apply_batch(todo, tx)
        last = todo[-1][1]
        self.view.set_position(tx, self.tracking_name, last)
        return last

    def process_batch(self, events: Sequence[tuple[Any, int]]) -> int:
        """:meth:`process_in` in a transaction of its own."""
        if not events:
            return self.position()
        with self.view.transaction(bulk=True) as tx:
            return self.process_in(tx, events)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([(domain_event, tracking.notification_id)])


def _values_of(columns: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function answering a row's values as a tuple, in ``columns``' order."""
    if len(columns) == 1:
        only = columns[0]
        return lambda row: (row[only],)
    # itemgetter looks the columns up in C: a rebuild turns every row it writes.
    return operator.itemgetter(*columns)


class RowBuffer:
    """Rows of one table by primary key, read at most once and written once per batch.

    A view that changes the same rows again and again (a warning repeated a hundred
    times) keeps them here during :meth:`View.apply_batch` and writes them with one
    upsert at its end, instead of one statement per event. Rows are dicts by column.
    """

    def __init__(self, table: str, columns: Sequence[str], key: str = "id") -> None:
        self.table = table
        self.columns = list(columns)
        self.key = key
        self._rows: dict[Any, dict[str, Any] | None] = {}
        self._dirty: dict[Any, dict[str, Any]] = {}
        self._values = _values_of(self.columns)
        others = [c for c in self.columns if c != key]
        self._select = f"SELECT {', '.join(self.columns)} FROM {table} WHERE {key} IN ({{keys}})"
        self._upsert = f"ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(
            f"{c} = excluded.{c}" for c in others
        )

    def load(self, tx: Tx, keys: Iterable[Any]) -> None:
        """Read the rows of ``keys`` not read yet, in as few statements as can be."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._rows]
        if not wanted:
            return
        for k in wanted:
            self._rows[k] = None
        for values in tx.select_in(self._select, wanted):
            row = dict(zip(self.columns, values, strict=True))
            self._rows[row[self.key]] = row

    def get(self, tx: Tx, key: Any) -> dict[str, Any] | None:
        """The row to change (None if the table has none): it is written at :meth:`flush`."""
        if key not in self._rows:
            self.load(tx, [key])
        row = self._rows[key]
        if row is not None:
            self._dirty[key] = row
        return row

    def peek(self, tx: Tx, key: Any) -> dict[str, Any] | None:
        """The row as it stands in the batch, to read only (not written back for this)."""
        if key not in self._rows:
            self.load(tx, [key])
        return self._rows[key]

    def add(self, row: dict[str, Any]) -> None:
        """A new row, written at :meth:`flush`."""
        self._rows[row[self.key]] = self._dirty[row[self.key]] = row

    def flush(self, tx: Tx) -> None:
        """Write every row changed or added, and forget them all."""
        if self._dirty:
            values = self._values
            rows = [values(row) for row in self._dirty.values()]
            tx.insert_rows(self.table, self.columns, rows, self._upsert)
        self._rows.clear()
        self._dirty.clear()


class GroupBuffer:
    """Rows of one table in groups (every assignee of one instruction), each group read
    at most once and written once per batch.

    The table's primary key is (``group``, ``member``). A group is read whole, changed
    in memory as a list of dicts by column, and at :meth:`flush` its rows are written
    with one upsert and the rows no longer in it are deleted.
    """

    def __init__(self, table: str, columns: Sequence[str], group: str, member: str) -> None:
        self.table = table
        self.columns = list(columns)
        self.group = group
        self.member = member
        self._groups: dict[Any, list[dict[str, Any]]] = {}
        self._values = _values_of(self.columns)
        self._stored: dict[Any, set[Any]] = {}
        self._dirty: dict[Any, None] = {}
        others = [c for c in self.columns if c not in (group, member)]
        self._select = f"SELECT {', '.join(self.columns)} FROM {table} WHERE {group} IN ({{keys}})"
        self._delete = f"DELETE FROM {table} WHERE {group} = ? AND {member} = ?"
        self._upsert = f"ON CONFLICT ({group}, {member}) DO UPDATE SET " + ", ".join(
            f"{c} = excluded.{c}" for c in others
        )

    def load(self, tx: Tx, keys: Iterable[Any]) -> None:
        """Read the groups of ``keys`` not read yet, in as few statements as can be."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._groups]
        if not wanted:
            return
        for k in wanted:
            self._groups[k] = []
            self._stored[k] = set()
        for values in tx.select_in(self._select, wanted):
            row = dict(zip(self.columns, values, strict=True))
            self._groups[row[self.group]].append(row)
            self._stored[row[self.group]].add(row[self.member])

    def get(self, tx: Tx, key: Any) -> list[dict[str, Any]]:
        """The rows of a group (empty if it has none), to change in place or to add to
        and remove from: they are written at :meth:`flush`."""
        if key not in self._groups:
            self.load(tx, [key])
        self._dirty[key] = None
        return self._groups[key]

    def put(self, key: Any, rows: list[dict[str, Any]]) -> None:
        """A new group, written at :meth:`flush`."""
        self._groups[key] = rows
        self._stored.setdefault(key, set())
        self._dirty[key] = None

    def flush(self, tx: Tx) -> None:
        """Write every group changed or added, delete the rows taken out, forget them all."""
        rows: list[tuple[Any, ...]] = []
        gone: list[tuple[Any, Any]] = []
        for key in self._dirty:
            present = set()
            for row in self._groups[key]:
                rows.append(self._values(row))
                present.add(row[self.member])
            gone += [(key, m) for m in sorted(self._stored[key] - present)]
        if gone:
            tx.executemany(self._delete, gone)
        tx.insert_rows(self.table, self.columns, rows, self._upsert)
        self._groups.clear()
        self._stored.clear()
        self._dirty.clear()

"""The view store's PostgreSQL dialect: the events' database and schema, through a
connection pool, statements pipelined in bulk and rows sent as arrays."""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import SplitResult, parse_qs, unquote

from projections.outage import reconnect_promptly
from projections.store.common import Dialect, Params, Rows, Tx, ViewStore


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


#: The store settings' key (beside the event store library's) for the longest a statement
#: may run, in seconds; the server's processes set it (ADR 0051), others leave it out.
STATEMENT_TIMEOUT = "POSTGRES_STATEMENT_TIMEOUT"


def session_options(schema: str, statement_timeout: float) -> str:
    """libpq's ``options`` for a session of the views: the schema, and a statement
    timeout (none for 0), set as the session starts, at no round trip of its own."""
    options = f"-c search_path={schema}"
    if statement_timeout > 0:
        options += f" -c statement_timeout={round(statement_timeout * 1000)}"
    return options


# Every view writes its SQL once, for both dialects, with SQLite's ``?`` and ``:name``
# placeholders: rewriting a few hundred statements per dialect would double them and
# let the two drift apart. psycopg takes ``%s`` and ``%(name)s`` (and a literal ``%``
# doubled), so this dialect, and only this one, rewrites each statement once (cached).
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


#: PostgreSQL type per column of a view table (the same in every schema: one definition).
_COLUMN_TYPES: dict[str, dict[str, str]] = {}


class PostgresTx(Tx):
    """A transaction (or a read) on PostgreSQL.

    A *pipelined* transaction (:meth:`ViewStore.transaction` with ``bulk=True``) sends
    statements without waiting for each answer; a statement that returns rows
    (``SELECT``, ``RETURNING``) waits for everything sent before it. An error then
    surfaces at the next such wait or at commit, and rolls the whole transaction back
    all the same.
    """

    dialect: ClassVar[Dialect] = "postgres"
    #: Bound parameters per statement stay well under PostgreSQL's 65,535.
    max_params: ClassVar[int] = 30_000

    def __init__(self, cursor: Any, *, pipelined: bool = False) -> None:
        super().__init__(cursor)
        self.pipelined = pipelined

    def lock_schema_changes(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")

    def execute(
        self, sql: str, params: Params = (), *, prepare: bool | None = None
    ) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        cursor.execute(_to_psycopg(sql), params, prepare=prepare)
        if self.pipelined:
            # The answer has not arrived yet: what the statement is says whether to wait.
            if not _returns_rows(sql):
                return []
        elif cursor.description is None:
            return []
        return [tuple(row) for row in cursor.fetchall()]

    def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        self._cursor.executemany(_to_psycopg(sql), list(seq))

    def _insert(self, table: str, columns: Sequence[str], rows: Rows, tail: str) -> None:
        # The rows go as one array per column in one statement: a statement per row
        # costs a parse and an execution each, and a long ``VALUES`` list costs psycopg
        # a slow parse.
        names = ", ".join(columns)
        types = self._column_types(table)
        arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)
        self._cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {_to_psycopg(tail)}",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def has_table(self, table: str) -> bool:
        return bool(self.execute("SELECT to_regclass(?) IS NOT NULL", (table,))[0][0])

    def has_column(self, table: str, column: str) -> bool:
        rows = self.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?",
            (table, column),
        )
        return bool(rows)

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


class PostgresViewStore(ViewStore):
    """Views in the events' PostgreSQL database and schema, through a connection pool."""

    dialect: ClassVar[Dialect] = "postgres"

    @classmethod
    def at_url(cls, parts: SplitResult) -> ViewStore | None:
        if parts.scheme not in ("postgresql", "postgres"):
            return None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            dbname=parts.path.lstrip("/"),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            schema=query.get("schema", "public"),
            connect_timeout=int(query.get("connect_timeout", "5")),
        )

    @classmethod
    def beside(cls, env: Mapping[str, str]) -> ViewStore | None:
        if env.get("PERSISTENCE_MODULE", "") != "eventsourcing.postgres":
            return None
        return cls(
            **postgres_conninfo(env),
            schema=env.get("POSTGRES_SCHEMA") or "public",
            statement_timeout=float(env.get(STATEMENT_TIMEOUT) or 0),
        )

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
        statement_timeout: float = 0.0,
    ) -> None:
        from psycopg_pool import ConnectionPool

        super().__init__()
        self.schema = schema
        #: Every session's settings: the schema, and how long a statement may run.
        self._options = session_options(schema, statement_timeout)
        self._conninfo: dict[str, Any] = {
            "dbname": dbname,
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "connect_timeout": connect_timeout,
        }
        self.pool = ConnectionPool(
            kwargs={**self._conninfo, "options": self._options},
            min_size=1,
            max_size=pool_size,
            name=f"closedloop-views-{schema}",
            open=False,
        )
        # A read waits for a connection as long as a connection may take to open, then
        # answers an outage (a 503) instead of the pool's 30 s; and after an outage the
        # pool is back within half a second (ADR 0047).
        reconnect_promptly(self.pool, float(connect_timeout))
        self.pool.open()

    def connect(self, **kwargs: Any) -> Any:
        """A connection of its own (for LISTEN), outside the pool."""
        import psycopg

        return psycopg.connect(**self._conninfo, options=self._options, **kwargs)

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
                    yield PostgresTx(cursor)
                return
            with conn.pipeline(), conn.transaction(), conn.cursor() as cursor:
                yield PostgresTx(cursor, pipelined=True)

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
                    yield PostgresTx(cursor)
            finally:
                # A broken connection is dropped by the pool; resetting it would only
                # hide the error that broke it.
                if not conn.broken:
                    conn.isolation_level = None
                    conn.read_only = None

    def _close_connections(self) -> None:
        self.pool.close()

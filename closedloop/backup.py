"""Backups of a running store and their restore into a fresh one (ADR 0048).

On the embedded SQLite store a backup is two files, copied with SQLite's online backup
API: the views' file first, then the events', so that no view, audit chain or outbox
position in the copy is ahead of the copied log (a view behind the log is caught up
by the followers after the restore; a view ahead of it could never be verified). Each
copy is one read transaction: in WAL mode the writers go on meanwhile.

On PostgreSQL a backup is ``pg_dump --format=custom`` of the store's schema: one
snapshot for the log and every table beside it, taken without a lock that a writer
waits for (pg_dump's ACCESS SHARE locks do not conflict with the writers' EXCLUSIVE
table lock). A password goes to pg_dump and pg_restore through a private passfile,
never on their command line.

A restore goes into a store that holds no events yet, and refuses any other.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from closedloop.settings import SettingsError, parse_database_url
from projections.store.sqlite import views_path


class BackupError(Exception):
    """A backup or a restore could not be made; the message says why."""


@dataclass(frozen=True)
class Postgres:
    """Where a PostgreSQL store is, as pg_dump and pg_restore are told it."""

    host: str
    port: str
    user: str
    password: str
    dbname: str
    schema: str

    @contextlib.contextmanager
    def conninfo(self) -> Iterator[str]:
        """libpq's connection string; a password only through a passfile of this user's
        alone, deleted afterwards (a command line is visible to every user of the host)."""
        parts = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        if not self.password:
            yield make_conninfo(**parts)
            return
        fd, name = tempfile.mkstemp(prefix="closedloop-pgpass-")
        try:
            # The passfile's own escapes: a backslash and a colon each after a backslash.
            escaped = self.password.replace("\\", "\\\\").replace(":", "\\:")
            with os.fdopen(fd, "w") as f:
                f.write(f"*:*:*:*:{escaped}\n")
            yield make_conninfo(**parts, passfile=name)
        finally:
            Path(name).unlink(missing_ok=True)

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            autocommit=True,
        )


def _store(database_url: str) -> Path | Postgres:
    env = parse_database_url(database_url).env
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        path = env["SQLITE_DBNAME"]
        if path == ":memory:":
            raise SettingsError("an in-memory store has nothing to back up or restore into")
        return Path(path)
    return Postgres(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        dbname=env["POSTGRES_DBNAME"],
        schema=env.get("POSTGRES_SCHEMA", "public"),
    )


def _run(tool: str, *args: str) -> str:
    """Run one of PostgreSQL's client tools; its output."""
    path = shutil.which(tool)
    if path is None:
        raise BackupError(
            f"{tool} is not installed (PostgreSQL's client tools, e.g. the package "
            "postgresql-client, of the server's major version or later)"
        )
    done = subprocess.run([path, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


# -- backup --------------------------------------------------------------------------------


def backup(database_url: str, target: Path) -> list[Path]:
    """Back the store up into ``target`` while it runs; the files written."""
    store = _store(database_url)
    if target.exists():
        raise BackupError(f"{target} exists already; a backup never overwrites a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(store, Path):
        return _sqlite_backup(store, target)
    with store.conninfo() as conninfo:
        _run(
            "pg_dump",
            "--format=custom",
            f"--schema={store.schema}",
            "--no-owner",
            "--no-privileges",
            f"--file={target}",
            f"--dbname={conninfo}",
        )
    return [target]


#: The longest a backup from the standby waits for it to replay what the primary had
#: written when the backup began (seconds).
REPLAY_WAIT = 60.0


def backup_from_replica(
    database_url: str, replica_url: str, target: Path, wait: float = REPLAY_WAIT
) -> list[Path]:
    """Back the store up from its streaming standby (ADR 0075): the dump's reading runs
    on the standby's machine, not beside the primary's writers.

    First the standby must have replayed everything the primary had written when the
    backup began, so that the copy holds every command acknowledged before it; a standby
    still behind after ``wait`` seconds (or paused, or down) refuses the backup."""
    primary, standby = _store(database_url), _store(replica_url)
    if not isinstance(primary, Postgres) or not isinstance(standby, Postgres):
        raise BackupError("a backup from a replica needs PostgreSQL for both stores")
    if primary.schema != standby.schema:
        raise BackupError(
            f"the replica's URL names schema {standby.schema!r}, the store's "
            f"{primary.schema!r}: they must name the same one"
        )
    try:
        with primary.connect() as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        written = str(row[0]) if row else ""
        with standby.connect() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if not row or not row[0]:
                raise BackupError(f"{standby.host}:{standby.port} is not a standby")
            deadline = time.monotonic() + wait
            while True:
                row = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (written,)
                ).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() >= deadline:
                    raise BackupError(
                        f"the standby has not replayed the primary's writes up to {written} "
                        f"within {wait:g} s (is its replay paused, or is it far behind?)"
                    )
                time.sleep(0.1)
    except psycopg.Error as e:
        raise BackupError(f"the primary or the standby cannot be reached: {e}") from e
    return backup(replica_url, target)


def _copy_sqlite(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        # All pages in one step, one read transaction: a step-by-step copy starts again
        # whenever another connection writes, and under load might never end.
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()


def _sqlite_backup(events: Path, target: Path) -> list[Path]:
    if not events.exists():
        raise BackupError(f"no store at {events}")
    written = []
    views, views_target = Path(views_path(str(events))), Path(views_path(str(target)))
    if views.exists():
        _copy_sqlite(views, views_target)  # first: the copied log is then never behind it
        written.append(views_target)
    _copy_sqlite(events, target)
    written.insert(0, target)
    return written


# -- restore -------------------------------------------------------------------------------


def restore(source: Path, database_url: str) -> None:
    """Restore a backup made by :func:`backup` into the store at ``database_url``, which
    must hold no events yet."""
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    store = _store(database_url)
    if isinstance(store, Path):
        _sqlite_restore(source, store)
    else:
        _postgres_restore(source, store)


def _sqlite_restore(source: Path, events: Path) -> None:
    views = Path(views_path(str(events)))
    for path in (events, views):
        if path.exists() and path.stat().st_size > 0:
            raise BackupError(f"{path} exists already; restore into a fresh store")
    events.parent.mkdir(parents=True, exist_ok=True)
    source_views = Path(views_path(str(source)))
    if source_views.exists():
        _copy_sqlite(source_views, views)
    _copy_sqlite(source, events)


def _postgres_restore(source: Path, store: Postgres) -> None:
    listing = _run("pg_restore", "--list", str(source)).splitlines()
    entries = [line for line in listing if " SCHEMA - " not in line]
    named = [line for line in listing if " SCHEMA - " in line]
    if named and not any(line.split()[-2] == store.schema for line in named):
        raise BackupError(
            f"the backup is of schema {named[0].split()[-2]}; name that schema in "
            "CLOSEDLOOP_DATABASE_URL (?schema=...) of the store to restore into"
        )
    with store.connect() as conn:
        tables = conn.execute(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = %s", (store.schema,)
        ).fetchone()
        if tables and int(str(tables[0])) > 0:
            raise BackupError(
                f"schema {store.schema} of database {store.dbname} holds tables already; "
                "restore into a fresh database"
            )
        # The schema is made here, not by the backup: in a fresh database ``public``
        # exists already.
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(store.schema)))
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as f:
        f.write("\n".join(entries) + "\n")
        use_list = f.name
    try:
        with store.conninfo() as conninfo:
            _run(
                "pg_restore",
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                f"--use-list={use_list}",
                f"--dbname={conninfo}",
                str(source),
            )
    finally:
        Path(use_list).unlink(missing_ok=True)

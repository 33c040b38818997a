"""The copies of one shared MQTT group, as each copy knows them through the store (ADR 0096).

A shared copy of ``closedloop intake mqtt`` (ADR 0095) holds a lock for its own client
id for as long as it runs, and registers the id (with the filters it subscribes) in a
roster of the group. The lock is one the operating system or the database server lets go
of the moment the process dies: on PostgreSQL a session advisory lock on a connection of
the copy's own (as the followers' :mod:`projections.leadership`), on SQLite an ``flock``
on a file beside the database (the copies of a SQLite store are on its one machine). So
an id that is registered and whose lock can be taken is a dead copy's, and its session
at the broker still holds what that copy had not acknowledged: a survivor takes the lock,
**adopts** the session (:class:`Takeover`), ends it and forgets the id.

A copy that stops cleanly hands its session over only if another live copy of the group
will go on taking the messages (:meth:`Copies.leave`, decided under the group's lock so
two copies stopping at once do not both leave): the last copy keeps its session and its
registration, so the broker goes on queuing for it until it, or any copy of the group,
comes back.
"""

# The table name is a module constant; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

log = logging.getLogger("closedloop.intake.mqtt")

#: Seconds between two looks for a dead copy's session.
LOOK_EVERY = 1.0
#: How long a copy started under an id that another copy is adopting waits for it.
OWN_LOCK_WAIT = 60.0


class Roster(Protocol):
    """Where a group's copies register and lock their ids: the store's part."""

    def try_lock(self, client_id: str) -> bool: ...
    def unlock(self, client_id: str) -> None: ...
    def register(self, client_id: str, filters: Sequence[str]) -> None: ...
    #: Per registered id: its filters, and whether its copy is leaving.
    def registered(self) -> dict[str, tuple[list[str], bool]]: ...
    def mark_leaving(self, client_id: str) -> None: ...
    def forget(self, client_id: str) -> None: ...
    def group_lock(self) -> contextlib.AbstractContextManager[None]: ...
    def close(self) -> None: ...


def _entry(filters: Sequence[str], leaving: bool = False) -> str:
    who = {"host": socket.gethostname(), "pid": os.getpid()}
    return json.dumps({"filters": list(filters), "leaving": leaving, **who})


def _name(text: str) -> str:
    """``text`` as a file name: every character but letters, digits and ``_.-`` escaped,
    so ``~`` can part a group from an id."""
    return quote(text, safe="").replace("~", "%7E")


class FileRoster:
    """On SQLite: a folder beside the database, a file per registered id, ``flock``-ed by
    the process that holds it (a lock per open file, so two holders in one process
    exclude each other too)."""

    def __init__(self, folder: Path, group: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.prefix = f"{_name(group)}~"
        self._held: dict[str, int] = {}
        self._group_file = folder / f"{_name(group)}.group"

    def _path(self, client_id: str) -> Path:
        return self.folder / f"{self.prefix}{_name(client_id)}.copy"

    def try_lock(self, client_id: str) -> bool:
        path = self._path(client_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # Forgotten (unlinked) by its last holder after we opened it: not the id's file.
        if not path.exists() or os.stat(path).st_ino != os.fstat(fd).st_ino:
            os.close(fd)
            return False
        self._held[client_id] = fd
        return True

    def unlock(self, client_id: str) -> None:
        fd = self._held.pop(client_id, None)
        if fd is None:
            return
        path = self._path(client_id)
        if os.fstat(fd).st_size == 0 and path.exists():
            path.unlink()  # only tried, never registered: leave no empty file behind
        os.close(fd)

    def _write(self, client_id: str, text: str) -> None:
        fd = self._held[client_id]
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        os.fsync(fd)

    def register(self, client_id: str, filters: Sequence[str]) -> None:
        self._write(client_id, _entry(filters))

    def registered(self) -> dict[str, tuple[list[str], bool]]:
        found: dict[str, tuple[list[str], bool]] = {}
        for path in sorted(self.folder.glob(f"{self.prefix}*.copy")):
            try:
                entry = json.loads(path.read_text() or "null")
            except (OSError, ValueError):
                continue  # being written or removed this instant: seen at the next look
            if entry is not None:
                client_id = unquote(path.name[len(self.prefix) : -len(".copy")])
                found[client_id] = (list(entry["filters"]), bool(entry["leaving"]))
        return found

    def mark_leaving(self, client_id: str) -> None:
        entry = json.loads(self._path(client_id).read_text())
        self._write(client_id, _entry(entry["filters"], leaving=True))

    def forget(self, client_id: str) -> None:
        # Unlinked while locked: whoever opened the old file sees it is no longer the id's.
        self._path(client_id).unlink(missing_ok=True)

    @contextlib.contextmanager
    def group_lock(self) -> Iterator[None]:
        with self._group_file.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def close(self) -> None:
        for client_id in list(self._held):
            self.unlock(client_id)


#: The server drops a silent client after 5 s idle and 3 probes a second apart, or 8 s of
#: unacknowledged data (settings any session may make for itself).
SERVER_KEEPALIVES = {
    "tcp_keepalives_idle": 5,
    "tcp_keepalives_interval": 1,
    "tcp_keepalives_count": 3,
    "tcp_user_timeout": 8000,
}
#: Where a PostgreSQL store's copies register, beside the readings.
COPIES_TABLE = "mqtt_copies"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {COPIES_TABLE} ("
    "share_group TEXT NOT NULL, client_id TEXT NOT NULL, filters TEXT NOT NULL, "
    "leaving BOOLEAN NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, "
    "since TIMESTAMPTZ NOT NULL, PRIMARY KEY (share_group, client_id))"
)


def _lock_key(schema: str, group: str, what: str) -> int:
    from projections.leadership import advisory_key

    return advisory_key(f"closedloop:{schema}:mqtt:{group}:{what}")


class PostgresRoster:
    """On PostgreSQL: session advisory locks on one connection of the copy's own, which
    does nothing else (the followers' way, ADR 0074), and a row per registered id."""

    def __init__(self, conninfo: str, schema: str, group: str) -> None:
        import psycopg

        from projections.leadership import KEEPALIVES
        from projections.store.postgres import session_options

        self.schema, self.group = schema, group
        # The server's side of the keepalives too: a copy whose machine is cut off loses
        # its session (and its lock) in seconds, not at TCP's timeout of hours.
        options = session_options(schema, 0) + "".join(
            f" -c {name}={value}" for name, value in SERVER_KEEPALIVES.items()
        )
        self.conn = psycopg.connect(conninfo, autocommit=True, options=options, **KEEPALIVES)
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
            self.conn.execute(_CREATE)

    def _key(self, what: str) -> int:
        return _lock_key(self.schema, self.group, what)

    def try_lock(self, client_id: str) -> bool:
        row = self.conn.execute(
            "SELECT pg_try_advisory_lock(%s)", (self._key(f"id:{client_id}"),)
        ).fetchone()
        return row is not None and bool(row[0])

    def unlock(self, client_id: str) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s)", (self._key(f"id:{client_id}"),))

    def register(self, client_id: str, filters: Sequence[str]) -> None:
        self.conn.execute(
            f"INSERT INTO {COPIES_TABLE} VALUES (%s, %s, %s, false, %s, %s, now()) "
            "ON CONFLICT (share_group, client_id) DO UPDATE SET filters = excluded.filters, "
            "leaving = false, host = excluded.host, pid = excluded.pid, since = now()",
            (self.group, client_id, json.dumps(list(filters)), socket.gethostname(), os.getpid()),
        )

    def registered(self) -> dict[str, tuple[list[str], bool]]:
        rows = self.conn.execute(
            f"SELECT client_id, filters, leaving FROM {COPIES_TABLE} WHERE share_group = %s "
            "ORDER BY client_id",
            (self.group,),
        )
        return {str(cid): (list(json.loads(f)), bool(leaving)) for cid, f, leaving in rows}

    def mark_leaving(self, client_id: str) -> None:
        self.conn.execute(
            f"UPDATE {COPIES_TABLE} SET leaving = true WHERE share_group = %s AND client_id = %s",
            (self.group, client_id),
        )

    def forget(self, client_id: str) -> None:
        self.conn.execute(
            f"DELETE FROM {COPIES_TABLE} WHERE share_group = %s AND client_id = %s",
            (self.group, client_id),
        )

    @contextlib.contextmanager
    def group_lock(self) -> Iterator[None]:
        key = self._key("group")
        self.conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        self.conn.close()  # the server lets go of every lock of the session


class Copies:
    """This copy's view of its group: its own id held, the dead ones' adopted.

    Called from the door's thread and the takeover's; the roster's calls are serialized
    here (one PostgreSQL connection, one set of file locks)."""

    def __init__(self, roster: Roster, me: str, filters: Sequence[str]) -> None:
        self.roster = roster
        self.me = me
        self.filters = list(filters)
        #: The ids whose locks this process holds (its own, and any it is adopting).
        self.held: set[str] = set()
        self._lock = threading.RLock()

    def hold_own(self, wait: float = OWN_LOCK_WAIT, pause: float = 0.2) -> bool:
        """Take this copy's own lock and register, waiting up to ``wait`` seconds while a
        survivor hands this id's session over (two clients never share an id)."""
        deadline = time.monotonic() + wait
        said = False
        while True:
            with self._lock:
                if self.roster.try_lock(self.me):
                    self.held.add(self.me)
                    self.roster.register(self.me, self.filters)
                    if said:
                        log.info("%s: its lock is free again; starting", self.me)
                    return True
            if not said:
                log.warning(
                    "%s: another copy holds this id's lock (it is handing its session "
                    "over, or a copy under the same id runs): waiting up to %g s",
                    self.me,
                    wait,
                )
                said = True
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)

    def dead(self) -> list[tuple[str, list[str]]]:
        """The group's registered ids (with their filters) that might be a dead copy's:
        any not held here. Whether one is dead is for :meth:`adopt` to find out."""
        with self._lock:
            found = self.roster.registered()
        return [(cid, filters) for cid, (filters, _) in found.items() if cid not in self.held]

    def adopt(self, client_id: str) -> bool:
        """Take a dead copy's lock: True if it is dead and still registered (so its
        session is this copy's to hand over)."""
        with self._lock:
            if client_id in self.held or not self.roster.try_lock(client_id):
                return False
            if client_id not in self.roster.registered():
                self.roster.unlock(client_id)  # handed over and forgotten meanwhile
                return False
            self.held.add(client_id)
            return True

    def let_go(self, client_id: str, *, ended: bool) -> None:
        """Release an id's lock; forget it first if its session was ended (else a copy
        adopts it at its next look)."""
        with self._lock:
            if ended:
                self.roster.forget(client_id)
            self.roster.unlock(client_id)
            self.held.discard(client_id)

    def leave(self) -> bool:
        """May this copy end its session as it stops? Only if another live copy (locked,
        registered and not leaving) goes on; then it is marked leaving, under the group's
        lock, so a copy stopping at the same moment counts it gone and stays."""
        with self._lock, self.roster.group_lock():
            others = live_others(self.me, self.held, self.roster)
            if others:
                self.roster.mark_leaving(self.me)
                log.info("%s: hands its share over to %s", self.me, ", ".join(others))
                return True
            log.info("%s: the group's last live copy: keeps its session", self.me)
            return False

    def close(self) -> None:
        with self._lock:
            self.roster.close()
            self.held.clear()


def live_others(me: str, held: set[str], roster: Roster) -> list[str]:
    """The registered ids, not leaving, whose lock another process holds."""
    live = []
    for client_id, (_, leaving) in roster.registered().items():
        if client_id == me or client_id in held or leaving:
            continue
        if roster.try_lock(client_id):
            roster.unlock(client_id)  # its copy is gone: not one to hand over to
        else:
            live.append(client_id)
    return live


class Takeover:
    """Each :data:`LOOK_EVERY` seconds, adopt the sessions of the group's dead copies:
    ``hand_over(client_id, filters)`` connects under the id, takes what the session holds
    and ends it, and answers whether it did. ``lost`` is called if the store cannot be
    reached: a copy no longer sure of its own lock must stop (ADR 0096)."""

    def __init__(
        self,
        copies: Copies,
        hand_over: Callable[[str, list[str]], bool],
        lost: Callable[[], object],
        look_every: float = LOOK_EVERY,
    ) -> None:
        self.copies = copies
        self.hand_over = hand_over
        self.lost = lost
        self.look_every = look_every
        self.adopted = 0
        #: The store could not be reached: the copy stopped, its session kept.
        self.failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="closedloop-mqtt-takeover")

    def start(self) -> Takeover:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop looking (an adoption under way finishes first: it is bounded)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.look_every):
            try:
                self.look()
            except Exception:
                log.exception("%s: the store's roster is unreachable; stopping", self.copies.me)
                self.failed = True
                self.lost()
                return

    def look(self) -> None:
        for client_id, filters in self.copies.dead():
            if self._stop.is_set() or not self.copies.adopt(client_id):
                continue
            log.info("%s: copy %s is gone; taking its session over", self.copies.me, client_id)
            ended = False
            try:
                ended = self.hand_over(client_id, filters)
            finally:
                self.copies.let_go(client_id, ended=ended)
            if ended:
                self.adopted += 1
                log.info("%s: ended %s's session", self.copies.me, client_id)


@dataclass(frozen=True)
class Registered:
    """A registered copy of a group, as ``projections status`` shows it."""

    group: str
    client_id: str
    host: str
    pid: int
    leaving: bool
    #: Its lock held: the copy runs. A registered id whose lock is free is a dead copy's,
    #: its session waiting at the broker for a survivor to adopt it.
    live: bool


def registered_copies(store: Any) -> list[Registered]:
    """Every group's registered copies beside a store's settings (``StoreSettings``),
    looked at without taking anything: none for a store in memory."""
    if store.conninfo is not None:
        return _registered_on_postgres(store.conninfo, store.env.get("POSTGRES_SCHEMA") or "public")
    folder = _files_folder(store)
    return [] if folder is None else _registered_in_files(folder)


def _registered_on_postgres(conninfo: str, schema: str) -> list[Registered]:
    import psycopg

    from projections.store.postgres import session_options

    with psycopg.connect(conninfo, autocommit=True, options=session_options(schema, 0)) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (COPIES_TABLE,)).fetchone()
        if found is None or found[0] is None:
            return []
        rows = conn.execute(
            f"SELECT share_group, client_id, host, pid, leaving FROM {COPIES_TABLE} "
            "ORDER BY share_group, client_id"
        ).fetchall()
        # A 64-bit advisory key shows in pg_locks as its high and low 32 bits.
        held = {
            (int(c) << 32) | int(o)
            for c, o in conn.execute(
                "SELECT classid::bigint, objid::bigint FROM pg_locks WHERE locktype = "
                "'advisory' AND objsubid = 1 AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        }
    return [
        Registered(
            str(g),
            str(cid),
            str(host),
            int(pid),
            bool(leaving),
            (_lock_key(schema, str(g), f"id:{cid}") & 0xFFFF_FFFF_FFFF_FFFF) in held,
        )
        for g, cid, host, pid, leaving in rows
    ]


def _registered_in_files(folder: Path) -> list[Registered]:
    found: list[Registered] = []
    for path in sorted(folder.glob("*~*.copy")) if folder.is_dir() else []:
        group, _, rest = path.name[: -len(".copy")].partition("~")
        try:
            entry = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            continue  # being written or removed this instant
        if entry is None:
            continue
        # Whether its holder runs: a lock tried and let go at once (an adopter trying it
        # at that instant finds it taken, and tries again at its next look).
        with path.open("rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                live = False
            except BlockingIOError:
                live = True
        found.append(
            Registered(
                unquote(group),
                unquote(rest),
                str(entry.get("host", "")),
                int(entry.get("pid", 0)),
                bool(entry["leaving"]),
                live,
            )
        )
    return found


def roster_for(store: Any, group: str) -> Roster | None:
    """The roster for a store's settings (``StoreSettings``), or None for a store in
    memory (one process, no copies to know)."""
    if store.conninfo is not None:
        return PostgresRoster(store.conninfo, store.env.get("POSTGRES_SCHEMA") or "public", group)
    folder = _files_folder(store)
    return None if folder is None else FileRoster(folder, group)


def _files_folder(store: Any) -> Path | None:
    """Where a SQLite store's copies keep their files: beside the database file; None
    for a database in memory."""
    path = store.env.get("SQLITE_DBNAME", ":memory:")
    if path == ":memory:" or path.startswith("file:"):
        return None
    p = Path(path)
    return p.with_name(f"{p.stem}-mqtt-copies")

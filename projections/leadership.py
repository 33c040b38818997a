"""The work of a follower divided among its live copies on PostgreSQL (ADR 0074).

Several copies of ``projections run`` (or of ``watch run``) may follow one PostgreSQL
database, on one machine or several. Each piece of their work (a view, the audit chain,
the playbooks, the deadline watch) has one leader at a time: the copy that holds the
piece's session advisory lock, on a connection of its own that does nothing else. The
server releases the lock when that connection ends, whether the copy stopped, was
killed or lost the network, so a lock held is a copy alive and connected.

Every copy registers in :data:`COPIES_TABLE` and beats there each second: its host, pid
and start, its database session (``pg_backend_pid``), the version of each piece it has,
what it leads and what it waits for. A copy counts as live while its session is in
``pg_stat_activity`` and its beat is recent: a killed copy's session ends at once, so the
others see it gone at their next beat, not after a timeout. From the live copies every
copy computes the same plan (:func:`plan`): at most an even share each,
``ceil(pieces / live copies)``, a piece staying with the copy that leads it while it may.
Each then lets go of what the plan gives to another and tries the locks of what it gives
to it; a copy that changed what it leads NOTIFYs the others, who look again at once
instead of at their next beat.

Two copies with different versions of a piece never both lead it: the piece goes to the
copies with the oldest version live, and a newer copy waits (it says why in its log and
in the table, which ``projections status`` shows) until the older ones are gone.

A copy whose connection drops leads nothing from that moment: :meth:`Leadership.leads`
answers False for everything until it is connected again and holds the locks again.
Leading is about not doing work twice, not about correctness: a step begun just before
its copy lost the lock is still applied once (the views' tracking rows, ADR 0016) and an
act of the watch repeated is a no-op (derived command ids).

A copy also learns at each look which copies are *gone* (:meth:`Leadership.gone_copies`):
registered, their session ended, their beat recent until then, which is how a killed
process looks. The notifiers' new leader of a partition takes over the leases of such a
copy instead of waiting for them to run out (ADR 0101).

On SQLite (one process) there is nothing to divide: a copy leads everything, always.
"""

# The table name is a module constant; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from projections.follower import Follower
from projections.store import ViewStore

log = logging.getLogger("closedloop.leadership")

#: The roles that share their work: ``projections run``'s, ``watch run``'s and
#: ``notifiers run``'s (ADR 0089).
PROJECTIONS = "projections"
WATCH = "watch"
NOTIFIERS = "notifiers"
#: ``projections run``'s piece besides the views.
AUDIT_CHAIN = "audit-chain"

#: Where the copies register, beside the views' own tables.
COPIES_TABLE = "follower_copies"
#: Seconds between two beats of a copy (and at most between two looks at the plan).
BEAT_EVERY = 1.0
#: A copy whose beat is older than this is not counted, even if its session seems alive
#: (a machine cut off the network keeps its session until TCP gives up).
STALE_AFTER = 10.0
#: A row this old is removed by whichever copy beats next.
FORGET_AFTER = 60.0
#: libpq's keepalives for a connection that holds locks: a peer cut off the network is
#: noticed within seconds, not TCP's hours (the MQTT door's copies use them too).
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
}


def advisory_key(name: str) -> int:
    """A session advisory lock's 64-bit key for ``name``: locks are per database, so the
    name carries the schema (tests and districts share databases)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {COPIES_TABLE} ("
    "copy_id TEXT PRIMARY KEY, role TEXT NOT NULL, host TEXT NOT NULL, "
    "pid INTEGER NOT NULL, started TEXT NOT NULL, backend_pid INTEGER NOT NULL, "
    "heartbeat TIMESTAMPTZ NOT NULL, versions TEXT NOT NULL, leads TEXT NOT NULL, "
    "waiting TEXT NOT NULL)"
)
_COLUMNS = "copy_id, role, host, pid, started, backend_pid, versions, leads, waiting"
# Every registered copy of a role, with what the server says of it: whether its session
# is still there, whether its beat is recent, and whether it beat since the server last
# started (a restart ends every session, the live copies' too).
_ROSTER = (
    f"SELECT {_COLUMNS}, backend_pid IN (SELECT pid FROM pg_stat_activity), "
    "heartbeat > now() - make_interval(secs => %s), heartbeat > pg_postmaster_start_time() "
    f"FROM {COPIES_TABLE} WHERE role = %s ORDER BY copy_id"
)


@dataclass(frozen=True)
class Copy:
    """One live copy of a follower, as it registered."""

    copy_id: str
    host: str
    pid: int
    started: str
    #: The version of each piece of work the copy has.
    versions: Mapping[str, int]
    #: The pieces it leads now.
    leads: frozenset[str] = frozenset()
    #: Per piece it waits for, why.
    waiting: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.host} pid {self.pid} started {self.started}"

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Copy:
        copy_id, _role, host, pid, started, _backend, versions, leads, waiting = row
        return cls(
            copy_id=str(copy_id),
            host=str(host),
            pid=int(pid),
            started=str(started),
            versions={str(k): int(v) for k, v in json.loads(versions).items()},
            leads=frozenset(json.loads(leads)),
            waiting=dict(json.loads(waiting)),
        )


def plan(copies: Sequence[Copy]) -> dict[str, str | None]:
    """Who should lead each piece of work: a copy id, or None when no copy may.

    The same for every copy that sees the same rows. A piece may go only to the copies
    that have its oldest version among the live ones (a newer copy waits). A piece only
    one copy may lead goes to it first; then each piece stays with the copy that leads it
    while that copy is within its share, ``ceil(pieces / copies)``; what is left goes,
    piece by piece, to the copy that may lead it and has the fewest so far. A copy goes
    past its share only when no other may take the piece.
    """
    order = sorted(copies, key=lambda c: c.copy_id)
    pieces = sorted({piece for c in order for piece in c.versions})
    if not order:
        return dict.fromkeys(pieces)
    share = math.ceil(len(pieces) / len(order))
    count = {c.copy_id: 0 for c in order}
    may: dict[str, list[str]] = {}
    for piece in pieces:
        having = [c for c in order if piece in c.versions]
        oldest = min(c.versions[piece] for c in having)
        may[piece] = [c.copy_id for c in having if c.versions[piece] == oldest]
    chosen: dict[str, str | None] = {}

    def give(piece: str, copy_id: str) -> None:
        chosen[piece] = copy_id
        count[copy_id] += 1

    for piece in pieces:
        if len(may[piece]) == 1:
            give(piece, may[piece][0])
    for piece in pieces:
        if piece in chosen:
            continue
        for c in order:
            if piece in c.leads and c.copy_id in may[piece] and count[c.copy_id] < share:
                give(piece, c.copy_id)
                break
    rank = {c.copy_id: i for i, c in enumerate(order)}
    for piece in pieces:
        if piece not in chosen:
            give(piece, min(may[piece], key=lambda cid: (count[cid], rank[cid])))
    return chosen


def why_waiting(me: Copy, copies: Sequence[Copy]) -> dict[str, str]:
    """Per piece of ``me`` that an older version elsewhere keeps from it, the reason."""
    reasons = {}
    for piece, version in sorted(me.versions.items()):
        older = [c for c in copies if piece in c.versions and c.versions[piece] < version]
        if older:
            oldest = min(older, key=lambda c: (c.versions[piece], c.copy_id))
            reasons[piece] = (
                f"version {version} here, but the copy on {oldest.describe()} runs "
                f"version {oldest.versions[piece]}: waiting until it stops"
            )
    return reasons


class Leadership(Follower):
    """This copy's part of the work of ``role``: which of ``versions``' pieces it leads.

    :meth:`leads` is read by the work's own threads at each step; ``on_change`` callbacks
    are called (from this follower's thread) whenever what it leads changes, so that a
    follower with a long pace starts on a piece it was just given at once.
    """

    def __init__(
        self,
        store: ViewStore,
        role: str,
        versions: Mapping[str, int],
        *,
        beat_every: float = BEAT_EVERY,
        stale_after: float = STALE_AFTER,
    ) -> None:
        super().__init__(
            name=f"closedloop-leadership-{role}",
            label=f"{role} leadership",
            log=log,
            # Each step waits for the next beat itself (on the channel): none between.
            poll_interval=0.0,
            backoff=(0.5, 2.0),
        )
        self.store = store
        self.role = role
        self.beat_every = beat_every
        self.stale_after = stale_after
        self.me = Copy(
            copy_id=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            versions=dict(versions),
        )
        self.divided = store.dialect == "postgres"
        #: What this copy leads now (everything, when nothing is divided).
        self.led: frozenset[str] = frozenset() if self.divided else frozenset(versions)
        #: Per piece this copy waits for, why (said in the log once per change).
        self.waiting: dict[str, str] = {}
        self.on_change: list[Callable[[], object]] = []
        #: The copies of this role that are gone (:meth:`gone_copies`), as of the last look.
        self.gone: tuple[Copy, ...] = ()
        self._conn: Any = None
        #: The server's process for this copy's connection (0 while unconnected).
        self.backend_pid = 0
        self._lock = threading.Lock()
        # NOTIFY channels are per database: the schema keeps districts and tests apart.
        self._channel = f"closedloop_copies_{getattr(store, 'schema', '')}_{role}"[:63]

    # -- what the work asks -------------------------------------------------------------

    def leads(self, piece: str) -> bool:
        return piece in self.led

    def gone_copies(self) -> tuple[Copy, ...]:
        """The copies of this role that are provably gone, as of this copy's last look
        (none while it leads nothing: it has not looked, or its connection is lost).

        Gone is narrower than not live (ADR 0101). A copy is gone when it is still
        registered (a clean stop deletes its row, and finishes what it was sending
        after), its session has left ``pg_stat_activity`` (so its advisory locks are
        released: the server saw its socket close), and yet its last beat is recent and
        after the server's start. That is what a killed process looks like: it beat
        until a moment ago and the kernel closed its connection. A copy whose beat went
        stale *before* its session ended was cut off, not killed: it may still be sending
        what it had claimed, and is not counted gone. Neither is one whose session a
        restart of the server ended: it comes back with a new session in a moment.
        """
        return self.gone if self.led else ()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        if self.divided:
            super().start()
        return self

    def stop(self) -> None:
        """Let go of everything at once and say so: the others take it at their next look."""
        if not self.divided:
            return
        self.halt()
        self.join(10.0)
        conn, self._conn = self._conn, None
        self._set_led(frozenset())
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock_all()")
            conn.execute(f"DELETE FROM {COPIES_TABLE} WHERE copy_id = %s", (self.me.copy_id,))
            conn.execute("SELECT pg_notify(%s, 'left')", (self._channel,))
        except Exception as e:  # the connection gone: the server let go of the locks already
            log.warning("%s: could not say goodbye (%s)", self.label, e)
        finally:
            conn.close()

    # -- the loop -----------------------------------------------------------------------

    def step(self) -> int:
        try:
            if self._conn is None:
                self._connect()
            self._look()
            # Until the next beat, or sooner when another copy changed what it leads;
            # in slices, so that a stop lets go of the locks at once.
            deadline = time.monotonic() + self.beat_every
            while not self.stopping and (left := deadline - time.monotonic()) > 0:
                if list(self._conn.notifies(timeout=min(left, 0.1), stop_after=1)):
                    break
        except BaseException:
            self._lost()
            raise
        return 1

    def _connect(self) -> None:
        from psycopg import sql

        conn = self.store.connect(autocommit=True, **KEEPALIVES)  # type: ignore[attr-defined]
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
                conn.execute(_CREATE)
            self._register(conn)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            conn.execute("SELECT pg_notify(%s, 'joined')", (self._channel,))
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.backend_pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        log.info("%s: copy %s (%s) registered", self.label, self.me.copy_id, self.me.describe())

    def _register(self, conn: Any) -> None:
        conn.execute(
            f"INSERT INTO {COPIES_TABLE} ({_COLUMNS}, heartbeat) "
            "VALUES (%s, %s, %s, %s, %s, pg_backend_pid(), %s, '[]', '{}', now()) "
            "ON CONFLICT (copy_id) DO UPDATE SET backend_pid = excluded.backend_pid, "
            "heartbeat = now(), leads = '[]'",
            (
                self.me.copy_id,
                self.role,
                self.me.host,
                self.me.pid,
                self.me.started,
                json.dumps(self.me.versions),
            ),
        )

    def _look(self) -> None:
        """Beat, read the live copies, let go of what the plan gives away, take the rest."""
        conn = self._conn
        led = self.led
        beat = conn.execute(
            f"UPDATE {COPIES_TABLE} SET heartbeat = now(), leads = %s, waiting = %s "
            "WHERE copy_id = %s",
            (json.dumps(sorted(led)), json.dumps(self.waiting), self.me.copy_id),
        )
        if beat.rowcount == 0:
            # Forgotten by another copy after a long stall (FORGET_AFTER): back in.
            self._register(conn)
        conn.execute(
            f"DELETE FROM {COPIES_TABLE} WHERE heartbeat < now() - make_interval(secs => %s)",
            (FORGET_AFTER,),
        )
        copies, gone = [], []
        for *row, connected, beating, since_start in conn.execute(
            _ROSTER, (self.stale_after, self.role)
        ):
            if connected and beating:  # live
                copies.append(Copy.from_row(row))
            elif beating and since_start and row[0] != self.me.copy_id:
                gone.append(Copy.from_row(row))
        self.gone = tuple(gone)
        if not any(c.copy_id == self.me.copy_id for c in copies):
            copies.append(dataclasses.replace(self.me, leads=led))
        chosen = plan(copies)
        mine = {p for p, cid in chosen.items() if cid == self.me.copy_id and p in self.me.versions}
        kept = set(led)
        for piece in sorted(kept - mine):
            # Given away: stop first, then let go, so no step of ours starts after.
            kept.discard(piece)
            self._set_led(frozenset(kept))
            conn.execute("SELECT pg_advisory_unlock(%s)", (self._key(piece),))
            log.info("%s: hands %s over", self.label, piece)
        for piece in sorted(mine - kept):
            lock = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key(piece),))
            (taken,) = lock.fetchone()
            if taken:
                kept.add(piece)
                log.info("%s: leads %s", self.label, piece)
        self._set_led(frozenset(kept))
        self._say_waiting(why_waiting(self.me, copies))
        if kept != led:
            conn.execute(
                f"UPDATE {COPIES_TABLE} SET leads = %s, waiting = %s WHERE copy_id = %s",
                (json.dumps(sorted(kept)), json.dumps(self.waiting), self.me.copy_id),
            )
            conn.execute("SELECT pg_notify(%s, 'changed')", (self._channel,))

    def _key(self, piece: str) -> int:
        """The advisory lock of a piece: locks are per database, so the schema is in it."""
        return advisory_key(f"closedloop:{self.store.schema}:{self.role}:{piece}")  # type: ignore[attr-defined]

    def _say_waiting(self, reasons: dict[str, str]) -> None:
        if reasons == self.waiting:
            return
        for piece, reason in reasons.items():
            if self.waiting.get(piece) != reason:
                log.warning("%s: does not lead %s: %s", self.label, piece, reason)
        for piece in self.waiting.keys() - reasons.keys():
            log.info("%s: no longer waits for %s", self.label, piece)
        self.waiting = reasons

    def _lost(self) -> None:
        """The connection is gone, or in doubt: the locks with it; lead nothing."""
        conn, self._conn = self._conn, None
        if self.led:
            log.warning(
                "%s: lost its database connection; leads nothing until it holds the locks "
                "again (%s)",
                self.label,
                ", ".join(sorted(self.led)),
            )
        self._set_led(frozenset())
        self.gone = ()
        if conn is not None:
            # Closing what is already broken may fail: nothing to do about it.
            with contextlib.suppress(Exception):
                conn.close()

    def _set_led(self, led: frozenset[str]) -> None:
        with self._lock:
            changed = led != self.led
            self.led = led
        if changed:
            for call in self.on_change:
                call()


def copies_of(store: ViewStore, role: str | None = None) -> list[dict[str, Any]]:
    """The live copies (of ``role``, or of every role) as ``projections status`` and
    ``/health`` show them; none on SQLite or before any copy registered."""
    if store.dialect != "postgres":
        return []
    with store.read() as tx:
        if not tx.has_table(COPIES_TABLE):
            return []
        rows = tx.execute(
            f"SELECT {_COLUMNS} FROM {COPIES_TABLE} "
            "WHERE heartbeat > now() - make_interval(secs => ?) "
            "AND backend_pid IN (SELECT pid FROM pg_stat_activity) ORDER BY role, started, pid",
            (STALE_AFTER,),
        )
    found = []
    for row in rows:
        if role is not None and row[1] != role:
            continue
        c = Copy.from_row(row)
        found.append(
            {
                "role": str(row[1]),
                "copy": c.describe(),
                "host": c.host,
                "pid": c.pid,
                "started": c.started,
                "leads": sorted(c.leads),
                "waiting": dict(c.waiting),
            }
        )
    return found


def leaders(copies: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Per piece of work, the copy that leads it (as :func:`copies_of` describes it)."""
    return {piece: c["copy"] for c in copies for piece in c["leads"]}

"""Where each principal's last write stands in the log: session consistency (ADR 0045).

A principal's reads wait until the views have read the log up to its own last write, so
that a client reading right after its command sees it, whatever server or worker answers
the read. That position must be visible to every process on the store, so it is kept in
the view store, one row per principal (its token id): written after the command's events
are committed and before its receipt is answered, read (one lookup by primary key) at the
start of each of its reads.

The writes are gathered: commands answered at the same moment hand their positions to one
writing thread, which upserts them in one transaction, each principal's highest position
once, in the order of the principals (two servers writing the same principals lock their
rows in the same order, so they cannot deadlock). A position never goes back: a slower
write of an older command leaves the newer position standing.
"""

# The table name is a module constant; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TypeAlias

from projections.store import OwnTable, ViewStore

log = logging.getLogger("closedloop.sessions")

#: One row per principal that ever wrote: its token id and its last write's position.
SESSION_TABLE = "session_positions"
CREATE_STATEMENT = (
    f"CREATE TABLE IF NOT EXISTS {SESSION_TABLE} ("
    "principal TEXT PRIMARY KEY, last_position BIGINT NOT NULL)"
)
_UPSERT = (
    "ON CONFLICT (principal) DO UPDATE SET last_position = excluded.last_position "
    f"WHERE {SESSION_TABLE}.last_position < excluded.last_position"
)
#: Positions written in one transaction at most.
BATCH = 500
#: The longest a command's receipt waits for its position to be written (seconds).
NOTE_TIMEOUT = 30.0

#: Called once the position is written (None) or could not be (the error).
Done: TypeAlias = Callable[[BaseException | None], None]
_Note: TypeAlias = tuple[str, int, Done]


class SessionClosed(RuntimeError):
    """The positions' writer has stopped (the server is stopping)."""


class SessionPositions:
    """Each principal's last write position, on ``store``, for every process to read."""

    def __init__(self, store: ViewStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[_Note | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._table = OwnTable(store, CREATE_STATEMENT)

    def create_table(self) -> None:
        self._table.make()

    # -- reading ------------------------------------------------------------------------

    def last(self, principal: str) -> int:
        """The position of the principal's last write noted, 0 when it never wrote."""
        self.create_table()
        with self.store.read() as tx:
            rows = tx.execute(
                f"SELECT last_position FROM {SESSION_TABLE} WHERE principal = ?", (principal,)
            )
        return int(rows[0][0]) if rows else 0

    # -- writing ------------------------------------------------------------------------

    def note(self, principal: str, position: int, done: Done) -> None:
        """Write that ``principal`` wrote up to ``position``; ``done`` is called in the
        writing thread once it is committed (None) or failed (the error)."""
        with self._lock:
            if self._closed:
                done(SessionClosed("the server is stopping"))
                return
            if self._writer is None:
                self.create_table()
                self._writer = threading.Thread(
                    target=self._write, name="closedloop-sessions", daemon=True
                )
                self._writer.start()
            self._queue.put((principal, position, done))

    def note_and_wait(self, principal: str, position: int) -> None:
        """:meth:`note`, waiting here until it is written; raises what the write met."""
        written = threading.Event()
        outcome: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            outcome.append(error)
            written.set()

        self.note(principal, position, done)
        if not written.wait(NOTE_TIMEOUT):
            raise TimeoutError(f"the session position was not written within {NOTE_TIMEOUT:g} s")
        if outcome[0] is not None:
            raise outcome[0]

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop the writing thread."""
        with self._lock:
            self._closed = True
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout)

    def _write(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            notes = [first]
            # Whatever else came meanwhile goes in the same transaction.
            while len(notes) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                notes.append(more)
            self._write_batch(notes)

    def _write_batch(self, notes: list[_Note]) -> None:
        highest: dict[str, int] = {}
        for principal, position, _ in notes:
            highest[principal] = max(highest.get(principal, 0), position)
        error: BaseException | None = None
        try:
            with self.store.transaction() as tx:
                tx.insert_rows(
                    SESSION_TABLE, ("principal", "last_position"), sorted(highest.items()), _UPSERT
                )
        except Exception as e:  # every waiting receipt hears of it; the thread goes on
            log.warning("session positions: %d not written (%s)", len(highest), e)
            error = e
        for _, _, done in notes:
            done(error)

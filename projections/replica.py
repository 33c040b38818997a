"""The views read from a PostgreSQL streaming standby (ADR 0072).

The views are tables that the projections write on the primary; a standby replays them,
tracking rows included, so "the replica has reached position P" is what the replicated
tracking row says. Reads go to the standby while it is *serving*; one thread of its own
checks it every :data:`CHECK_EVERY` seconds and takes it out of the read path when it is
*behind* (it has not replayed what the primary had written ``max_lag`` seconds ago) or
*down* (it does not answer), and puts it back once it has caught up or answers again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

from projections.outage import is_outage
from projections.store import PostgresViewStore, Tx, ViewStore, tracking_name

log = logging.getLogger("closedloop.replica")
T = TypeVar("T")

ReplicaState = Literal["serving", "behind", "down"]

#: How often the standby's replay is compared with the primary's WAL (seconds): the
#: lag is known to this much, and a standby that stops answering is out within it.
CHECK_EVERY = 0.2
#: The longest the check waits to connect to the standby: one that is away is said at
#: once, never after the pool's own wait.
CONNECT_WAIT = 2
#: How often a read waiting for the standby to replay its writer's position looks again.
POLL = 0.003
#: Samples of the primary's WAL kept while the standby lags (one per check).
SAMPLES = 10_000

# No ``::`` casts: the view store's statements take ``:name`` as a parameter.
_PRIMARY_LSN = "SELECT CAST(pg_current_wal_lsn() - pg_lsn '0/0' AS bigint)"
# NULL on a server that is not in recovery: it replays nothing, so it lags by nothing.
_REPLAYED = "SELECT CAST(pg_last_wal_replay_lsn() - pg_lsn '0/0' AS bigint)"


#: What is read from the standby while it serves (ADR 0072, 0089): the views' reads, the
#: reports (their API and pages), and the board (its page and its stream's poller).
SERVES = ("views", "reports", "board")


class Replica:
    """The standby's copy of the view store, and whether reads may go to it now."""

    def __init__(
        self,
        store: PostgresViewStore,
        primary: ViewStore,
        *,
        max_lag: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        # The standby is read-only: its tables are the primary's, never created here.
        store._created = True
        self.primary = primary
        self.max_lag = max_lag
        self._clock = clock
        self._state: ReplicaState = "down"
        self._lag = 0.0
        self._reason = "not checked yet"
        #: (when, the primary's WAL position then), oldest first, not yet replayed.
        self._unreplayed: deque[tuple[float, int]] = deque(maxlen=SAMPLES)
        self._conn: psycopg.Connection[Any] | None = None
        #: The primary's WAL position when this process started: the replica is not
        #: read before it has replayed that far.
        self._floor: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Reads that went to the primary because the standby was out or had not reached
        #: the reader's position in time (the ``/metrics`` and the bench count them).
        self.fallbacks = 0

    @classmethod
    def at_url(
        cls, url: str, primary: ViewStore, *, max_lag: float, statement_timeout: float = 0.0
    ) -> Replica:
        """The standby a ``postgresql://`` URL names, read in the primary's schema unless
        the URL names one."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("the read database must be a postgresql:// URL")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        found = PostgresViewStore(
            dbname=parts.path.lstrip("/"),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            schema=str(query.get("schema") or getattr(primary, "schema", "public")),
            connect_timeout=int(query.get("connect_timeout", "5")),
            statement_timeout=statement_timeout,
        )
        return cls(found, primary, max_lag=max_lag)

    # -- the read path ------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self._state == "serving"

    def wait(self, names: Iterable[str], position: int, timeout: float) -> bool:
        """Whether the standby's copies of the views reach ``position`` within
        ``timeout`` seconds (their replicated tracking rows say so)."""
        deadline = time.monotonic() + timeout
        wanted = [tracking_name(n) for n in names]
        try:
            while True:
                positions = self.store.positions()
                if all(positions.get(n, 0) >= position for n in wanted):
                    return True
                if time.monotonic() >= deadline:
                    return False
                # The standby replays within milliseconds of the primary's commit: a
                # short pause, on a server that takes no writes.
                time.sleep(POLL)
        except Exception as e:
            if not self.lost(e):
                raise
            return False

    def reached(self, names: Iterable[str]) -> int:
        """The position every one of the named views' copies has reached (the
        primary's, when the standby fails to say)."""
        try:
            positions = self.store.positions()
        except Exception as e:
            if not self.lost(e):
                raise
            positions = self.primary.positions()
        return min((positions.get(tracking_name(n), 0) for n in names), default=0)

    def lost(self, error: BaseException) -> bool:
        """Take the standby out of the read path after a read on it failed for it being
        away (or a read cancelled by its replay); whether that was the failure."""
        # A read cancelled by the replay, or of a table the replay has not made yet.
        conflict = isinstance(
            error, (psycopg.errors.SerializationFailure, psycopg.errors.UndefinedTable)
        )
        if not (conflict or is_outage(error)):
            return False
        if not conflict:
            self._set("down", self._lag, f"a read failed: {type(error).__name__}")
        return True

    def read(self, query: Callable[[Tx], T]) -> T:
        """``query`` in a read of the standby, or of the primary if the standby fails it
        for being away: a standby that goes down answers no error."""
        try:
            with self.store.read() as tx:
                return query(tx)
        except Exception as e:
            if not self.lost(e):
                raise
        self.fallbacks += 1
        with self.primary.read() as tx:
            return query(tx)

    # -- the check ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``/health`` says of the standby."""
        with self._lock:
            return {
                "state": self._state,
                "reads": "replica" if self._state == "serving" else "primary",
                "lag_seconds": round(self._lag, 3),
                "max_lag_seconds": self.max_lag,
                "reason": self._reason,
                "fallbacks": self.fallbacks,
                "serves": list(SERVES),
            }

    def check(self) -> ReplicaState:
        """Compare the standby's replay with the primary's WAL once; the state after."""
        now = self._clock()
        try:
            with self.primary.read() as tx:
                head = int(tx.execute(_PRIMARY_LSN)[0][0])
        except Exception as e:
            # The primary away is the primary's outage, said elsewhere; nothing learnt.
            log.debug("replica check: the primary did not answer: %s", e)
            return self._state
        try:
            replayed = self._replayed()
        except psycopg.Error as e:
            self._drop_connection()
            self._set("down", self._lag, f"the replica cannot be reached: {type(e).__name__}")
            return self._state
        if self._floor is not None:
            if replayed is not None and replayed < self._floor:
                self._set("behind", 0.0, "catching up with the primary as this process started")
                return self._state
            self._floor = None
        samples = self._unreplayed
        if replayed is None:
            samples.clear()
        else:
            while samples and samples[0][1] <= replayed:
                samples.popleft()
            if head > replayed:
                samples.append((now, head))
        lag = now - samples[0][0] if samples else 0.0
        if lag > self.max_lag:
            self._set("behind", lag, f"the replica has not replayed {lag:.1f} s of writes")
            return self._state
        if self._state == "down":
            # Back from an outage: the pool's idle connections to it may be dead ones,
            # which the first reads would otherwise find (and take it out again).
            self.store.pool.check()
        self._set("serving", lag, "caught up")
        return self._state

    def _replayed(self) -> int | None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                **{**self.store._conninfo, "connect_timeout": CONNECT_WAIT}, autocommit=True
            )
        row = self._conn.execute(_REPLAYED).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def _set(self, state: ReplicaState, lag: float, reason: str) -> None:
        with self._lock:
            before = self._state
            self._state, self._lag, self._reason = state, lag, reason
        if state != before:
            log.warning("replica: %s -> %s (%s)", before, state, reason)

    def start(self) -> None:
        """Check the replica every :data:`CHECK_EVERY` seconds. It serves once it has
        replayed everything the primary held now (the views' tables included)."""
        try:
            with self.primary.read() as tx:
                self._floor = int(tx.execute(_PRIMARY_LSN)[0][0])
        except Exception as e:
            log.warning("replica: the primary's WAL position could not be read: %s", e)
        self.check()
        self._thread = threading.Thread(target=self._run, name="closedloop-replica", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECK_EVERY):
            try:
                self.check()
            except Exception:
                log.exception("replica check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._drop_connection()
        self.store.close()

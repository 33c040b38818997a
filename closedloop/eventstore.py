"""The PostgreSQL event store's write: commands written together, each checked (ADR 0027).

The library's PostgreSQL recorder writes a command's events in four statements (lock
timeout, table lock, notify, insert) sent in a pipeline, one transaction per command.
:class:`CheckingPostgresRecorder` writes every command that is waiting at that moment in
one call of a function of its own, made beside the events table:

1. it takes the table lock of ADR 0002 (``EXCLUSIVE``, so that notification ids become
   visible in the order they were handed out);
2. it checks each command's *read set* (every aggregate it decided on without writing
   it must still be at the version it saw) and that none of its events' versions is
   taken, as if the commands were written one after the other; a command that passes is
   inserted, one that does not is left out and answered as an integrity error, the
   others go on. When no command writes a record that another one writes or reads (the
   usual case), every check is against what was stored before the group, so all are made
   in one pass and the commands that pass are inserted in one statement; otherwise
   command by command (ADR 0037);
3. it notifies the log's followers once, and answers each command's positions.

The events go as one array per column in binary, taken apart in each command's own
thread, so that the thread writing for the others does little more than join lists.

Commands arrive from the server's worker threads. The first to find no write under way
writes; those that arrive meanwhile queue, and when the write is done the first of them
writes the whole queue (group commit: no timer, no waiting when there is no queue).
Commands from the event loop, which must not block, are queued with a callback
(``insert_events_later``, ADR 0029); when only such commands wait, a writer thread of the
recorder writes them.

The check is what lets a command decide on the copy of a unit this process holds in its
cache without asking the store first (``CommandCenter``): a copy that turned out stale
costs one decision more, never a decision on a state that was not current when written.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

from closedloop.session_limits import statement_limit
from projections.outage import reconnect_promptly, timed_out, waited_out

log = logging.getLogger(__name__)

#: What the function answers, instead of a position, for a command it left out.
STALE_READ = -1
VERSION_TAKEN = -2
REFUSALS = {
    STALE_READ: "a record this command read has changed since",
    VERSION_TAKEN: "another command wrote to the same record first",
}
#: Seconds the writer thread waits for a turn before it ends (a new one starts when needed).
WRITER_IDLE = 5.0
#: The first pause before a call that failed on a broken connection is tried again, and
#: the longest (seconds, doubling between).
AGAIN_AFTER = (0.05, 0.4)


def patiently(call: Callable[[], Any], within: float) -> Any:
    """``call()``, tried again after a connection that broke in use (the first error
    after a restart of the database) or a lock not had in time, for ``within`` seconds
    from the first try at most (ADR 0047).

    The library tries ten times, each waiting up to the pool's timeout for a connection:
    about 50 s of waiting while the database is away, then a 500 (issue 18). A pool that
    had no connection to give within its timeout is not asked again, nor is a statement
    the database cancelled at its statement timeout (ADR 0051): the caller gets the
    outage at once, as a 503 for a request or a backoff for a follower.
    """
    start = time.monotonic()
    pause, longest = AGAIN_AFTER
    while True:
        try:
            return call()
        except (InterfaceError, OperationalError) as e:
            if waited_out(e) or timed_out(e) or time.monotonic() - start + pause > within:
                raise
        time.sleep(pause)
        pause = min(pause * 2, longest)


def _within_the_wait(method: Any) -> Any:
    """The library's ``method`` without its own retry, tried :func:`patiently` instead,
    within the pool's wait for a connection."""
    inner = method.__wrapped__

    @functools.wraps(inner)
    def call(self: CheckingPostgresRecorder, *args: Any, **kwargs: Any) -> Any:
        return self.unless_away(lambda: inner(self, *args, **kwargs))

    return call


class StoreAway(OperationalError):
    """Answered at once while the pool last had no connection to give and still has none
    idle: waiting its whole timeout again would only add to the request's wait."""


@dataclass(eq=False)
class _Write:
    """One command's events and read set, waiting in the queue or being written.

    The events come as columns, taken apart in the command's own thread: the thread
    leading the queue only joins lists, while the others wait on it (ADR 0037)."""

    ids: list[Any]
    versions: list[int]
    topics: list[str]
    states: list[bytes]
    read_ids: list[Any]
    read_versions: list[int]
    #: Called, in the thread that wrote the queue, for a command that no thread of its
    #: own waits on (``insert_events_later``); None when its thread waits on ``done``.
    on_done: Callable[[_Write], None] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    #: Set with ``done`` when this command's thread is to write the queue itself.
    lead: bool = False
    positions: list[int] = field(default_factory=list)
    refused: str | None = None
    error: BaseException | None = None

    @classmethod
    def of(
        cls,
        stored_events: Sequence[StoredEvent],
        reads: Sequence[tuple[UUID, int]],
        on_done: Callable[[_Write], None] | None = None,
    ) -> _Write:
        return cls(
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            [aggregate_id for aggregate_id, _ in reads],
            [version for _, version in reads],
            on_done=on_done,
        )

    def result(self) -> list[int]:
        if self.error is not None:
            raise self.error
        if self.refused is not None:
            raise IntegrityError(self.refused)
        return self.positions


def _apart(batch: Sequence[_Write]) -> bool:
    """Whether no command of ``batch`` writes a record that another one writes or reads.

    Then each command's checks concern only what was stored before the batch, and they
    can all be made at once, as if the commands were written one after the other."""
    written: set[str] = set()
    read: set[str] = set()
    for write in batch:
        # Compared as text: the store takes a UUID and its text for the same id.
        mine = {str(i) for i in set(write.ids)}
        reads = {str(i) for i in write.read_ids}
        if not (written.isdisjoint(mine) and read.isdisjoint(mine)):
            return False
        if not written.isdisjoint(reads):
            return False
        written |= mine
        read |= reads
    return True


class CheckingPostgresRecorder(PostgresApplicationRecorder):
    """Writes the commands waiting together, checking each one's read set."""

    #: The command center passes ``reads`` to a recorder that says it checks them.
    checks_reads = True

    select_events = _within_the_wait(PostgresApplicationRecorder.select_events)
    select_notifications = _within_the_wait(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _within_the_wait(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        limit = statement_limit()
        if limit > 0:
            # Before the library's constructor, which opens the pool.
            pool_kwargs = datastore.pool.kwargs
            assert isinstance(pool_kwargs, dict)
            pool_kwargs["options"] = f"-c statement_timeout={round(limit * 1000)}"
        super().__init__(datastore, **kwargs)
        # The library's pool waits for a connection as long as one may take to open
        # (``connect_timeout``), and after an outage is back within half a second.
        reconnect_promptly(self.datastore.pool, self.datastore.pool.timeout)
        #: The last wait for a connection that ran out, until a call succeeds again.
        self._away: BaseException | None = None
        self._queue: list[_Write] = []
        self._queue_lock = threading.Lock()
        self._writing = False
        self._writer_lock = threading.Lock()
        self._writer_turn: threading.Event | None = None
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        id_type = SQL(self.datastore.originator_id_type)
        # A name of its own: the signature changed (ADR 0037), and a process of the
        # version before may still be calling closedloop_write_commands_* beside this one.
        function = Identifier(f"closedloop_write_command_group_{self.datastore.originator_id_type}")
        # Each column goes as an array of its own type, in binary: far less work on both
        # sides than an array of composite records in text, which the library sends.
        self.write_commands_statement = SQL(
            "SELECT o_command, o_position FROM {schema}.{function}("
            "%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[], %b::int[], "
            "%b::{id_type}[], %b::bigint[], %b::int[], %b::int, %b::boolean)"
        ).format(schema=schema, function=function, id_type=id_type)
        # Events and reads come as flat arrays, each element with the number (from 1) of
        # the command it belongs to.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[], "
                "event_commands int[], "
                "read_ids {id_type}[], read_versions bigint[], read_commands int[], "
                "commands int, apart boolean) "
                "RETURNS TABLE (o_command int, o_position bigint) LANGUAGE plpgsql AS $BODY$ "
                "DECLARE c int; stale int[]; taken int[]; "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "IF apart THEN "
                # No command writes a record another one writes or reads: every check
                # is against what was stored before the group, so all are made at once
                # and the commands that pass are inserted in one statement.
                "  SELECT coalesce(array_agg(DISTINCT r.k), '{{}}') INTO stale "
                "    FROM unnest(read_ids, read_versions, read_commands) AS r(id, version, k) "
                "    JOIN {schema}.{table} AS t "
                "    ON t.originator_id = r.id AND t.originator_version > r.version; "
                "  SELECT coalesce(array_agg(DISTINCT e.k), '{{}}') INTO taken "
                "    FROM unnest(ids, versions, event_commands) AS e(id, version, k) "
                "    JOIN {schema}.{table} AS t "
                "    ON t.originator_id = e.id AND t.originator_version = e.version "
                "    WHERE e.k <> ALL (stale); "
                "  RETURN QUERY SELECT k, {stale}::bigint FROM unnest(stale) AS k "
                "    UNION ALL SELECT k, {taken}::bigint FROM unnest(taken) AS k; "
                "  RETURN QUERY WITH written AS ("
                "    INSERT INTO {schema}.{table} AS t "
                "    (originator_id, originator_version, topic, state) "
                "    SELECT e.id, e.version, e.topic, e.state "
                "    FROM unnest(ids, versions, topics, states, event_commands) "
                "    WITH ORDINALITY AS e(id, version, topic, state, k, n) "
                "    WHERE e.k <> ALL (stale) AND e.k <> ALL (taken) ORDER BY e.n "
                "    RETURNING t.originator_id, t.notification_id) "
                # Apart, each record is written by one command only.
                "    SELECT o.k, w.notification_id FROM written AS w JOIN "
                "    (SELECT DISTINCT x.id, x.k FROM unnest(ids, event_commands) AS x(id, k)) "
                "    AS o ON o.id = w.originator_id ORDER BY w.notification_id; "
                "ELSE "
                # One after the other: a command sees what those before it inserted.
                "  FOR c IN 1..commands LOOP "
                "    IF EXISTS (SELECT 1 FROM unnest(read_ids, read_versions, read_commands) "
                "        AS r(id, version, k) JOIN {schema}.{table} AS t "
                "        ON t.originator_id = r.id AND t.originator_version > r.version "
                "        WHERE r.k = c) THEN "
                "      o_command := c; o_position := {stale}; RETURN NEXT; CONTINUE; "
                "    END IF; "
                "    IF EXISTS (SELECT 1 FROM unnest(ids, versions, event_commands) "
                "        AS e(id, version, k) JOIN {schema}.{table} AS t "
                "        ON t.originator_id = e.id AND t.originator_version = e.version "
                "        WHERE e.k = c) THEN "
                "      o_command := c; o_position := {taken}; RETURN NEXT; CONTINUE; "
                "    END IF; "
                "    RETURN QUERY INSERT INTO {schema}.{table} AS t "
                "      (originator_id, originator_version, topic, state) "
                "      SELECT e.id, e.version, e.topic, e.state "
                "      FROM unnest(ids, versions, topics, states, event_commands) "
                "      WITH ORDINALITY AS e(id, version, topic, state, k, n) "
                "      WHERE e.k = c ORDER BY e.n "
                "      RETURNING c, t.notification_id; "
                "  END LOOP; "
                "END IF; "
                "NOTIFY {channel}; "
                "END; $BODY$"
            ).format(
                schema=schema,
                function=function,
                table=table,
                id_type=id_type,
                lock_timeout=self.datastore.lock_timeout,
                stale=SQL(str(STALE_READ)),
                taken=SQL(str(VERSION_TAKEN)),
                channel=Identifier(self.channel_name),
            )
        )

    def unless_away(self, call: Callable[[], Any]) -> Any:
        """``call()`` tried :func:`patiently`; but while the database is known away (a
        wait for a connection ran out, and the pool has no connection idle since) the
        outage is answered at once (ADR 0047). A request touches the store several
        times (its token, its records, its write): one wait each would add up to many
        times the pool's timeout before its 503. The pool keeps trying to connect
        meanwhile, and its first connection idle lets the calls through again."""
        away = self._away
        if away is not None and not self.datastore.pool.get_stats().get("pool_available"):
            raise StoreAway(f"the database is away ({away})") from away
        try:
            answer = patiently(call, self.datastore.pool.timeout)
        except (InterfaceError, OperationalError) as e:
            if waited_out(e):
                self._away = e
            raise
        self._away = None
        return answer

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Sequence[tuple[UUID, int]] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or not stored_events:
            # Nothing here writes tracking records with events; keep the library's way.
            written: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return written
        mine = _Write.of(stored_events, reads)
        with self._queue_lock:
            self._queue.append(mine)
            leading = not self._writing
            self._writing = True
        if not leading:
            mine.done.wait()
            if not mine.lead:
                return mine.result()  # written (or refused) by the thread that led
        self._lead()
        return mine.result()

    def insert_events_later(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Sequence[tuple[UUID, int]] = (),
        on_done: Callable[[_Write], None],
    ) -> None:
        """Queue a command's events without waiting for them to be written.

        ``on_done`` is called with the write once it is written, refused or failed
        (``result()`` answers which), in the thread that wrote it: it must only hand the
        result on. For a caller that must not block, such as the server's event loop
        (ADR 0029); the write joins the same queue as the others.
        """
        if not stored_events:
            raise ValueError("a command without events has nothing to write")
        write = _Write.of(stored_events, reads, on_done)
        with self._queue_lock:
            self._queue.append(write)
            if self._writing:
                return  # the thread writing now, or the next in line, takes it
            self._writing = True
            stranded = self._writer_leads()
        self._hand_back(stranded)

    def _lead(self) -> None:
        """Write the queue as it stands, then hand the lead on: to a thread waiting in
        the queue if there is one, else to the writer thread, else nobody (idle)."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        try:
            self._write(batch)
        except BaseException as e:
            # Interrupted while writing for others too: none of them may wait forever
            # or go on as if written. The interruption itself stays with this thread.
            for write in batch:
                if write.error is None and write.refused is None and not write.positions:
                    write.error = RuntimeError("the write was interrupted; it may not be stored")
                    write.error.__cause__ = e
            raise
        finally:
            with self._queue_lock:
                waiting = next((w for w in self._queue if w.on_done is None), None)
                if waiting is not None:
                    waiting.lead = True
                    waiting.done.set()
                    stranded = []
                elif self._queue:
                    stranded = self._writer_leads()  # only writes nobody waits on in a thread
                else:
                    self._writing = False
                    stranded = []
            self._hand_back(batch + stranded)

    def _writer_leads(self) -> list[_Write]:
        """Give the lead to the writer thread (called holding the queue's lock). If no
        thread can be started, the queue fails rather than waits forever: its writes are
        answered, to be handed back."""
        try:
            self._wake_writer()
        except Exception as e:
            stranded, self._queue = self._queue, []
            self._writing = False
            for write in stranded:
                write.error = e
            return stranded
        return []

    @staticmethod
    def _hand_back(writes: list[_Write]) -> None:
        for write in writes:
            if write.on_done is None:
                write.done.set()
                continue
            try:
                write.on_done(write)
            except Exception:  # one caller gone must not strand the others
                log.exception("a written command could not be handed back")

    def _wake_writer(self) -> None:
        """Give the turn to the writer thread, which writes for the commands that no
        thread of their own waits on; started when needed, gone when idle."""
        with self._writer_lock:
            if self._writer_turn is None:
                turn = threading.Event()
                threading.Thread(
                    target=self._write_in_turn,
                    args=(turn,),
                    name="closedloop-writer",
                    daemon=True,
                ).start()
                self._writer_turn = turn  # only once there is a thread to take it
            self._writer_turn.set()

    def _write_in_turn(self, turn: threading.Event) -> None:
        try:
            while True:
                if not turn.wait(WRITER_IDLE):
                    with self._writer_lock:
                        # Under the lock that waking takes: a turn given now is not lost.
                        if not turn.is_set():
                            self._writer_turn = None
                            return
                turn.clear()
                try:
                    self._lead()
                except Exception:
                    # Each write of the batch carries the error to its caller; the
                    # thread stays for the next turn.
                    log.debug("the writer's batch failed", exc_info=True)
        finally:
            self._writer_gone(turn)

    def _writer_gone(self, turn: threading.Event) -> None:
        """After the writer thread ended: if it ended on anything but idleness, the next
        wake starts a new one, and a turn it had been given fails the queue it held."""
        with self._writer_lock:
            if self._writer_turn is not turn:
                return  # ended idle, as usual
            self._writer_turn = None
            had_turn = turn.is_set()
        if had_turn:
            with self._queue_lock:
                stranded, self._queue = self._queue, []
                self._writing = False
            error = RuntimeError("the store's writer thread ended")
            for write in stranded:
                write.error = error
            self._hand_back(stranded)

    def _write(self, batch: list[_Write]) -> None:
        """Write ``batch``; each write gets its positions, its refusal or its error."""
        try:
            self._call(batch)
        except (InterfaceError, OperationalError) as e:
            # The store stayed away through every retry: the same for each command.
            for write in batch:
                write.error = e
        except Exception as e:
            if len(batch) == 1:
                batch[0].error = e
                return
            # Something in one command failed the whole call (bad data, say): write each
            # alone, so that only that command gets the error.
            for write in batch:
                try:
                    self._call([write])
                except Exception as alone:
                    write.error = alone

    def _call(self, batch: list[_Write]) -> None:
        # As the library's own write: a lock not had within lock_timeout, or a dropped
        # connection, is tried again (ADR 0007), but only within the pool's wait (ADR
        # 0047); a stale read or a taken version is not.
        self.unless_away(lambda: self._call_once(batch))

    def _call_once(self, batch: list[_Write]) -> None:
        ids: list[Any] = []
        versions: list[int] = []
        topics: list[str] = []
        states: list[bytes] = []
        event_commands: list[int] = []
        read_ids: list[Any] = []
        read_versions: list[int] = []
        read_commands: list[int] = []
        for number, write in enumerate(batch, 1):
            write.positions, write.refused, write.error = [], None, None
            ids += write.ids
            versions += write.versions
            topics += write.topics
            states += write.states
            event_commands += [number] * len(write.ids)
            read_ids += write.read_ids
            read_versions += write.read_versions
            read_commands += [number] * len(write.read_ids)
        params = (
            ids,
            versions,
            topics,
            states,
            event_commands,
            read_ids,
            read_versions,
            read_commands,
            len(batch),
            len(batch) == 1 or _apart(batch),
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.write_commands_statement, params, prepare=True)
            answered = curs.fetchall()
        for row in answered:
            write = batch[row["o_command"] - 1]
            position = int(row["o_position"])
            if position < 0:
                write.refused = REFUSALS[position]
            else:
                write.positions.append(position)
        for write in batch:
            if write.refused is None and len(write.positions) != len(write.ids):
                write.error = RuntimeError(
                    f"the store answered {len(write.positions)} positions "
                    f"for {len(write.ids)} events"
                )

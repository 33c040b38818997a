"""The PostgreSQL event store's write: commands written together, each checked (ADR 0027).

The library's PostgreSQL recorder writes a command's events in four statements (lock
timeout, table lock, notify, insert) sent in a pipeline, one transaction per command.
:class:`CheckingPostgresRecorder` writes every command that is waiting at that moment in
one call of a function of its own, made beside the events table:

1. it takes the table lock of ADR 0002 (``EXCLUSIVE``, so that notification ids become
   visible in the order they were handed out);
2. for each command in turn, it checks the command's *read set* (every aggregate it
   decided on without writing it must still be at the version it saw) and that none of
   its events' versions is taken; a command that passes is inserted, one that does not
   is left out and answered as an integrity error, the others go on;
3. it notifies the log's followers once, and answers each command's positions.

Commands arrive from the server's worker threads. The first to find no write under way
writes; those that arrive meanwhile queue, and when the write is done the first of them
writes the whole queue (group commit: no timer, no waiting when there is no queue).

The check is what lets a command decide on the copy of a unit this process holds in its
cache without asking the store first (``CommandCenter``): a copy that turned out stale
costs one decision more, never a decision on a state that was not current when written.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

#: What the function answers, instead of a position, for a command it left out.
STALE_READ = -1
VERSION_TAKEN = -2
REFUSALS = {
    STALE_READ: "a record this command read has changed since",
    VERSION_TAKEN: "another command wrote to the same record first",
}


@dataclass(eq=False)
class _Write:
    """One command's events and read set, waiting in the queue or being written."""

    rows: list[Any]
    reads: Sequence[tuple[UUID, int]]
    done: threading.Event = field(default_factory=threading.Event)
    #: Set with ``done`` when this command's thread is to write the queue itself.
    lead: bool = False
    positions: list[int] = field(default_factory=list)
    refused: str | None = None
    error: BaseException | None = None

    def result(self) -> list[int]:
        if self.error is not None:
            raise self.error
        if self.refused is not None:
            raise IntegrityError(self.refused)
        return self.positions


class CheckingPostgresRecorder(PostgresApplicationRecorder):
    """Writes the commands waiting together, checking each one's read set."""

    #: The command center passes ``reads`` to a recorder that says it checks them.
    checks_reads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: list[_Write] = []
        self._queue_lock = threading.Lock()
        self._writing = False
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        function = Identifier(f"closedloop_write_commands_{self.datastore.originator_id_type}")
        self.write_commands_statement = SQL(
            "SELECT o_command, o_position FROM {schema}.{function}(%s, %s, %s, %s, %s, %s)"
        ).format(schema=schema, function=function)
        # Events and reads come as flat arrays, each element with the number (from 1) of
        # the command it belongs to.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "events {schema}.{event}[], event_commands int[], "
                "read_ids {id_type}[], read_versions bigint[], read_commands int[], "
                "commands int) "
                "RETURNS TABLE (o_command int, o_position bigint) LANGUAGE plpgsql AS $BODY$ "
                "DECLARE c int; "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "FOR c IN 1..commands LOOP "
                "  IF EXISTS (SELECT 1 FROM unnest(read_ids, read_versions, read_commands) "
                "      AS r(id, version, k) JOIN {schema}.{table} AS t "
                "      ON t.originator_id = r.id AND t.originator_version > r.version "
                "      WHERE r.k = c) THEN "
                "    o_command := c; o_position := {stale}; RETURN NEXT; CONTINUE; "
                "  END IF; "
                "  IF EXISTS (SELECT 1 FROM unnest(events, event_commands) "
                "      AS e(originator_id, originator_version, topic, state, k) "
                "      JOIN {schema}.{table} AS t ON t.originator_id = e.originator_id "
                "      AND t.originator_version = e.originator_version WHERE e.k = c) THEN "
                "    o_command := c; o_position := {taken}; RETURN NEXT; CONTINUE; "
                "  END IF; "
                "  RETURN QUERY INSERT INTO {schema}.{table} AS t "
                "    (originator_id, originator_version, topic, state) "
                "    SELECT e.originator_id, e.originator_version, e.topic, e.state "
                "    FROM unnest(events, event_commands) WITH ORDINALITY "
                "    AS e(originator_id, originator_version, topic, state, k, n) "
                "    WHERE e.k = c ORDER BY e.n "
                "    RETURNING c, t.notification_id; "
                "END LOOP; "
                "NOTIFY {channel}; "
                "END; $BODY$"
            ).format(
                schema=schema,
                function=function,
                table=table,
                event=Identifier(self.stored_event_type_name),
                id_type=SQL(self.datastore.originator_id_type),
                lock_timeout=self.datastore.lock_timeout,
                stale=SQL(str(STALE_READ)),
                taken=SQL(str(VERSION_TAKEN)),
                channel=Identifier(self.channel_name),
            )
        )

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
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        mine = _Write(rows, reads)
        with self._queue_lock:
            self._queue.append(mine)
            leading = not self._writing
            self._writing = True
        if not leading:
            mine.done.wait()
            if not mine.lead:
                return mine.result()  # written (or refused) by the thread that led
        with self._queue_lock:
            batch, self._queue = self._queue, []
        try:
            self._write(batch)
        except BaseException as e:
            # Interrupted while writing for others too: none of them may wait forever
            # or go on as if written.
            for write in batch:
                if write.error is None and write.refused is None and not write.positions:
                    write.error = e
            raise
        finally:
            with self._queue_lock:
                if self._queue:
                    # The next in line writes what queued meanwhile.
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._writing = False
            for write in batch:
                write.done.set()
        return mine.result()

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

    # As the library's own write: a lock not had within lock_timeout, or a dropped
    # connection, is tried again (ADR 0007); a stale read or a taken version is not.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _call(self, batch: list[_Write]) -> None:
        rows: list[Any] = []
        event_commands: list[int] = []
        read_ids: list[UUID] = []
        read_versions: list[int] = []
        read_commands: list[int] = []
        for number, write in enumerate(batch, 1):
            write.positions, write.refused, write.error = [], None, None
            rows += write.rows
            event_commands += [number] * len(write.rows)
            for aggregate_id, version in write.reads:
                read_ids.append(aggregate_id)
                read_versions.append(version)
                read_commands.append(number)
        params = (rows, event_commands, read_ids, read_versions, read_commands, len(batch))
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
            if write.refused is None and len(write.positions) != len(write.rows):
                write.error = RuntimeError(
                    f"the store answered {len(write.positions)} positions "
                    f"for {len(write.rows)} events"
                )

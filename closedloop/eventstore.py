"""The PostgreSQL event store's write: one call that checks what a command read (ADR 0027).

The library's PostgreSQL recorder writes a command's events in four statements (lock
timeout, table lock, notify, insert) sent in a pipeline. :class:`CheckingPostgresRecorder`
does the same work in one call of a function of its own, made beside the events table:

1. it takes the table lock of ADR 0002 (``EXCLUSIVE``, so that notification ids become
   visible in the order they were handed out);
2. it checks the *read set*: every aggregate the command decided on without writing it
   must still be at the version the command saw; if one has moved on, nothing is
   written and the call fails with SQLSTATE ``23CL1``, an integrity error the command
   center answers by deciding again on the new state, as it does for a lost race;
3. it notifies the log's followers and inserts the events, answering their positions.

The check is what lets a command decide on the copy of a unit this process holds in its
cache without asking the store first (``CommandCenter``): a copy that turned out stale
costs one decision more, never a decision on a state that was not current when written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

#: The SQLSTATE of a read set that moved on: class 23 (integrity constraint violation),
#: so that the driver and the library report it as the integrity error of a lost race.
STALE_READ = "23CL1"


class CheckingPostgresRecorder(PostgresApplicationRecorder):
    """Writes a command's events and checks its read set in one round trip."""

    #: The command center passes ``reads`` to a recorder that says it checks them.
    checks_reads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        function = Identifier(f"closedloop_write_events_{self.datastore.originator_id_type}")
        self.write_events_statement = SQL(
            "SELECT position FROM {schema}.{function}(%s, %s, %s) AS written(position)"
        ).format(schema=schema, function=function)
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "events {schema}.{event}[], read_ids {id_type}[], read_versions bigint[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "IF EXISTS (SELECT 1 FROM unnest(read_ids, read_versions) AS r(id, version) "
                "JOIN {schema}.{table} AS t ON t.originator_id = r.id "
                "AND t.originator_version > r.version) THEN "
                "RAISE EXCEPTION 'a record this command read has changed since' "
                "USING ERRCODE = '{stale}'; "
                "END IF; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT originator_id, originator_version, topic, state FROM unnest(events) "
                "RETURNING notification_id; "
                "END; $BODY$"
            ).format(
                schema=schema,
                function=function,
                table=table,
                event=Identifier(self.stored_event_type_name),
                id_type=SQL(self.datastore.originator_id_type),
                lock_timeout=self.datastore.lock_timeout,
                stale=SQL(STALE_READ),
                channel=Identifier(self.channel_name),
            )
        )

    # As the library's own write: a lock not had within lock_timeout, or a dropped
    # connection, is tried again (ADR 0007); a stale read or a lost race is not.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
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
        ids = [r[0] for r in reads]
        versions = [r[1] for r in reads]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.write_events_statement, (rows, ids, versions), prepare=True)
            return [int(row["position"]) for row in curs.fetchall()]

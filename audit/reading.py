"""Reading the event store's log as the chain hashes it: raw pages of its table.

The library's ``select_notifications`` decodes more than the chain needs; on
PostgreSQL these read the events table directly, and the next page while this one is
hashed (:func:`read_ahead`).
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import Notification

from audit.forms import StoredRow
from domain.application import CommandCenter


def on_postgres(center: CommandCenter) -> bool:
    """Whether ``center`` stores its events in PostgreSQL (whose tables are read raw)."""
    module = center.env.get("PERSISTENCE_MODULE", "") if center.env else ""
    return "postgres" in module or hasattr(center.recorder, "channel_name")


def log_pages(center: CommandCenter, start: int = 1, page: int = 5000) -> Iterator[list[StoredRow]]:
    """The stored events from ``start`` in log order, a page at a time (constant memory).

    On PostgreSQL, one range read of the events table a page, in binary and as plain
    tuples, the aggregate id written as text by the server: the library's
    ``select_notifications`` transfers the state hex-encoded and builds a dict, a UUID
    and a ``Notification`` for every row, which cost more than hashing it.
    """
    if on_postgres(center):
        yield from _postgres_log_pages(center, start, page)
        return
    while True:
        notifications = center.recorder.select_notifications(start, page)
        if notifications:
            yield [
                (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in notifications
            ]
        if len(notifications) < page:
            return
        start = notifications[-1].id + 1


def _postgres_log_pages(center: CommandCenter, start: int, page: int) -> Iterator[list[StoredRow]]:
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    recorder: Any = center.recorder
    statement = SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    while True:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(statement, (start, page), prepare=True)
            rows: list[StoredRow] = cursor.fetchall()
        if rows:
            yield rows
        if len(rows) < page:
            return
        start = rows[-1][0] + 1


_Page = TypeVar("_Page")


@contextlib.contextmanager
def read_ahead(pages: Iterator[_Page]) -> Iterator[Iterator[_Page]]:
    """``pages``, the next one read by a thread of its own while this one is used.

    The database then finds and sends a page while the caller hashes the one before:
    its work and ours overlap instead of adding up. At most one page waits, so memory
    stays constant; leaving the block early stops the thread.
    """
    waiting: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for page in pages:
                if not hand_over((True, page)):
                    return
        except BaseException as e:  # the reader's failure is the caller's to see
            hand_over((False, e))
        else:
            hand_over((False, None))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def received() -> Iterator[_Page]:
        while True:
            is_page, item = waiting.get()
            if not is_page:
                if item is not None:
                    raise item
                return
            yield item

    thread = threading.Thread(target=read, name="closedloop-audit-read", daemon=True)
    thread.start()
    try:
        yield received()
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def reading_log(
    center: CommandCenter, start: int = 1, page: int = 5000
) -> Iterator[Iterator[StoredRow]]:
    """The stored events from ``start`` in log order, as :func:`verify` reads them.

    On PostgreSQL the next page is fetched while this one is used (:func:`read_ahead`);
    on SQLite, in line.
    """
    ahead = read_ahead if on_postgres(center) else contextlib.nullcontext
    with ahead(log_pages(center, start, page)) as pages:
        yield itertools.chain.from_iterable(pages)


# -- the events of some aggregates, with their positions ---------------------------------


def events_of(center: CommandCenter, ids: Sequence[UUID]) -> list[Notification]:
    """Every stored event of these aggregates in log order, each with its position.

    One keyed read on the events table (its primary key starts with the aggregate id),
    instead of one read per aggregate and a scan of the log for positions.
    """
    if not ids:
        return []
    recorder: Any = center.recorder
    table = recorder.events_table_name
    if on_postgres(center):
        from psycopg.sql import SQL, Identifier

        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s) ORDER BY notification_id"
        ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(table))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (list(ids),))
            return [
                Notification(
                    id=r["notification_id"],
                    originator_id=r["originator_id"],
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=bytes(r["state"]),
                )
                for r in cursor.fetchall()
            ]
    if hasattr(recorder, "datastore"):
        marks = ",".join("?" * len(ids))
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                f"WHERE originator_id IN ({marks}) ORDER BY rowid",
                [i.hex for i in ids],
            )
            return [
                Notification(
                    id=r["rowid"],
                    originator_id=UUID(r["originator_id"]),
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=r["state"],
                )
                for r in cursor.fetchall()
            ]
    # The in-memory store (unit tests): a scan is fine there.
    wanted = set(ids)
    return [n for n in center.iter_log() if n.originator_id in wanted]

"""The audit chain beside a store (SQLite and PostgreSQL), and tampering by direct SQL.

:class:`Tamper` edits the event store's own table the way someone with database access
would: the library's ``stored_events`` on SQLite (the position is the row id) and
``closedloop_events`` in the test's schema on PostgreSQL (``notification_id``).
"""

# Table names come from the recorder; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import base64
import hashlib
import sqlite3
from typing import Any

import psycopg
import pytest
import rfc8785

import audit
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.store import ViewStore
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    ONE_DAY,
    confirmed_warning,
    ctx,
    issue,
)

#: In a chain that switches form, the events chained in form 1 (as before ADR 0021).
SWITCH = 40


@pytest.fixture(params=["form 2", "form 1 then 2"])
def chain(
    request: pytest.FixtureRequest,
    center: CommandCenter,
    store: ViewStore,
    audit_settings: audit.AuditSettings,
    recorded: dict[str, Any],
) -> audit.AuditChain:
    """The follower of ``recorded``, in one of two cases: the whole chain written in
    form 2, or its first :data:`SWITCH` events chained in form 1 by a follower from
    before ADR 0021 (with their checkpoints) and the rest in form 2 by today's."""
    follower = audit.AuditChain.beside(center, store, audit_settings)
    if request.param == "form 1 then 2":
        follower.form, follower.batch = 1, SWITCH
        assert follower.step() == SWITCH
        follower.form, follower.batch = audit.CHAIN_FORM, 1000
    return follower


def forms(store: ViewStore) -> dict[int, int]:
    """The form of every chain row, by position."""
    with store.read() as tx:
        return {int(p): int(f) for p, f in tx.execute("SELECT position, form FROM audit_chain")}


def rechain_as_an_outsider(lines: list[dict[str, Any]], prev: bytes = bytes(32)) -> bytes:
    """The head an auditor computes from exported lines with SHA-256, base64 and an
    RFC 8785 encoder, following the documented recipe (not this project's code);
    asserts every line's ``prev`` and ``hash`` on the way. A redacted line (its state
    kept on the server, ADR 0042) is taken at its ``hash``, which the next line's
    ``prev`` must then name."""
    for line in lines:
        link = line.pop("chain")
        assert link["prev"] == prev.hex()
        if link["state"] is None and line.get("redacted"):
            prev = bytes.fromhex(link["hash"])
            continue
        if link["form"] == 2:
            state = base64.b64decode(link["state"], validate=True)
            topic = line["type"].encode("utf-8")
            hashed = b"\n".join(
                [
                    b"closedloop-chain/2",
                    str(line["position"]).encode(),
                    line["aggregate"].encode(),
                    str(line["version"]).encode(),
                    str(len(topic)).encode() + b":" + topic,
                    str(len(state)).encode() + b":" + state,
                ]
            )
        else:
            assert link["form"] == 1
            hashed = rfc8785.dumps(line)
        prev = hashlib.sha256(prev + hashed).digest()
        assert link["hash"] == prev.hex()
    return prev


def a_whole_loop(center: CommandCenter) -> dict[str, Any]:
    """A warning closed through an instruction forwarded once; answers the ids."""
    wid = confirmed_warning(center, unit=OFFICE)
    parent = issue(center, DISTRICT, OFFICE, warning_ids=[wid])
    center.sign_for(ctx(OFFICE), parent)
    child = center.forward(ctx(OFFICE), parent, to_unit=COMMUNITY, due_in=ONE_DAY).id
    center.sign_for(ctx(COMMUNITY), child)
    center.report_progress(ctx(COMMUNITY), child, "sandbags laid along the bank")
    center.submit(ctx(COMMUNITY), child, "bank secured")
    center.verify(ctx(OFFICE), child, accepted=True)
    center.submit(ctx(OFFICE), parent, "done")
    center.verify(ctx(DISTRICT), parent, accepted=True)
    center.resolve_warning(ctx(DISTRICT), wid, "level back under the limit")
    center.close_warning(ctx(DISTRICT), wid)
    return {"warning": wid, "parent": parent, "child": child}


@pytest.fixture
def recorded(center: CommandCenter) -> dict[str, Any]:
    load_demo(center)
    return a_whole_loop(center)


class Tamper:
    """Direct SQL on the event store's table, bypassing the application."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center
        recorder: Any = center.recorder
        self.table = recorder.events_table_name
        self.postgres = center.env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"
        if self.postgres:
            self.schema = recorder.datastore.schema
            self.position = "notification_id"
        else:
            self.path = center.env["SQLITE_DBNAME"]
            self.position = "rowid"

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            env = self.center.env
            with psycopg.connect(
                dbname=env["POSTGRES_DBNAME"],
                host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]),
                user=env["POSTGRES_USER"],
                options=f"-c search_path={self.schema}",
                autocommit=True,
            ) as conn:
                cursor = conn.execute(sql.replace("?", "%s"), params)
                return list(cursor.fetchall()) if cursor.description else []
        lite = sqlite3.connect(self.path, isolation_level=None)
        try:
            return lite.execute(sql, params).fetchall()
        finally:
            lite.close()

    def state(self, position: int) -> bytes:
        rows = self.run(f"SELECT state FROM {self.table} WHERE {self.position} = ?", (position,))
        return bytes(rows[0][0])

    def change_one_byte(self, position: int, marker: bytes) -> None:
        """Change the byte after ``marker`` in the state of the event at ``position``."""
        state = bytearray(self.state(position))
        at = state.index(marker) + len(marker)
        state[at] = ord("X") if state[at] != ord("X") else ord("Y")
        self.run(
            f"UPDATE {self.table} SET state = ? WHERE {self.position} = ?",
            (bytes(state), position),
        )

    def replace(self, position: int, old: bytes, new: bytes) -> bytes:
        """Replace the first ``old`` in the stored state at ``position``; the state before."""
        state = self.state(position)
        assert old in state
        self.run(
            f"UPDATE {self.table} SET state = ? WHERE {self.position} = ?",
            (state.replace(old, new, 1), position),
        )
        return state

    def delete(self, position: int) -> None:
        self.run(f"DELETE FROM {self.table} WHERE {self.position} = ?", (position,))

    def cut_tail(self, position: int) -> None:
        self.run(f"DELETE FROM {self.table} WHERE {self.position} >= ?", (position,))

    def swap(self, first: int, second: int) -> None:
        p = self.position
        self.run(f"UPDATE {self.table} SET {p} = -1 WHERE {p} = ?", (first,))
        self.run(f"UPDATE {self.table} SET {p} = ? WHERE {p} = ?", (first, second))
        self.run(f"UPDATE {self.table} SET {p} = ? WHERE {p} = -1", (second,))


@pytest.fixture
def tamper(center: CommandCenter) -> Tamper:
    return Tamper(center)

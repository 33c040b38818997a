"""The chain's tables in the view store: its rows, its checkpoints, and reading them."""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from audit.forms import GENESIS
from audit.notes import Checkpoint
from projections.store import Tx, ViewStore
from projections.values import iso

CHAIN_TABLE = "audit_chain"
CHECKPOINT_TABLE = "audit_checkpoints"
#: The follower's row in the view store's tracking table.
TRACKING = "closedloop/audit-chain"
CREATE_STATEMENTS = (
    # seq counts the events chained (a checkpoint's size); positions may have gaps on
    # PostgreSQL, where a rolled-back write still spends a value of the sequence.
    # form: how the row's event was hashed (1: canonical JSON, ADR 0013; 2: the frame of
    # its stored bytes, ADR 0021). Tables made before ADR 0021 get the column from
    # ensure_tables, their rows form 1 by its default.
    f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
    "position BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, "
    "form SMALLINT NOT NULL DEFAULT 1)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
    "size BIGINT PRIMARY KEY, position BIGINT NOT NULL, head TEXT NOT NULL, "
    "signed_at TEXT NOT NULL, key_id TEXT NOT NULL, note TEXT NOT NULL)",
)


def ensure_tables(store: ViewStore) -> None:
    store.create_own_tables()
    with store.transaction() as tx:
        tx.lock_schema_changes()
        for statement in CREATE_STATEMENTS:
            tx.execute(statement)
        if not tx.has_column(CHAIN_TABLE, "form"):
            # A chain begun before ADR 0021: every row it holds was hashed in form 1.
            tx.execute(f"ALTER TABLE {CHAIN_TABLE} ADD COLUMN form SMALLINT NOT NULL DEFAULT 1")


def last_checkpoint(tx: Tx) -> tuple[int, datetime | None]:
    rows = tx.execute(f"SELECT size, signed_at FROM {CHECKPOINT_TABLE} ORDER BY size DESC LIMIT 1")
    if not rows:
        return 0, None
    return int(rows[0][0]), datetime.fromisoformat(rows[0][1])


def insert_checkpoint(tx: Tx, cp: Checkpoint) -> None:
    tx.execute(
        f"INSERT INTO {CHECKPOINT_TABLE} (size, position, head, signed_at, key_id, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (cp.size, cp.position, cp.head.hex(), iso(cp.signed_at), cp.key_id.hex(), cp.note()),
    )


# -- reading the chain and the checkpoints -----------------------------------------------


def checkpoints(store: ViewStore) -> list[dict[str, Any]]:
    """Every checkpoint, oldest first, as stored."""
    ensure_tables(store)
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT size, position, head, signed_at, key_id, note FROM {CHECKPOINT_TABLE} "
            "ORDER BY size"
        )
    return [
        {
            "size": int(size),
            "position": int(position),
            "head": head,
            "signed_at": datetime.fromisoformat(signed_at),
            "key_id": key,
            "note": note,
        }
        for size, position, head, signed_at, key, note in rows
    ]


def chain_pages(
    store: ViewStore, start: int = 1, page: int = 5000
) -> Iterator[list[tuple[int, int, str, int]]]:
    """(position, seq, hex hash, form) of the chain from ``start``, a page at a time."""
    while True:
        with store.read() as tx:
            rows = tx.execute(
                f"SELECT position, seq, hash, form FROM {CHAIN_TABLE} WHERE position >= ? "
                "ORDER BY position LIMIT ?",
                (start, page),
            )
        if rows:
            yield rows
        if len(rows) < page:
            return
        start = int(rows[-1][0]) + 1


def chain_rows(
    store: ViewStore, start: int = 1, page: int = 5000
) -> Iterator[tuple[int, int, bytes, int]]:
    """(position, seq, hash, form) of the chain from ``start``, in pages (constant memory)."""
    for rows in chain_pages(store, start, page):
        for position, seq, digest, form in rows:
            yield int(position), int(seq), bytes.fromhex(digest), int(form)


def chain_hash_before(store: ViewStore, position: int) -> bytes:
    """The chain's hash just before ``position`` (the genesis hash at the start)."""
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT hash FROM {CHAIN_TABLE} WHERE position < ? ORDER BY position DESC LIMIT 1",
            (position,),
        )
    return bytes.fromhex(rows[0][0]) if rows else GENESIS

"""Views beside the ``center`` fixture's store, SQLite or PostgreSQL."""

from __future__ import annotations

from domain.application import CommandCenter
from projections.registry import view_classes
from projections.runner import Runner
from projections.store import ViewStore


def snapshot(store: ViewStore) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every view table."""
    return {table: store.table_rows(table) for cls in view_classes() for table in cls.tables()}


def rebuilt(center: CommandCenter, store: ViewStore) -> dict[str, list[tuple[object, ...]]]:
    """The views rebuilt from the first event in a scratch store."""
    scratch = store.scratch()
    try:
        Runner(center, scratch).catch_up()
        return snapshot(scratch)
    finally:
        scratch.discard()

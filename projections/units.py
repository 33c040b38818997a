"""The units view: the command network with a materialized path per unit.

A unit's path is the codes from the city down to it, ``/HC/HW/HW-DH/``, so that a
subtree is one indexed ``LIKE 'path%'`` and a move rewrites the paths of the moved
unit's descendants in one statement. Reports roll up by it (:func:`subtree_paths`).
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.unit import Unit
from projections.store import Tx
from projections.view import View


def like_prefix(path: str) -> str:
    """A ``LIKE … ESCAPE '\\'`` pattern for everything under ``path`` (codes may hold ``_``)."""
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


#: The clause that keeps codes of a subtree, given ``like_prefix(path)``.
IN_SUBTREE = "SELECT code FROM units WHERE path LIKE ? ESCAPE '\\'"


class UnitsView(View):
    """One row per unit of the command network, with its materialized path."""

    name = "units"
    version = 1
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS units ("
        "id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT NOT NULL, "
        "name_en TEXT NOT NULL, level TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT, "
        "path TEXT NOT NULL, depth INTEGER NOT NULL, active INTEGER NOT NULL, "
        "version INTEGER NOT NULL, position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS units_path ON units (path)",
        "CREATE INDEX IF NOT EXISTS units_parent ON units (parent)",
    ]

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the network unchanged."""

    @apply.register
    def _(self, event: Unit.Registered, tx: Tx) -> None:
        parent_path = "/"
        if event.parent is not None:
            rows = tx.execute("SELECT path FROM units WHERE code = ?", (event.parent,))
            parent_path = rows[0][0] if rows else f"/{event.parent}/"
        path = f"{parent_path}{event.code}/"
        tx.execute(
            "INSERT INTO units (id, code, name, name_en, level, kind, parent, path, depth, "
            "active, version, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (
                str(event.originator_id),
                event.code,
                event.name,
                event.name_en,
                event.level,
                event.kind,
                event.parent,
                path,
                path.count("/") - 1,
                event.originator_version,
                self.at,
            ),
        )

    @apply.register
    def _(self, event: Unit.Renamed, tx: Tx) -> None:
        tx.execute(
            "UPDATE units SET name = ?, name_en = ?, version = ? WHERE id = ?",
            (event.name, event.name_en, event.originator_version, str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Unit.Moved, tx: Tx) -> None:
        rows = tx.execute("SELECT code, path FROM units WHERE id = ?", (str(event.originator_id),))
        code, old_path = rows[0]
        parent_rows = tx.execute("SELECT path FROM units WHERE code = ?", (event.parent,))
        new_path = f"{parent_rows[0][0] if parent_rows else '/'}{code}/"
        tx.execute(
            "UPDATE units SET parent = ?, version = ? WHERE id = ?",
            (event.parent, event.originator_version, str(event.originator_id)),
        )
        tx.execute(
            "UPDATE units SET path = ? || substr(path, ?), "
            "depth = depth + ? WHERE path LIKE ? ESCAPE '\\'",
            (
                new_path,
                len(old_path) + 1,
                new_path.count("/") - old_path.count("/"),
                like_prefix(old_path),
            ),
        )

    @apply.register
    def _(self, event: Unit.Deactivated, tx: Tx) -> None:
        tx.execute(
            "UPDATE units SET active = 0, version = ? WHERE id = ?",
            (event.originator_version, str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Unit.Reactivated, tx: Tx) -> None:
        tx.execute(
            "UPDATE units SET active = 1, version = ? WHERE id = ?",
            (event.originator_version, str(event.originator_id)),
        )


def unit_path(tx: Tx, code: str) -> str | None:
    """The materialized path of a unit (``/HC/HW/HW-DH/``), or None if the view lacks it."""
    rows = tx.execute("SELECT path FROM units WHERE code = ?", (code,))
    return str(rows[0][0]) if rows else None


def subtree_paths(tx: Tx, code: str) -> dict[str, str]:
    """Code → path of the unit and every unit under it."""
    path = unit_path(tx, code)
    if path is None:
        return {}
    rows = tx.execute(
        "SELECT code, path FROM units WHERE path LIKE ? ESCAPE '\\'", (like_prefix(path),)
    )
    return {str(c): str(p) for c, p in rows}


def is_within(tx: Tx, code: str, ancestor: str) -> bool:
    """Whether ``code`` is ``ancestor`` or lies under it, by the view."""
    if code == ancestor:
        return True
    path = unit_path(tx, code)
    return path is not None and f"/{ancestor}/" in path

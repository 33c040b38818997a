"""The whistles view (吹哨报到, ADR 0078): each whistle, and one row per department it
summoned with its check-in, its reminder and escalation, and its absence once closed.

The figures per department (:func:`figures`) are counted from the summons rows as the
aggregate defines them (:meth:`domain.whistle.Whistle.figures`): summoned, checked in on
time, late, absent (the whistle closed and it never came), and the mean seconds from
the whistle to the check-in of those that came. A department of a whistle still open
that has not come yet is counted as summoned only.
"""

# Every SQL text here is built from this module's constant column lists and the
# conditions of a Where, whose values are parameters: no text from a request.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from typing import Any

from domain.whistle import Whistle
from projections.queries import decode_cursor, encode_cursor
from projections.store import Tx, Where
from projections.units import like_prefix, unit_path
from projections.values import iso
from projections.view import View

Row = dict[str, Any]

COLUMNS = (
    "id, unit, matter, place, latitude, longitude, warning_id, instruction_id, "
    "limit_minutes, blown_at, due_at, status, closed_at, version, position"
)
SUMMONS_COLUMNS = "department, person, arrived_at, seconds, late, reminded, escalated_to, absent"


class WhistlesView(View):
    """One row per whistle, one per department it summoned."""

    name = "whistles"
    version = 1
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS whistles ("
        "id TEXT PRIMARY KEY, unit TEXT NOT NULL, matter TEXT NOT NULL, place TEXT NOT NULL, "
        "latitude DOUBLE PRECISION, longitude DOUBLE PRECISION, warning_id TEXT, "
        "instruction_id TEXT, limit_minutes INTEGER NOT NULL, blown_at TEXT NOT NULL, "
        "due_at TEXT NOT NULL, status TEXT NOT NULL, closed_at TEXT, "
        "version INTEGER NOT NULL, position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS whistles_unit ON whistles (unit)",
        "CREATE TABLE IF NOT EXISTS whistle_summons ("
        "whistle_id TEXT NOT NULL, department TEXT NOT NULL, unit TEXT NOT NULL, "
        "blown_at TEXT NOT NULL, person TEXT, arrived_at TEXT, seconds DOUBLE PRECISION, "
        "late INTEGER NOT NULL, reminded INTEGER NOT NULL, escalated_to TEXT, "
        "absent INTEGER NOT NULL, PRIMARY KEY (whistle_id, department))",
        "CREATE INDEX IF NOT EXISTS whistle_summons_department ON whistle_summons (department)",
    ]

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the whistles unchanged."""

    def _version(self, event: Any, tx: Tx) -> str:
        wid = str(event.originator_id)
        tx.execute("UPDATE whistles SET version = ? WHERE id = ?", (event.originator_version, wid))
        return wid

    @apply.register
    def _(self, event: Whistle.Blown, tx: Tx) -> None:
        wid = str(event.originator_id)
        due = event.blown_at.timestamp() + event.limit_minutes * 60
        tx.execute(
            f"INSERT INTO whistles ({COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL, ?, ?)",
            (
                wid,
                event.unit,
                event.matter,
                event.place,
                event.latitude,
                event.longitude,
                None if event.warning_id is None else str(event.warning_id),
                None if event.instruction_id is None else str(event.instruction_id),
                event.limit_minutes,
                iso(event.blown_at),
                iso(datetime.fromtimestamp(due, event.blown_at.tzinfo)),
                event.originator_version,
                self.at,
            ),
        )
        for department in event.departments:
            tx.execute(
                "INSERT INTO whistle_summons (whistle_id, department, unit, blown_at, late, "
                "reminded, absent) VALUES (?, ?, ?, ?, 0, 0, 0)",
                (wid, department, event.unit, iso(event.blown_at)),
            )

    @apply.register
    def _(self, event: Whistle.CheckedIn, tx: Tx) -> None:
        wid = self._version(event, tx)
        rows = tx.execute("SELECT blown_at FROM whistles WHERE id = ?", (wid,))
        blown = datetime.fromisoformat(str(rows[0][0]))
        tx.execute(
            "UPDATE whistle_summons SET person = ?, arrived_at = ?, seconds = ?, late = ? "
            "WHERE whistle_id = ? AND department = ?",
            (
                event.person,
                iso(event.arrived_at),
                (event.arrived_at - blown).total_seconds(),
                1 if event.late else 0,
                wid,
                event.department,
            ),
        )

    @apply.register
    def _(self, event: Whistle.Reminded, tx: Tx) -> None:
        wid = self._version(event, tx)
        tx.execute(
            "UPDATE whistle_summons SET reminded = 1 WHERE whistle_id = ? AND department = ?",
            (wid, event.department),
        )

    @apply.register
    def _(self, event: Whistle.Escalated, tx: Tx) -> None:
        wid = self._version(event, tx)
        tx.execute(
            "UPDATE whistle_summons SET escalated_to = ? WHERE whistle_id = ? AND department = ?",
            (event.to, wid, event.department),
        )

    @apply.register
    def _(self, event: Whistle.Closed, tx: Tx) -> None:
        wid = self._version(event, tx)
        tx.execute(
            "UPDATE whistles SET status = 'closed', closed_at = ? WHERE id = ?",
            (iso(event.meta.occurred_at), wid),
        )
        for department in event.absent:
            tx.execute(
                "UPDATE whistle_summons SET absent = 1 WHERE whistle_id = ? AND department = ?",
                (wid, department),
            )


# -- queries -------------------------------------------------------------------------


def _visible(tx: Tx, where: Where, visible_to: str | None, alias: str = "") -> bool:
    """Keep what ``visible_to``'s subtree may see: whistles blown in it, and whistles
    summoning a department in it. False when the unit is unknown (nothing to see)."""
    if visible_to is None:
        return True
    path = unit_path(tx, visible_to)
    if path is None:
        return False
    pattern = like_prefix(path)
    sub = "SELECT code FROM units WHERE path LIKE ? ESCAPE '\\'"
    where.add(
        f"({alias}unit IN ({sub}) OR {alias}id IN (SELECT whistle_id FROM whistle_summons "
        f"WHERE department IN ({sub})))",
        pattern,
        pattern,
    )
    return True


def _row(names: str, values: Any) -> Row:
    return dict(zip([c.strip() for c in names.split(",")], values, strict=True))


def whistles(
    tx: Tx,
    *,
    visible_to: str | None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Row], str | None]:
    """Newest first, those ``visible_to`` may see."""
    where = Where()
    if not _visible(tx, where, visible_to):
        return [], None
    where.equal("status", status)
    if cursor:
        where.add("position < ?", decode_cursor(cursor))
    rows = [
        _row(COLUMNS, r)
        for r in tx.execute(
            f"SELECT {COLUMNS} FROM whistles {where.clause()} ORDER BY position DESC LIMIT ?",
            [*where.params, limit + 1],
        )
    ]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(int(rows[-1]["position"]))
    for row in rows:
        row["summons"] = summons(tx, str(row["id"]))
    return rows, next_cursor


def summons(tx: Tx, wid: str) -> list[Row]:
    rows = tx.execute(
        f"SELECT {SUMMONS_COLUMNS} FROM whistle_summons WHERE whistle_id = ? ORDER BY department",
        (wid,),
    )
    return [_row(SUMMONS_COLUMNS, r) for r in rows]


def whistle(tx: Tx, wid: str) -> Row | None:
    rows = tx.execute(f"SELECT {COLUMNS} FROM whistles WHERE id = ?", (wid,))
    if not rows:
        return None
    row = _row(COLUMNS, rows[0])
    row["summons"] = summons(tx, wid)
    return row


def figures(
    tx: Tx,
    *,
    visible_to: str | None,
    blown_from: datetime | None = None,
    blown_to: datetime | None = None,
) -> list[Row]:
    """Per department: summoned, on time, late, absent, mean seconds to check in."""
    where = Where()
    if not _visible(tx, where, visible_to, alias="w."):
        return []
    if blown_from is not None:
        where.add("w.blown_at >= ?", iso(blown_from))
    if blown_to is not None:
        where.add("w.blown_at < ?", iso(blown_to))
    rows = tx.execute(
        "SELECT s.department, COUNT(*), "
        "SUM(CASE WHEN s.arrived_at IS NOT NULL AND s.late = 0 THEN 1 ELSE 0 END), "
        "SUM(s.late), SUM(s.absent), AVG(s.seconds) "
        "FROM whistle_summons s JOIN whistles w ON w.id = s.whistle_id "
        f"{where.clause()} GROUP BY s.department ORDER BY s.department",
        where.params,
    )
    return [
        {
            "department": str(d),
            "summoned": int(n),
            "on_time": int(on_time or 0),
            "late": int(late or 0),
            "absent": int(absent or 0),
            "mean_seconds_to_check_in": None if mean is None else round(float(mean), 1),
        }
        for d, n, on_time, late, absent, mean in rows
    ]

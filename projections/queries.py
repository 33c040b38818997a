"""Queries over the views: the API's lists, details, inboxes and board.

Each answers plain rows (dicts); the API turns them into its Structs. Reads scoped to a
unit's subtree go through the units view's paths (one ``LIKE 'path%'``).
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from projections.instructions import COLUMNS as INSTRUCTION_COLUMNS
from projections.instructions import FINISHED
from projections.store import Tx
from projections.units import IN_SUBTREE, like_prefix, unit_path
from projections.values import iso
from projections.warnings import COLUMNS as WARNING_COLUMNS
from projections.warnings import OPEN

Row = dict[str, Any]


class BadCursor(ValueError):
    """A cursor that this server did not hand out."""


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "p" or not value.isdigit() or int(value) >= 2**63:
            raise ValueError(text)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("the cursor is not one this server handed out") from None


def _rows(tx: Tx, columns: str, sql: str, params: list[Any]) -> list[Row]:
    names = [c.strip() for c in columns.split(",")]
    return [dict(zip(names, row, strict=True)) for row in tx.execute(sql, params)]


def _subtree(tx: Tx, code: str) -> str | None:
    """The LIKE pattern of a unit's subtree; None when the unit is unknown to the view."""
    path = unit_path(tx, code)
    return None if path is None else like_prefix(path)


def _page(rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1]["position"])
    return rows, None


# -- units -------------------------------------------------------------------------------

UNIT_COLUMNS = "code, name, name_en, level, kind, parent, active, version, path"


def units(tx: Tx) -> list[Row]:
    return _rows(tx, UNIT_COLUMNS, f"SELECT {UNIT_COLUMNS} FROM units ORDER BY position", [])


def unit(tx: Tx, code: str) -> Row | None:
    found = _rows(tx, UNIT_COLUMNS, f"SELECT {UNIT_COLUMNS} FROM units WHERE code = ?", [code])
    return found[0] if found else None


def within(tx: Tx, codes: list[str], ancestor: str) -> bool:
    """Whether any of ``codes`` is ``ancestor`` or lies under it."""
    if ancestor in codes:
        return True
    marker = f"/{ancestor}/"
    return any(marker in (unit_path(tx, c) or "") for c in codes)


# -- warnings ----------------------------------------------------------------------------


def warnings(
    tx: Tx,
    *,
    visible_to: str | None,
    status: str | None = None,
    level: int | None = None,
    theme: str | None = None,
    unit: str | None = None,
    raised_from: datetime | None = None,
    raised_to: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Row], str | None]:
    """Newest first; ``unit`` and ``visible_to`` take a unit's whole subtree."""
    where: list[str] = []
    params: list[Any] = []
    for scope in (visible_to, unit):
        if scope is not None:
            pattern = _subtree(tx, scope)
            if pattern is None:
                return [], None
            where.append(f"unit IN ({IN_SUBTREE})")
            params.append(pattern)
    for column, value in (("status", status), ("level", level), ("theme", theme)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(str(value) if column != "level" else value)
    if raised_from is not None:
        where.append("raised_at >= ?")
        params.append(iso(raised_from))
    if raised_to is not None:
        where.append("raised_at < ?")
        params.append(iso(raised_to))
    if cursor:
        where.append("position < ?")
        params.append(decode_cursor(cursor))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = _rows(
        tx,
        WARNING_COLUMNS,
        f"SELECT {WARNING_COLUMNS} FROM warnings {clause} ORDER BY position DESC LIMIT ?",
        [*params, limit + 1],
    )
    return _page([_warning(r) for r in rows], limit)


def warning(tx: Tx, warning_id: str) -> Row | None:
    rows = _rows(
        tx, WARNING_COLUMNS, f"SELECT {WARNING_COLUMNS} FROM warnings WHERE id = ?", [warning_id]
    )
    return _warning(rows[0]) if rows else None


def _warning(row: Row) -> Row:
    for column in ("instructions", "open_instructions", "attributes"):
        row[column] = json.loads(row[column])
    return row


def warning_board(tx: Tx, *, visible_to: str | None) -> list[Row]:
    """Open warnings, most severe and oldest first (the board groups them)."""
    where = [f"status IN ({', '.join('?' for _ in OPEN)})"]
    params: list[Any] = [s.value for s in OPEN]
    if visible_to is not None:
        pattern = _subtree(tx, visible_to)
        if pattern is None:
            return []
        where.append(f"unit IN ({IN_SUBTREE})")
        params.append(pattern)
    columns = "id, title, theme, level, unit, status, repeats, raised_at, last_observed_at"
    return _rows(
        tx,
        columns,
        f"SELECT {columns} FROM warnings WHERE {' AND '.join(where)} ORDER BY level, raised_at, id",
        params,
    )


# -- instructions ------------------------------------------------------------------------

ASSIGNEE_COLUMNS = "unit, lead, status, disposition_id"


def instructions(
    tx: Tx,
    *,
    visible_to: str | None,
    assignee: str | None = None,
    issuer: str | None = None,
    status: str | None = None,
    overdue: bool | None = None,
    overdue_at: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Row], str | None]:
    """Newest first. An instruction concerns a unit's subtree when its issuer or one of
    its assignees lies in it."""
    where: list[str] = []
    params: list[Any] = []
    if visible_to is not None:
        pattern = _subtree(tx, visible_to)
        if pattern is None:
            return [], None
        where.append(
            f"(issuer IN ({IN_SUBTREE}) OR id IN (SELECT instruction_id FROM "
            f"instruction_assignees WHERE unit IN ({IN_SUBTREE})))"
        )
        params += [pattern, pattern]
    if assignee is not None:
        where.append("id IN (SELECT instruction_id FROM instruction_assignees WHERE unit = ?)")
        params.append(assignee)
    if issuer is not None:
        where.append("issuer = ?")
        params.append(issuer)
    if status is not None:
        where.append("status = ?")
        params.append(str(status))
    if overdue is not None and overdue_at is not None:
        late = "(finished = 0 AND deadline < ?)"
        where.append(late if overdue else f"NOT {late}")
        params.append(iso(overdue_at))
    if cursor:
        where.append("position < ?")
        params.append(decode_cursor(cursor))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = _rows(
        tx,
        INSTRUCTION_COLUMNS,
        f"SELECT {INSTRUCTION_COLUMNS} FROM instructions {clause} ORDER BY position DESC LIMIT ?",
        [*params, limit + 1],
    )
    page, next_cursor = _page(rows, limit)
    _with_assignees(tx, page)
    return [_instruction(r) for r in page], next_cursor


def instruction(tx: Tx, instruction_id: str) -> Row | None:
    rows = _rows(
        tx,
        INSTRUCTION_COLUMNS,
        f"SELECT {INSTRUCTION_COLUMNS} FROM instructions WHERE id = ?",
        [instruction_id],
    )
    _with_assignees(tx, rows)
    return _instruction(rows[0]) if rows else None


def _with_assignees(tx: Tx, rows: list[Row]) -> None:
    if not rows:
        return
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        r["assignees"] = []
    marks = ", ".join("?" for _ in by_id)
    for iid, unit_code, lead, state, disposition_id in tx.execute(
        "SELECT instruction_id, unit, lead, status, disposition_id FROM instruction_assignees "
        f"WHERE instruction_id IN ({marks}) ORDER BY instruction_id, ord",
        list(by_id),
    ):
        by_id[iid]["assignees"].append(
            {
                "unit": unit_code,
                "lead": bool(lead),
                "state": state,
                "disposition_id": disposition_id,
            }
        )


def _instruction(row: Row) -> Row:
    for column in ("cooperating", "warning_ids", "children", "open_children"):
        row[column] = json.loads(row[column])
    pending = row["pending_extension"]
    row["pending_extension"] = None if pending is None else json.loads(pending)
    row["finished"] = bool(row["finished"])
    return row


def inbox(tx: Tx, code: str, *, include_finished: bool = False) -> dict[str, list[Row]]:
    """A unit's instructions as assignee (with its own state) and as issuer."""
    live = "" if include_finished else f" AND i.status NOT IN ({', '.join('?' for _ in FINISHED)})"
    live_params: list[Any] = [] if include_finished else list(FINISHED)
    columns = (
        "id, title, status, issuer, lead, priority, deadline, issued_at, supervised_by, "
        "rework_count, reminders, version, position"
    )
    prefixed = ", ".join(f"i.{c.strip()}" for c in columns.split(","))
    mine = _rows(
        tx,
        f"{columns}, my_state, disposition_id",
        f"SELECT {prefixed}, a.status, a.disposition_id FROM instructions i "
        "JOIN instruction_assignees a ON a.instruction_id = i.id "
        f"WHERE a.unit = ?{live} ORDER BY i.deadline, i.position",
        [code, *live_params],
    )
    issued = _rows(
        tx,
        columns,
        f"SELECT {prefixed} FROM instructions i WHERE i.issuer = ?{live} "
        "ORDER BY i.deadline, i.position",
        [code, *live_params],
    )
    return {"assigned": mine, "issued": issued}

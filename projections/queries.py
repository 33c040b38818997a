"""Queries over the views: the API's lists, details, inboxes and board.

Each answers plain rows (dicts); the API turns them into its Structs. Reads scoped to a
unit's subtree go through the units view's paths (one ``LIKE 'path%'``).
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import base64
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from projections.instructions import COLUMNS as INSTRUCTION_COLUMNS
from projections.instructions import FINISHED
from projections.store import Tx, Where
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


def _newest_first(
    tx: Tx, columns: str, table: str, where: Where, cursor: str | None, limit: int
) -> tuple[list[Row], str | None]:
    """A page of a list, newest first, after ``cursor``; with the next page's cursor."""
    if cursor:
        where.add("position < ?", decode_cursor(cursor))
    rows = _rows(
        tx,
        columns,
        f"SELECT {columns} FROM {table} {where.clause()} ORDER BY position DESC LIMIT ?",
        [*where.params, limit + 1],
    )
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
    statuses: Collection[str] | None = None,
    text: str | None = None,
    inhibited: bool | None = None,
) -> tuple[list[Row], str | None]:
    """Newest first; ``unit`` and ``visible_to`` take a unit's whole subtree.

    ``inhibited`` keeps the warnings an open warning inhibits now, or those it does not
    (ADR 0087).

    ``statuses`` keeps any of several (the desk's "open"); ``text`` keeps the warnings
    whose title or location holds it, in any letter case (the desk's search box).
    """
    where = Where()
    for scope in (visible_to, unit):
        if scope is not None:
            pattern = _subtree(tx, scope)
            if pattern is None:
                return [], None
            where.add(f"unit IN ({IN_SUBTREE})", pattern)
    where.equal("status", None if status is None else str(status))
    if statuses is not None:
        chosen = sorted({str(s) for s in statuses})
        if not chosen:
            return [], None
        where.add(f"status IN ({', '.join('?' for _ in chosen)})", *chosen)
    if text:
        # A substring anywhere: no index serves it, but the scope, filters and the page's
        # limit bound the rows read (ADR 0055). LOWER on both sides: PostgreSQL's LIKE
        # heeds case, SQLite's does not.
        anywhere = "%" + like_prefix(text.lower())
        where.add(
            "(LOWER(title) LIKE ? ESCAPE '\\' OR LOWER(location) LIKE ? ESCAPE '\\')",
            anywhere,
            anywhere,
        )
    where.equal("level", level)
    where.equal("theme", None if theme is None else str(theme))
    if inhibited is not None:
        where.add("inhibited_by IS NOT NULL" if inhibited else "inhibited_by IS NULL")
    if raised_from is not None:
        where.add("raised_at >= ?", iso(raised_from))
    if raised_to is not None:
        where.add("raised_at < ?", iso(raised_to))
    rows, next_cursor = _newest_first(tx, WARNING_COLUMNS, "warnings", where, cursor, limit)
    return [_warning(r) for r in rows], next_cursor


def warning(tx: Tx, warning_id: str) -> Row | None:
    rows = _rows(
        tx, WARNING_COLUMNS, f"SELECT {WARNING_COLUMNS} FROM warnings WHERE id = ?", [warning_id]
    )
    return _warning(rows[0]) if rows else None


def _warning(row: Row) -> Row:
    for column in ("instructions", "open_instructions", "attributes", "merged", "members"):
        row[column] = json.loads(row[column])
    return row


def open_warnings_where(tx: Tx, visible_to: str | None) -> tuple[str, list[Any]] | None:
    """The ``WHERE`` clause (and its parameters) of the open warnings a unit's subtree
    may see (every one when None); None when the views know no such unit."""
    where = [f"status IN ({', '.join('?' for _ in OPEN)})"]
    params: list[Any] = [s.value for s in OPEN]
    if visible_to is not None:
        pattern = _subtree(tx, visible_to)
        if pattern is None:
            return None
        where.append(f"unit IN ({IN_SUBTREE})")
        params.append(pattern)
    return f"WHERE {' AND '.join(where)}", params


def warning_board(tx: Tx, *, visible_to: str | None) -> list[Row]:
    """Open warnings, most severe and oldest first (the board groups them)."""
    found = open_warnings_where(tx, visible_to)
    if found is None:
        return []
    where, params = found
    columns = "id, title, theme, level, unit, status, repeats, raised_at, last_observed_at"
    return _rows(
        tx,
        columns,
        f"SELECT {columns} FROM warnings {where} ORDER BY level, raised_at, id",
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
    where = Where()
    if visible_to is not None:
        pattern = _subtree(tx, visible_to)
        if pattern is None:
            return [], None
        where.add(
            f"(issuer IN ({IN_SUBTREE}) OR id IN (SELECT instruction_id FROM "
            f"instruction_assignees WHERE unit IN ({IN_SUBTREE})))",
            pattern,
            pattern,
        )
    if assignee is not None:
        where.add(
            "id IN (SELECT instruction_id FROM instruction_assignees WHERE unit = ?)", assignee
        )
    where.equal("issuer", issuer)
    where.equal("status", None if status is None else str(status))
    if overdue is not None and overdue_at is not None:
        late = "(finished = 0 AND status <> 'deferred' AND deadline < ?)"
        where.add(late if overdue else f"NOT {late}", iso(overdue_at))
    page, next_cursor = _newest_first(tx, INSTRUCTION_COLUMNS, "instructions", where, cursor, limit)
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
    deferral = row.get("pending_deferral")
    row["pending_deferral"] = None if deferral is None else json.loads(deferral)
    dispute = row.get("pending_dispute")
    row["pending_dispute"] = None if dispute is None else json.loads(dispute)
    follow_up = row.get("last_follow_up")
    row["last_follow_up"] = None if follow_up is None else json.loads(follow_up)
    row["finished"] = bool(row["finished"])
    return row


#: Where one list of an inbox page stands: after this (deadline, position), or done.
_DONE = "-"


def _encode_inbox_cursor(marks: list[str]) -> str | None:
    if all(m == _DONE for m in marks):
        return None
    return base64.urlsafe_b64encode(f"i:{'|'.join(marks)}".encode()).decode().rstrip("=")


def _decode_inbox_cursor(cursor: str) -> list[tuple[str, int] | None]:
    """Each list's place: after (deadline, position), or None when it is done."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, body = text.partition(":")
        marks = body.split("|")
        if kind != "i" or len(marks) != 2:
            raise ValueError(text)
        places: list[tuple[str, int] | None] = []
        for mark in marks:
            if mark == _DONE:
                places.append(None)
                continue
            text_at, _, position = mark.rpartition(",")
            at = datetime.fromisoformat(text_at)
            if at.tzinfo is None or not position.isdigit() or int(position) >= 2**63:
                raise ValueError(mark)
            # Compared as the view stores deadlines: the text written anew, never the
            # client's own.
            places.append((str(iso(at)), int(position)))
        return places
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise BadCursor("the cursor is not one this server handed out") from None


def inbox(
    tx: Tx,
    code: str,
    *,
    include_finished: bool = False,
    cursor: str | None = None,
    limit: int = 50,
    status: str | None = None,
    priority: str | None = None,
    overdue_at: datetime | None = None,
    title: str | None = None,
) -> tuple[dict[str, list[Row]], str | None]:
    """One page of a unit's instructions as assignee (with its own state) and as issuer,
    each list soonest deadline first and at most ``limit`` long; with the next page's
    cursor (None when both lists are done).

    The duty desk narrows it (``api/screens/inbox.py``): to one ``status`` or
    ``priority``, to what is overdue at ``overdue_at``, to titles holding ``title``."""
    live = "" if include_finished else f" AND i.status NOT IN ({', '.join('?' for _ in FINISHED)})"
    live_params: list[Any] = [] if include_finished else list(FINISHED)
    for clause, value in (
        (" AND i.status = ?", status),
        (" AND i.priority = ?", priority),
        (
            " AND i.finished = 0 AND i.status <> 'deferred' AND i.deadline < ?",
            None if overdue_at is None else iso(overdue_at),
        ),
        # Either store's LIKE, the case of Latin letters aside (SQLite's ignores it).
        (
            " AND LOWER(i.title) LIKE ? ESCAPE '\\'",
            None if not title else "%" + like_prefix(title.lower()),
        ),
    ):
        if value is not None:
            live += clause
            live_params.append(value)
    columns = (
        "id, title, status, issuer, lead, priority, deadline, issued_at, supervised_by, "
        "rework_count, reminders, version, position, deferred_remaining_s"
    )
    prefixed = ", ".join(f"i.{c.strip()}" for c in columns.split(","))
    places: list[tuple[str, int] | None] = (
        _decode_inbox_cursor(cursor) if cursor else [("", 0), ("", 0)]
    )
    lists = {
        "assigned": (
            f"{columns}, my_state, disposition_id",
            f"SELECT {prefixed}, a.status, a.disposition_id FROM instructions i "
            "JOIN instruction_assignees a ON a.instruction_id = i.id WHERE a.unit = ?",
        ),
        "issued": (columns, f"SELECT {prefixed} FROM instructions i WHERE i.issuer = ?"),
    }
    page: dict[str, list[Row]] = {}
    marks: list[str] = []
    for (name, (names, select)), place in zip(lists.items(), places, strict=True):
        if place is None:
            page[name], mark = [], _DONE
        else:
            after = " AND (i.deadline > ? OR (i.deadline = ? AND i.position > ?))"
            rows = _rows(
                tx,
                names,
                f"{select}{live}{after} ORDER BY i.deadline, i.position LIMIT ?",
                [code, *live_params, place[0], place[0], place[1], limit + 1],
            )
            page[name] = rows[:limit]
            last = rows[limit - 1] if len(rows) > limit else None
            mark = _DONE if last is None else f"{last['deadline']},{last['position']}"
        marks.append(mark)
    return page, _encode_inbox_cursor(marks)

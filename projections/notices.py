"""The notices view: one row per notice and one per addressed unit's receipt (ADR 0077).

It answers which notices a unit's subtree sees (sent from it, or addressed into it), the
inbox of an addressed unit, and the receipt report's counts per level when joined with
the units view. A receipt's status is decided by the aggregate and stored with the
event (``late``), so the view needs no clock: ``missing`` is a receipt row with no
confirmation.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.notice import Notice
from projections.queries import _newest_first, _subtree
from projections.store import Tx, Where
from projections.units import IN_SUBTREE
from projections.values import iso
from projections.view import View


class NoticesView(View):
    """Notices and their receipts."""

    name = "notices"
    #: 2: a receipt row names who was on duty at the unit when it was reminded (ADR 0098).
    version = 2
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS notices ("
        "id TEXT PRIMARY KEY, sender TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL, "
        "confirm_by TEXT NOT NULL, sent_at TEXT NOT NULL, addressed INTEGER NOT NULL, "
        "confirmed INTEGER NOT NULL, late INTEGER NOT NULL, reminded INTEGER NOT NULL, "
        "version INTEGER NOT NULL, position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS notices_sender ON notices (sender)",
        "CREATE TABLE IF NOT EXISTS notice_receipts ("
        "notice_id TEXT NOT NULL, unit TEXT NOT NULL, status TEXT NOT NULL, "
        "person TEXT, confirmed_at TEXT, reminded INTEGER NOT NULL, reminded_on_duty TEXT, "
        "PRIMARY KEY (notice_id, unit))",
        "CREATE INDEX IF NOT EXISTS notice_receipts_unit ON notice_receipts (unit)",
    ]

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the notices unchanged."""

    @apply.register
    def _(self, event: Notice.Sent, tx: Tx) -> None:
        nid = str(event.originator_id)
        tx.execute(
            "INSERT INTO notices (id, sender, title, kind, confirm_by, sent_at, addressed, "
            "confirmed, late, reminded, version, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
            (
                nid,
                event.sender,
                event.title,
                event.kind,
                iso(event.confirm_by),
                iso(event.meta.occurred_at),
                len(event.addressees),
                event.originator_version,
                self.at,
            ),
        )
        for unit in event.addressees:
            tx.execute(
                "INSERT INTO notice_receipts (notice_id, unit, status, reminded) "
                "VALUES (?, ?, 'missing', 0)",
                (nid, unit),
            )

    @apply.register
    def _(self, event: Notice.ReceiptConfirmed, tx: Tx) -> None:
        nid = str(event.originator_id)
        tx.execute(
            "UPDATE notice_receipts SET status = ?, person = ?, confirmed_at = ? "
            "WHERE notice_id = ? AND unit = ?",
            (
                "late" if event.late else "on_time",
                event.person,
                iso(event.confirmed_at),
                nid,
                event.unit,
            ),
        )
        tx.execute(
            "UPDATE notices SET confirmed = confirmed + 1, late = late + ?, version = ? "
            "WHERE id = ?",
            (1 if event.late else 0, event.originator_version, nid),
        )

    @apply.register
    def _(self, event: Notice.LateReminded, tx: Tx) -> None:
        nid = str(event.originator_id)
        for unit in event.units:
            tx.execute(
                "UPDATE notice_receipts SET reminded = 1, reminded_on_duty = ? "
                "WHERE notice_id = ? AND unit = ?",
                (event.on_duty.get(unit), nid, unit),
            )
        tx.execute(
            "UPDATE notices SET reminded = 1, version = ? WHERE id = ?",
            (event.originator_version, nid),
        )


# -- reads ------------------------------------------------------------------------------

NOTICE_COLUMNS = (
    "id, sender, title, kind, confirm_by, sent_at, addressed, confirmed, late, reminded, "
    "version, position"
)


def notices(
    tx: Tx,
    *,
    visible_to: str | None,
    addressee: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first. A notice concerns a unit's subtree when its sender or one of its
    addressees lies in it; ``addressee`` keeps those addressed to one unit (its inbox)."""
    where = Where()
    if visible_to is not None:
        pattern = _subtree(tx, visible_to)
        if pattern is None:
            return [], None
        # IN_SUBTREE is a constant clause; the pattern is a bound parameter.
        clause = (
            f"(sender IN ({IN_SUBTREE}) OR id IN (SELECT notice_id FROM notice_receipts "  # noqa: S608
            f"WHERE unit IN ({IN_SUBTREE})))"
        )
        where.add(
            clause,
            pattern,
            pattern,
        )
    if addressee is not None:
        where.add("id IN (SELECT notice_id FROM notice_receipts WHERE unit = ?)", addressee)
    return _newest_first(tx, NOTICE_COLUMNS, "notices", where, cursor, limit)

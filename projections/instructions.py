"""The instructions view: one row per instruction and one per assignee, for the API's
list and detail and the units' inboxes (time left is computed when asked, on the
working calendar)."""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

from domain.instruction import AssigneeStatus, Instruction, InstructionStatus
from projections.base import Tx, View, iso
from projections.warnings import dumps

FINISHED = (InstructionStatus.CLOSED.value, InstructionStatus.CANCELLED.value)

COLUMNS = (
    "id, position, version, status, issuer, lead, cooperating, title, content, priority, "
    "deadline, original_deadline, issued_at, signed_at, submitted_at, closed_at, finished, "
    "warning_ids, parent_id, children, open_children, pending_extension, reminders, "
    "supervised_by, rework_count, status_before_park, loop_id, last_position"
)


class InstructionsView(View):
    name = "instructions"
    version = 1
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS instructions ("
        "id TEXT PRIMARY KEY, position BIGINT NOT NULL, version INTEGER NOT NULL, "
        "status TEXT NOT NULL, issuer TEXT NOT NULL, lead TEXT NOT NULL, "
        "cooperating TEXT NOT NULL, title TEXT NOT NULL, content TEXT NOT NULL, "
        "priority TEXT NOT NULL, deadline TEXT NOT NULL, original_deadline TEXT NOT NULL, "
        "issued_at TEXT NOT NULL, signed_at TEXT, submitted_at TEXT, closed_at TEXT, "
        "finished INTEGER NOT NULL, warning_ids TEXT NOT NULL, parent_id TEXT, "
        "children TEXT NOT NULL, open_children TEXT NOT NULL, pending_extension TEXT, "
        "reminders INTEGER NOT NULL, supervised_by TEXT, rework_count INTEGER NOT NULL, "
        "status_before_park TEXT, loop_id TEXT NOT NULL, last_position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS instructions_position ON instructions (position)",
        "CREATE INDEX IF NOT EXISTS instructions_issuer ON instructions (issuer, position)",
        "CREATE TABLE IF NOT EXISTS instruction_assignees ("
        "instruction_id TEXT NOT NULL, unit TEXT NOT NULL, lead INTEGER NOT NULL, "
        "ord INTEGER NOT NULL, status TEXT NOT NULL, disposition_id TEXT, "
        "PRIMARY KEY (instruction_id, unit))",
        "CREATE INDEX IF NOT EXISTS instruction_assignees_unit "
        "ON instruction_assignees (unit, instruction_id)",
    ]

    # -- helpers -----------------------------------------------------------------------

    def _touch(self, tx: Tx, event: Any, sets: str = "", params: tuple[Any, ...] = ()) -> None:
        tx.execute(
            f"UPDATE instructions SET {sets}{', ' if sets else ''}version = ?, "
            "last_position = ? WHERE id = ?",
            (*params, event.originator_version, self.at, str(event.originator_id)),
        )

    def _get(self, tx: Tx, event: Any, column: str) -> Any:
        rows = tx.execute(
            f"SELECT {column} FROM instructions WHERE id = ?", (str(event.originator_id),)
        )
        return rows[0][0]

    def _assignee(self, tx: Tx, event: Any, unit: str, status: str) -> None:
        tx.execute(
            "UPDATE instruction_assignees SET status = ? WHERE instruction_id = ? AND unit = ?",
            (status, str(event.originator_id), unit),
        )

    def _lead_status(self, tx: Tx, event: Any, unit: str, status: str, at: str = "") -> None:
        """The instruction's status follows its lead unit's acts, not a cooperating unit's."""
        if self._get(tx, event, "lead") == unit:
            sets = "status = ?" + (f", {at} = ?" if at else "")
            params: tuple[Any, ...] = (status, iso(event.meta.occurred_at)) if at else (status,)
            self._touch(tx, event, sets, params)
        else:
            self._touch(tx, event)

    # -- events ------------------------------------------------------------------------

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the instructions unchanged."""

    @apply.register
    def _(self, event: Instruction.Issued, tx: Tx) -> None:
        iid = str(event.originator_id)
        deadline = iso(event.deadline)
        tx.execute(
            f"INSERT INTO instructions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, NULL, NULL, NULL, 0, ?, ?, '[]', '[]', NULL, 0, NULL, 0, NULL, ?, ?)",
            (
                iid,
                self.at,
                event.originator_version,
                InstructionStatus.DISPATCHED.value,
                event.issuer,
                event.lead,
                dumps(list(event.cooperating)),
                event.title,
                event.content,
                event.priority,
                deadline,
                deadline,
                iso(event.meta.occurred_at),
                dumps([str(w) for w in dict.fromkeys(event.warning_ids)]),
                None if event.parent_id is None else str(event.parent_id),
                str(event.meta.loop_id),
                self.at,
            ),
        )
        tx.executemany(
            "INSERT INTO instruction_assignees (instruction_id, unit, lead, ord, status, "
            "disposition_id) VALUES (?, ?, ?, ?, ?, NULL)",
            [
                (iid, unit, 1 if n == 0 else 0, n, AssigneeStatus.DISPATCHED.value)
                for n, unit in enumerate([event.lead, *event.cooperating])
            ],
        )

    @apply.register
    def _(self, event: Instruction.SignedFor, tx: Tx) -> None:
        tx.execute(
            "UPDATE instruction_assignees SET status = ?, disposition_id = ? "
            "WHERE instruction_id = ? AND unit = ?",
            (
                AssigneeStatus.SIGNED.value,
                str(event.disposition_id),
                str(event.originator_id),
                event.unit,
            ),
        )
        self._lead_status(tx, event, event.unit, InstructionStatus.IN_PROGRESS.value, "signed_at")

    @apply.register
    def _(self, event: Instruction.ReturnedToIssuer, tx: Tx) -> None:
        self._assignee(tx, event, event.unit, AssigneeStatus.RETURNED.value)
        self._lead_status(tx, event, event.unit, InstructionStatus.RETURNED.value)

    @apply.register
    def _(self, event: Instruction.Redirected, tx: Tx) -> None:
        iid = str(event.originator_id)
        was_lead = self._get(tx, event, "lead") == event.from_unit
        tx.execute(
            "DELETE FROM instruction_assignees WHERE instruction_id = ? AND unit = ?",
            (iid, event.from_unit),
        )
        if was_lead:
            order = 0
        else:
            rows = tx.execute(
                "SELECT MAX(ord) FROM instruction_assignees WHERE instruction_id = ?", (iid,)
            )
            order = int(rows[0][0] or 0) + 1
        tx.execute(
            "INSERT INTO instruction_assignees (instruction_id, unit, lead, ord, status, "
            "disposition_id) VALUES (?, ?, ?, ?, ?, NULL)",
            (iid, event.to_unit, 1 if was_lead else 0, order, AssigneeStatus.DISPATCHED.value),
        )
        if was_lead:
            self._touch(
                tx,
                event,
                "lead = ?, status = ?",
                (event.to_unit, InstructionStatus.DISPATCHED.value),
            )
        else:
            cooperating = json.loads(self._get(tx, event, "cooperating"))
            cooperating = [event.to_unit if u == event.from_unit else u for u in cooperating]
            self._touch(tx, event, "cooperating = ?", (dumps(cooperating),))

    @apply.register
    def _(self, event: Instruction.LinkedToWarning, tx: Tx) -> None:
        warnings = json.loads(self._get(tx, event, "warning_ids"))
        warnings.append(str(event.warning_id))
        self._touch(tx, event, "warning_ids = ?", (dumps(warnings),))

    @apply.register
    def _(self, event: Instruction.Forwarded, tx: Tx) -> None:
        children = json.loads(self._get(tx, event, "children"))
        still_open = json.loads(self._get(tx, event, "open_children"))
        children.append(str(event.child_id))
        still_open.append(str(event.child_id))
        self._touch(
            tx, event, "children = ?, open_children = ?", (dumps(children), dumps(still_open))
        )

    @apply.register
    def _(self, event: Instruction.ChildFinished, tx: Tx) -> None:
        still_open = json.loads(self._get(tx, event, "open_children"))
        if str(event.child_id) in still_open:
            still_open.remove(str(event.child_id))
        self._touch(tx, event, "open_children = ?", (dumps(still_open),))

    @apply.register
    def _(self, event: Instruction.ExtensionRequested, tx: Tx) -> None:
        pending = {"unit": event.unit, "deadline": iso(event.deadline), "reason": event.reason}
        self._touch(tx, event, "pending_extension = ?", (dumps(pending),))

    @apply.register
    def _(self, event: Instruction.ExtensionDecided, tx: Tx) -> None:
        self._touch(tx, event, "pending_extension = NULL, deadline = ?", (iso(event.deadline),))

    @apply.register
    def _(self, event: Instruction.ResultSubmitted, tx: Tx) -> None:
        self._assignee(tx, event, event.unit, AssigneeStatus.SUBMITTED.value)
        self._lead_status(tx, event, event.unit, InstructionStatus.SUBMITTED.value, "submitted_at")

    @apply.register
    def _(self, event: Instruction.Verified, tx: Tx) -> None:
        iid = str(event.originator_id)
        if event.accepted:
            tx.execute(
                "UPDATE instruction_assignees SET status = ? "
                "WHERE instruction_id = ? AND status = ?",
                (AssigneeStatus.ACCEPTED.value, iid, AssigneeStatus.SUBMITTED.value),
            )
            self._touch(
                tx,
                event,
                "status = ?, closed_at = ?, finished = 1, pending_extension = NULL",
                (InstructionStatus.CLOSED.value, iso(event.meta.occurred_at)),
            )
        else:
            tx.execute(
                "UPDATE instruction_assignees SET status = ? WHERE instruction_id = ? AND lead = 1",
                (AssigneeStatus.SIGNED.value, iid),
            )
            self._touch(
                tx,
                event,
                "status = ?, rework_count = rework_count + 1",
                (InstructionStatus.REWORK.value,),
            )

    @apply.register
    def _(self, event: Instruction.Reminded, tx: Tx) -> None:
        self._touch(tx, event, "reminders = reminders + 1")

    @apply.register
    def _(self, event: Instruction.Supervised, tx: Tx) -> None:
        self._touch(tx, event, "supervised_by = ?", (event.supervisor,))

    @apply.register
    def _(self, event: Instruction.Parked, tx: Tx) -> None:
        self._touch(
            tx,
            event,
            "status_before_park = status, status = ?",
            (InstructionStatus.PARKED.value,),
        )

    @apply.register
    def _(self, event: Instruction.Resumed, tx: Tx) -> None:
        self._touch(
            tx,
            event,
            "status = COALESCE(status_before_park, ?), status_before_park = NULL",
            (InstructionStatus.DISPATCHED.value,),
        )

    @apply.register
    def _(self, event: Instruction.Cancelled, tx: Tx) -> None:
        self._touch(
            tx,
            event,
            "status = ?, finished = 1, pending_extension = NULL",
            (InstructionStatus.CANCELLED.value,),
        )

"""The instructions view: one row per instruction and one per assignee, for the API's
list and detail and the units' inboxes (time left is computed when asked, on the
working calendar)."""

# Table names are constants; every value is a bound parameter.

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from domain.instruction import AssigneeStatus, Instruction, InstructionStatus
from projections.buffers import GroupBuffer, RowBuffer
from projections.store import Tx, ViewStore
from projections.values import add_to_lists, dumps, iso, remove_from_list
from projections.view import View

FINISHED = (InstructionStatus.CLOSED.value, InstructionStatus.CANCELLED.value)

COLUMNS = (
    "id, position, version, status, issuer, lead, cooperating, title, content, priority, "
    "deadline, original_deadline, issued_at, signed_at, submitted_at, closed_at, finished, "
    "warning_ids, parent_id, children, open_children, pending_extension, reminders, "
    "supervised_by, rework_count, status_before_park, loop_id, last_position, "
    "emergency, pending_deferral, status_before_deferral, deferred_remaining_s, "
    "pending_dispute, reopen_count, last_follow_up, unreached_follow_ups"
)


class InstructionsView(View):
    """One row per instruction, and one per assignee of it (its own state and disposition)."""

    name = "instructions"
    # 2: emergency and deferrals (ADR 0071); 3: disputes (ADR 0076); 4: follow-ups (0083);
    # 5: unreached follow-up attempts (0093)
    version = 5
    dispatcher = "_change"
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
        "status_before_park TEXT, loop_id TEXT NOT NULL, last_position BIGINT NOT NULL, "
        "emergency INTEGER NOT NULL DEFAULT 0, pending_deferral TEXT, "
        "status_before_deferral TEXT, deferred_remaining_s BIGINT, pending_dispute TEXT, "
        "reopen_count INTEGER NOT NULL DEFAULT 0, last_follow_up TEXT, "
        "unreached_follow_ups INTEGER NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS instructions_position ON instructions (position)",
        "CREATE INDEX IF NOT EXISTS instructions_issuer ON instructions (issuer, position)",
        "CREATE TABLE IF NOT EXISTS instruction_assignees ("
        "instruction_id TEXT NOT NULL, unit TEXT NOT NULL, lead INTEGER NOT NULL, "
        "ord INTEGER NOT NULL, status TEXT NOT NULL, disposition_id TEXT, "
        "PRIMARY KEY (instruction_id, unit))",
        "CREATE INDEX IF NOT EXISTS instruction_assignees_unit "
        "ON instruction_assignees (unit, instruction_id)",
    ]

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self._rows: RowBuffer | None = None
        self._assignees: GroupBuffer | None = None

    # Rows are changed in memory and written once per batch (ADR 0016): the instructions
    # and assignees a batch changes but did not issue are read in one statement each.

    def apply_batch(self, events: Sequence[tuple[Any, int]], tx: Tx) -> None:
        self._rows = rows = RowBuffer("instructions", INSTRUCTION_COLUMNS)
        self._assignees = assignees = GroupBuffer(
            "instruction_assignees", ASSIGNEE_COLUMNS, "instruction_id", "unit"
        )
        try:
            issued: set[Any] = set()
            needed: list[str] = []
            for event, _ in events:
                kind = type(event)
                if kind is Instruction.Issued:
                    issued.add(event.originator_id)
                elif kind in FOLLOWED and event.originator_id not in issued:
                    needed.append(str(event.originator_id))
            rows.load(tx, needed)
            assignees.load(tx, [k for k in needed if rows.peek(tx, k) is not None])
            super().apply_batch(events, tx)
            rows.flush(tx)
            assignees.flush(tx)
        finally:
            self._rows = None
            self._assignees = None

    def apply(self, event: Any, tx: Tx) -> None:
        if self._rows is None:
            self.apply_batch([(event, self.at)], tx)
        else:
            self._change(event, tx)

    # -- helpers -----------------------------------------------------------------------

    def _row(self, tx: Tx, event: Any) -> dict[str, Any] | None:
        """The instruction's row to change, its version and last position already set."""
        assert self._rows is not None
        row = self._rows.get(tx, str(event.originator_id))
        if row is not None:
            row["version"] = event.originator_version
            row["last_position"] = self.at
        return row

    def _units(self, tx: Tx, event: Any) -> list[dict[str, Any]]:
        """The instruction's assignee rows, to change in place."""
        assert self._assignees is not None
        return self._assignees.get(tx, str(event.originator_id))

    def _assignee(self, tx: Tx, event: Any, unit: str, status: str) -> None:
        for assignee in self._units(tx, event):
            if assignee["unit"] == unit:
                assignee["status"] = status

    def _lead_status(
        self, row: dict[str, Any], event: Any, unit: str, status: str, at: str = ""
    ) -> None:
        """The instruction's status follows its lead unit's acts, not a cooperating unit's."""
        if row["lead"] == unit:
            row["status"] = status
            if at:
                row[at] = iso(event.meta.occurred_at)

    # -- events ------------------------------------------------------------------------

    @singledispatchmethod
    def _change(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the instructions unchanged."""

    @_change.register
    def _(self, event: Instruction.Issued, tx: Tx) -> None:
        assert self._rows is not None
        assert self._assignees is not None
        iid = str(event.originator_id)
        deadline = iso(event.deadline)
        self._rows.add(
            {
                "id": iid,
                "position": self.at,
                "version": event.originator_version,
                "status": InstructionStatus.DISPATCHED.value,
                "issuer": event.issuer,
                "lead": event.lead,
                "cooperating": dumps(list(event.cooperating)),
                "title": event.title,
                "content": event.content,
                "priority": event.priority,
                "deadline": deadline,
                "original_deadline": deadline,
                "issued_at": iso(event.meta.occurred_at),
                "signed_at": None,
                "submitted_at": None,
                "closed_at": None,
                "finished": 0,
                "warning_ids": dumps([str(w) for w in dict.fromkeys(event.warning_ids)]),
                "parent_id": None if event.parent_id is None else str(event.parent_id),
                "children": "[]",
                "open_children": "[]",
                "pending_extension": None,
                "reminders": 0,
                "supervised_by": None,
                "rework_count": 0,
                "status_before_park": None,
                "loop_id": str(event.meta.loop_id),
                "last_position": self.at,
                "emergency": 1 if event.emergency else 0,
                "pending_deferral": None,
                "status_before_deferral": None,
                "deferred_remaining_s": None,
                "pending_dispute": None,
                "reopen_count": 0,
                "last_follow_up": None,
                "unreached_follow_ups": 0,
            }
        )
        self._assignees.put(
            iid,
            [
                {
                    "instruction_id": iid,
                    "unit": unit,
                    "lead": 1 if n == 0 else 0,
                    "ord": n,
                    "status": AssigneeStatus.DISPATCHED.value,
                    "disposition_id": None,
                }
                for n, unit in enumerate(dict.fromkeys([event.lead, *event.cooperating]))
            ],
        )

    @_change.register
    def _(self, event: Instruction.SignedFor, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        for assignee in self._units(tx, event):
            if assignee["unit"] == event.unit:
                assignee["status"] = AssigneeStatus.SIGNED.value
                assignee["disposition_id"] = str(event.disposition_id)
        self._lead_status(row, event, event.unit, InstructionStatus.IN_PROGRESS.value, "signed_at")

    @_change.register
    def _(self, event: Instruction.ReturnedToIssuer, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        self._assignee(tx, event, event.unit, AssigneeStatus.RETURNED.value)
        self._lead_status(row, event, event.unit, InstructionStatus.RETURNED.value)

    @_change.register
    def _(self, event: Instruction.Redirected, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        was_lead = row["lead"] == event.from_unit
        units = self._units(tx, event)
        units[:] = [a for a in units if a["unit"] not in (event.from_unit, event.to_unit)]
        order = 0 if was_lead else max((int(a["ord"]) for a in units), default=0) + 1
        units.append(
            {
                "instruction_id": str(event.originator_id),
                "unit": event.to_unit,
                "lead": 1 if was_lead else 0,
                "ord": order,
                "status": AssigneeStatus.DISPATCHED.value,
                "disposition_id": None,
            }
        )
        if was_lead:
            row["lead"] = event.to_unit
            row["status"] = InstructionStatus.DISPATCHED.value
        else:
            cooperating = json.loads(row["cooperating"])
            cooperating = [event.to_unit if u == event.from_unit else u for u in cooperating]
            row["cooperating"] = dumps(cooperating)

    @_change.register
    def _(self, event: Instruction.LinkedToWarning, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            add_to_lists(row, event.warning_id, "warning_ids")

    @_change.register
    def _(self, event: Instruction.Forwarded, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            add_to_lists(row, event.child_id, "children", "open_children")

    @_change.register
    def _(self, event: Instruction.ChildFinished, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            remove_from_list(row, event.child_id, "open_children")

    @_change.register
    def _(self, event: Instruction.ExtensionRequested, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            pending = {"unit": event.unit, "deadline": iso(event.deadline), "reason": event.reason}
            row["pending_extension"] = dumps(pending)

    @_change.register
    def _(self, event: Instruction.ExtensionDecided, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["pending_extension"] = None
            row["deadline"] = iso(event.deadline)

    @_change.register
    def _(self, event: Instruction.ResultSubmitted, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        self._assignee(tx, event, event.unit, AssigneeStatus.SUBMITTED.value)
        self._lead_status(row, event, event.unit, InstructionStatus.SUBMITTED.value, "submitted_at")
        if row["lead"] == event.unit:
            row["pending_deferral"] = None  # the request lapses, as the domain has it

    @_change.register
    def _(self, event: Instruction.Verified, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        units = self._units(tx, event)
        if event.accepted:
            for assignee in units:
                if assignee["status"] == AssigneeStatus.SUBMITTED.value:
                    assignee["status"] = AssigneeStatus.ACCEPTED.value
            row["status"] = InstructionStatus.CLOSED.value
            row["closed_at"] = iso(event.meta.occurred_at)
            row["finished"] = 1
            row["pending_extension"] = None
            row["pending_deferral"] = None
            row["pending_dispute"] = None
        else:
            for assignee in units:
                if assignee["lead"] == 1:
                    assignee["status"] = AssigneeStatus.SIGNED.value
            row["status"] = InstructionStatus.REWORK.value
            row["rework_count"] += 1

    @_change.register
    def _(self, event: Instruction.Reminded, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["reminders"] += 1

    @_change.register
    def _(self, event: Instruction.Supervised, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["supervised_by"] = event.supervisor

    @_change.register
    def _(self, event: Instruction.Parked, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status_before_park"] = row["status"]
            row["status"] = InstructionStatus.PARKED.value

    @_change.register
    def _(self, event: Instruction.Resumed, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            before = row["status_before_park"]
            row["status"] = before if before is not None else InstructionStatus.DISPATCHED.value
            row["status_before_park"] = None

    @_change.register
    def _(self, event: Instruction.Cancelled, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = InstructionStatus.CANCELLED.value
            row["finished"] = 1
            row["pending_extension"] = None
            row["pending_deferral"] = None
            row["pending_dispute"] = None

    @_change.register
    def _(self, event: Instruction.DeferralRequested, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            pending = {
                "unit": event.unit,
                "reason": event.reason,
                "at": iso(event.meta.occurred_at),
            }
            row["pending_deferral"] = dumps(pending)

    @_change.register
    def _(self, event: Instruction.DeferralDecided, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        row["pending_deferral"] = None
        if event.granted:
            row["status_before_deferral"] = row["status"]
            row["status"] = InstructionStatus.DEFERRED.value
            row["deferred_remaining_s"] = event.remaining_s

    @_change.register
    def _(self, event: Instruction.DeferralEnded, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            before = row["status_before_deferral"]
            row["status"] = before if before is not None else InstructionStatus.IN_PROGRESS.value
            row["status_before_deferral"] = None
            row["deferred_remaining_s"] = None
            row["deadline"] = iso(event.deadline)

    @_change.register
    def _(self, event: Instruction.DisputeFiled, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            pending = {
                "unit": event.unit,
                "reason": event.reason,
                "at": iso(event.meta.occurred_at),
            }
            row["pending_dispute"] = dumps(pending)

    @_change.register
    def _(self, event: Instruction.DisputeArbitrated, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        row["pending_dispute"] = None
        if not event.upheld:
            return
        # Upheld: the case goes to the named unit, new, with its fresh deadline.
        units = self._units(tx, event)
        units[:] = [a for a in units if a["unit"] not in (event.unit, event.to_unit)]
        units.append(
            {
                "instruction_id": str(event.originator_id),
                "unit": event.to_unit,
                "lead": 1,
                "ord": 0,
                "status": AssigneeStatus.DISPATCHED.value,
                "disposition_id": None,
            }
        )
        row["lead"] = event.to_unit
        row["status"] = InstructionStatus.DISPATCHED.value
        row["signed_at"] = None
        row["deadline"] = iso(event.deadline)
        row["pending_extension"] = None
        row["pending_deferral"] = None

    @_change.register
    def _(self, event: Instruction.FollowedUp, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        row["last_follow_up"] = dumps(
            {
                "unit": event.unit,
                "contacted": event.contacted,
                "resolved": event.resolved,
                "satisfaction": event.satisfaction,
                "reopened": event.reopened,
                "note": event.note,
                "at": iso(event.meta.occurred_at),
            }
        )
        if not event.reopened:
            return
        # 重办: back to the lead, signed for, with its fresh deadline.
        self._assignee(tx, event, event.unit, AssigneeStatus.SIGNED.value)
        row["reopen_count"] += 1
        row["unreached_follow_ups"] = 0
        row["status"] = InstructionStatus.IN_PROGRESS.value
        row["closed_at"] = None
        row["finished"] = 0
        row["deadline"] = iso(event.deadline)

    @_change.register
    def _(self, event: Instruction.FollowUpUnreached, tx: Tx) -> None:
        if (row := self._row(tx, event)) is None:
            return
        row["unreached_follow_ups"] = event.attempt


INSTRUCTION_COLUMNS = COLUMNS.split(", ")
ASSIGNEE_COLUMNS = ["instruction_id", "unit", "lead", "ord", "status", "disposition_id"]

#: The events that change an instruction already in the view.
FOLLOWED = frozenset(
    {
        Instruction.SignedFor,
        Instruction.ReturnedToIssuer,
        Instruction.Redirected,
        Instruction.LinkedToWarning,
        Instruction.Forwarded,
        Instruction.ChildFinished,
        Instruction.ExtensionRequested,
        Instruction.ExtensionDecided,
        Instruction.ResultSubmitted,
        Instruction.Verified,
        Instruction.Reminded,
        Instruction.Supervised,
        Instruction.Parked,
        Instruction.Resumed,
        Instruction.Cancelled,
        Instruction.DeferralRequested,
        Instruction.DeferralDecided,
        Instruction.DeferralEnded,
        Instruction.DisputeFiled,
        Instruction.DisputeArbitrated,
        Instruction.FollowedUp,
        Instruction.FollowUpUnreached,
    }
)

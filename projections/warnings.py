"""The warnings view: one row per early warning, for the API's list and detail and the
warning board (open warnings by theme, level and unit; ages are computed when asked)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from domain.warning import EarlyWarning, WarningStatus
from projections.buffers import RowBuffer
from projections.store import Tx, ViewStore
from projections.values import add_to_lists, dumps, id_text, iso, remove_from_list
from projections.view import View

OPEN = (WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED, WarningStatus.CONFIRMED)

COLUMNS = (
    "id, position, version, status, source, rule, theme, level, title, description, "
    "location, unit, dedup_key, observed_at, last_observed_at, raised_at, acknowledged_at, "
    "closed_at, assessment, repeats, instructions, open_instructions, attributes, loop_id, "
    "last_position, merged_into, merged, members, inhibited_by, inhibition"
)


class WarningsView(View):
    """One row per early warning, its links to instructions as JSON lists."""

    name = "warnings"
    # 2: the main case a warning was merged into, and the warnings merged into it (ADR 0082).
    # 3: a group's members, and the warning that inhibits this one and by which rule
    # (ADR 0087).
    version = 3
    dispatcher = "_change"
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS warnings ("
        "id TEXT PRIMARY KEY, position BIGINT NOT NULL, version INTEGER NOT NULL, "
        "status TEXT NOT NULL, source TEXT NOT NULL, rule TEXT NOT NULL, theme TEXT NOT NULL, "
        "level INTEGER NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL, "
        "location TEXT NOT NULL, unit TEXT NOT NULL, dedup_key TEXT NOT NULL, "
        "observed_at TEXT NOT NULL, last_observed_at TEXT NOT NULL, raised_at TEXT NOT NULL, "
        "acknowledged_at TEXT, closed_at TEXT, assessment TEXT, repeats INTEGER NOT NULL, "
        "instructions TEXT NOT NULL, open_instructions TEXT NOT NULL, attributes TEXT NOT NULL, "
        "loop_id TEXT NOT NULL, last_position BIGINT NOT NULL, merged_into TEXT, "
        "merged TEXT NOT NULL DEFAULT '[]', members TEXT NOT NULL DEFAULT '{}', "
        "inhibited_by TEXT, inhibition TEXT)",
        "CREATE INDEX IF NOT EXISTS warnings_position ON warnings (position)",
        "CREATE INDEX IF NOT EXISTS warnings_unit ON warnings (unit, position)",
        "CREATE INDEX IF NOT EXISTS warnings_status ON warnings (status, position)",
    ]

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self._rows: RowBuffer | None = None

    # Rows are changed in memory and written once per batch: a storm repeats a warning
    # many times, and each repeat would otherwise be a statement of its own.

    def apply_batch(self, events: Sequence[tuple[Any, int]], tx: Tx) -> None:
        rows = self._rows = RowBuffer("warnings", COLUMNS.split(", "))
        try:
            # Read at once every warning the batch changes but did not raise itself.
            raised = set()
            needed = []
            for event, _ in events:
                if isinstance(event, EarlyWarning.Raised):
                    raised.add(event.originator_id)
                elif isinstance(event, FOLLOWED) and event.originator_id not in raised:
                    needed.append(id_text(event.originator_id))
            rows.load(tx, needed)
            super().apply_batch(events, tx)
            rows.flush(tx)
        finally:
            self._rows = None

    def _row(self, tx: Tx, event: Any) -> dict[str, Any] | None:
        """The warning's row to change, its version and last position already set."""
        assert self._rows is not None
        row = self._rows.get(tx, id_text(event.originator_id))
        if row is not None:
            row["version"] = event.originator_version
            row["last_position"] = self.at
        return row

    def apply(self, event: Any, tx: Tx) -> None:
        if self._rows is None:
            self.apply_batch([(event, self.at)], tx)
        else:
            self._change(event, tx)

    @singledispatchmethod
    def _change(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the warnings unchanged."""

    @_change.register
    def _(self, event: EarlyWarning.Raised, tx: Tx) -> None:
        assert self._rows is not None
        observed_at = iso(event.observed_at)
        self._rows.add(
            {
                "id": id_text(event.originator_id),
                "position": self.at,
                "version": event.originator_version,
                "status": WarningStatus.RAISED.value,
                "source": event.source,
                "rule": event.rule,
                "theme": event.theme,
                "level": event.level,
                "title": event.title,
                "description": event.description,
                "location": event.location,
                "unit": event.unit,
                "dedup_key": event.dedup_key,
                "observed_at": observed_at,
                "last_observed_at": observed_at,
                "raised_at": iso(event.meta.occurred_at),
                "acknowledged_at": None,
                "closed_at": None,
                "assessment": None,
                "repeats": 0,
                "instructions": "[]",
                "open_instructions": "[]",
                "attributes": dumps(event.attributes),
                "loop_id": id_text(event.meta.loop_id),
                "last_position": self.at,
                "merged_into": None,
                "merged": "[]",
                "members": dumps(_first_member(event)),
                "inhibited_by": None,
                "inhibition": None,
            }
        )

    @_change.register
    def _(self, event: EarlyWarning.Repeated, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["repeats"] += 1
            # max() on ISO-8601 UTC text is max() on the instants.
            row["last_observed_at"] = max(row["last_observed_at"], iso(event.observed_at))

    @_change.register
    def _(self, event: EarlyWarning.LevelChanged, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["level"] = event.level

    @_change.register
    def _(self, event: EarlyWarning.Acknowledged, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = WarningStatus.ACKNOWLEDGED.value
            row["acknowledged_at"] = iso(event.meta.occurred_at)

    @_change.register
    def _(self, event: EarlyWarning.Assessed, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            status = WarningStatus.CONFIRMED if event.confirmed else WarningStatus.FALSE_ALARM
            row["status"] = status.value
            row["assessment"] = event.note

    @_change.register
    def _(self, event: EarlyWarning.InstructionLinked, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            add_to_lists(row, event.instruction_id, "instructions", "open_instructions")

    @_change.register
    def _(self, event: EarlyWarning.InstructionFinished, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            remove_from_list(row, event.instruction_id, "open_instructions")

    @_change.register
    def _(self, event: EarlyWarning.Resolved, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = WarningStatus.RESOLVED.value

    @_change.register
    def _(self, event: EarlyWarning.Cancelled, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = WarningStatus.CANCELLED.value

    @_change.register
    def _(self, event: EarlyWarning.Closed, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = WarningStatus.CLOSED.value
            row["closed_at"] = iso(event.meta.occurred_at)

    # -- merging (并单, ADR 0082) --------------------------------------------------------

    @_change.register
    def _(self, event: EarlyWarning.MergedInto, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = WarningStatus.MERGED.value
            row["merged_into"] = str(event.main_id)
            row["closed_at"] = iso(event.meta.occurred_at)

    @_change.register
    def _(self, event: EarlyWarning.MergeTaken, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            add_to_lists(row, event.merged_id, "merged")

    @_change.register
    def _(self, event: EarlyWarning.Unmerged, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["status"] = event.status
            row["merged_into"] = None
            row["closed_at"] = None

    @_change.register
    def _(self, event: EarlyWarning.MergeReleased, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            remove_from_list(row, event.merged_id, "merged")

    # -- grouping and inhibition (ADR 0087) ------------------------------------------------

    @_change.register
    def _(self, event: EarlyWarning.MemberJoined, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            members = json.loads(row["members"])
            members[event.member] = {
                "level": event.level,
                "active": True,
                "joined_at": iso(event.observed_at),
            }
            row["members"] = dumps(members)
            row["last_observed_at"] = max(row["last_observed_at"], iso(event.observed_at))

    @_change.register
    def _(self, event: EarlyWarning.MemberLevelChanged, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            members = json.loads(row["members"])
            if event.member in members:
                members[event.member]["level"] = event.level
                row["members"] = dumps(members)

    @_change.register
    def _(self, event: EarlyWarning.MemberResolved, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            members = json.loads(row["members"])
            if event.member in members:
                members[event.member]["active"] = False
                row["members"] = dumps(members)

    @_change.register
    def _(self, event: EarlyWarning.Inhibited, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["inhibited_by"] = str(event.by)
            row["inhibition"] = event.inhibition

    @_change.register
    def _(self, event: EarlyWarning.Uninhibited, tx: Tx) -> None:
        if (row := self._row(tx, event)) is not None:
            row["inhibited_by"] = None
            row["inhibition"] = None


def _first_member(event: EarlyWarning.Raised) -> dict[str, Any]:
    """A group's warning's first member: the breach that raised it."""
    if not isinstance(event.attributes.get("group"), dict):
        return {}
    member = str(event.attributes.get("subject", ""))
    return {member: {"level": event.level, "active": True, "joined_at": iso(event.observed_at)}}


#: The events that change a warning already in the view.
FOLLOWED = (
    EarlyWarning.Repeated,
    EarlyWarning.LevelChanged,
    EarlyWarning.Acknowledged,
    EarlyWarning.Assessed,
    EarlyWarning.InstructionLinked,
    EarlyWarning.InstructionFinished,
    EarlyWarning.Resolved,
    EarlyWarning.Cancelled,
    EarlyWarning.Closed,
    EarlyWarning.MergedInto,
    EarlyWarning.MergeTaken,
    EarlyWarning.Unmerged,
    EarlyWarning.MergeReleased,
    EarlyWarning.MemberJoined,
    EarlyWarning.MemberLevelChanged,
    EarlyWarning.MemberResolved,
    EarlyWarning.Inhibited,
    EarlyWarning.Uninhibited,
)

"""The warnings view: one row per early warning, for the API's list and detail and the
warning board (open warnings by theme, level and unit; ages are computed when asked)."""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

from domain.warning import EarlyWarning, WarningStatus
from projections.base import Tx, View, iso

OPEN = (WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED, WarningStatus.CONFIRMED)

COLUMNS = (
    "id, position, version, status, source, rule, theme, level, title, description, "
    "location, unit, dedup_key, observed_at, last_observed_at, raised_at, acknowledged_at, "
    "closed_at, assessment, repeats, instructions, open_instructions, attributes, loop_id, "
    "last_position"
)


def dumps(value: Any) -> str:
    """JSON as the views store it: sorted keys, no spaces (equal values, equal text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class WarningsView(View):
    name = "warnings"
    version = 1
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS warnings ("
        "id TEXT PRIMARY KEY, position BIGINT NOT NULL, version INTEGER NOT NULL, "
        "status TEXT NOT NULL, source TEXT NOT NULL, rule TEXT NOT NULL, theme TEXT NOT NULL, "
        "level INTEGER NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL, "
        "location TEXT NOT NULL, unit TEXT NOT NULL, dedup_key TEXT NOT NULL, "
        "observed_at TEXT NOT NULL, last_observed_at TEXT NOT NULL, raised_at TEXT NOT NULL, "
        "acknowledged_at TEXT, closed_at TEXT, assessment TEXT, repeats INTEGER NOT NULL, "
        "instructions TEXT NOT NULL, open_instructions TEXT NOT NULL, attributes TEXT NOT NULL, "
        "loop_id TEXT NOT NULL, last_position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS warnings_position ON warnings (position)",
        "CREATE INDEX IF NOT EXISTS warnings_unit ON warnings (unit, position)",
        "CREATE INDEX IF NOT EXISTS warnings_status ON warnings (status, position)",
    ]

    def _touch(self, tx: Tx, event: Any, sets: str = "", params: tuple[Any, ...] = ()) -> None:
        tx.execute(
            f"UPDATE warnings SET {sets}{', ' if sets else ''}version = ?, last_position = ? "
            "WHERE id = ?",
            (*params, event.originator_version, self.at, str(event.originator_id)),
        )

    def _lists(self, tx: Tx, event: Any) -> tuple[list[str], list[str]]:
        rows = tx.execute(
            "SELECT instructions, open_instructions FROM warnings WHERE id = ?",
            (str(event.originator_id),),
        )
        return json.loads(rows[0][0]), json.loads(rows[0][1])

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Events of other aggregates leave the warnings unchanged."""

    @apply.register
    def _(self, event: EarlyWarning.Raised, tx: Tx) -> None:
        tx.execute(
            f"INSERT INTO warnings ({COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, '[]', '[]', "
            "?, ?, ?)",
            (
                str(event.originator_id),
                self.at,
                event.originator_version,
                WarningStatus.RAISED.value,
                event.source,
                event.rule,
                event.theme,
                event.level,
                event.title,
                event.description,
                event.location,
                event.unit,
                event.dedup_key,
                iso(event.observed_at),
                iso(event.observed_at),
                iso(event.meta.occurred_at),
                dumps(event.attributes),
                str(event.meta.loop_id),
                self.at,
            ),
        )

    @apply.register
    def _(self, event: EarlyWarning.Repeated, tx: Tx) -> None:
        # max() on ISO-8601 UTC text is max() on the instants.
        observed = iso(event.observed_at)
        self._touch(
            tx,
            event,
            "repeats = repeats + 1, last_observed_at = "
            "CASE WHEN last_observed_at < ? THEN ? ELSE last_observed_at END",
            (observed, observed),
        )

    @apply.register
    def _(self, event: EarlyWarning.LevelChanged, tx: Tx) -> None:
        self._touch(tx, event, "level = ?", (event.level,))

    @apply.register
    def _(self, event: EarlyWarning.Acknowledged, tx: Tx) -> None:
        self._touch(
            tx,
            event,
            "status = ?, acknowledged_at = ?",
            (WarningStatus.ACKNOWLEDGED.value, iso(event.meta.occurred_at)),
        )

    @apply.register
    def _(self, event: EarlyWarning.Assessed, tx: Tx) -> None:
        status = WarningStatus.CONFIRMED if event.confirmed else WarningStatus.FALSE_ALARM
        self._touch(tx, event, "status = ?, assessment = ?", (status.value, event.note))

    @apply.register
    def _(self, event: EarlyWarning.InstructionLinked, tx: Tx) -> None:
        linked, still_open = self._lists(tx, event)
        linked.append(str(event.instruction_id))
        still_open.append(str(event.instruction_id))
        self._touch(
            tx, event, "instructions = ?, open_instructions = ?", (dumps(linked), dumps(still_open))
        )

    @apply.register
    def _(self, event: EarlyWarning.InstructionFinished, tx: Tx) -> None:
        _, still_open = self._lists(tx, event)
        if str(event.instruction_id) in still_open:
            still_open.remove(str(event.instruction_id))
        self._touch(tx, event, "open_instructions = ?", (dumps(still_open),))

    @apply.register
    def _(self, event: EarlyWarning.Resolved, tx: Tx) -> None:
        self._touch(tx, event, "status = ?", (WarningStatus.RESOLVED.value,))

    @apply.register
    def _(self, event: EarlyWarning.Cancelled, tx: Tx) -> None:
        self._touch(tx, event, "status = ?", (WarningStatus.CANCELLED.value,))

    @apply.register
    def _(self, event: EarlyWarning.Closed, tx: Tx) -> None:
        self._touch(
            tx,
            event,
            "status = ?, closed_at = ?",
            (WarningStatus.CLOSED.value, iso(event.meta.occurred_at)),
        )

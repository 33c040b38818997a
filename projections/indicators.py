"""The indicators view: one row of facts per case, for the multi-level reports (ADR 0011).

A *case* is an instruction, root or forwarded: each dispatched order counts, as the
12345 hotline counts them. It is counted under its lead unit (after any redirect). A
warning is a case of its own kind, counted under its responsible unit. The rows hold
only facts, never a judgement that depends on when the report is asked: business
times (``meta.occurred_at``) as ISO-8601 UTC text and as whole epoch seconds (for range
scans on the indexes), durations in whole seconds, the current deadline (after
extensions) and the theme and level the case is reported under. What is due, closed,
on time or overdue in a period is decided by :mod:`projections.reports` when asked.

The only outside input is the working calendar: the sign-for time is also kept in
working seconds, counted on the calendar the view is built with. It is data, like this
code: after the calendar file changes, rebuild the view (``closedloop projections
rebuild indicators``).

Rows carry unit codes, not paths: a unit that moves takes its cases with it, and the
roll-up follows the tree of the units view as it is when the report is asked.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from functools import lru_cache, singledispatchmethod
from importlib import resources
from typing import Any

from domain.calendar import WorkingCalendar
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from projections.base import Tx, View, ViewStore, iso

#: Theme and level of a case that answers no warning.
NONE = "none"

#: ``end_at`` of a case still open: later than any instant, so that "open at t" is
#: one range on the index, ``end_at > t``.
OPEN_END = "9999-12-31T23:59:59.999999+00:00"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CASES = "indicator_cases"
WARNINGS = "indicator_warnings"
VERIFICATIONS = "indicator_verifications"


def epoch(instant: datetime) -> int:
    """Whole seconds since 1970 (floor): ``epoch(t) >= n`` exactly when ``t >= n``."""
    return (instant.astimezone(UTC) - _EPOCH) // timedelta(seconds=1)


def seconds_between(start: datetime, end: datetime) -> int:
    """Whole seconds from ``start`` to ``end``; a business time reported out of order
    (the end before the start) counts as zero rather than as negative time."""
    return max(0, (end - start) // timedelta(seconds=1))


@lru_cache(maxsize=1)
def shipped_calendar() -> WorkingCalendar:
    """The calendar shipped with Closed Loop, for a view built without one."""
    text = resources.files("closedloop").joinpath("calendars/china.toml").read_text("utf-8")
    return WorkingCalendar.from_mapping(tomllib.loads(text))


class IndicatorsView(View):
    """Facts per case for the standard indicators, rolled up by :mod:`projections.reports`."""

    name = "indicators"
    version = 1
    create_statements = [  # noqa: RUF012
        f"CREATE TABLE IF NOT EXISTS {CASES} ("
        "id TEXT PRIMARY KEY, unit TEXT NOT NULL, issuer TEXT NOT NULL, "
        "parent_id TEXT, forwarded INTEGER NOT NULL, priority TEXT NOT NULL, "
        "theme TEXT NOT NULL, level TEXT NOT NULL, theme_from TEXT NOT NULL, "
        "filed_at TEXT NOT NULL, filed_epoch BIGINT NOT NULL, "
        "deadline_at TEXT NOT NULL, due_epoch BIGINT NOT NULL, "
        "received_at TEXT NOT NULL, "
        "signed_at TEXT, signed_epoch BIGINT, sign_s BIGINT, sign_work_s BIGINT, "
        "closed_at TEXT, closed_epoch BIGINT, close_s BIGINT, "
        "cancelled_at TEXT, end_at TEXT NOT NULL)",
        # Each report query is a range of one of these, and finds every column it needs
        # in the index itself (covering): no lookup of the table row per case.
        f"CREATE INDEX IF NOT EXISTS {CASES}_filed "
        f"ON {CASES} (unit, filed_epoch, theme, level, forwarded)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_due ON {CASES} "
        "(unit, due_epoch, theme, level, closed_epoch, closed_at, deadline_at, cancelled_at)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_signed ON {CASES} "
        "(unit, signed_epoch, theme, level, priority, sign_s, sign_work_s)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_closed "
        f"ON {CASES} (unit, closed_epoch, theme, level, close_s)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_open "
        f"ON {CASES} (unit, end_at, deadline_at, filed_at, theme, level)",
        f"CREATE TABLE IF NOT EXISTS {WARNINGS} ("
        "id TEXT PRIMARY KEY, unit TEXT NOT NULL, theme TEXT NOT NULL, level TEXT NOT NULL, "
        "raised_at TEXT NOT NULL, raised_epoch BIGINT NOT NULL, "
        "acknowledged_at TEXT, ack_epoch BIGINT, ack_s BIGINT)",
        f"CREATE INDEX IF NOT EXISTS {WARNINGS}_raised "
        f"ON {WARNINGS} (unit, raised_epoch, theme, level)",
        f"CREATE INDEX IF NOT EXISTS {WARNINGS}_ack "
        f"ON {WARNINGS} (unit, ack_epoch, theme, level, ack_s)",
        # One row per verification: a case verified twice in a period is one verified
        # case, and a rejection then an acceptance is one reworked case.
        f"CREATE TABLE IF NOT EXISTS {VERIFICATIONS} ("
        "case_id TEXT NOT NULL, seq INTEGER NOT NULL, unit TEXT NOT NULL, "
        "theme TEXT NOT NULL, level TEXT NOT NULL, "
        "at TEXT NOT NULL, at_epoch BIGINT NOT NULL, accepted INTEGER NOT NULL, "
        "PRIMARY KEY (case_id, seq))",
        f"CREATE INDEX IF NOT EXISTS {VERIFICATIONS}_at "
        f"ON {VERIFICATIONS} (unit, at_epoch, theme, level, case_id, accepted)",
    ]

    def __init__(self, view: ViewStore, calendar: WorkingCalendar | None = None) -> None:
        super().__init__(view)
        self.calendar = calendar if calendar is not None else shipped_calendar()

    # -- helpers -----------------------------------------------------------------------

    def _theme_of_warning(self, tx: Tx, warning_id: Any) -> tuple[str, str] | None:
        rows = tx.execute(f"SELECT theme, level FROM {WARNINGS} WHERE id = ?", (str(warning_id),))
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def _case(self, tx: Tx, event: Any, columns: str) -> tuple[Any, ...] | None:
        rows = tx.execute(
            f"SELECT {columns} FROM {CASES} WHERE id = ?", (str(event.originator_id),)
        )
        return rows[0] if rows else None

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx) -> None:
        """Events that change no indicator leave the view as it is."""

    # -- warnings ----------------------------------------------------------------------

    @apply.register
    def _(self, event: EarlyWarning.Raised, tx: Tx) -> None:
        raised = event.meta.occurred_at
        tx.execute(
            f"INSERT INTO {WARNINGS} (id, unit, theme, level, raised_at, raised_epoch) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                str(event.originator_id),
                event.unit,
                event.theme,
                str(event.level),
                iso(raised),
                epoch(raised),
            ),
        )

    @apply.register
    def _(self, event: EarlyWarning.LevelChanged, tx: Tx) -> None:
        # A warning is reported at its latest level; the instructions it caused keep the
        # level they were dispatched under (see the Issued branch).
        tx.execute(
            f"UPDATE {WARNINGS} SET level = ? WHERE id = ?",
            (str(event.level), str(event.originator_id)),
        )

    @apply.register
    def _(self, event: EarlyWarning.Acknowledged, tx: Tx) -> None:
        rows = tx.execute(
            f"SELECT raised_at FROM {WARNINGS} WHERE id = ?", (str(event.originator_id),)
        )
        acknowledged = event.meta.occurred_at
        raised = datetime.fromisoformat(rows[0][0])
        tx.execute(
            f"UPDATE {WARNINGS} SET acknowledged_at = ?, ack_epoch = ?, ack_s = ? WHERE id = ?",
            (
                iso(acknowledged),
                epoch(acknowledged),
                seconds_between(raised, acknowledged),
                str(event.originator_id),
            ),
        )

    # -- instructions ------------------------------------------------------------------

    @apply.register
    def _(self, event: Instruction.Issued, tx: Tx) -> None:
        filed = event.meta.occurred_at
        theme, level, source = NONE, NONE, NONE
        found = self._theme_of_warning(tx, event.warning_ids[0]) if event.warning_ids else None
        if found is not None:
            (theme, level), source = found, "warning"
        elif event.parent_id is not None:
            # A forwarded part answers what its parent answers.
            rows = tx.execute(
                f"SELECT theme, level FROM {CASES} WHERE id = ?", (str(event.parent_id),)
            )
            if rows and rows[0][0] != NONE:
                theme, level, source = str(rows[0][0]), str(rows[0][1]), "parent"
        tx.execute(
            f"INSERT INTO {CASES} (id, unit, issuer, parent_id, forwarded, priority, theme, "
            "level, theme_from, filed_at, filed_epoch, deadline_at, due_epoch, received_at, "
            "end_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(event.originator_id),
                event.lead,
                event.issuer,
                None if event.parent_id is None else str(event.parent_id),
                0 if event.parent_id is None else 1,
                event.priority,
                theme,
                level,
                source,
                iso(filed),
                epoch(filed),
                iso(event.deadline),
                epoch(event.deadline),
                iso(filed),
                OPEN_END,
            ),
        )

    @apply.register
    def _(self, event: Instruction.LinkedToWarning, tx: Tx) -> None:
        case = self._case(tx, event, "theme_from")
        found = self._theme_of_warning(tx, event.warning_id)
        # The first warning linked to the instruction itself decides; an inherited
        # theme gives way to it.
        if case is None or case[0] == "warning" or found is None:
            return
        tx.execute(
            f"UPDATE {CASES} SET theme = ?, level = ?, theme_from = 'warning' WHERE id = ?",
            (found[0], found[1], str(event.originator_id)),
        )
        tx.execute(
            f"UPDATE {VERIFICATIONS} SET theme = ?, level = ? WHERE case_id = ?",
            (found[0], found[1], str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Instruction.Redirected, tx: Tx) -> None:
        case = self._case(tx, event, "unit")
        if case is None or case[0] != event.from_unit:
            return  # a cooperating unit's share changed hands; the lead stays
        tx.execute(
            f"UPDATE {CASES} SET unit = ?, received_at = ? WHERE id = ?",
            (event.to_unit, iso(event.meta.occurred_at), str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Instruction.SignedFor, tx: Tx) -> None:
        case = self._case(tx, event, "unit, received_at, signed_at")
        if case is None or case[0] != event.unit or case[2] is not None:
            return  # only the lead's signature starts the handling
        received = datetime.fromisoformat(case[1])
        signed = event.meta.occurred_at
        work = self.calendar.working_time_between(received, signed) if signed > received else None
        tx.execute(
            f"UPDATE {CASES} SET signed_at = ?, signed_epoch = ?, sign_s = ?, sign_work_s = ? "
            "WHERE id = ?",
            (
                iso(signed),
                epoch(signed),
                seconds_between(received, signed),
                0 if work is None else work // timedelta(seconds=1),
                str(event.originator_id),
            ),
        )

    @apply.register
    def _(self, event: Instruction.ExtensionDecided, tx: Tx) -> None:
        tx.execute(
            f"UPDATE {CASES} SET deadline_at = ?, due_epoch = ? WHERE id = ?",
            (iso(event.deadline), epoch(event.deadline), str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Instruction.Verified, tx: Tx) -> None:
        case = self._case(tx, event, "unit, filed_at, theme, level")
        if case is None:
            return
        at = event.meta.occurred_at
        tx.execute(
            f"INSERT INTO {VERIFICATIONS} (case_id, seq, unit, theme, level, at, at_epoch, "
            "accepted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(event.originator_id),
                event.originator_version,
                case[0],
                case[2],
                case[3],
                iso(at),
                epoch(at),
                1 if event.accepted else 0,
            ),
        )
        if event.accepted:
            filed = datetime.fromisoformat(case[1])
            tx.execute(
                f"UPDATE {CASES} SET closed_at = ?, closed_epoch = ?, close_s = ?, end_at = ? "
                "WHERE id = ?",
                (iso(at), epoch(at), seconds_between(filed, at), iso(at), str(event.originator_id)),
            )

    @apply.register
    def _(self, event: Instruction.Cancelled, tx: Tx) -> None:
        at = iso(event.meta.occurred_at)
        tx.execute(
            f"UPDATE {CASES} SET cancelled_at = ?, end_at = ? WHERE id = ?",
            (at, at, str(event.originator_id)),
        )

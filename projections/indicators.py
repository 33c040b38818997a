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
roll-up follows the tree of the units view as it is when the report is asked. Beside the
code and the theme and level, each row carries small whole numbers for them (``unit_no``,
``theme_level``, from the view's own table of numbers, ``indicator_numbers``): the
reports' indexes are led by them and group by them, and an index of integers costs
SQLite about two thirds of the work of one of texts (ADR 0024).

Each case also carries its ``kind`` (bit 1: urgent priority, bit 2: issued under
emergency mode), which the reports group by to rate those cases on their own, and
whether an approved deferral stops its clock now (``deferred``): such a case keeps its
deadline at approval in ``due_epoch`` (it is counted as due, then taken out of the
on-time denominator) while ``deadline_at`` reads as no deadline at all, so that no
moment finds it overdue (ADR 0071).

Beside the facts, the view keeps their month rollup (:mod:`projections.indicator_months`,
ADR 0097): what each report query counts per unit and calendar month, changed at the end
of each batch by the facts the batch changed, so that a whole month's report reads a row
per group instead of every fact of the month.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache, singledispatchmethod
from importlib import resources
from typing import Any

from domain.calendar import WorkingCalendar
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from projections import indicator_months
from projections.buffers import GroupBuffer, RowBuffer
from projections.store import Tx, ViewStore
from projections.values import id_text, iso
from projections.view import View

#: Theme and level of a case that answers no warning.
NONE = "none"

#: ``end_at`` of a case still open: later than any instant, so that "open at t" is
#: one range on the index, ``end_at > t``.
OPEN_END = "9999-12-31T23:59:59.999999+00:00"
#: ``deadline_at`` of a case whose clock a deferral stopped: no moment lies past it.
STOPPED = OPEN_END

#: The bits of a case's ``kind``.
URGENT_KIND = 1
EMERGENCY_KIND = 2


def kind_of(priority: str, emergency: bool) -> int:
    """A case's kind: which of the reports' own sections it is also counted in."""
    return (URGENT_KIND if priority == "urgent" else 0) | (EMERGENCY_KIND if emergency else 0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CASES = "indicator_cases"
WARNINGS = "indicator_warnings"
VERIFICATIONS = "indicator_verifications"
NUMBERS = "indicator_numbers"
#: One row per dispute of a dispatch, counted to the unit that filed it (ADR 0076).
DISPUTES = "indicator_disputes"
#: One row per follow-up of a case from the public, counted to its lead unit (ADR 0083).
FOLLOW_UPS = "indicator_follow_ups"


def unit_number_name(code: str) -> str:
    """The name a unit's number is kept under in ``indicator_numbers``."""
    return f"unit:{code}"


def theme_level_name(theme: str, level: str) -> str:
    """The name a (theme, level) pair's number is kept under (unit codes have no ':')."""
    return f"theme:{theme}:{level}"


def parse_theme_level_name(name: str) -> tuple[str, str]:
    _, theme, level = name.split(":", 2)
    return theme, level


class Numbers:
    """The numbers of the texts a batch files facts under, and the new ones it gives.

    A text is numbered the first time an event applied to the view needs it, one more
    than the highest number given so far. Events are applied once each, in the log's
    order, so the numbers are a function of the log: a rebuild gives every text the
    number it had (``closedloop projections verify`` compares them too). Nothing is
    kept from one batch to the next: a number read in one batch might belong to tables
    that a rebuild has since dropped.
    """

    def __init__(self) -> None:
        self._known: dict[str, int] = {}
        self._absent: set[str] = set()
        self._new: list[tuple[str, int]] = []
        self._top: int | None = None

    def load(self, tx: Tx, names: Iterable[str]) -> None:
        """Read the numbers of ``names`` not read yet, in as few statements as can be."""
        wanted = [n for n in dict.fromkeys(names) if n not in self._known and n not in self._absent]
        if not wanted:
            return
        self._absent.update(wanted)
        for name, no in tx.select_in(
            f"SELECT name, no FROM {NUMBERS} WHERE name IN ({{keys}})", wanted
        ):
            self._absent.discard(name)
            self._known[name] = int(no)

    def of(self, tx: Tx, name: str) -> int:
        """The number of ``name``, given now if it has none."""
        no = self._known.get(name)
        if no is not None:
            return no
        self.load(tx, [name])
        no = self._known.get(name)
        if no is None:
            if self._top is None:
                rows = tx.execute(f"SELECT COALESCE(MAX(no), 0) FROM {NUMBERS}")
                self._top = int(rows[0][0])
            self._top += 1
            no = self._known[name] = self._top
            self._absent.discard(name)
            self._new.append((name, no))
        return no

    def flush(self, tx: Tx) -> None:
        """Write the numbers given in this batch."""
        tx.insert_rows(NUMBERS, ("name", "no"), self._new)
        self._new = []


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
    # 2: unit_no, theme_level and indicator_numbers (ADR 0024); 3: kind, deferred (0071)
    # 4: an upheld dispute moves the case to the named unit (ADR 0076)
    # 5: a warning merged into a main case is not counted on its own (ADR 0082)
    # 6: follow-ups of the public's cases and their reopens (ADR 0083)
    # 7: follow-up attempts that did not reach the caller, rows of their own (ADR 0093)
    # 8: the month rollup, indicator_months (ADR 0097)
    version = 8
    dispatcher = "_change"
    create_statements = [  # noqa: RUF012
        f"CREATE TABLE IF NOT EXISTS {CASES} ("
        "id TEXT PRIMARY KEY, unit TEXT NOT NULL, unit_no BIGINT NOT NULL, issuer TEXT NOT NULL, "
        "parent_id TEXT, forwarded INTEGER NOT NULL, priority TEXT NOT NULL, "
        "theme TEXT NOT NULL, level TEXT NOT NULL, theme_level BIGINT NOT NULL, "
        "theme_from TEXT NOT NULL, "
        "filed_at TEXT NOT NULL, filed_epoch BIGINT NOT NULL, "
        "deadline_at TEXT NOT NULL, due_epoch BIGINT NOT NULL, "
        "received_at TEXT NOT NULL, "
        "signed_at TEXT, signed_epoch BIGINT, sign_s BIGINT, sign_work_s BIGINT, "
        "closed_at TEXT, closed_epoch BIGINT, close_s BIGINT, "
        "cancelled_at TEXT, end_at TEXT NOT NULL, "
        "kind INTEGER NOT NULL DEFAULT 0, deferred INTEGER NOT NULL DEFAULT 0)",
        # Each report query is a range of one of these, and finds every column it needs
        # in the index itself (covering): no lookup of the table row per case.
        f"CREATE INDEX IF NOT EXISTS {CASES}_filed "
        f"ON {CASES} (unit_no, filed_epoch, theme_level, kind, forwarded)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_due ON {CASES} "
        "(unit_no, due_epoch, theme_level, kind, closed_epoch, closed_at, deadline_at, "
        "cancelled_at, deferred)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_signed ON {CASES} "
        "(unit_no, signed_epoch, theme_level, kind, priority, sign_s, sign_work_s)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_closed "
        f"ON {CASES} (unit_no, closed_epoch, theme_level, kind, close_s)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_open "
        f"ON {CASES} (unit_no, end_at, deadline_at, filed_at, theme_level, kind)",
        # The same facts led by the period (ADRs 0018, 0023): when a subtree holds most
        # of the units, one range of the period beats a range per unit, and the planner
        # chooses. For "overdue now", the period is the cases open after the moment.
        f"CREATE INDEX IF NOT EXISTS {CASES}_open_t "
        f"ON {CASES} (end_at, unit_no, deadline_at, filed_at, theme_level, kind)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_filed_t "
        f"ON {CASES} (filed_epoch, unit_no, theme_level, kind, forwarded)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_due_t ON {CASES} "
        "(due_epoch, unit_no, theme_level, kind, closed_epoch, closed_at, deadline_at, "
        "cancelled_at, deferred)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_signed_t ON {CASES} "
        "(signed_epoch, unit_no, theme_level, kind, priority, sign_s, sign_work_s)",
        f"CREATE INDEX IF NOT EXISTS {CASES}_closed_t "
        f"ON {CASES} (closed_epoch, unit_no, theme_level, kind, close_s)",
        f"CREATE TABLE IF NOT EXISTS {WARNINGS} ("
        "id TEXT PRIMARY KEY, unit TEXT NOT NULL, unit_no BIGINT NOT NULL, "
        "theme TEXT NOT NULL, level TEXT NOT NULL, theme_level BIGINT NOT NULL, "
        "raised_at TEXT NOT NULL, raised_epoch BIGINT NOT NULL, "
        "acknowledged_at TEXT, ack_epoch BIGINT, ack_s BIGINT, merged_into TEXT)",
        f"CREATE INDEX IF NOT EXISTS {WARNINGS}_raised "
        f"ON {WARNINGS} (unit_no, raised_epoch, theme_level)",
        f"CREATE INDEX IF NOT EXISTS {WARNINGS}_ack "
        f"ON {WARNINGS} (unit_no, ack_epoch, theme_level, ack_s)",
        f"CREATE INDEX IF NOT EXISTS {WARNINGS}_raised_t "
        f"ON {WARNINGS} (raised_epoch, unit_no, theme_level)",
        f"CREATE INDEX IF NOT EXISTS {WARNINGS}_ack_t "
        f"ON {WARNINGS} (ack_epoch, unit_no, theme_level, ack_s)",
        # One row per verification: a case verified twice in a period is one verified
        # case, and a rejection then an acceptance is one reworked case. Each row keeps
        # the time of the case's verification before it (and, for a rejection, of the
        # rejection before it), in the order of (at_epoch, seq): the cases verified in a
        # period are then counted without COUNT(DISTINCT …), as the rows of the period
        # whose predecessor is older than the period (see :func:`chain_verifications`).
        f"CREATE TABLE IF NOT EXISTS {VERIFICATIONS} ("
        "case_id TEXT NOT NULL, seq INTEGER NOT NULL, unit TEXT NOT NULL, "
        "unit_no BIGINT NOT NULL, theme TEXT NOT NULL, level TEXT NOT NULL, "
        "theme_level BIGINT NOT NULL, at TEXT NOT NULL, at_epoch BIGINT NOT NULL, "
        "accepted INTEGER NOT NULL, prev_epoch BIGINT, prev_rejected_epoch BIGINT, "
        "kind INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (case_id, seq))",
        f"CREATE INDEX IF NOT EXISTS {VERIFICATIONS}_at ON {VERIFICATIONS} "
        "(unit_no, at_epoch, theme_level, kind, prev_epoch, accepted, prev_rejected_epoch)",
        f"CREATE INDEX IF NOT EXISTS {VERIFICATIONS}_at_t ON {VERIFICATIONS} "
        "(at_epoch, unit_no, theme_level, kind, prev_epoch, accepted, prev_rejected_epoch)",
        f"CREATE TABLE IF NOT EXISTS {DISPUTES} ("
        "id TEXT PRIMARY KEY, case_id TEXT NOT NULL, unit TEXT NOT NULL, "
        "unit_no BIGINT NOT NULL, theme_level BIGINT NOT NULL, kind INTEGER NOT NULL, "
        "filed_epoch BIGINT NOT NULL, arbitrated INTEGER NOT NULL, upheld INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {DISPUTES}_filed ON {DISPUTES} "
        "(unit_no, filed_epoch, theme_level, kind, arbitrated, upheld)",
        f"CREATE TABLE IF NOT EXISTS {FOLLOW_UPS} ("
        "id TEXT PRIMARY KEY, case_id TEXT NOT NULL, unit TEXT NOT NULL, "
        "unit_no BIGINT NOT NULL, theme_level BIGINT NOT NULL, kind INTEGER NOT NULL, "
        "at_epoch BIGINT NOT NULL, contacted INTEGER NOT NULL, resolved INTEGER NOT NULL, "
        "satisfied INTEGER NOT NULL, basically_satisfied INTEGER NOT NULL, "
        "reopened INTEGER NOT NULL, unreached INTEGER NOT NULL DEFAULT 0, "
        "not_reached INTEGER NOT NULL DEFAULT 0)",
        f"CREATE INDEX IF NOT EXISTS {FOLLOW_UPS}_at ON {FOLLOW_UPS} "
        "(unit_no, at_epoch, theme_level, kind, contacted, resolved, satisfied, "
        "basically_satisfied, reopened)",
        f"CREATE TABLE IF NOT EXISTS {NUMBERS} (name TEXT PRIMARY KEY, no BIGINT NOT NULL UNIQUE)",
        *indicator_months.CREATE_STATEMENTS,
    ]

    def __init__(self, view: ViewStore, calendar: WorkingCalendar | None = None) -> None:
        super().__init__(view)
        self.calendar = calendar if calendar is not None else shipped_calendar()
        self._cases: RowBuffer | None = None
        self._warnings: RowBuffer | None = None
        self._verifications: GroupBuffer | None = None
        self._disputes: RowBuffer | None = None
        self._follow_ups: RowBuffer | None = None
        self._numbers = Numbers()

    # Rows are changed in memory and written once per batch (ADR 0016): the rows a batch
    # changes but did not create are read in one statement per table, and no statement
    # waits for an answer in the middle of a batch, except to number a (theme, level)
    # pair met for the first time through an instruction or a change of level.

    def apply_batch(self, events: Sequence[tuple[Any, int]], tx: Tx) -> None:
        # Every fact buffer keeps its rows as read: the month rollup takes away what they
        # added and adds what they add now (ADR 0097).
        self._cases = cases = RowBuffer(CASES, CASE_COLUMNS, track=True)
        self._warnings = warnings = RowBuffer(WARNINGS, WARNING_COLUMNS, track=True)
        self._verifications = verifications = GroupBuffer(
            VERIFICATIONS, VERIFICATION_COLUMNS, "case_id", "seq", track=True
        )
        self._disputes = disputes = RowBuffer(DISPUTES, DISPUTE_COLUMNS, track=True)
        self._follow_ups = follow_ups = RowBuffer(FOLLOW_UPS, FOLLOW_UP_COLUMNS, track=True)
        self._numbers = numbers = Numbers()
        try:
            new: set[Any] = set()
            names: list[str] = []
            case_ids: list[str] = []
            verified_ids: list[str] = []
            warning_ids: list[str] = []
            for event, _ in events:
                kind = type(event)
                if kind is EarlyWarning.Raised or kind is Instruction.Issued:
                    new.add(event.originator_id)
                    if kind is EarlyWarning.Raised:
                        names.append(unit_number_name(event.unit))
                        names.append(theme_level_name(event.theme, str(event.level)))
                    else:
                        names.append(unit_number_name(event.lead))
                        if event.warning_ids:
                            warning_ids.append(str(event.warning_ids[0]))
                        if event.parent_id is not None and event.parent_id not in new:
                            case_ids.append(str(event.parent_id))
                elif kind in _WARNING_CHANGES:
                    if event.originator_id not in new:
                        warning_ids.append(id_text(event.originator_id))
                elif kind in _CASE_CHANGES:
                    if event.originator_id not in new:
                        case_ids.append(id_text(event.originator_id))
                    if kind is Instruction.LinkedToWarning:
                        warning_ids.append(str(event.warning_id))
                        verified_ids.append(id_text(event.originator_id))
                    elif kind is Instruction.Verified:
                        verified_ids.append(id_text(event.originator_id))
                    elif kind in (
                        Instruction.DisputeFiled,
                        Instruction.FollowedUp,
                        Instruction.FollowUpUnreached,
                    ):
                        names.append(unit_number_name(event.unit))
                    elif kind is Instruction.Redirected or (
                        kind is Instruction.DisputeArbitrated and event.upheld
                    ):
                        names.append(unit_number_name(event.to_unit))
            warnings.load(tx, warning_ids)
            cases.load(tx, case_ids)
            numbers.load(tx, names)
            verifications.load(tx, verified_ids)
            super().apply_batch(events, tx)
            months = indicator_months.Changes(self.calendar.zone)
            for table, buffer in (
                ("case", cases),
                ("warning", warnings),
                ("dispute", disputes),
                ("follow_up", follow_ups),
            ):
                for before, after in buffer.changes():
                    months.row(table, before, after)
            for before_rows, after_rows in verifications.changes():
                months.rows("verification", before_rows, after_rows)
            indicator_months.write(tx, self.calendar.zone, months.deltas)
            numbers.flush(tx)
            warnings.flush(tx)
            cases.flush(tx)
            verifications.flush(tx)
            disputes.flush(tx)
            follow_ups.flush(tx)
        finally:
            self._disputes = self._follow_ups = None
            self._cases = self._warnings = self._verifications = None
            self._numbers = Numbers()

    def apply(self, event: Any, tx: Tx) -> None:
        if self._cases is None:
            self.apply_batch([(event, self.at)], tx)
        else:
            self._change(event, tx)

    # -- helpers -----------------------------------------------------------------------

    def _theme_of_warning(self, tx: Tx, warning_id: Any) -> tuple[str, str] | None:
        assert self._warnings is not None
        row = self._warnings.peek(tx, str(warning_id))
        return None if row is None else (row["theme"], row["level"])

    def _unit_no(self, tx: Tx, code: str) -> int:
        return self._numbers.of(tx, unit_number_name(code))

    def _theme_level(self, tx: Tx, theme: str, level: str) -> int:
        return self._numbers.of(tx, theme_level_name(theme, level))

    def _case(self, tx: Tx, event: Any) -> dict[str, Any] | None:
        """The case's row to change (written back at the end of the batch)."""
        assert self._cases is not None
        return self._cases.get(tx, id_text(event.originator_id))

    @singledispatchmethod
    def _change(self, event: Any, tx: Tx) -> None:
        """Events that change no indicator leave the view as it is."""

    # -- warnings ----------------------------------------------------------------------

    @_change.register
    def _(self, event: EarlyWarning.Raised, tx: Tx) -> None:
        assert self._warnings is not None
        raised = event.meta.occurred_at
        level = str(event.level)
        self._warnings.add(
            {
                "id": id_text(event.originator_id),
                "unit": event.unit,
                "unit_no": self._unit_no(tx, event.unit),
                "theme": event.theme,
                "level": level,
                "theme_level": self._theme_level(tx, event.theme, level),
                "raised_at": iso(raised),
                "raised_epoch": epoch(raised),
                "acknowledged_at": None,
                "ack_epoch": None,
                "ack_s": None,
                "merged_into": None,
            }
        )

    @_change.register
    def _(self, event: EarlyWarning.LevelChanged, tx: Tx) -> None:
        # A warning is reported at its latest level; the instructions it caused keep the
        # level they were dispatched under (see the Issued branch).
        assert self._warnings is not None
        if (row := self._warnings.get(tx, id_text(event.originator_id))) is not None:
            row["level"] = str(event.level)
            row["theme_level"] = self._theme_level(tx, row["theme"], row["level"])

    @_change.register
    def _(self, event: EarlyWarning.Acknowledged, tx: Tx) -> None:
        assert self._warnings is not None
        if (row := self._warnings.get(tx, id_text(event.originator_id))) is None:
            return
        acknowledged = event.meta.occurred_at
        raised = datetime.fromisoformat(row["raised_at"])
        row["acknowledged_at"] = iso(acknowledged)
        row["ack_epoch"] = epoch(acknowledged)
        row["ack_s"] = seconds_between(raised, acknowledged)

    # -- merging (并单, ADR 0082): a merged warning is counted in its main case only -----

    @_change.register
    def _(self, event: EarlyWarning.MergedInto, tx: Tx) -> None:
        assert self._warnings is not None
        if (row := self._warnings.get(tx, id_text(event.originator_id))) is not None:
            row["merged_into"] = str(event.main_id)

    @_change.register
    def _(self, event: EarlyWarning.Unmerged, tx: Tx) -> None:
        assert self._warnings is not None
        if (row := self._warnings.get(tx, id_text(event.originator_id))) is not None:
            row["merged_into"] = None

    # -- instructions ------------------------------------------------------------------

    @_change.register
    def _(self, event: Instruction.Issued, tx: Tx) -> None:
        assert self._cases is not None
        filed = event.meta.occurred_at
        theme, level, source = NONE, NONE, NONE
        found = self._theme_of_warning(tx, event.warning_ids[0]) if event.warning_ids else None
        if found is not None:
            (theme, level), source = found, "warning"
        elif event.parent_id is not None:
            # A forwarded part answers what its parent answers.
            parent = self._cases.peek(tx, str(event.parent_id))
            if parent is not None and parent["theme"] != NONE:
                theme, level, source = parent["theme"], parent["level"], "parent"
        filed_at = iso(filed)
        self._cases.add(
            {
                "id": id_text(event.originator_id),
                "unit": event.lead,
                "unit_no": self._unit_no(tx, event.lead),
                "issuer": event.issuer,
                "parent_id": None if event.parent_id is None else str(event.parent_id),
                "forwarded": 0 if event.parent_id is None else 1,
                "priority": event.priority,
                "theme": theme,
                "level": level,
                "theme_level": self._theme_level(tx, theme, level),
                "theme_from": source,
                "filed_at": filed_at,
                "filed_epoch": epoch(filed),
                "deadline_at": iso(event.deadline),
                "due_epoch": epoch(event.deadline),
                "received_at": filed_at,
                "signed_at": None,
                "signed_epoch": None,
                "sign_s": None,
                "sign_work_s": None,
                "closed_at": None,
                "closed_epoch": None,
                "close_s": None,
                "cancelled_at": None,
                "end_at": OPEN_END,
                "kind": kind_of(event.priority, event.emergency),
                "deferred": 0,
            }
        )

    @_change.register
    def _(self, event: Instruction.LinkedToWarning, tx: Tx) -> None:
        case = self._case(tx, event)
        found = self._theme_of_warning(tx, event.warning_id)
        # The first warning linked to the instruction itself decides; an inherited
        # theme gives way to it.
        if case is None or case["theme_from"] == "warning" or found is None:
            return
        theme_level = self._theme_level(tx, *found)
        case["theme"], case["level"] = found
        case["theme_level"] = theme_level
        case["theme_from"] = "warning"
        # Its verifications are reported under its theme too.
        assert self._verifications is not None
        for row in self._verifications.get(tx, case["id"]):
            row["theme"], row["level"] = found
            row["theme_level"] = theme_level

    @_change.register
    def _(self, event: Instruction.Redirected, tx: Tx) -> None:
        case = self._case(tx, event)
        if case is None or case["unit"] != event.from_unit:
            return  # a cooperating unit's share changed hands; the lead stays
        case["unit"] = event.to_unit
        case["unit_no"] = self._unit_no(tx, event.to_unit)
        case["received_at"] = iso(event.meta.occurred_at)

    @_change.register
    def _(self, event: Instruction.DisputeFiled, tx: Tx) -> None:
        case = self._case(tx, event)
        if case is None or self._disputes is None:
            return
        self._disputes.add(
            {
                "id": _dispute_key(event.originator_id, event.unit),
                "case_id": case["id"],
                "unit": event.unit,
                "unit_no": self._unit_no(tx, event.unit),
                "theme_level": case["theme_level"],
                "kind": case["kind"],
                "filed_epoch": epoch(event.meta.occurred_at),
                "arbitrated": 0,
                "upheld": 0,
            }
        )

    @_change.register
    def _(self, event: Instruction.DisputeArbitrated, tx: Tx) -> None:
        if self._disputes is not None:
            dispute = self._disputes.get(tx, _dispute_key(event.originator_id, event.unit))
            if dispute is not None:
                dispute["arbitrated"] = 1
                dispute["upheld"] = 1 if event.upheld else 0
        case = self._case(tx, event)
        if case is None or not event.upheld or case["unit"] != event.unit:
            return
        # No mark against the disputing unit: the case is the named unit's from now on,
        # received now, unsigned, due at its fresh deadline (ADR 0076).
        case["unit"] = event.to_unit
        case["unit_no"] = self._unit_no(tx, event.to_unit)
        case["received_at"] = iso(event.meta.occurred_at)
        for column in ("signed_at", "signed_epoch", "sign_s", "sign_work_s"):
            case[column] = None
        case["deadline_at"] = iso(event.deadline)
        case["due_epoch"] = epoch(event.deadline)

    @_change.register
    def _(self, event: Instruction.FollowedUp, tx: Tx) -> None:
        case = self._case(tx, event)
        if case is None or self._follow_ups is None:
            return
        # The case row stays as it was counted (a reopened case's closure moves to its
        # next acceptance, as a rework's does); the follow-up is a row of its own.
        self._follow_ups.add(
            {
                "id": f"{case['id']}:{event.originator_version}",
                "case_id": case["id"],
                "unit": event.unit,
                "unit_no": self._unit_no(tx, event.unit),
                "theme_level": case["theme_level"],
                "kind": case["kind"],
                "at_epoch": epoch(event.meta.occurred_at),
                "contacted": 1 if event.contacted else 0,
                "resolved": 1 if event.resolved else 0,
                "satisfied": 1 if event.satisfaction == "satisfied" else 0,
                "basically_satisfied": 1 if event.satisfaction == "basically_satisfied" else 0,
                "reopened": 1 if event.reopened else 0,
                "unreached": 0,
                "not_reached": 0,
            }
        )

    @_change.register
    def _(self, event: Instruction.FollowUpUnreached, tx: Tx) -> None:
        case = self._case(tx, event)
        if case is None or self._follow_ups is None:
            return
        # An attempt that did not reach the caller (ADR 0093): a row of the same table
        # that answers nothing, so no rate's numerator or denominator counts it.
        self._follow_ups.add(
            {
                "id": f"{case['id']}:{event.originator_version}",
                "case_id": case["id"],
                "unit": event.unit,
                "unit_no": self._unit_no(tx, event.unit),
                "theme_level": case["theme_level"],
                "kind": case["kind"],
                "at_epoch": epoch(event.meta.occurred_at),
                "contacted": 0,
                "resolved": 0,
                "satisfied": 0,
                "basically_satisfied": 0,
                "reopened": 0,
                "unreached": 1,
                "not_reached": 1 if event.not_reached else 0,
            }
        )

    @_change.register
    def _(self, event: Instruction.SignedFor, tx: Tx) -> None:
        case = self._case(tx, event)
        if case is None or case["unit"] != event.unit or case["signed_at"] is not None:
            return  # only the lead's signature starts the handling
        received = datetime.fromisoformat(case["received_at"])
        signed = event.meta.occurred_at
        work = self.calendar.working_time_between(received, signed) if signed > received else None
        case["signed_at"] = iso(signed)
        case["signed_epoch"] = epoch(signed)
        case["sign_s"] = seconds_between(received, signed)
        case["sign_work_s"] = 0 if work is None else work // timedelta(seconds=1)

    @_change.register
    def _(self, event: Instruction.ExtensionDecided, tx: Tx) -> None:
        if (case := self._case(tx, event)) is not None:
            case["deadline_at"] = iso(event.deadline)
            case["due_epoch"] = epoch(event.deadline)

    @_change.register
    def _(self, event: Instruction.Verified, tx: Tx) -> None:
        case = self._case(tx, event)
        if case is None:
            return
        at = event.meta.occurred_at
        at_iso, at_epoch = iso(at), epoch(at)
        assert self._verifications is not None
        rows = self._verifications.get(tx, case["id"])
        rows.append(
            {
                "case_id": case["id"],
                "seq": event.originator_version,
                "unit": case["unit"],
                "unit_no": case["unit_no"],
                "theme": case["theme"],
                "level": case["level"],
                "theme_level": case["theme_level"],
                "at": at_iso,
                "at_epoch": at_epoch,
                "accepted": 1 if event.accepted else 0,
                "prev_epoch": None,
                "prev_rejected_epoch": None,
                "kind": case["kind"],
            }
        )
        chain_verifications(rows)
        if event.accepted:
            filed = datetime.fromisoformat(case["filed_at"])
            case["closed_at"] = at_iso
            case["closed_epoch"] = at_epoch
            case["close_s"] = seconds_between(filed, at)
            case["end_at"] = at_iso

    @_change.register
    def _(self, event: Instruction.DeferralDecided, tx: Tx) -> None:
        if event.granted and (case := self._case(tx, event)) is not None:
            # The clock stops: still due at its deadline of now, never overdue.
            case["deferred"] = 1
            case["deadline_at"] = STOPPED

    @_change.register
    def _(self, event: Instruction.DeferralEnded, tx: Tx) -> None:
        if (case := self._case(tx, event)) is not None:
            case["deferred"] = 0
            case["deadline_at"] = iso(event.deadline)
            case["due_epoch"] = epoch(event.deadline)

    @_change.register
    def _(self, event: Instruction.Cancelled, tx: Tx) -> None:
        if (case := self._case(tx, event)) is not None:
            case["cancelled_at"] = case["end_at"] = iso(event.meta.occurred_at)


CASE_COLUMNS = [
    "id",
    "unit",
    "unit_no",
    "issuer",
    "parent_id",
    "forwarded",
    "priority",
    "theme",
    "level",
    "theme_level",
    "theme_from",
    "filed_at",
    "filed_epoch",
    "deadline_at",
    "due_epoch",
    "received_at",
    "signed_at",
    "signed_epoch",
    "sign_s",
    "sign_work_s",
    "closed_at",
    "closed_epoch",
    "close_s",
    "cancelled_at",
    "end_at",
    "kind",
    "deferred",
]
WARNING_COLUMNS = [
    "id",
    "unit",
    "unit_no",
    "theme",
    "level",
    "theme_level",
    "raised_at",
    "raised_epoch",
    "acknowledged_at",
    "ack_epoch",
    "ack_s",
    "merged_into",
]
DISPUTE_COLUMNS = [
    "id",
    "case_id",
    "unit",
    "unit_no",
    "theme_level",
    "kind",
    "filed_epoch",
    "arbitrated",
    "upheld",
]

FOLLOW_UP_COLUMNS = [
    "id",
    "case_id",
    "unit",
    "unit_no",
    "theme_level",
    "kind",
    "at_epoch",
    "contacted",
    "resolved",
    "satisfied",
    "basically_satisfied",
    "reopened",
    "unreached",
    "not_reached",
]


def _dispute_key(case_id: Any, unit: str) -> str:
    """A unit disputes a case once (the domain's rule), so the pair names the dispute."""
    return f"{id_text(case_id)}:{unit}"


VERIFICATION_COLUMNS = [
    "case_id",
    "seq",
    "unit",
    "unit_no",
    "theme",
    "level",
    "theme_level",
    "at",
    "at_epoch",
    "accepted",
    "prev_epoch",
    "prev_rejected_epoch",
    "kind",
]


def chain_verifications(rows: list[dict[str, Any]]) -> None:
    """Give each verification of one case the time of the one before it, and each
    rejection the time of the rejection before it, in the order of (at_epoch, seq).

    The verifications of a case within a period then form one run in that order, and
    exactly one of them, the first, has a predecessor older than the period (or none):
    counting the rows of a period with ``prev_epoch < start`` counts each case verified
    in it once, and likewise for the rejections. A verification recorded with an earlier
    business time than one already there changes its successors' links, so the whole
    case is linked again each time."""
    previous: int | None = None
    previous_rejection: int | None = None
    for row in sorted(rows, key=lambda r: (r["at_epoch"], r["seq"])):
        row["prev_epoch"] = previous
        previous = row["at_epoch"]
        if row["accepted"]:
            row["prev_rejected_epoch"] = None
        else:
            row["prev_rejected_epoch"] = previous_rejection
            previous_rejection = row["at_epoch"]


#: The events that change a warning row, and those that change a case row, already there.
_WARNING_CHANGES = frozenset(
    {
        EarlyWarning.LevelChanged,
        EarlyWarning.Acknowledged,
        EarlyWarning.MergedInto,
        EarlyWarning.Unmerged,
    }
)
_CASE_CHANGES = frozenset(
    {
        Instruction.LinkedToWarning,
        Instruction.Redirected,
        Instruction.SignedFor,
        Instruction.ExtensionDecided,
        Instruction.Verified,
        Instruction.Cancelled,
        Instruction.DeferralDecided,
        Instruction.DeferralEnded,
        Instruction.DisputeFiled,
        Instruction.DisputeArbitrated,
        Instruction.FollowedUp,
        Instruction.FollowUpUnreached,
    }
)


def rebuild_month_rollup(tx: Tx, zone: str) -> None:
    """The month rollup made anew from this view's fact tables (ADR 0097)."""
    indicator_months.rebuild(
        tx,
        zone,
        (
            ("case", CASES, CASE_COLUMNS),
            ("warning", WARNINGS, WARNING_COLUMNS),
            ("verification", VERIFICATIONS, VERIFICATION_COLUMNS),
            ("dispute", DISPUTES, DISPUTE_COLUMNS),
            ("follow_up", FOLLOW_UPS, FOLLOW_UP_COLUMNS),
        ),
    )

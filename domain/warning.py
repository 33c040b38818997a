"""An early warning: a risk signal raised under a rule of the standard warning model.

Its life: raised → acknowledged → assessed (confirmed, or a false alarm) → instructions
dispatched for it → resolved (the condition cleared) or cancelled (the source withdrew
it) → closed. It closes only once every instruction dispatched for it is finished, or
straight away after a false alarm. Repeats of the same condition (same deduplication
key) fold into the open warning as a count, never as a new warning.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition, InvalidValue, check_printable
from domain.limits import (
    MAX_DEDUP_KEY,
    MAX_LOCATION,
    MAX_NOTE,
    MAX_SHORT,
    MAX_TEXT,
    MAX_TITLE,
    check_text,
)
from domain.meta import Meta, derived_id

#: National warning levels: I (red, most severe) to IV (blue).
LEVEL_NAMES = {1: "I (red)", 2: "II (orange)", 3: "III (yellow)", 4: "IV (blue)"}


class Theme(StrEnum):
    """The themes of the standardized early-warning model."""

    METEOROLOGICAL = "meteorological"
    RESERVOIR = "reservoir"
    ENVIRONMENT = "environment"
    TRANSPORTATION = "transportation"
    SAFETY_PRODUCTION = "safety_production"
    TOURISM = "tourism"
    ECOLOGY = "ecology"
    FOOD_SAFETY = "food_safety"
    HIGH_PLACES = "high_places"
    OTHER = "other"


class WarningStatus(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    CLOSED = "closed"


#: While a warning is in one of these, a repeat of its condition folds into it.
OPEN_STATUSES = frozenset(
    {WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED, WarningStatus.CONFIRMED}
)


def warning_id(command_id: str) -> UUID:
    """The id of the warning raised by the command with this id."""
    return derived_id("warning", command_id)


def check_level(level: int) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or level not in LEVEL_NAMES:
        raise InvalidValue("a warning level is 1 (I, red, most severe) to 4 (IV, blue)")
    return level


def _checked_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """The free attributes as given, once no key or text in them holds a NUL."""

    def walk(value: Any) -> None:
        if isinstance(value, str):
            check_printable(value, "a warning's attribute")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(attributes)
    return dict(attributes)


class EarlyWarning(LoopAggregate):
    """One early warning and everything done about it."""

    class Raised(LoopAggregate.Created):
        source: str
        rule: str
        theme: str
        level: int
        title: str
        description: str
        location: str
        unit: str
        observed_at: datetime
        dedup_key: str
        attributes: dict[str, Any]

    class Repeated(LoopAggregate.Event):
        observed_at: datetime
        level: int

    class LevelChanged(LoopAggregate.Event):
        level: int
        previous_level: int
        reason: str

    class Acknowledged(LoopAggregate.Event):
        pass

    class Assessed(LoopAggregate.Event):
        confirmed: bool
        note: str

    class InstructionLinked(LoopAggregate.Event):
        instruction_id: UUID

    class InstructionFinished(LoopAggregate.Event):
        instruction_id: UUID
        outcome: str

    class Resolved(LoopAggregate.Event):
        note: str

    class Cancelled(LoopAggregate.Event):
        reason: str

    class Closed(LoopAggregate.Event):
        note: str

    @staticmethod
    def create_id(meta: Meta) -> UUID:
        return warning_id(meta.command_id)

    @event(Raised)
    def __init__(
        self,
        source: str,
        rule: str,
        theme: str,
        level: int,
        title: str,
        description: str,
        location: str,
        unit: str,
        observed_at: datetime,
        dedup_key: str,
        attributes: dict[str, Any],
        meta: Meta,
    ) -> None:
        self.source = source
        self.rule = rule
        self.theme = theme
        self.level = level
        self.title = title
        self.description = description
        self.location = location
        self.unit = unit
        self.observed_at = observed_at
        self.last_observed_at = observed_at
        self.dedup_key = dedup_key
        self.attributes = attributes
        self.status = WarningStatus.RAISED
        self.repeats = 0
        self.raised_at = meta.occurred_at
        self.acknowledged_at: datetime | None = None
        self.assessment: str | None = None
        self.instructions: list[UUID] = []
        self.open_instructions: list[UUID] = []
        self.closed_at: datetime | None = None

    @classmethod
    def raise_(
        cls,
        *,
        source: str,
        rule: str,
        theme: str,
        level: int,
        title: str,
        description: str | None,
        location: str | None,
        unit: str,
        observed_at: datetime,
        dedup_key: str,
        attributes: dict[str, Any] | None,
        meta: Meta,
    ) -> EarlyWarning:
        """Raise a new warning, checking what the monitoring source sent."""
        if theme not in set(Theme):
            raise InvalidValue(f"unknown theme {theme!r}; one of: {', '.join(Theme)}")
        if observed_at.tzinfo is None:
            raise InvalidValue("the observed time must carry a time-zone offset")
        return cls(
            source=check_text(source, "the warning's source", MAX_SHORT, required=True),
            rule=check_text(rule, "the rule code", MAX_SHORT, required=True),
            theme=theme,
            level=check_level(level),
            title=check_text(title, "a warning's title", MAX_TITLE, required=True),
            description=check_text(description, "the description", MAX_TEXT, required=False),
            location=check_text(location, "the location", MAX_LOCATION, required=False),
            unit=unit,
            observed_at=observed_at,
            dedup_key=check_text(dedup_key, "the deduplication key", MAX_DEDUP_KEY, required=True),
            attributes=_checked_attributes(attributes or {}),
            meta=meta,
        )

    # -- state questions -------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the condition is still live (repeats fold into it)."""
        return self.status in OPEN_STATUSES

    def _refuse_when(self, *statuses: WarningStatus, doing: str) -> None:
        if self.status in statuses:
            raise InvalidTransition(
                f"warning {self.title!r} is {self.status.replace('_', ' ')}; cannot {doing}"
            )

    def _require(self, *statuses: WarningStatus, doing: str) -> None:
        if self.status not in statuses:
            raise InvalidTransition(
                f"warning {self.title!r} is {self.status.replace('_', ' ')}; cannot {doing}"
            )

    # -- commands --------------------------------------------------------------------

    def repeat(self, observed_at: datetime, level: int, meta: Meta) -> None:
        """The same condition was observed again: count it on this open warning."""
        self._require(*OPEN_STATUSES, doing="count a repeat on it")
        check_level(level)
        self._repeated(observed_at=observed_at, level=level, meta=meta)

    @event(Repeated)
    def _repeated(self, observed_at: datetime, level: int, meta: Meta) -> None:
        self.repeats += 1
        self.last_observed_at = max(self.last_observed_at, observed_at)

    def change_level(self, level: int, reason: str, meta: Meta) -> None:
        self._require(*OPEN_STATUSES, doing="change its level")
        check_level(level)
        if level == self.level:
            raise InvalidTransition(f"warning is already at level {LEVEL_NAMES[level]}")
        reason = check_text(reason, "the reason for a level change", MAX_NOTE, required=True)
        self._level_changed(level=level, previous_level=self.level, reason=reason, meta=meta)

    @event(LevelChanged)
    def _level_changed(self, level: int, previous_level: int, reason: str, meta: Meta) -> None:
        self.level = level

    def acknowledge(self, meta: Meta) -> None:
        self._require(WarningStatus.RAISED, doing="acknowledge it")
        self._acknowledged(meta=meta)

    @event(Acknowledged)
    def _acknowledged(self, meta: Meta) -> None:
        self.status = WarningStatus.ACKNOWLEDGED
        self.acknowledged_at = meta.occurred_at

    def assess(self, confirmed: bool, note: str | None, meta: Meta) -> None:
        """Confirm the warning, or find it a false alarm (which needs a reason)."""
        if self.status == WarningStatus.RAISED:
            raise InvalidTransition("acknowledge the warning before assessing it")
        self._require(WarningStatus.ACKNOWLEDGED, doing="assess it")
        note = check_text(note, "the reason for a false alarm", MAX_NOTE, required=not confirmed)
        self._assessed(confirmed=confirmed, note=note, meta=meta)

    @event(Assessed)
    def _assessed(self, confirmed: bool, note: str, meta: Meta) -> None:
        self.status = WarningStatus.CONFIRMED if confirmed else WarningStatus.FALSE_ALARM
        self.assessment = note

    def check_can_link(self) -> None:
        self._refuse_when(
            WarningStatus.FALSE_ALARM,
            WarningStatus.CANCELLED,
            WarningStatus.CLOSED,
            doing="dispatch instructions for it",
        )

    def link_instruction(self, instruction_id: UUID, meta: Meta) -> None:
        if instruction_id in self.instructions:
            return
        self.check_can_link()
        self._linked(instruction_id=instruction_id, meta=meta)

    @event(InstructionLinked)
    def _linked(self, instruction_id: UUID, meta: Meta) -> None:
        self.instructions.append(instruction_id)
        self.open_instructions.append(instruction_id)

    def instruction_finished(self, instruction_id: UUID, outcome: str, meta: Meta) -> None:
        """A linked instruction was closed or cancelled."""
        if instruction_id in self.open_instructions:
            self._finished(instruction_id=instruction_id, outcome=outcome, meta=meta)

    @event(InstructionFinished)
    def _finished(self, instruction_id: UUID, outcome: str, meta: Meta) -> None:
        self.open_instructions.remove(instruction_id)

    def resolve(self, note: str | None, meta: Meta) -> None:
        """The condition has cleared."""
        self._require(*OPEN_STATUSES, doing="resolve it")
        note = check_text(note, "the note", MAX_NOTE, required=False)
        self._resolved(note=note, meta=meta)

    @event(Resolved)
    def _resolved(self, note: str, meta: Meta) -> None:
        self.status = WarningStatus.RESOLVED

    def cancel(self, reason: str, meta: Meta) -> None:
        """The source withdrew the warning."""
        self._refuse_when(
            WarningStatus.FALSE_ALARM,
            WarningStatus.CANCELLED,
            WarningStatus.CLOSED,
            doing="cancel it",
        )
        reason = check_text(reason, "the reason for cancelling", MAX_NOTE, required=True)
        self._cancelled(reason=reason, meta=meta)

    @event(Cancelled)
    def _cancelled(self, reason: str, meta: Meta) -> None:
        self.status = WarningStatus.CANCELLED

    def close(self, note: str | None, meta: Meta) -> None:
        """Close the loop: after a false alarm, or once every linked instruction is done."""
        if self.status in (WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED):
            raise InvalidTransition("assess the warning before closing it")
        self._require(
            WarningStatus.CONFIRMED,
            WarningStatus.FALSE_ALARM,
            WarningStatus.RESOLVED,
            WarningStatus.CANCELLED,
            doing="close it",
        )
        if self.open_instructions:
            raise InvalidTransition(
                f"{len(self.open_instructions)} instruction(s) dispatched for this warning "
                "are not closed yet; close them first"
            )
        note = check_text(note, "the note", MAX_NOTE, required=False)
        self._closed(note=note, meta=meta)

    @event(Closed)
    def _closed(self, note: str, meta: Meta) -> None:
        self.status = WarningStatus.CLOSED
        self.closed_at = meta.occurred_at

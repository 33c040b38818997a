"""An early warning: a risk signal raised under a rule of the standard warning model.

Its life: raised → acknowledged → assessed (confirmed, or a false alarm) → instructions
dispatched for it → resolved (the condition cleared) or cancelled (the source withdrew
it) → closed. It closes only once every instruction dispatched for it is finished, or
straight away after a false alarm. Repeats of the same condition (same deduplication
key) fold into the open warning as a count, never as a new warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import (
    CircularMerge,
    InvalidTransition,
    InvalidValue,
    MergeIntoItself,
    MergeMismatch,
    MergeRefused,
    MergeTargetClosed,
    WarningMerged,
    check_printable,
)
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
    #: Closed as merged into a main case about the same matter (并单, ADR 0082).
    MERGED = "merged"


#: While a warning is in one of these, a repeat of its condition folds into it.
OPEN_STATUSES = frozenset(
    {WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED, WarningStatus.CONFIRMED}
)


#: Two warnings observed further apart than this are not taken for one matter without an
#: explicit override (ADR 0082): the gap between their spans of observation.
MERGE_WINDOW = timedelta(hours=24)


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

    # Merging (并单, ADR 0082); class defaults for warnings whose events or snapshots
    # predate it: the main case this one was merged into, the status it had then, and
    # the warnings merged into this one.
    merged_into: UUID | None = None
    status_before_merge: str | None = None
    merged: tuple[UUID, ...] = ()
    # Grouping and inhibition (ADR 0087); class defaults for warnings that predate it:
    # the open warning that inhibits this one and the inhibit rule by which (the group's
    # members are ``group_members``).
    inhibited_by: UUID | None = None
    inhibition: str | None = None

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

    class MergedInto(LoopAggregate.Event):
        """Closed as merged into the main case ``main_id`` (ADR 0082)."""

        main_id: UUID
        reason: str
        #: What did not match (``rule``, ``location``, ``window``), merged by override.
        mismatch: list[str]

    class MergeTaken(LoopAggregate.Event):
        """The warning ``merged_id`` was merged into this one, its main case."""

        merged_id: UUID
        reason: str

    class Unmerged(LoopAggregate.Event):
        """Taken out of the main case ``main_id`` again, back to the status it had."""

        main_id: UUID
        reason: str
        status: str

    class MergeReleased(LoopAggregate.Event):
        """The warning ``merged_id`` was taken out of this main case again."""

        merged_id: UUID
        reason: str

    class MemberJoined(LoopAggregate.Event):
        """A breach of another station (or of a member again) joined this group's warning
        (ADR 0087): the member, its level, when it was observed, the reading it cites."""

        member: str
        level: int
        observed_at: datetime
        evidence: dict[str, Any]

    class MemberLevelChanged(LoopAggregate.Event):
        """One member's breach worsened or eased; the group's level is its worst
        active member's."""

        member: str
        level: int
        reason: str

    class MemberResolved(LoopAggregate.Event):
        """One member of the group is normal again; the note cites its readings."""

        member: str
        note: str

    class Inhibited(LoopAggregate.Event):
        """The open warning ``by`` explains this one, under the inhibit rule named
        ``inhibition`` (ADR 0087): it runs no playbook while inhibited."""

        by: UUID
        inhibition: str
        reason: str

    class Uninhibited(LoopAggregate.Event):
        """Its inhibitor ``by`` ended or no longer matches: raised again in full."""

        by: UUID
        inhibition: str
        reason: str

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
        if isinstance(attributes.get("group"), dict):
            # A group's warning (ADR 0087): its first breach is its first member.
            self._group_members = {
                str(attributes.get("subject", "")): {
                    "level": level,
                    "active": True,
                    "joined_at": observed_at.isoformat(),
                }
            }

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

    def _refuse_when_merged(self, doing: str) -> None:
        if self.status == WarningStatus.MERGED:
            raise WarningMerged(
                f"warning {self.title!r} is closed as merged into a main case; cannot {doing}: "
                "act on the main case, or un-merge this warning first"
            )

    def check_can_link(self) -> None:
        self._refuse_when_merged("dispatch instructions for it")
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
        self._refuse_when_merged("cancel it")
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

    # -- grouping (ADR 0087) -------------------------------------------------------------

    @property
    def group_members(self) -> Mapping[str, Mapping[str, Any]]:
        """A group's members: station -> {"level", "active", "joined_at"}."""
        found: Mapping[str, Mapping[str, Any]] = self.__dict__.get(
            "_group_members", MappingProxyType({})
        )
        return found

    @property
    def is_group(self) -> bool:
        """Whether this warning gathers a group's members."""
        return isinstance(self.attributes.get("group"), dict)

    @property
    def active_members(self) -> list[str]:
        """The members still beyond their limit."""
        return [m for m, v in self.group_members.items() if v.get("active")]

    def join(
        self,
        member: str,
        level: int,
        observed_at: datetime,
        evidence: dict[str, Any],
        meta: Meta,
    ) -> bool:
        """A member's breach joins this open group's warning; a member already active
        changes nothing (answers False)."""
        self._require(*OPEN_STATUSES, doing="add a member to it")
        if not self.is_group:
            raise InvalidTransition(f"warning {self.title!r} is not a group's warning")
        check_level(level)
        member = check_text(member, "a member", MAX_SHORT, required=True)
        if self.group_members.get(member, {}).get("active"):
            return False
        self._member_joined(
            member=member, level=level, observed_at=observed_at, evidence=dict(evidence), meta=meta
        )
        return True

    @event(MemberJoined)
    def _member_joined(
        self,
        member: str,
        level: int,
        observed_at: datetime,
        evidence: dict[str, Any],
        meta: Meta,
    ) -> None:
        members: dict[str, Any] = dict(self.group_members)
        self._group_members = {
            **members,
            member: {"level": level, "active": True, "joined_at": observed_at.isoformat()},
        }
        self.last_observed_at = max(self.last_observed_at, observed_at)

    @property
    def group_level(self) -> int | None:
        """The worst level of the active members (None when none is active)."""
        levels = [int(v["level"]) for v in self.group_members.values() if v.get("active")]
        return min(levels) if levels else None

    def change_member_level(self, member: str, level: int, reason: str, meta: Meta) -> None:
        """A member's level changed; the group's follows its worst active member."""
        self._require(*OPEN_STATUSES, doing="change a member's level")
        check_level(level)
        current = self.group_members.get(member, {})
        if not current.get("active") or current.get("level") == level:
            return
        reason = check_text(reason, "the reason", MAX_NOTE, required=True)
        self._member_level_changed(member=member, level=level, reason=reason, meta=meta)
        self.follow_members(reason, meta)

    @event(MemberLevelChanged)
    def _member_level_changed(self, member: str, level: int, reason: str, meta: Meta) -> None:
        members: dict[str, Any] = dict(self.group_members)
        self._group_members = {**members, member: {**members[member], "level": level}}

    def follow_members(self, reason: str, meta: Meta) -> None:
        """The group's level set to its worst active member's."""
        level = self.group_level
        if level is not None and level != self.level:
            self.change_level(level, reason, meta)

    def resolve_member(self, member: str, note: str, meta: Meta) -> bool:
        """One member is normal again; answers whether it was the last active one (the
        caller then resolves the warning in the same decision)."""
        self._require(*OPEN_STATUSES, doing="resolve a member of it")
        if not self.group_members.get(member, {}).get("active"):
            return False
        note = check_text(note, "the note", MAX_NOTE, required=False)
        self._member_resolved(member=member, note=note, meta=meta)
        if not self.active_members:
            return True
        self.follow_members(f"member {member} is normal again", meta)
        return False

    @event(MemberResolved)
    def _member_resolved(self, member: str, note: str, meta: Meta) -> None:
        members: dict[str, Any] = dict(self.group_members)
        self._group_members = {
            **members,
            member: {**members[member], "active": False},
        }

    # -- inhibition (ADR 0087) -----------------------------------------------------------

    def inhibit(self, by: UUID, inhibition: str, reason: str, meta: Meta) -> None:
        """The open warning ``by`` explains this one: recorded, kept, no playbook."""
        self._require(*OPEN_STATUSES, doing="inhibit it")
        if by == self.id:
            raise InvalidValue("a warning cannot inhibit itself")
        if by == self.inhibited_by:
            return
        reason = check_text(reason, "the reason", MAX_NOTE, required=True)
        self._inhibited(by=by, inhibition=inhibition, reason=reason, meta=meta)

    @event(Inhibited)
    def _inhibited(self, by: UUID, inhibition: str, reason: str, meta: Meta) -> None:
        self.inhibited_by = by
        self.inhibition = inhibition

    def uninhibit(self, reason: str, meta: Meta) -> None:
        """Its inhibitor ended first: the warning stands on its own again."""
        if self.inhibited_by is None:
            return
        reason = check_text(reason, "the reason", MAX_NOTE, required=True)
        self._uninhibited(
            by=self.inhibited_by, inhibition=self.inhibition or "", reason=reason, meta=meta
        )

    @event(Uninhibited)
    def _uninhibited(self, by: UUID, inhibition: str, reason: str, meta: Meta) -> None:
        self.inhibited_by = None
        self.inhibition = None

    # -- merging (并单, ADR 0082) --------------------------------------------------------

    def mismatch_with(self, main: EarlyWarning, window: timedelta = MERGE_WINDOW) -> list[str]:
        """What tells this warning and ``main`` apart as matters: another rule (the
        hazard), another place (both named, and not alike), or spans of observation
        further apart than ``window``."""
        found = []
        if self.rule != main.rule:
            found.append("rule")
        here, there = self.location.strip().casefold(), main.location.strip().casefold()
        if here and there and here != there:
            found.append("location")
        gap = max(self.observed_at, main.observed_at) - min(
            self.last_observed_at, main.last_observed_at
        )
        if gap > window:
            found.append("window")
        return found

    def check_can_merge_into(self, main: EarlyWarning, *, override: bool) -> list[str]:
        """Every rule of a merge of this warning into ``main``; answers the mismatch
        that ``override`` let through."""
        if main.id == self.id:
            raise MergeIntoItself("a warning cannot be merged into itself")
        if main.merged_into == self.id:
            raise CircularMerge(
                f"warning {main.title!r} is merged into this one: merging this one into it "
                "would close a circle; un-merge it first"
            )
        if self.merged:
            raise CircularMerge(
                f"warning {self.title!r} is the main case of {len(self.merged)} merged "
                "warning(s): merge the others into the new main case, not this one, or "
                "un-merge them first"
            )
        if main.merged_into is not None:
            raise MergeTargetClosed(
                f"warning {main.title!r} is itself merged into another: merge into that "
                "main case instead"
            )
        if not main.is_open:
            raise MergeTargetClosed(
                f"warning {main.title!r} is {main.status.replace('_', ' ')}: only an open "
                "warning takes in another"
            )
        if not self.is_open:
            raise MergeTargetClosed(
                f"warning {self.title!r} is {self.status.replace('_', ' ')}: only an open "
                "warning is merged"
            )
        if self.open_instructions:
            raise MergeRefused(
                f"{len(self.open_instructions)} instruction(s) dispatched for warning "
                f"{self.title!r} are not finished; finish them before merging it"
            )
        mismatch = self.mismatch_with(main)
        if mismatch and not override:
            words = {
                "rule": "another hazard (rule)",
                "location": "another place",
                "window": f"observed more than {int(MERGE_WINDOW.total_seconds() // 3600)} h apart",
            }
            raise MergeMismatch(
                f"the warnings differ: {', '.join(words[m] for m in mismatch)}; to merge "
                "them all the same, say so (override) and why"
            )
        return mismatch

    def merge_into(
        self, main: EarlyWarning, reason: str, override: bool, meta: Meta, main_meta: Meta
    ) -> None:
        """Close this warning as merged into ``main``, which takes it in."""
        reason = check_text(reason, "the reason for merging", MAX_NOTE, required=True)
        mismatch = self.check_can_merge_into(main, override=override)
        self._merged_into(main_id=main.id, reason=reason, mismatch=mismatch, meta=meta)
        main._merge_taken(merged_id=self.id, reason=reason, meta=main_meta)

    @event(MergedInto)
    def _merged_into(self, main_id: UUID, reason: str, mismatch: list[str], meta: Meta) -> None:
        self.status_before_merge = self.status
        self.status = WarningStatus.MERGED
        self.merged_into = main_id
        self.closed_at = meta.occurred_at

    @event(MergeTaken)
    def _merge_taken(self, merged_id: UUID, reason: str, meta: Meta) -> None:
        self.merged = (*self.merged, merged_id)

    def check_can_unmerge(self, main: EarlyWarning) -> None:
        if self.merged_into is None or self.merged_into != main.id:
            raise MergeRefused(f"warning {self.title!r} is not merged into another")
        if main.status == WarningStatus.CLOSED:
            raise MergeRefused(
                f"the main case {main.title!r} is closed: its merged warnings closed with it"
            )

    def unmerge(self, main: EarlyWarning, reason: str, meta: Meta, main_meta: Meta) -> None:
        """Take this warning out of its main case, back to the status it had."""
        self.check_can_unmerge(main)
        reason = check_text(reason, "the reason for un-merging", MAX_NOTE, required=True)
        status = self.status_before_merge or WarningStatus.RAISED.value
        self._unmerged(main_id=main.id, reason=reason, status=str(status), meta=meta)
        main._merge_released(merged_id=self.id, reason=reason, meta=main_meta)

    @event(Unmerged)
    def _unmerged(self, main_id: UUID, reason: str, status: str, meta: Meta) -> None:
        self.status = WarningStatus(status)
        self.merged_into = None
        self.status_before_merge = None
        self.closed_at = None

    @event(MergeReleased)
    def _merge_released(self, merged_id: UUID, reason: str, meta: Meta) -> None:
        self.merged = tuple(m for m in self.merged if m != merged_id)

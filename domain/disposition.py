"""A disposition: one unit's handling of one instruction.

Opened when the unit signs for the instruction, it holds the actions the unit took
(who, what, when, evidence), its progress reports, the result it submitted and the
outcome of each verification. Each assignee's disposition is its own aggregate, so
units working one instruction jointly never contend for the same record.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition, InvalidValue, NotPermitted, check_printable
from domain.limits import MAX_EVIDENCE, MAX_NOTE, MAX_REFERENCE, MAX_TEXT, check_text
from domain.meta import Meta, derived_id


class DispositionStatus(StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    CLOSED_UNVERIFIED = "closed_unverified"  # the instruction was cancelled


class Action(TypedDict):
    """One action on the record of a disposition."""

    kind: str  # "action" or "progress"
    person: str
    text: str
    evidence: list[str]
    occurred_at: str


def disposition_id(instruction_id: UUID, unit: str) -> UUID:
    """Each unit has at most one disposition per instruction."""
    return derived_id("disposition", f"{instruction_id}/{unit}")


class Disposition(LoopAggregate):
    """One unit's handling of one instruction, from sign-for to verification."""

    class Opened(LoopAggregate.Created):
        instruction_id: UUID
        unit: str

    class ActionRecorded(LoopAggregate.Event):
        text: str
        evidence: list[str]

    class ProgressReported(LoopAggregate.Event):
        note: str

    class ResultSubmitted(LoopAggregate.Event):
        result: str

    class Verified(LoopAggregate.Event):
        accepted: bool
        note: str

    class Ended(LoopAggregate.Event):
        reason: str

    class Reopened(LoopAggregate.Event):
        """The caller, followed up, found the case unresolved and was dissatisfied (ADR 0083)."""

        note: str

    @staticmethod
    def create_id(instruction_id: UUID, unit: str) -> UUID:
        return disposition_id(instruction_id, unit)

    @event(Opened)
    def __init__(self, instruction_id: UUID, unit: str, meta: Meta) -> None:
        self.instruction_id = instruction_id
        self.unit = unit
        self.status = DispositionStatus.OPEN
        self.opened_at = meta.occurred_at
        self.actions: list[Action] = []
        self.results: list[str] = []
        self.verifications: list[dict[str, str | bool]] = []

    @property
    def result(self) -> str | None:
        return self.results[-1] if self.results else None

    def _check_own(self, meta: Meta, doing: str) -> None:
        if meta.unit != self.unit:
            raise NotPermitted(f"only unit {self.unit} may {doing} on its own disposition")

    def _check_open(self, doing: str) -> None:
        if self.status in (DispositionStatus.ACCEPTED, DispositionStatus.CLOSED_UNVERIFIED):
            raise InvalidTransition(f"this disposition is finished; cannot {doing}")

    def record_action(self, text: str, evidence: list[str] | None, meta: Meta) -> None:
        """Record what was done; evidence is a list of references (URLs, file ids)."""
        self._check_own(meta, "record an action")
        self._check_open("record an action")
        text = check_text(text, "the action", MAX_TEXT, required=True)
        refs = [ref.strip() for ref in (evidence or []) if ref and ref.strip()]
        if len(refs) > MAX_EVIDENCE:
            raise InvalidValue(f"at most {MAX_EVIDENCE} evidence references per action")
        if any(len(ref) > MAX_REFERENCE for ref in refs):
            raise InvalidValue(f"an evidence reference is limited to {MAX_REFERENCE} characters")
        for ref in refs:
            check_printable(ref, "an evidence reference")
        self._action_recorded(text=text, evidence=refs, meta=meta)

    @event(ActionRecorded)
    def _action_recorded(self, text: str, evidence: list[str], meta: Meta) -> None:
        self.actions.append(
            Action(
                kind="action",
                person=meta.person,
                text=text,
                evidence=list(evidence),
                occurred_at=meta.occurred_at.isoformat(),
            )
        )

    def report_progress(self, note: str, meta: Meta) -> None:
        self._check_own(meta, "report progress")
        self._check_open("report progress")
        self._progress(
            note=check_text(note, "the progress note", MAX_NOTE, required=True), meta=meta
        )

    @event(ProgressReported)
    def _progress(self, note: str, meta: Meta) -> None:
        self.actions.append(
            Action(
                kind="progress",
                person=meta.person,
                text=note,
                evidence=[],
                occurred_at=meta.occurred_at.isoformat(),
            )
        )

    def submit(self, result: str, meta: Meta) -> None:
        self._check_open("submit a result")
        if self.status == DispositionStatus.SUBMITTED:
            raise InvalidTransition("the result is already submitted and waiting for verification")
        self._submitted(result=result, meta=meta)

    @event(ResultSubmitted)
    def _submitted(self, result: str, meta: Meta) -> None:
        self.status = DispositionStatus.SUBMITTED
        self.results.append(result)

    def record_verification(self, accepted: bool, note: str, meta: Meta) -> None:
        if self.status != DispositionStatus.SUBMITTED:
            raise InvalidTransition("only a submitted result can be verified")
        self._verified(accepted=accepted, note=note, meta=meta)

    @event(Verified)
    def _verified(self, accepted: bool, note: str, meta: Meta) -> None:
        self.status = DispositionStatus.ACCEPTED if accepted else DispositionStatus.OPEN
        self.verifications.append(
            {"accepted": accepted, "note": note, "at": meta.occurred_at.isoformat()}
        )

    def end(self, reason: str, meta: Meta) -> None:
        """The instruction was cancelled (or closed) while this unit still had it open."""
        if self.status in (DispositionStatus.ACCEPTED, DispositionStatus.CLOSED_UNVERIFIED):
            return
        self._ended(reason=reason, meta=meta)

    @event(Ended)
    def _ended(self, reason: str, meta: Meta) -> None:
        self.status = DispositionStatus.CLOSED_UNVERIFIED

    def reopen(self, note: str, meta: Meta) -> None:
        """The lead's accepted result is opened again: a follow-up reopened the case."""
        if self.status != DispositionStatus.ACCEPTED:
            raise InvalidTransition("only an accepted disposition is reopened")
        self._reopened(note=note, meta=meta)

    @event(Reopened)
    def _reopened(self, note: str, meta: Meta) -> None:
        self.status = DispositionStatus.OPEN

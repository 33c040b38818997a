"""An instruction: a task sent down the command network with a deadline.

It is issued by one unit to exactly one lead unit (territorial, single responsibility)
and optionally to cooperating units for joint disposal. Each assignee signs for it or
returns it; the issuer redirects a returned one. Assignees may forward part of it to a
unit below them (a child instruction), report progress, ask for an extension, and
submit a result. The issuer verifies: accepted closes it, rejected sends it back for
rework. The issuer, or a unit above the issuer, may remind, supervise, park and cancel.

The lead unit may ask the issuer to defer it (缓办: a court case, a season, works that
wait for funds): an approved deferral stops the deadline clock and keeps the time that
was left; resuming restarts it with that time (ADR 0071). A refused one changes nothing.

The lead unit may dispute the dispatch (派单异议: not its job) within a limit after it
received the case; the issuer arbitrates within its own limit. Upheld sends the case to
the unit the arbiter names with a fresh deadline; refused leaves it where it was, its
clock never stopped (ADR 0076).

The deadline clock starts at dispatch, not at sign-for. Which units may be addressed
(down the tree or across to a department, never up) needs the whole network and is
checked by :mod:`domain.application`; everything about this instruction's own state is
checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.errors import (
    FollowUpIncomplete,
    FollowUpRefused,
    InvalidTransition,
    InvalidValue,
    NotFromThePublic,
    NotPermitted,
    TimeLimitPassed,
)
from domain.follow_up import UNREACHED_ATTEMPTS, FollowUpLimits, Satisfaction, reopens
from domain.limits import MAX_NOTE, MAX_TEXT, MAX_TITLE, check_text
from domain.meta import LONGEST_DEADLINE, Meta, derived_id
from domain.on_duty import NamesOnDutyAtUnit

MAX_COOPERATING = 20


class Priority(StrEnum):
    """Urgent instructions count clock time; the others count working time."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"


class InstructionStatus(StrEnum):
    DISPATCHED = "dispatched"  # waiting for the lead unit to sign for it
    IN_PROGRESS = "in_progress"  # signed for, being handled
    RETURNED = "returned"  # the lead unit sent it back; the issuer must redirect it
    SUBMITTED = "submitted"  # the lead unit submitted its result; waiting for verification
    REWORK = "rework"  # rejected at verification; being handled again
    PARKED = "parked"  # moved to the backlog (seasonal or engineering cases)
    DEFERRED = "deferred"  # an approved deferral (缓办): the deadline clock is stopped
    CLOSED = "closed"  # verified and accepted: the loop of this instruction is closed
    CANCELLED = "cancelled"


class AssigneeStatus(StrEnum):
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    RETURNED = "returned"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"


FINISHED = frozenset({InstructionStatus.CLOSED, InstructionStatus.CANCELLED})


@dataclass(frozen=True)
class DisputeLimits:
    """How long a lead unit has to dispute a dispatch after receiving the case, and the
    issuer to arbitrate after the filing: working time, clock time when urgent (ADR 0076)."""

    filing: WorkingDuration = field(default_factory=lambda: WorkingDuration(seconds=2 * 3600))
    arbitration: WorkingDuration = field(default_factory=lambda: WorkingDuration(seconds=4 * 3600))


def instruction_id(command_id: str) -> UUID:
    """The id of the instruction created by the command with this id."""
    return derived_id("instruction", command_id)


class Instruction(LoopAggregate):
    """One instruction, its assignees' states and its deadline."""

    # Defaults for instructions whose events (or snapshots) predate deferrals and
    # emergency figures (ADR 0071): each is set on the instance once it changes.
    emergency: bool = False
    pending_deferral: dict[str, str] | None = None
    status_before_deferral: str | None = None
    deferred_remaining_s: int | None = None
    # Disputes (ADR 0076): when the lead unit received the case (None: at issue), the
    # dispute waiting for arbitration, and the units that disputed it (once each).
    lead_since: datetime | None = None
    pending_dispute: dict[str, str] | None = None
    disputed_by: tuple[str, ...] = ()
    # Follow-up (回访, 重办; ADR 0083): the follow-ups recorded, the reopens among them,
    # and when the closure in force was followed up (None: not yet).
    follow_ups: int = 0
    reopen_count: int = 0
    followed_up_at: datetime | None = None
    #: Whether the watch reminded the issuer of this closure's follow-up.
    follow_up_reminded: bool = False
    #: Attempts at this closure's follow-up in which the caller was not reached (ADR 0093).
    unreached_attempts: int = 0

    class Issued(LoopAggregate.Created):
        issuer: str
        lead: str
        cooperating: list[str]
        title: str
        content: str
        priority: str
        deadline: datetime
        warning_ids: list[UUID]
        parent_id: UUID | None
        #: Issued under a scenario's emergency mode, or forwarded from such a case.
        emergency: bool = False

    class SignedFor(LoopAggregate.Event):
        unit: str
        disposition_id: UUID

    class ReturnedToIssuer(LoopAggregate.Event):
        unit: str
        reason: str

    class Redirected(LoopAggregate.Event):
        from_unit: str
        to_unit: str

    class LinkedToWarning(LoopAggregate.Event):
        warning_id: UUID

    class Forwarded(LoopAggregate.Event):
        unit: str
        to_unit: str
        child_id: UUID

    class ChildFinished(LoopAggregate.Event):
        child_id: UUID
        outcome: str

    class ExtensionRequested(LoopAggregate.Event):
        unit: str
        deadline: datetime
        reason: str

    class ExtensionDecided(LoopAggregate.Event):
        granted: bool
        deadline: datetime
        note: str

    class ResultSubmitted(LoopAggregate.Event):
        unit: str
        result: str

    class Verified(LoopAggregate.Event):
        accepted: bool
        note: str

    class Reminded(NamesOnDutyAtUnit, LoopAggregate.Event):
        """Names who was on duty at the lead unit, as the deadline watch found it on the
        roster (ADR 0094); a person's reminder names nobody."""

        note: str

    class MarkedOverdue(NamesOnDutyAtUnit, LoopAggregate.Event):
        """Names who was on duty at the lead unit when the lateness was put on record."""

        deadline: datetime
        note: str

    class Supervised(NamesOnDutyAtUnit, LoopAggregate.Event):
        """Names who was on duty at the supervising unit when the case went to it."""

        supervisor: str
        note: str

    class Parked(LoopAggregate.Event):
        reason: str

    class Resumed(LoopAggregate.Event):
        note: str

    class DeferralRequested(LoopAggregate.Event):
        unit: str
        reason: str

    class DeferralDecided(LoopAggregate.Event):
        granted: bool
        note: str
        #: The time left when the clock stopped: working seconds, clock seconds if urgent.
        remaining_s: int

    class DeferralEnded(LoopAggregate.Event):
        #: The deadline restarted with the time that was left.
        deadline: datetime
        note: str

    class DisputeFiled(LoopAggregate.Event):
        unit: str
        reason: str

    class DisputeArbitrated(LoopAggregate.Event):
        #: The unit that filed the dispute.
        unit: str
        upheld: bool
        #: Upheld: the unit the case goes to, and its fresh deadline; refused: "" and
        #: the deadline in force, unchanged.
        to_unit: str
        deadline: datetime
        note: str

    class FollowedUp(LoopAggregate.Event):
        #: The lead unit whose handling the caller judged.
        unit: str
        contacted: bool
        resolved: bool
        satisfaction: str
        note: str
        #: Unresolved and dissatisfied: the case goes back to the lead unit (重办).
        reopened: bool
        #: Reopened: the fresh deadline; otherwise the deadline the case closed under.
        deadline: datetime

    class FollowUpUnreached(LoopAggregate.Event):
        """An attempt at the follow-up in which the caller could not be reached (未联系上,
        ADR 0093): not an answer; the case stays closed."""

        #: The lead unit whose case it is.
        unit: str
        #: What was tried (called twice, no answer; the number is out of service…).
        note: str
        #: The how-many-th unreached attempt at this closure's follow-up.
        attempt: int
        #: Whether this attempt makes the closure count as not reached (the limit's
        #: attempt: :data:`domain.follow_up.UNREACHED_ATTEMPTS`).
        not_reached: bool

    class FollowUpReminded(NamesOnDutyAtUnit, LoopAggregate.Event):
        """Names who was on duty at the issuing unit when it was reminded (ADR 0090)."""

        #: The last moment of the follow-up limit.
        due_at: datetime

    class Cancelled(LoopAggregate.Event):
        reason: str

    @staticmethod
    def create_id(meta: Meta) -> UUID:
        return instruction_id(meta.command_id)

    @event(Issued)
    def __init__(
        self,
        issuer: str,
        lead: str,
        cooperating: list[str],
        title: str,
        content: str,
        priority: str,
        deadline: datetime,
        warning_ids: list[UUID],
        parent_id: UUID | None,
        meta: Meta,
        emergency: bool = False,
    ) -> None:
        self.issuer = issuer
        self.lead = lead
        self.cooperating = list(cooperating)
        self.title = title
        self.content = content
        self.priority = Priority(priority)
        self.issued_at = meta.occurred_at
        self.deadline = deadline
        self.original_deadline = deadline
        self.warning_ids = list(warning_ids)
        self.parent_id = parent_id
        self.status = InstructionStatus.DISPATCHED
        self.status_before_park: str | None = None
        # Unit code -> AssigneeStatus, lead first.
        self.assignees: dict[str, str] = {lead: AssigneeStatus.DISPATCHED}
        for unit in cooperating:
            self.assignees[unit] = AssigneeStatus.DISPATCHED
        self.dispositions: dict[str, UUID] = {}
        self.children: list[UUID] = []
        self.open_children: list[UUID] = []
        self.pending_extension: dict[str, str] | None = None
        self.reminders = 0
        self.overdue_marked_for: datetime | None = None
        self.supervised_by: str | None = None
        self.rework_count = 0
        self.signed_at: datetime | None = None
        self.submitted_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.emergency = emergency
        self.pending_deferral: dict[str, str] | None = None
        self.status_before_deferral: str | None = None
        self.deferred_remaining_s: int | None = None

    @classmethod
    def issue(
        cls,
        *,
        issuer: str,
        lead: str,
        cooperating: list[str] | None,
        title: str,
        content: str | None,
        priority: str,
        deadline: datetime,
        warning_ids: list[UUID] | None,
        parent_id: UUID | None,
        meta: Meta,
        emergency: bool = False,
    ) -> Instruction:
        """Issue a new instruction; the caller has checked the units and the direction."""
        cooperating = list(cooperating or [])
        if priority not in set(Priority):
            raise InvalidValue(f"unknown priority {priority!r}; one of: urgent, high, normal")
        if lead == issuer or issuer in cooperating:
            raise InvalidValue("a unit cannot issue an instruction to itself")
        if lead in cooperating:
            raise InvalidValue("the lead unit cannot also be a cooperating unit")
        if len(set(cooperating)) != len(cooperating):
            raise InvalidValue("a cooperating unit is named twice")
        if len(cooperating) > MAX_COOPERATING:
            raise InvalidValue(f"at most {MAX_COOPERATING} cooperating units")
        if deadline.tzinfo is None:
            raise InvalidValue("the deadline must carry a time-zone offset")
        if deadline <= meta.occurred_at:
            raise InvalidValue("the deadline must lie after the time of dispatch")
        _check_not_too_far(deadline, meta)
        return cls(
            issuer=issuer,
            lead=lead,
            cooperating=cooperating,
            title=check_text(title, "an instruction's title", MAX_TITLE, required=True),
            content=check_text(content, "the content", MAX_TEXT, required=False),
            priority=priority,
            deadline=deadline,
            warning_ids=list(dict.fromkeys(warning_ids or [])),
            parent_id=parent_id,
            meta=meta,
            emergency=emergency,
        )

    # -- state questions -------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_deferred(self) -> bool:
        """Under an approved deferral: the deadline clock is stopped."""
        return self.status == InstructionStatus.DEFERRED

    def overdue_by(self, now: datetime, calendar: WorkingCalendar) -> timedelta:
        """How late the instruction is now: working time, or clock time when urgent."""
        if self.is_finished or self.is_deferred or now <= self.deadline:
            return timedelta(0)
        if self.priority == Priority.URGENT:
            return now - self.deadline
        return calendar.overdue_by(self.deadline, now)

    def time_left(self, now: datetime, calendar: WorkingCalendar) -> timedelta:
        """Time left before the deadline: working time, or clock time when urgent."""
        if self.is_deferred:
            return timedelta(seconds=self.deferred_remaining_s or 0)
        if self.is_finished or now >= self.deadline:
            return timedelta(0)
        if self.priority == Priority.URGENT:
            return self.deadline - now
        return calendar.time_left(self.deadline, now)

    def is_overdue(self, now: datetime) -> bool:
        return not self.is_finished and not self.is_deferred and now > self.deadline

    # -- guards ----------------------------------------------------------------------

    def _check_live(self, doing: str) -> None:
        if self.status == InstructionStatus.CLOSED:
            raise InvalidTransition(
                f"instruction {self.title!r} is closed; nothing more can be done on it"
            )
        if self.status == InstructionStatus.CANCELLED:
            raise InvalidTransition(f"instruction {self.title!r} was cancelled; cannot {doing}")

    def _check_working(self, doing: str) -> None:
        self._check_live(doing)
        if self.status == InstructionStatus.PARKED:
            raise InvalidTransition(
                f"instruction {self.title!r} is parked; it must be resumed before you {doing}"
            )
        if self.status == InstructionStatus.DEFERRED:
            raise InvalidTransition(
                f"instruction {self.title!r} is deferred; it must be resumed before you {doing}"
            )

    def _check_assignee(self, unit: str, *statuses: AssigneeStatus, doing: str) -> None:
        if unit not in self.assignees:
            raise NotPermitted(f"unit {unit} is not an assignee of this instruction")
        status = self.assignees[unit]
        if status not in statuses:
            raise InvalidTransition(
                f"unit {unit} has {_assignee_phrase(status)}; it cannot {doing}"
            )

    def check_issuer(self, unit: str, doing: str) -> None:
        if unit != self.issuer:
            raise NotPermitted(f"only the issuing unit {self.issuer} may {doing}")

    # -- the assignees' commands -----------------------------------------------------

    def sign_for(self, unit: str, disposition_id: UUID, meta: Meta) -> None:
        self._check_working("sign for it")
        self._check_assignee(unit, AssigneeStatus.DISPATCHED, doing="sign for it")
        self._signed_for(unit=unit, disposition_id=disposition_id, meta=meta)

    @event(SignedFor)
    def _signed_for(self, unit: str, disposition_id: UUID, meta: Meta) -> None:
        self.assignees[unit] = AssigneeStatus.SIGNED
        self.dispositions[unit] = disposition_id
        if unit == self.lead:
            self.status = InstructionStatus.IN_PROGRESS
            self.signed_at = meta.occurred_at

    def return_to_issuer(self, unit: str, reason: str, meta: Meta) -> None:
        """Send it back as not ours (only before signing for it)."""
        self._check_working("return it")
        self._check_assignee(unit, AssigneeStatus.DISPATCHED, doing="return it")
        reason = check_text(reason, "the reason for returning it", MAX_NOTE, required=True)
        self._returned(unit=unit, reason=reason, meta=meta)

    @event(ReturnedToIssuer)
    def _returned(self, unit: str, reason: str, meta: Meta) -> None:
        self.assignees[unit] = AssigneeStatus.RETURNED
        if unit == self.lead:
            self.status = InstructionStatus.RETURNED

    def redirect(self, from_unit: str, to_unit: str, meta: Meta) -> None:
        """The issuer sends a returned instruction (or share) to another unit."""
        self._check_working("redirect it")
        self.check_issuer(meta.unit, "redirect it")
        if from_unit not in self.assignees or self.assignees[from_unit] != AssigneeStatus.RETURNED:
            raise InvalidTransition(f"unit {from_unit} has not returned this instruction")
        if to_unit == self.issuer:
            raise InvalidValue("a unit cannot issue an instruction to itself")
        if to_unit in self.assignees:
            raise InvalidValue(f"unit {to_unit} is already an assignee of this instruction")
        self._redirected(from_unit=from_unit, to_unit=to_unit, meta=meta)

    @event(Redirected)
    def _redirected(self, from_unit: str, to_unit: str, meta: Meta) -> None:
        del self.assignees[from_unit]
        self.assignees[to_unit] = AssigneeStatus.DISPATCHED
        if from_unit == self.lead:
            self.lead = to_unit
            self.lead_since = meta.occurred_at
            self.status = InstructionStatus.DISPATCHED
            # Keep the lead first, as the record lists it.
            self.assignees = {to_unit: self.assignees.pop(to_unit), **self.assignees}
        else:
            self.cooperating = [to_unit if u == from_unit else u for u in self.cooperating]

    def link_to_warning(self, warning_id: UUID, meta: Meta) -> None:
        """Record that this instruction answers a warning (besides those it was issued for)."""
        self._check_live("link it to a warning")
        if warning_id not in self.warning_ids:
            self._linked_to_warning(warning_id=warning_id, meta=meta)

    @event(LinkedToWarning)
    def _linked_to_warning(self, warning_id: UUID, meta: Meta) -> None:
        self.warning_ids.append(warning_id)

    def check_can_forward(self, unit: str, deadline: datetime) -> None:
        self._check_working("forward it")
        self._check_assignee(unit, AssigneeStatus.SIGNED, doing="forward it")
        if deadline > self.deadline:
            raise InvalidValue(
                "a forwarded instruction cannot be due later than the instruction it comes from"
            )

    def forward(
        self, unit: str, to_unit: str, child_id: UUID, deadline: datetime, meta: Meta
    ) -> None:
        """Record that part of this was passed down as a child instruction."""
        self.check_can_forward(unit, deadline)
        self._forwarded(unit=unit, to_unit=to_unit, child_id=child_id, meta=meta)

    @event(Forwarded)
    def _forwarded(self, unit: str, to_unit: str, child_id: UUID, meta: Meta) -> None:
        self.children.append(child_id)
        self.open_children.append(child_id)

    def child_finished(self, child_id: UUID, outcome: str, meta: Meta) -> None:
        if child_id in self.open_children:
            self._child_finished(child_id=child_id, outcome=outcome, meta=meta)

    @event(ChildFinished)
    def _child_finished(self, child_id: UUID, outcome: str, meta: Meta) -> None:
        self.open_children.remove(child_id)

    def check_can_report(self, unit: str) -> None:
        """Progress reports and disposition actions need a signed assignee."""
        self._check_working("report on it")
        self._check_assignee(
            unit, AssigneeStatus.SIGNED, AssigneeStatus.SUBMITTED, doing="report on it"
        )

    def request_extension(self, unit: str, deadline: datetime, reason: str, meta: Meta) -> None:
        self._check_working("ask for an extension")
        self._check_assignee(unit, AssigneeStatus.SIGNED, doing="ask for an extension")
        if self.pending_extension is not None:
            raise InvalidTransition("an extension request is already waiting for a decision")
        if deadline.tzinfo is None:
            raise InvalidValue("the requested deadline must carry a time-zone offset")
        if deadline <= self.deadline:
            raise InvalidValue("an extension must move the deadline later than it is now")
        _check_not_too_far(deadline, meta)
        reason = check_text(reason, "the reason for an extension", MAX_NOTE, required=True)
        self._extension_requested(unit=unit, deadline=deadline, reason=reason, meta=meta)

    @event(ExtensionRequested)
    def _extension_requested(self, unit: str, deadline: datetime, reason: str, meta: Meta) -> None:
        self.pending_extension = {"unit": unit, "deadline": deadline.isoformat(), "reason": reason}

    def decide_extension(self, granted: bool, note: str | None, meta: Meta) -> None:
        self._check_live("decide an extension")
        self.check_issuer(meta.unit, "decide an extension")
        if self.pending_extension is None:
            raise InvalidTransition("no extension request is waiting for a decision")
        if self.is_deferred:
            raise InvalidTransition(
                f"instruction {self.title!r} is deferred and its clock stopped; "
                "resume it before you decide an extension"
            )
        requested = datetime.fromisoformat(self.pending_extension["deadline"])
        note = check_text(note, "the reason for denying", MAX_NOTE, required=not granted)
        # A grant never shortens the deadline, whatever happened since the request.
        deadline = max(self.deadline, requested) if granted else self.deadline
        self._extension_decided(granted=granted, deadline=deadline, note=note, meta=meta)

    @event(ExtensionDecided)
    def _extension_decided(self, granted: bool, deadline: datetime, note: str, meta: Meta) -> None:
        self.pending_extension = None
        self.deadline = deadline

    def submit(self, unit: str, result: str, meta: Meta) -> None:
        self._check_working("submit a result")
        self._check_assignee(unit, AssigneeStatus.SIGNED, doing="submit a result")
        if unit == self.lead and self.open_children:
            raise InvalidTransition(
                f"{len(self.open_children)} forwarded instruction(s) are still open; "
                "they must be closed before the result is submitted"
            )
        result = check_text(result, "the result", MAX_TEXT, required=True)
        self._submitted(unit=unit, result=result, meta=meta)

    @event(ResultSubmitted)
    def _submitted(self, unit: str, result: str, meta: Meta) -> None:
        self.assignees[unit] = AssigneeStatus.SUBMITTED
        if unit == self.lead:
            self.status = InstructionStatus.SUBMITTED
            self.submitted_at = meta.occurred_at
            # The holder went on and finished: a deferral it asked for lapses.
            self.pending_deferral = None

    # -- the issuer's commands -------------------------------------------------------

    def verify(self, accepted: bool, note: str | None, meta: Meta) -> None:
        """Accepted closes the instruction; rejected sends it back for rework."""
        self._check_working("verify it")
        self.check_issuer(meta.unit, "verify it")
        if self.status != InstructionStatus.SUBMITTED:
            raise InvalidTransition(
                f"instruction {self.title!r} is {self.status.replace('_', ' ')}; "
                "only a submitted result can be verified"
            )
        if self.open_children:
            raise InvalidTransition(
                f"{len(self.open_children)} forwarded instruction(s) are still open"
            )
        note = check_text(note, "the reason for rejecting", MAX_NOTE, required=not accepted)
        self._verified(accepted=accepted, note=note, meta=meta)

    @event(Verified)
    def _verified(self, accepted: bool, note: str, meta: Meta) -> None:
        if accepted:
            for unit, status in self.assignees.items():
                if status == AssigneeStatus.SUBMITTED:
                    self.assignees[unit] = AssigneeStatus.ACCEPTED
            self.status = InstructionStatus.CLOSED
            self.closed_at = meta.occurred_at
            self.pending_extension = None
            self.pending_deferral = None
            self.pending_dispute = None
        else:
            self.assignees[self.lead] = AssigneeStatus.SIGNED
            self.status = InstructionStatus.REWORK
            self.rework_count += 1

    def remind(self, note: str | None, meta: Meta, on_duty: str | None = None) -> None:
        """Remind the lead unit, naming ``on_duty``, who is on duty there now."""
        self._check_live("remind")
        self._reminded(
            note=check_text(note, "the note", MAX_NOTE, required=False),
            meta=meta,
            on_duty=on_duty,
            on_roster=on_duty is not None,
        )

    @event(Reminded)
    def _reminded(
        self, note: str, meta: Meta, on_duty: str | None = None, on_roster: bool = False
    ) -> None:
        self.reminders += 1

    def mark_overdue(self, note: str | None, meta: Meta, on_duty: str | None = None) -> None:
        """Put on the record that the deadline has passed with the case still open, naming
        ``on_duty``, who is on duty at the lead unit now."""
        self._check_working("mark it overdue")
        if meta.occurred_at <= self.deadline:
            raise InvalidTransition("the deadline has not passed yet")
        if self.is_marked_overdue:
            raise InvalidTransition("already marked overdue for this deadline")
        note = check_text(note, "the note", MAX_NOTE, required=False)
        self._marked_overdue(
            deadline=self.deadline,
            note=note,
            meta=meta,
            on_duty=on_duty,
            on_roster=on_duty is not None,
        )

    @event(MarkedOverdue)
    def _marked_overdue(
        self,
        deadline: datetime,
        note: str,
        meta: Meta,
        on_duty: str | None = None,
        on_roster: bool = False,
    ) -> None:
        self.overdue_marked_for = deadline

    @property
    def is_marked_overdue(self) -> bool:
        """Marked overdue for the deadline in force (an extension starts a new watch)."""
        return self.__dict__.get("overdue_marked_for") == self.deadline

    def supervise(self, note: str | None, meta: Meta, on_duty: str | None = None) -> None:
        """Put the case under the acting unit's supervision, naming ``on_duty``, who is on
        duty at that unit now."""
        self._check_live("put it under supervision")
        if self.supervised_by == meta.unit:
            raise InvalidTransition(f"already under supervision by {meta.unit}")
        note = check_text(note, "the note", MAX_NOTE, required=False)
        self._supervised(
            supervisor=meta.unit,
            note=note,
            meta=meta,
            on_duty=on_duty,
            on_roster=on_duty is not None,
        )

    @event(Supervised)
    def _supervised(
        self,
        supervisor: str,
        note: str,
        meta: Meta,
        on_duty: str | None = None,
        on_roster: bool = False,
    ) -> None:
        self.supervised_by = supervisor

    def park(self, reason: str, meta: Meta) -> None:
        self._check_working("park it")
        reason = check_text(reason, "the reason for parking", MAX_NOTE, required=True)
        self._parked(reason=reason, meta=meta)

    @event(Parked)
    def _parked(self, reason: str, meta: Meta) -> None:
        self.status_before_park = self.status
        self.status = InstructionStatus.PARKED

    def resume(self, note: str | None, meta: Meta, calendar: WorkingCalendar | None = None) -> None:
        """Take a parked instruction off the backlog, or end an approved deferral: the
        clock restarts with the time that was left when it stopped (ADR 0071)."""
        self._check_live("resume it")
        note = check_text(note, "the note", MAX_NOTE, required=False)
        if self.status == InstructionStatus.DEFERRED:
            left = timedelta(seconds=self.deferred_remaining_s or 0)
            if self.priority == Priority.URGENT or calendar is None:
                deadline = meta.occurred_at + left
            else:
                deadline = calendar.add(meta.occurred_at, _working(left))
            self._deferral_ended(deadline=deadline, note=note, meta=meta)
            return
        if self.status != InstructionStatus.PARKED:
            raise InvalidTransition("only a parked or deferred instruction can be resumed")
        self._resumed(note=note, meta=meta)

    @event(Resumed)
    def _resumed(self, note: str, meta: Meta) -> None:
        self.status = InstructionStatus(self.status_before_park or InstructionStatus.DISPATCHED)
        self.status_before_park = None

    # -- deferral (缓办, ADR 0071) --------------------------------------------------------

    def request_deferral(self, unit: str, reason: str, meta: Meta) -> None:
        """The lead unit, holding the case, asks the issuer to stop its clock."""
        self._check_working("ask to defer it")
        if unit != self.lead:
            if unit in self.assignees:
                raise NotPermitted(
                    f"only the lead unit {self.lead} may ask to defer this instruction"
                )
            raise NotPermitted(f"unit {unit} is not an assignee of this instruction")
        self._check_assignee(unit, AssigneeStatus.SIGNED, doing="ask to defer it")
        if self.pending_deferral is not None:
            raise InvalidTransition("a deferral request is already waiting for a decision")
        if meta.occurred_at >= self.deadline:
            raise TimeLimitPassed(
                "the deadline has passed; a deferral must be asked before it, "
                "an overdue case stays overdue"
            )
        reason = check_text(reason, "the reason for deferring", MAX_NOTE, required=True)
        self._deferral_requested(unit=unit, reason=reason, meta=meta)

    @event(DeferralRequested)
    def _deferral_requested(self, unit: str, reason: str, meta: Meta) -> None:
        self.pending_deferral = {"unit": unit, "reason": reason, "at": meta.occurred_at.isoformat()}

    def decide_deferral(
        self, granted: bool, note: str | None, meta: Meta, calendar: WorkingCalendar
    ) -> None:
        """The issuer approves (the clock stops, keeping the time left) or refuses."""
        self._check_live("decide a deferral")
        self.check_issuer(meta.unit, "decide a deferral")
        if self.pending_deferral is None:
            raise InvalidTransition("no deferral request is waiting for a decision")
        if self.status not in (InstructionStatus.IN_PROGRESS, InstructionStatus.REWORK):
            raise InvalidTransition(
                f"instruction {self.title!r} is {self.status.replace('_', ' ')}; a deferral "
                "is decided only on a case being handled"
            )
        note = check_text(note, "the reason for refusing", MAX_NOTE, required=not granted)
        remaining = 0
        if granted:
            if meta.occurred_at >= self.deadline:
                raise TimeLimitPassed(
                    "the deadline passed while the request waited; it can only be refused"
                )
            left = self.time_left(meta.occurred_at, calendar)
            remaining = left // timedelta(seconds=1)
        self._deferral_decided(granted=granted, note=note, remaining_s=remaining, meta=meta)

    @event(DeferralDecided)
    def _deferral_decided(self, granted: bool, note: str, remaining_s: int, meta: Meta) -> None:
        self.pending_deferral = None
        if granted:
            self.status_before_deferral = self.status
            self.status = InstructionStatus.DEFERRED
            self.deferred_remaining_s = remaining_s

    @event(DeferralEnded)
    def _deferral_ended(self, deadline: datetime, note: str, meta: Meta) -> None:
        self.status = InstructionStatus(
            self.status_before_deferral or InstructionStatus.IN_PROGRESS
        )
        self.status_before_deferral = None
        self.deferred_remaining_s = None
        self.deadline = deadline

    # -- dispatch disputes (派单异议, ADR 0076) --------------------------------------------

    def dispute_deadline(self, limits: DisputeLimits, calendar: WorkingCalendar) -> datetime:
        """The last moment the lead unit may dispute: the filing limit after it received
        the case (at issue, or when a redirect or an upheld dispute sent it there)."""
        return self._after(self.lead_since or self.issued_at, limits.filing, calendar)

    def arbitration_deadline(self, limits: DisputeLimits, calendar: WorkingCalendar) -> datetime:
        """The last moment the issuer may arbitrate the dispute waiting now."""
        if self.pending_dispute is None:
            raise InvalidTransition("no dispute is waiting for arbitration")
        filed = datetime.fromisoformat(self.pending_dispute["at"])
        return self._after(filed, limits.arbitration, calendar)

    def _after(
        self, start: datetime, limit: WorkingDuration, calendar: WorkingCalendar
    ) -> datetime:
        if self.priority == Priority.URGENT:
            return start + limit.clock()
        return calendar.add(start, limit)

    def file_dispute(
        self,
        unit: str,
        reason: str,
        meta: Meta,
        limits: DisputeLimits,
        calendar: WorkingCalendar,
    ) -> None:
        """The lead unit says the case is not its job, with its reason, within the limit."""
        self._check_working("dispute it")
        if unit != self.lead:
            if unit in self.assignees:
                raise NotPermitted(f"only the lead unit {self.lead} may dispute this dispatch")
            raise NotPermitted(f"unit {unit} is not an assignee of this instruction")
        if self.status not in (InstructionStatus.DISPATCHED, InstructionStatus.IN_PROGRESS):
            raise InvalidTransition(
                f"instruction {self.title!r} is {self.status.replace('_', ' ')}; a dispatch "
                "is disputed only while the case is new or being handled"
            )
        if self.pending_dispute is not None:
            raise InvalidTransition("a dispute is already waiting for arbitration")
        if self.children:
            raise InvalidTransition(
                f"unit {unit} has forwarded part of this case; it has taken it on as its job"
            )
        if unit in self.disputed_by:
            raise InvalidTransition(
                f"unit {unit} has already disputed this case once; the arbiter's word stands"
            )
        limit = self.dispute_deadline(limits, calendar)
        if meta.occurred_at > limit:
            raise TimeLimitPassed(
                f"the time to dispute this dispatch ended at {limit.isoformat()} "
                f"({limits.filing} after the case was received)"
            )
        reason = check_text(reason, "the reason for the dispute", MAX_NOTE, required=True)
        self._dispute_filed(unit=unit, reason=reason, meta=meta)

    @event(DisputeFiled)
    def _dispute_filed(self, unit: str, reason: str, meta: Meta) -> None:
        self.pending_dispute = {"unit": unit, "reason": reason, "at": meta.occurred_at.isoformat()}
        self.disputed_by = (*self.disputed_by, unit)

    def check_can_arbitrate(
        self, meta: Meta, limits: DisputeLimits, calendar: WorkingCalendar
    ) -> None:
        self._check_live("arbitrate a dispute")
        self.check_issuer(meta.unit, "arbitrate a dispute")
        if self.pending_dispute is None:
            raise InvalidTransition("no dispute is waiting for arbitration")
        limit = self.arbitration_deadline(limits, calendar)
        if meta.occurred_at > limit:
            raise TimeLimitPassed(
                f"the time to arbitrate this dispute ended at {limit.isoformat()} "
                f"({limits.arbitration} after it was filed); the case stays with "
                f"unit {self.pending_dispute['unit']}"
            )

    def arbitrate_dispute(
        self,
        upheld: bool,
        to_unit: str | None,
        note: str | None,
        meta: Meta,
        limits: DisputeLimits,
        calendar: WorkingCalendar,
    ) -> None:
        """The issuer upholds (the case goes to ``to_unit`` with a fresh deadline of the
        original's length from now) or refuses (nothing moves) the waiting dispute."""
        self.check_can_arbitrate(meta, limits, calendar)
        assert self.pending_dispute is not None  # checked just above
        disputing = self.pending_dispute["unit"]
        note = check_text(note, "the reason for refusing", MAX_NOTE, required=not upheld)
        if not upheld:
            if to_unit:
                raise InvalidValue("a refused dispute names no unit: the case stays where it is")
            self._dispute_arbitrated(
                unit=disputing,
                upheld=False,
                to_unit="",
                deadline=self.deadline,
                note=note,
                meta=meta,
            )
            return
        self._check_working("uphold a dispute")
        if self.status not in (InstructionStatus.DISPATCHED, InstructionStatus.IN_PROGRESS):
            raise InvalidTransition(
                f"instruction {self.title!r} is {self.status.replace('_', ' ')} now; "
                "the dispute can only be refused"
            )
        if not to_unit:
            raise InvalidValue("an upheld dispute names the unit the case goes to")
        if to_unit == disputing:
            raise InvalidValue(f"unit {to_unit} disputed this case; name another unit")
        if to_unit == self.issuer:
            raise InvalidValue("a unit cannot issue an instruction to itself")
        if to_unit in self.assignees:
            raise InvalidValue(f"unit {to_unit} is already an assignee of this instruction")
        self._dispute_arbitrated(
            unit=disputing,
            upheld=True,
            to_unit=to_unit,
            deadline=self.fresh_deadline(meta.occurred_at, calendar),
            note=note,
            meta=meta,
        )

    def fresh_deadline(self, now: datetime, calendar: WorkingCalendar) -> datetime:
        """The original time allowed (issue to first deadline), counted again from now:
        working time on the calendar, clock time when urgent (ADR 0076)."""
        if self.priority == Priority.URGENT:
            return now + (self.original_deadline - self.issued_at)
        allowed = calendar.working_time_between(self.issued_at, self.original_deadline)
        if allowed <= timedelta(0):
            # Issued outside office hours with a deadline before they opened: the clock
            # length stands in, as it did for the original deadline.
            return now + (self.original_deadline - self.issued_at)
        return calendar.add(now, _working(allowed))

    @event(DisputeArbitrated)
    def _dispute_arbitrated(
        self, unit: str, upheld: bool, to_unit: str, deadline: datetime, note: str, meta: Meta
    ) -> None:
        self.pending_dispute = None
        if not upheld:
            return
        self.assignees.pop(unit, None)
        self.dispositions.pop(unit, None)
        self.assignees = {to_unit: AssigneeStatus.DISPATCHED, **self.assignees}
        self.lead = to_unit
        self.lead_since = meta.occurred_at
        self.status = InstructionStatus.DISPATCHED
        self.signed_at = None
        self.deadline = deadline
        # What the disputing unit asked for was its own; the new lead starts afresh.
        self.pending_extension = None
        self.pending_deferral = None

    # -- follow-up and reopening (回访, 重办; ADR 0083) -------------------------------------

    def follow_up_deadline(self, limits: FollowUpLimits, calendar: WorkingCalendar) -> datetime:
        """The last moment the caller may be followed up: the limit after the closure."""
        if self.status != InstructionStatus.CLOSED or self.closed_at is None:
            raise FollowUpRefused(f"instruction {self.title!r} is not closed")
        return self._after(self.closed_at, limits.window, calendar)

    def check_can_follow_up(
        self, public: bool, meta: Meta, limits: FollowUpLimits, calendar: WorkingCalendar
    ) -> None:
        """Whether the issuer may follow this case up now (the answers aside)."""
        if self.status != InstructionStatus.CLOSED:
            raise FollowUpRefused(
                f"instruction {self.title!r} is {self.status.replace('_', ' ')}; "
                "a case is followed up once it is closed"
            )
        if self.parent_id is not None:
            raise FollowUpRefused(
                "a forwarded part is not followed up; its case is, with the caller"
            )
        self.check_issuer(meta.unit, "follow it up")
        if not public:
            raise NotFromThePublic(
                f"instruction {self.title!r} did not come from the public; "
                "there is no caller to follow up"
            )
        if self.followed_up_at is not None:
            raise FollowUpRefused("the case was followed up already since it was closed")
        limit = self.follow_up_deadline(limits, calendar)
        if meta.occurred_at > limit:
            raise TimeLimitPassed(
                f"the time to follow up this case ended at {limit.isoformat()} "
                f"({limits.window} after it was closed)"
            )

    def follow_up(
        self,
        *,
        public: bool,
        contacted: bool | None,
        resolved: bool | None,
        satisfaction: str | None,
        note: str | None,
        meta: Meta,
        limits: FollowUpLimits,
        calendar: WorkingCalendar,
    ) -> None:
        """Record the caller's answers; unresolved and dissatisfied reopens the case to
        the same lead unit with the original's time allowed, counted from now."""
        self.check_can_follow_up(public, meta, limits, calendar)
        missing = [
            name
            for name, value in (
                ("contacted", contacted),
                ("resolved", resolved),
                ("satisfaction", satisfaction),
            )
            if value is None
        ]
        if missing:
            raise FollowUpIncomplete(f"the caller's answer is missing: {', '.join(missing)}")
        if not isinstance(contacted, bool) or not isinstance(resolved, bool):
            raise FollowUpIncomplete("contacted and resolved are answered yes or no")
        if satisfaction not in set(Satisfaction):
            raise FollowUpIncomplete(
                f"unknown satisfaction {satisfaction!r}; one of: {', '.join(Satisfaction)}"
            )
        note = check_text(note, "the note", MAX_NOTE, required=False)
        reopened = reopens(resolved, Satisfaction(satisfaction))
        self._followed_up(
            unit=self.lead,
            contacted=contacted,
            resolved=resolved,
            satisfaction=str(satisfaction),
            note=note,
            reopened=reopened,
            deadline=self.fresh_deadline(meta.occurred_at, calendar) if reopened else self.deadline,
            meta=meta,
        )

    @event(FollowedUp)
    def _followed_up(
        self,
        unit: str,
        contacted: bool,
        resolved: bool,
        satisfaction: str,
        note: str,
        reopened: bool,
        deadline: datetime,
        meta: Meta,
    ) -> None:
        self.follow_ups += 1
        self.followed_up_at = meta.occurred_at
        if not reopened:
            return
        # The reopen takes this closure's follow-up; the next closure gets its own.
        self.followed_up_at = None
        self.unreached_attempts = 0
        self.follow_up_reminded = False
        # 重办: back to the same lead, signed for already, to do again and submit.
        self.reopen_count += 1
        self.assignees[unit] = AssigneeStatus.SIGNED
        self.status = InstructionStatus.IN_PROGRESS
        self.closed_at = None
        self.deadline = deadline

    def record_unreached_follow_up(
        self,
        *,
        public: bool,
        note: str | None,
        meta: Meta,
        limits: FollowUpLimits,
        calendar: WorkingCalendar,
    ) -> None:
        """Record an attempt at the follow-up in which the caller could not be reached
        (未联系上): the same rules as a follow-up (closed, the issuer, from the public,
        not followed up since it closed, within the limit) and what was tried. The case
        stays closed, may still be followed up within the same limit, and the watch's
        reminder is not silenced by it."""
        self.check_can_follow_up(public, meta, limits, calendar)
        note = check_text(note, "what was tried to reach the caller", MAX_NOTE, required=True)
        attempt = self.unreached_attempts + 1
        self._follow_up_unreached(
            unit=self.lead,
            note=note,
            attempt=attempt,
            not_reached=attempt == UNREACHED_ATTEMPTS,
            meta=meta,
        )

    @event(FollowUpUnreached)
    def _follow_up_unreached(
        self, unit: str, note: str, attempt: int, not_reached: bool, meta: Meta
    ) -> None:
        self.unreached_attempts = attempt

    def follow_up_reminder_at(self, limits: FollowUpLimits, calendar: WorkingCalendar) -> datetime:
        """When the watch reminds the issuer: once half the follow-up limit has passed."""
        if self.status != InstructionStatus.CLOSED or self.closed_at is None:
            raise FollowUpRefused(f"instruction {self.title!r} is not closed")
        if self.priority == Priority.URGENT:
            return self.closed_at + limits.window.clock() / 2
        limit = self.follow_up_deadline(limits, calendar)
        allowed = calendar.working_time_between(self.closed_at, limit)
        return calendar.add(self.closed_at, _working(allowed / 2))

    def remind_follow_up(
        self,
        public: bool,
        meta: Meta,
        limits: FollowUpLimits,
        calendar: WorkingCalendar,
        on_duty: str | None = None,
    ) -> None:
        """Remind the issuer that this case's caller is still to be followed up, naming
        ``on_duty``, who is on duty at the issuer now."""
        self.check_can_follow_up(public, meta, limits, calendar)
        if self.follow_up_reminded:
            raise FollowUpRefused("the follow-up of this closure was reminded already")
        if meta.occurred_at < self.follow_up_reminder_at(limits, calendar):
            raise FollowUpRefused("the follow-up is not near its limit yet")
        self._follow_up_reminded(
            due_at=self.follow_up_deadline(limits, calendar),
            meta=meta,
            on_duty=on_duty,
            on_roster=on_duty is not None,
        )

    @event(FollowUpReminded)
    def _follow_up_reminded(
        self, due_at: datetime, meta: Meta, on_duty: str | None = None, on_roster: bool = False
    ) -> None:
        self.follow_up_reminded = True

    def cancel(self, reason: str, meta: Meta) -> None:
        self._check_live("cancel it")
        reason = check_text(reason, "the reason for cancelling", MAX_NOTE, required=True)
        self._cancelled(reason=reason, meta=meta)

    @event(Cancelled)
    def _cancelled(self, reason: str, meta: Meta) -> None:
        self.status = InstructionStatus.CANCELLED
        self.pending_extension = None
        self.pending_deferral = None
        self.pending_dispute = None


def _check_not_too_far(deadline: datetime, meta: Meta) -> None:
    if deadline > meta.occurred_at + LONGEST_DEADLINE:
        raise InvalidValue("a deadline cannot lie more than ten years ahead")


def _working(left: timedelta) -> WorkingDuration:
    """Working time left as a duration to add on the calendar (seconds, never days:
    a day of the calendar is its day length, and the seconds already count it)."""
    return WorkingDuration(seconds=max(0, left // timedelta(seconds=1)))


def _assignee_phrase(status: str) -> str:
    phrases: dict[str, str] = {
        AssigneeStatus.DISPATCHED: "not signed for it yet",
        AssigneeStatus.SIGNED: "signed for it",
        AssigneeStatus.RETURNED: "returned it",
        AssigneeStatus.SUBMITTED: "submitted its result",
        AssigneeStatus.ACCEPTED: "had its result accepted",
    }
    return phrases.get(status, status)

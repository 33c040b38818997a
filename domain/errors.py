"""Named errors for every rule of the closed loop.

Each message is written for the dispatcher or handler who will read it on a screen:
it says what was refused and why, in the domain's own words.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused by a rule of the closed loop; nothing was stored."""

    #: A short, stable identifier for machines (used in problem-details ``type`` URIs),
    #: given by each family of errors as a keyword of its class statement; an error
    #: that names none (a data file's, say) answers its family's.
    code = "domain-error"

    def __init_subclass__(cls, *, code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code


class NotFound(DomainError, code="not-found"):
    """The unit, warning, instruction or disposition named does not exist."""


class InvalidValue(DomainError, code="invalid-value"):
    """A value given with a command is out of its bounds (empty title, past deadline...)."""


class CommandIdReused(InvalidValue, code="command-id-reused"):
    """A command id given again with a different command: the record keeps the first.

    A command id makes a retry harmless (the same command again answers as the first
    time); the same id given to another warning or instruction, or to another step on a
    record that saw it, would otherwise be answered as that retry, and the new command
    lost without a word (ADR 0025).
    """


class PlacementRefused(InvalidValue, code="placement-refused"):
    """A unit placed where its level and kind may not sit: under a parent of the wrong
    level or kind, or under a deactivated one (what the parent is, is on the record)."""


class BusinessTimeRefused(InvalidValue, code="business-time-refused"):
    """A reported business time (``occurred_at``) outside its bounds: before the record it
    acts on was created or before the step it follows, or ahead of the clock by more than
    the skew allowed (:data:`domain.meta.CLOCK_SKEW`)."""

    #: The field of a command that carries the business time, named in the problem.
    field = "occurred_at"


class InvalidTransition(DomainError, code="invalid-transition"):
    """The command does not apply in the current state (e.g. verifying an unsubmitted case)."""


class NotPermitted(DomainError, code="not-permitted"):
    """The acting unit may not do this (not the issuer, not an assignee, not a superior)."""


class DirectionRefused(NotPermitted, code="direction-refused"):
    """An instruction would go up the network, or across to something that is not a department."""


class AlreadyExists(DomainError, code="already-exists"):
    """Something with this identity is already on the record (e.g. a unit code)."""


class ConcurrencyConflict(DomainError, code="concurrency-conflict"):
    """The record moved on while the command was being decided.

    Raised when the caller asked for a specific version and the aggregate is no longer
    at it, or when repeated retries kept losing the race.
    """


def check_printable(value: str, what: str) -> None:
    """Refuse text with a NUL character: no one types it, and PostgreSQL cannot store it
    in a text column, so it would stall every view that copies the text."""
    if "\x00" in value:
        raise InvalidValue(f"{what} cannot contain a NUL character")


class TimeLimitPassed(InvalidTransition, code="time-limit-passed"):
    """A step taken after the time allowed for it: a deferral asked or approved once the
    deadline has passed (the lateness is on the record; a deferral cannot erase it)."""


# -- notices and their receipts (通知, 签收回执; ADR 0077) --------------------------------


class NoticeNotFound(NotFound, code="notice-not-found"):
    """A receipt, a reminder or a report for a notice that was never sent (or that the
    caller's unit may not see, which is answered the same way)."""


class NoticeRefused(InvalidValue, code="notice-refused"):
    """A notice that cannot be sent as given: no addressees, an empty or oversized title
    or body, an unknown kind, a confirm-by limit not in the future."""


class NoticeAddresseeRefused(NotPermitted, code="notice-addressee-refused"):
    """A notice addressed to a unit outside the sender's subtree (or to the sender itself):
    a notice goes down the network, never up or across."""


class ReceiptRefused(NotPermitted, code="receipt-refused"):
    """A receipt by a unit the notice is not addressed to, or in a role that does not
    confirm receipts."""


class ReceiptAlreadyConfirmed(InvalidTransition, code="receipt-already-confirmed"):
    """The unit has confirmed receipt of this notice already: a unit confirms once."""


# -- whistle and check-in (吹哨报到, ADR 0078) -------------------------------------------


class WhistleIncomplete(InvalidValue, code="whistle-incomplete"):
    """A whistle blown without a place or without a department to summon: no one would
    know where to come, or no one would be asked to."""


class WhistleRefused(NotPermitted, code="whistle-refused"):
    """The unit may not blow this whistle: only a sub-district office or a community
    blows one, and only on departments beside a government above or at it."""


class NotSummoned(NotPermitted, code="not-summoned"):
    """A check-in by a department the whistle did not summon."""


class AlreadyCheckedIn(InvalidTransition, code="already-checked-in"):
    """A department checks in at most once at a whistle: its first arrival is the record."""


class WhistleClosed(InvalidTransition, code="whistle-closed"):
    """The whistle was closed: nothing more is checked in, reminded or escalated on it."""


# -- silences (ADR 0085) -------------------------------------------------------------


class SilenceNotFound(NotFound, code="silence-not-found"):
    """No silence was set under this id (or the caller may not see it)."""


class SilencePeriodRefused(InvalidValue, code="silence-period-refused"):
    """A silence's period cannot be used: it ends before it starts, lies in the past,
    or is longer than a silence may be."""


class SilenceTargetUnknown(InvalidValue, code="silence-target-unknown"):
    """A silence names a station, feed, rule or unit the center does not know."""


class SilenceRefused(NotPermitted, code="silence-refused"):
    """The caller may not silence this: a silence is set by a duty officer of a unit
    whose subtree holds what is silenced."""


class SilenceOver(InvalidTransition, code="silence-over"):
    """The silence has ended or expired: it is neither extended nor ended again."""


# -- merging (并单, ADR 0082) ------------------------------------------------------------


class MergeIntoItself(InvalidValue, code="merge-into-itself"):
    """A warning merged into itself: a case cannot be its own main case."""


class MergeTargetClosed(InvalidTransition, code="merge-target-closed"):
    """A merge into (or of) a warning that is no longer open: closed, cancelled, found a
    false alarm, resolved, or itself merged into another. Only a live matter takes in
    another, and only a live one is merged."""


class CircularMerge(InvalidTransition, code="circular-merge"):
    """A merge that would close a circle: the main case named is merged into the one
    being merged, or the one being merged is already the main case of others."""


class MergeMismatch(InvalidValue, code="merge-mismatch"):
    """The two warnings do not look like the same matter (another hazard, another place,
    or observed too far apart): such a merge needs ``override`` and a reason."""


class MergeRefused(InvalidTransition, code="merge-refused"):
    """A merge or an un-merge refused by the state of a warning: instructions dispatched
    for it still open, a warning that is not merged, a main case already closed."""


class WarningMerged(InvalidTransition, code="warning-merged"):
    """A step on a warning closed as merged into a main case (ADR 0093): it is neither
    cancelled nor given instructions of its own; the matter is handled on its main case,
    or the warning is un-merged first."""


# -- follow-up and reopening (回访, 重办; ADR 0083) ---------------------------------------


class NotFromThePublic(InvalidTransition, code="not-from-the-public"):
    """A follow-up of a case that no caller raised: only a case from the public (the 12345
    feed, a hotline, a reporter named on its warning) is followed up."""


class FollowUpRefused(InvalidTransition, code="follow-up-refused"):
    """A follow-up of a case that is not closed, is a forwarded part, or was followed up
    already since it was last closed."""


class FollowUpIncomplete(InvalidValue, code="follow-up-incomplete"):
    """A follow-up without one of the caller's three answers (contacted, resolved,
    satisfaction), or with a satisfaction not on the list."""


# -- duty rosters and escalation (值班, 交接班, 升级; ADR 0084) -----------------------------


class ShiftRefused(InvalidValue, code="shift-refused"):
    """A shift that cannot go on the roster as given: it overlaps another shift of the
    same post, ends before it starts, lasts too long, ends in the past, or names the same
    person as its own deputy."""


class HandoverRefused(NotPermitted, code="handover-refused"):
    """A handover by someone who is not on duty at that post at that moment: only the
    person on duty (or the deputy standing in) hands the watch over."""


class EscalationPolicyError(InvalidValue, code="escalation-policy-invalid"):
    """The escalation policy file cannot be used: a missing priority, an unknown step,
    steps out of order. Raised at start-up, naming the file and the entry."""

"""Named errors for every rule of the closed loop.

Each message is written for the dispatcher or handler who will read it on a screen:
it says what was refused and why, in the domain's own words.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused by a rule of the closed loop; nothing was stored."""

    #: A short, stable identifier for machines (used in problem-details ``type`` URIs).
    code = "domain-error"


class NotFound(DomainError):
    """The unit, warning, instruction or disposition named does not exist."""

    code = "not-found"


class InvalidValue(DomainError):
    """A value given with a command is out of its bounds (empty title, past deadline...)."""

    code = "invalid-value"


class CommandIdReused(InvalidValue):
    """A command id given again with a different command: the record keeps the first.

    A command id makes a retry harmless (the same command again answers as the first
    time); the same id given to another warning or instruction, or to another step on a
    record that saw it, would otherwise be answered as that retry, and the new command
    lost without a word (ADR 0025).
    """

    code = "command-id-reused"


class InvalidTransition(DomainError):
    """The command does not apply in the current state (e.g. verifying an unsubmitted case)."""

    code = "invalid-transition"


class NotPermitted(DomainError):
    """The acting unit may not do this (not the issuer, not an assignee, not a superior)."""

    code = "not-permitted"


class DirectionRefused(NotPermitted):
    """An instruction would go up the network, or across to something that is not a department."""

    code = "direction-refused"


class AlreadyExists(DomainError):
    """Something with this identity is already on the record (e.g. a unit code)."""

    code = "already-exists"


class ConcurrencyConflict(DomainError):
    """The record moved on while the command was being decided.

    Raised when the caller asked for a specific version and the aggregate is no longer
    at it, or when repeated retries kept losing the race.
    """

    code = "concurrency-conflict"


def check_printable(value: str, what: str) -> None:
    """Refuse text with a NUL character: no one types it, and PostgreSQL cannot store it
    in a text column, so it would stall every view that copies the text."""
    if "\x00" in value:
        raise InvalidValue(f"{what} cannot contain a NUL character")

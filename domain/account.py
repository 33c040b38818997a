"""A person's account: who signs in by name and password, for which unit and roles
(ADR 0052).

Every change is an event on the same store as the closed loop, so the auditor sees who
opened an account, changed its password or roles and closed it, and when. The password
itself is never here: only its Argon2id hash (made in ``api.accounts``), which the audit
export redacts like a token's hash. The id is derived from the casefolded username, so
two people cannot hold names that differ only by case, and the account a sign-in names
is found by one keyed read.
"""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition, InvalidValue, check_printable
from domain.limits import MAX_NAME, MAX_NOTE
from domain.meta import Meta, derived_id
from domain.roles import ROLES, unknown_roles

MIN_USERNAME, MAX_USERNAME = 3, 64
MIN_PASSWORD = 10
#: Past this a password is not a password but a way to make the server hash megabytes.
MAX_PASSWORD = 1024

# \w is Unicode-aware: Chinese names (张伟) are letters like any other.
_USERNAME = re.compile(rf"^[\w.@-]{{{MIN_USERNAME},{MAX_USERNAME}}}$")


class UsernameRefused(InvalidValue, code="username-refused"):
    """A username outside the rule: 3 to 64 letters, digits or ``. _ - @``."""

    field = "username"


class PasswordRefused(InvalidValue, code="password-refused"):
    """A password too short, too long, or the same as the username."""

    field = "password"


class AccountClosed(InvalidTransition, code="account-closed"):
    """The account was closed: it signs in no more and takes no further change."""


def account_id(username: str) -> UUID:
    """The aggregate id of the account with this username, whatever its case."""
    return derived_id("account", username.casefold())


def check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise UsernameRefused(
            f"a username is {MIN_USERNAME} to {MAX_USERNAME} letters, digits or '.', '_', "
            "'-', '@' (no spaces)"
        )
    return username


def check_password(password: str, username: str) -> None:
    """The rule of a new password; it is checked before hashing and never stored."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise PasswordRefused(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordRefused(f"a password has at most {MAX_PASSWORD} characters")
    if "\x00" in password:
        raise PasswordRefused("a password cannot contain a NUL character")
    if password.casefold() == username.casefold():
        raise PasswordRefused("a password cannot be the username")


def check_display_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("a person's name cannot be empty")
    if len(name) > MAX_NAME:
        raise InvalidValue(f"a person's name is limited to {MAX_NAME} characters")
    check_printable(name, "a person's name")
    return name.strip()


def check_roles(roles: list[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    if not roles:
        raise InvalidValue("an account needs at least one role")
    unknown = unknown_roles(roles)
    if unknown:
        raise InvalidValue(f"unknown role(s) {', '.join(unknown)}; one of: {', '.join(ROLES)}")
    return roles


def check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidValue("closing an account needs a reason")
    if len(reason) > MAX_NOTE:
        raise InvalidValue(f"a reason is limited to {MAX_NOTE} characters")
    check_printable(reason, "the reason")
    return reason.strip()


class Account(LoopAggregate):
    """One person who signs in: the name, the unit, the roles and the password's hash."""

    class Opened(LoopAggregate.Created):
        username: str
        name: str
        unit: str
        roles: list[str]
        password_hash: str

    class PasswordChanged(LoopAggregate.Event):
        password_hash: str

    class RolesChanged(LoopAggregate.Event):
        roles: list[str]

    class Closed(LoopAggregate.Event):
        reason: str

    @staticmethod
    def create_id(username: str, **_: object) -> UUID:
        return account_id(username)

    @event(Opened)
    def __init__(
        self,
        username: str,
        name: str,
        unit: str,
        roles: list[str],
        password_hash: str,
        meta: Meta,
    ) -> None:
        self.username = username
        self.name = name
        self.unit = unit
        self.roles = list(roles)
        self.password_hash = password_hash
        self.closed = False
        self.closed_reason = ""

    def _check_open(self) -> None:
        if self.closed:
            raise AccountClosed(f"the account {self.username} is closed")

    def change_password(self, password_hash: str, meta: Meta) -> None:
        self._check_open()
        self._password_changed(password_hash, meta)

    @event(PasswordChanged)
    def _password_changed(self, password_hash: str, meta: Meta) -> None:
        self.password_hash = password_hash

    def change_roles(self, roles: list[str], meta: Meta) -> None:
        self._check_open()
        self._roles_changed(check_roles(roles), meta)

    @event(RolesChanged)
    def _roles_changed(self, roles: list[str], meta: Meta) -> None:
        self.roles = list(roles)

    def close(self, reason: str, meta: Meta) -> None:
        self._check_open()
        self._closed(check_reason(reason), meta)

    @event(Closed)
    def _closed(self, reason: str, meta: Meta) -> None:
        self.closed = True
        self.closed_reason = reason

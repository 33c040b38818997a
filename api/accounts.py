"""People's accounts: sign-in by name and password, and one-time sign-in addresses
(ADR 0052), beside the tokens' book (``api.tokens``).

An :class:`AccountBook` opens, changes and closes accounts on the one command path
(``domain.account_commands``), and answers who a person is: :meth:`AccountBook.verify`
for a name and password, :meth:`AccountBook.principal_of` for an account a session
names, :meth:`AccountBook.redeem_ticket` for a one-time address. Each answers the same
:class:`~api.tokens.Principal` a token does (its ``token_id`` is ``account:<id>``), so
write limits, idempotency and read-your-writes treat a person like a token.

Passwords are hashed with Argon2id (``argon2-cffi``) and never stored or logged; an
unknown name costs the same hashing as a known one, so the time of an answer does not
tell which names exist. The page calls :meth:`~AccountBook.verify` only after the
failed-sign-in limiter lets the address through (ADR 0043): hashing is what costs.

An account found valid is remembered for ``cache_seconds`` (like a token, ADR 0017):
a closed account, or one whose unit was deactivated, stops at once in the process that
closed it and within ``cache_seconds`` everywhere else.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError

from api.tokens import DEFAULT_CACHE_SECONDS, Principal, secret_hash
from domain.account import MAX_PASSWORD, Account, account_id, check_password, check_username
from domain.account_commands import AccountCases
from domain.application import CommandCenter
from domain.errors import DomainError, InvalidValue, NotFound
from domain.meta import Actor, Context, now
from domain.sign_in_ticket import TicketRefused
from domain.unit import Unit, unit_id

#: Who acts when the command line opens or changes an account.
CLI_ACTOR = Actor(person="closedloop account", unit="SYSTEM", role="system")
#: Who redeems a ticket: the sign-in service, on presentation of the secret.
SIGN_IN_ACTOR = Actor(person="closedloop sign-in", unit="SYSTEM", role="system")

TICKET_PREFIX = "clo_"
#: How long a one-time sign-in address lives unless told otherwise.
DEFAULT_TICKET_TTL = timedelta(hours=1)
#: No address lives longer: a forgotten one must not stay a door.
MAX_TICKET_TTL = timedelta(days=7)
#: At most this many accounts are remembered; past it the memory starts afresh.
_CACHE_LIMIT = 10_000


def password_hasher() -> PasswordHasher:
    """Argon2id at OWASP's recommended minimum (19 MiB, two passes, one lane): the
    server's two cores are shared with the requests, and a burst of sign-ins must not
    take gigabytes (ADR 0052). A hash made otherwise is made again at its next sign-in."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def account_principal(account: Account) -> Principal:
    return Principal(f"account:{account.id}", account.username, account.unit, tuple(account.roles))


def new_password() -> str:
    """A password for someone who was given none: 16 characters, about 96 bits."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class AccountWritten:
    """An account as a command left it; ``password`` only when one was generated."""

    account: Account
    password: str | None = None


class AccountBook:
    """Opens, finds, verifies and closes people's accounts; issues and redeems tickets."""

    def __init__(
        self,
        center: CommandCenter,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.center = center
        self.cases = AccountCases(center)
        # Tests pass a cheaper one.
        self.hasher = hasher or password_hasher()
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._dummy_hash: str | None = None
        # account id -> (principal, when to look again, on the monotonic clock)
        self._trusted: dict[UUID, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    # -- changes ------------------------------------------------------------------------

    def _hash(self, password: str | None, username: str) -> tuple[str, str | None]:
        """The hash to store, and the password when it was generated here."""
        generated = None
        if password is None:
            generated = password = new_password()
        check_password(password, username)
        return self.hasher.hash(password), generated

    def open(
        self,
        *,
        username: str,
        name: str,
        unit: str,
        roles: list[str],
        password: str | None = None,
        by: Actor = CLI_ACTOR,
    ) -> AccountWritten:
        """Open an account; without a password one is generated and answered once."""
        check_username(username)
        password_hash, generated = self._hash(password, username)
        self.cases.open_account(
            Context(actor=by),
            username=username,
            name=name,
            unit=unit,
            roles=roles,
            password_hash=password_hash,
        )
        return AccountWritten(self.cases.account(username), generated)

    def change_password(
        self, username: str, password: str | None = None, *, by: Actor = CLI_ACTOR
    ) -> AccountWritten:
        account = self.cases.account(username)
        password_hash, generated = self._hash(password, account.username)
        self.cases.change_password(Context(actor=by), username, password_hash)
        return AccountWritten(self.cases.account(username), generated)

    def change_roles(self, username: str, roles: list[str], *, by: Actor = CLI_ACTOR) -> Account:
        self.cases.change_roles(Context(actor=by), username, roles)
        self.forget()
        return self.cases.account(username)

    def close(self, username: str, reason: str, *, by: Actor = CLI_ACTOR) -> Account:
        self.cases.close_account(Context(actor=by), username, reason)
        # Closed here or elsewhere: stop trusting it in this process at once.
        self.forget()
        return self.cases.account(username)

    # -- reading ------------------------------------------------------------------------

    def account(self, username: str) -> Account:
        return self.cases.account(username)

    def find(self, username: str) -> Account | None:
        return self.cases.find_account(username)

    def units_of_accounts(self) -> dict[str, str]:
        """username -> unit of every account ever opened, oldest first (one read)."""
        return {name: str(entry["unit"]) for name, entry in self.cases.roster().items()}

    # -- who signs in ---------------------------------------------------------------------

    def _burn(self, password: str) -> None:
        """Spend what a verification costs, for a name that has no account."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy_hash, password)

    def verify(self, username: str, password: str) -> Principal | None:
        """The principal of a name and password, or None: unknown name, wrong password,
        closed account, deactivated unit. Call it only after the failed-sign-in limiter."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            self._burn("")
            return None
        account = self.cases.find_account(username) if isinstance(username, str) else None
        if account is None:
            self._burn(password)
            return None
        try:
            self.hasher.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        principal = self._principal(account)
        if principal is not None and self.hasher.check_needs_rehash(account.password_hash):
            self._rehash(account, password)
        return principal

    def _rehash(self, account: Account, password: str) -> None:
        """Store the hash again under the current parameters; a lost race is harmless."""
        try:
            self.cases.change_password(
                Context(actor=SIGN_IN_ACTOR), account.username, self.hasher.hash(password)
            )
        except DomainError:
            return  # the sign-in stands; the rehash waits for the next one

    def _get(self, aggregate_id: UUID) -> Any:
        try:
            return self.center.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _principal(self, account: Account) -> Principal | None:
        if account.closed:
            return None
        unit = self._get(unit_id(account.unit))
        if not isinstance(unit, Unit) or not unit.active:
            return None
        return account_principal(account)

    def principal_of(self, account: UUID | str) -> Principal | None:
        """The principal of the account a session names (its id, or ``account:<id>``),
        or None once it is closed or its unit deactivated."""
        try:
            key = account if isinstance(account, UUID) else UUID(account.removeprefix("account:"))
        except (ValueError, AttributeError):
            return None
        entry = self._trusted.get(key)
        if entry is not None and entry[1] > self.clock():
            return entry[0]
        generation = self._generation
        found = self._get(key)
        principal = self._principal(found) if isinstance(found, Account) else None
        if principal is not None and self.cache_seconds > 0:
            with self._lock:
                if generation == self._generation:
                    if len(self._trusted) >= _CACHE_LIMIT:
                        self._trusted.clear()
                    self._trusted[key] = (principal, self.clock() + self.cache_seconds)
        return principal

    def forget(self) -> None:
        """Trust nothing remembered: every account is looked up again at its next use."""
        with self._lock:
            self._generation += 1
            self._trusted.clear()

    # -- one-time sign-in addresses -------------------------------------------------------

    def issue_ticket(
        self, username: str, ttl: timedelta = DEFAULT_TICKET_TTL, *, by: Actor = CLI_ACTOR
    ) -> str:
        """A secret that signs ``username`` in once within ``ttl``; shown once, kept as
        its hash."""
        if not timedelta(0) < ttl <= MAX_TICKET_TTL:
            raise InvalidValue("a sign-in address lives more than no time and at most 7 days")
        secret = TICKET_PREFIX + secrets.token_urlsafe(32)
        self.cases.issue_ticket(Context(actor=by), username, secret_hash(secret), now() + ttl)
        return secret

    def redeem_ticket(self, secret: str) -> Principal | None:
        """The principal the ticket signs in, once: a second redeem, here or in another
        process, an expired or unknown ticket, a closed account all answer None."""
        if not isinstance(secret, str) or not secret.startswith(TICKET_PREFIX):
            return None
        if len(secret) > 128:
            return None
        try:
            outcome = self.cases.redeem_ticket(
                Context(actor=SIGN_IN_ACTOR), secret_hash(secret), now()
            )
        except (TicketRefused, NotFound):
            return None
        return self.principal_of(outcome.extra["account_id"])


__all__ = ["AccountBook", "AccountWritten", "account_id", "account_principal"]

"""Bearer tokens, kept on the same event store as the closed loop (ADR 0008).

A token belongs to one person, one unit and one or more roles. The secret is shown once,
when it is issued; the store holds only its SHA-256. Each token is an
:class:`AccessToken` aggregate whose id is derived from that hash, so the token a request
presents is found by one keyed read; revoking it is an event, on the record for the
auditor. The :class:`~domain.token_roster.TokenRoster` lists every token issued. Both
aggregates live in the domain (``domain.access_token``, ``domain.token_roster``), and
issuing and revoking take the one command path (ADR 0033); what stays here is the
secret, its hash and the memory of tokens found valid.

A token found valid is remembered for a few seconds (``cache_seconds``, ADR 0017), so
that a busy client is not looked up on the store at every request. Revoking a token
forgets it at once in the process that revoked it; another process (a second server
worker, the ``closedloop token revoke`` command) stops honouring it within
``cache_seconds``. A token of a deactivated unit is refused like a revoked one, and
deactivating a unit forgets every remembered token in the process that took it, so it
stops at once there and within ``cache_seconds`` elsewhere. Reactivating the unit does
not bring those tokens back: a token belongs to the term of its unit it was issued in,
and its people get new ones (ADR 0042).

A token may be issued with an expiry (``expires_at``). When the book has a longest
lifetime (``max_lifetime``, ``CLOSEDLOOP_TOKEN_MAX_DAYS``) no expiry may lie beyond it,
and a token issued without one expires at its end. An expired token is refused with its
own reason (:class:`TokenRefused`), also when it was remembered moments before.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.access_token import AccessToken, access_token_id
from domain.application import CommandCenter
from domain.decision import Decision
from domain.errors import InvalidValue, NotFound
from domain.meta import Actor, now

# The roles (the issue's table, and the hall kiosk's ``screen``) are the domain's: an
# account is opened with them too (ADR 0052). Named here as before, for the API.
from domain.roles import READ_EVERYTHING as READ_EVERYTHING
from domain.roles import ROLES as ROLES
from domain.roles import SCREEN as SCREEN
from domain.token_roster import ROSTER_ID, TokenRoster
from domain.unit import Unit, unit_id

TOKEN_PREFIX = "cl_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who presents a token: the person, the unit and the roles it may act in."""

    token_id: str
    user: str
    unit: str
    roles: tuple[str, ...]
    #: When the token stops being honoured; None: until revoked.
    expires_at: datetime | None = None

    def actor(self, role: str) -> Actor:
        return Actor(person=self.user, unit=self.unit, role=role)

    @property
    def reads_everything(self) -> bool:
        return bool(READ_EVERYTHING.intersection(self.roles))


@dataclass(frozen=True)
class IssuedToken:
    secret: str
    token_id: str
    user: str
    unit: str
    roles: tuple[str, ...]
    label: str
    expires_at: datetime | None = None


class TokenRefused(Exception):
    """A token on the record that is no longer honoured, and why (an answer of 401)."""

    def __init__(self, detail: str, code: str, expires_at: datetime | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.expires_at = expires_at


def check_expiry(
    expires_at: datetime | None, at: datetime, max_lifetime: timedelta | None
) -> datetime | None:
    """The expiry a new token gets: the one asked for, which must carry its zone, lie
    ahead and within ``max_lifetime``; without one, the end of ``max_lifetime`` (if any)."""
    if expires_at is None:
        return None if max_lifetime is None else at + max_lifetime
    if expires_at.tzinfo is None:
        raise InvalidValue("an expiry must carry a time-zone offset (e.g. +08:00)")
    if expires_at <= at:
        raise InvalidValue("an expiry must lie in the future")
    if max_lifetime is not None and expires_at > at + max_lifetime:
        days = max_lifetime / timedelta(days=1)
        raise InvalidValue(f"a token lives at most {days:g} days (CLOSEDLOOP_TOKEN_MAX_DAYS)")
    return expires_at


#: How long a token found valid is trusted without reading the store again (seconds).
DEFAULT_CACHE_SECONDS = 5.0
#: At most this many tokens are remembered; past it the memory starts afresh.
_CACHE_LIMIT = 10_000


class TokenBook:
    """Issues, finds, lists and revokes tokens on the command center's store."""

    def __init__(
        self,
        center: CommandCenter,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_lifetime: timedelta | None = None,
    ) -> None:
        self.center = center
        self.cache_seconds = cache_seconds
        #: The longest a token may live; None: as long as its issuer says (or forever).
        self.max_lifetime = max_lifetime
        self.clock = clock
        # secret hash -> (principal, when to look again, on the monotonic clock)
        self._trusted: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        # Bumped by forget(): a lookup that began before a revocation must not put back
        # what the revocation made this book forget.
        self._generation = 0

    def _get(self, aggregate_id: UUID) -> Any:
        try:
            return self.center.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def issue(
        self,
        *,
        user: str,
        unit: str,
        roles: list[str],
        label: str = "",
        issued_by: str = "cli",
        expires_at: datetime | None = None,
    ) -> IssuedToken:
        roles = list(dict.fromkeys(roles))
        if not roles:
            raise InvalidValue("a token needs at least one role")
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise InvalidValue(f"unknown role(s) {', '.join(unknown)}; one of: {', '.join(ROLES)}")
        Actor(person=user, unit=unit, role=roles[0])  # the same bounds as every actor
        if len(label) > 200:
            raise InvalidValue("a token's label is limited to 200 characters")
        # A token for a unit that does not exist is a typo; one for a deactivated unit
        # would be refused at its first use (authenticate), so it is not issued.
        holder = self.center.unit(unit)
        if not holder.active:
            raise InvalidValue(f"unit {unit} is deactivated; its people get no new tokens")
        issued_at = now()
        expires_at = check_expiry(expires_at, issued_at, self.max_lifetime)
        secret = new_secret()
        token_id = "tok_" + secrets.token_hex(8)
        work = self.center.unit_of_work

        def decide() -> Decision:
            # Built anew each attempt: a save that failed has already taken its events.
            token = AccessToken(
                token_hash=secret_hash(secret),
                token_id=token_id,
                user=user,
                unit=unit,
                roles=roles,
                label=label,
                issued_by=issued_by,
                expires_at=expires_at,
                unit_deactivations=holder.deactivations,
            )
            roster = work.find(TokenRoster, ROSTER_ID) or TokenRoster()
            roster.list_token(
                token_id, token.id, user, unit, roles, label, issued_at, expires_at=expires_at
            )
            return Decision(token, [token, roster], created=True)

        # Another token listed at the same moment: listed again on the new roster.
        work.execute(decide)
        return IssuedToken(secret, token_id, user, unit, tuple(roles), label, expires_at)

    def remembered(self, secret: str) -> Principal | None:
        """The principal of a token found valid less than ``cache_seconds`` ago, without
        reading the store; None when it must be looked up (:meth:`authenticate`)."""
        return self._remembered(secret_hash(secret))

    def _remembered(self, digest: str) -> Principal | None:
        entry = self._trusted.get(digest)
        if entry is None or entry[1] <= self.clock():
            return None
        expires_at = entry[0].expires_at
        if expires_at is not None and now() >= expires_at:
            return None  # looked up again, to be refused as expired
        return entry[0]

    def authenticate(self, secret: str) -> Principal | None:
        """The principal behind a presented token, or None if unknown or revoked.

        Raises :class:`TokenRefused` for a token on the record that is no longer
        honoured for a reason its holder should hear: it expired, or its unit was
        deactivated after it was issued."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
            return None
        return self.authenticate_digest(secret_hash(secret))

    def authenticate_digest(self, digest: str) -> Principal | None:
        """:meth:`authenticate` by the SHA-256 of the secret, as a signed-in session
        keeps it (it never holds the secret itself)."""
        if len(digest) != 64:
            return None
        remembered = self._remembered(digest)
        if remembered is not None:
            return remembered
        generation = self._generation
        token = self._get(access_token_id(digest))
        if not isinstance(token, AccessToken) or token.revoked:
            return None
        # The id is derived from the hash; comparing the hash itself rules out a collision.
        if not secrets.compare_digest(token.token_hash, digest):
            return None
        # A deactivated unit's people no longer act or read for it (issue 19, "tokens").
        unit = self._get(unit_id(token.unit))
        if not isinstance(unit, Unit) or not unit.active:
            return None
        if token.unit_deactivations != unit.deactivations:
            raise TokenRefused(
                f"the token was issued before unit {token.unit} was deactivated; a "
                "reactivated unit's people need new tokens",
                "token-of-a-past-term",
            )
        if token.expired(now()):
            raise TokenRefused("the token has expired", "token-expired", token.expires_at)
        principal = Principal(
            token.token_id, token.user, token.unit, tuple(token.roles), token.expires_at
        )
        if self.cache_seconds > 0:
            with self._lock:
                if generation == self._generation:
                    if len(self._trusted) >= _CACHE_LIMIT:
                        self._trusted.clear()
                    self._trusted[digest] = (principal, self.clock() + self.cache_seconds)
        return principal

    def forget(self) -> None:
        """Trust nothing remembered: every token is looked up again at its next use."""
        with self._lock:
            self._generation += 1
            self._trusted.clear()

    def list(self) -> list[dict[str, Any]]:
        roster = self._get(ROSTER_ID)
        if roster is None:
            return []
        # Tokens listed before expiries existed carry none.
        return [{"expires_at": None, **e} for e in roster.entries.values()]

    def revoke(self, token_id: str, *, by: str = "cli", reason: str = "revoked") -> None:
        work = self.center.unit_of_work

        def decide() -> Decision:
            roster = work.find(TokenRoster, ROSTER_ID)
            if roster is None or token_id not in roster.entries:
                raise NotFound(f"no token {token_id}")
            entry = roster.entries[token_id]
            if entry["revoked"]:
                return Decision(roster, [])  # revoked elsewhere: nothing to write
            token = work.load(AccessToken, UUID(entry["aggregate_id"]), f"token {token_id}")
            token.revoke(by, reason)
            roster.mark_revoked(token_id)
            return Decision(roster, [token, roster])

        work.execute(decide)
        # Revoked here or elsewhere: stop trusting it in this process at once.
        self.forget()

"""Signed-in sessions of the screens: a server-side record behind a cookie (ADR 0053).

The browser holds only a random secret in an ``HttpOnly``, ``SameSite=Strict`` cookie;
the view store holds the SHA-256 of that secret, who signed in (the account or the token
they signed in with, never its secret), the session's CSRF token and its two clocks: an
idle expiry, pushed on by use, and an absolute one, fixed at sign-in. Every process on
the store sees the same sessions, so any worker or server answers a signed-in browser,
and signing out ends the session everywhere at once.

The record names the subject, not the principal: who the subject is (their unit, roles,
whether they may still act at all) is asked again on every request, of the token book or
the account book, so a revoked token or a closed account ends its sessions within the
books' memory (a few seconds), as it does for the API.

A use is written at most once per tenth of the idle time, so a page polled every second
costs one write a few minutes, not one a request.
"""

# The table name is a module constant; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from projections.store import OwnTable, ViewStore

TABLE = "screen_sessions"
CREATE_STATEMENT = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "id TEXT PRIMARY KEY, subject TEXT NOT NULL, csrf TEXT NOT NULL, "
    "created_at DOUBLE PRECISION NOT NULL, seen_at DOUBLE PRECISION NOT NULL, "
    "idle_seconds DOUBLE PRECISION NOT NULL, ends_at DOUBLE PRECISION NOT NULL)"
)
_SELECT = f"SELECT subject, csrf, seen_at, idle_seconds, ends_at FROM {TABLE} WHERE id = ?"
#: The cookie's secret: 32 random bytes, URL-safe; anything else is not looked up.
SECRET_LENGTH = 43


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: idle, and at most, for people and for hall screens."""

    idle_seconds: float = 30 * 60
    absolute_seconds: float = 12 * 3600
    #: A hall screen (the ``screen`` role alone) stays signed in for days.
    screen_idle_seconds: float = 3 * 24 * 3600
    screen_absolute_seconds: float = 30 * 24 * 3600

    def of(self, kiosk: bool) -> tuple[float, float]:
        if kiosk:
            return self.screen_idle_seconds, self.screen_absolute_seconds
        return self.idle_seconds, self.absolute_seconds


@dataclass(frozen=True)
class Session:
    """One signed-in browser: whom it speaks for and its CSRF token."""

    key: str
    subject: str
    csrf: str
    ends_at: float


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


class SessionBook:
    """The sessions on ``store``; ``clock`` is the wall clock in seconds (tests move it)."""

    def __init__(
        self,
        store: ViewStore,
        policy: SessionPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.policy = policy or SessionPolicy()
        self.clock = clock
        self._table = OwnTable(store, CREATE_STATEMENT)

    def create_table(self) -> None:
        self._table.make()

    def open(self, subject: str, *, kiosk: bool) -> tuple[str, Session]:
        """A new session for ``subject``: the cookie's secret and the record."""
        self.create_table()
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        idle, absolute = self.policy.of(kiosk)
        self.prune()
        at = self.clock()
        key = _key(secret)
        with self.store.transaction() as tx:
            tx.insert_rows(
                TABLE,
                ("id", "subject", "csrf", "created_at", "seen_at", "idle_seconds", "ends_at"),
                [(key, subject, csrf, at, at, idle, at + absolute)],
            )
        return secret, Session(key, subject, csrf, at + absolute)

    def find(self, secret: str) -> Session | None:
        """The live session of a cookie's secret; None (and the record gone) once it has
        been idle too long or reached its end."""
        if len(secret) != SECRET_LENGTH:
            return None
        self.create_table()
        key = _key(secret)
        with self.store.read() as tx:
            rows = tx.execute(_SELECT, (key,))
        if not rows:
            return None
        subject, csrf, seen_at, idle, ends_at = rows[0]
        at = self.clock()
        if at >= ends_at or at - seen_at >= idle:
            self._end(key)
            return None
        if at - seen_at >= idle / 10:
            with self.store.transaction() as tx:
                tx.execute(f"UPDATE {TABLE} SET seen_at = ? WHERE id = ?", (at, key))
        return Session(key, str(subject), str(csrf), float(ends_at))

    def end(self, secret: str) -> None:
        """Sign out: the session is gone for every process."""
        if len(secret) == SECRET_LENGTH:
            self.create_table()
            self._end(_key(secret))

    def end_all_of(self, subject: str) -> None:
        """Every session of ``subject`` (a closed account, a revoked token)."""
        self.create_table()
        with self.store.transaction() as tx:
            tx.execute(f"DELETE FROM {TABLE} WHERE subject = ?", (subject,))

    def _end(self, key: str) -> None:
        with self.store.transaction() as tx:
            tx.execute(f"DELETE FROM {TABLE} WHERE id = ?", (key,))

    def prune(self) -> None:
        """Forget the sessions that have ended (done at each sign-in: the table holds
        the sessions alive and those ended since the last sign-in, no more)."""
        self.create_table()
        at = self.clock()
        with self.store.transaction() as tx:
            tx.execute(
                f"DELETE FROM {TABLE} WHERE ends_at <= ? OR seen_at + idle_seconds <= ?",
                (at, at),
            )

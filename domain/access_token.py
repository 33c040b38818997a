"""One bearer token on the record: whose it is, what it may do, whether it was revoked
(ADR 0008). The secret itself is never here: the API hashes it, and the token's id is
derived from that hash, so a presented token is found by one keyed read.

A token may carry an expiry, after which it is refused; and it belongs to one term of
its unit: a token issued before its unit's latest deactivation stays refused after the
unit is reactivated (ADR 0042). Both were added with defaults, so tokens issued before
load as tokens without an expiry, of their unit's first term.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from domain.meta import NAMESPACE


def access_token_id(token_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"access-token:{token_hash}")


class AccessToken(Aggregate):
    """One bearer token: whose it is, what it may do, and whether it was revoked."""

    class Issued(Aggregate.Created):
        token_hash: str
        token_id: str
        user: str
        unit: str
        roles: list[str]
        label: str
        issued_by: str
        #: When it stops being honoured; None: until revoked.
        expires_at: datetime | None = None
        #: How many times its unit had been deactivated when it was issued.
        unit_deactivations: int = 0

    class Revoked(Aggregate.Event):
        by: str
        reason: str

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return access_token_id(token_hash)

    @event(Issued)
    def __init__(
        self,
        token_hash: str,
        token_id: str,
        user: str,
        unit: str,
        roles: list[str],
        label: str,
        issued_by: str,
        expires_at: datetime | None = None,
        unit_deactivations: int = 0,
    ) -> None:
        self.token_hash = token_hash
        self.token_id = token_id
        self.user = user
        self.unit = unit
        self.roles = list(roles)
        self.label = label
        self.issued_by = issued_by
        self.expires_at = expires_at
        self.unit_deactivations = unit_deactivations
        self.revoked = False

    def expired(self, at: datetime) -> bool:
        return self.expires_at is not None and at >= self.expires_at

    @event(Revoked)
    def revoke(self, by: str, reason: str) -> None:
        self.revoked = True


# Tokens issued before the aggregate moved here were stored under its old module's
# topic; they still load (ADR 0033).
register_topic("api.tokens:AccessToken", AccessToken)

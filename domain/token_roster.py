"""The roster of every token ever issued, by its public id, so that tokens can be
listed and revoked (ADR 0008)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from domain.meta import derived_id

ROSTER_ID = derived_id("token-roster", "all")


class TokenRoster(Aggregate):
    """Every token ever issued, by its public id, so that tokens can be listed and revoked."""

    class Started(Aggregate.Created):
        pass

    class Listed(Aggregate.Event):
        token_id: str
        aggregate_id: UUID
        user: str
        unit: str
        roles: list[str]
        label: str
        issued_at: datetime
        #: Added with ADR 0042; a token listed before has none.
        expires_at: datetime | None = None

    class Delisted(Aggregate.Event):
        token_id: str

    @staticmethod
    def create_id() -> UUID:
        return ROSTER_ID

    @event(Started)
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    @event(Listed)
    def list_token(
        self,
        token_id: str,
        aggregate_id: UUID,
        user: str,
        unit: str,
        roles: list[str],
        label: str,
        issued_at: datetime,
        expires_at: datetime | None = None,
    ) -> None:
        self.entries[token_id] = {
            "token_id": token_id,
            "aggregate_id": str(aggregate_id),
            "user": user,
            "unit": unit,
            "roles": list(roles),
            "label": label,
            "issued_at": issued_at.isoformat(),
            "expires_at": expires_at.isoformat() if expires_at is not None else None,
            "revoked": False,
        }

    @event(Delisted)
    def mark_revoked(self, token_id: str) -> None:
        self.entries[token_id]["revoked"] = True


# The roster was stored under its old module's topic before it moved here (ADR 0033).
register_topic("api.tokens:TokenRoster", TokenRoster)

"""The roster of every account ever opened, in the order they were opened, with each
one's unit and whether it is closed: what a list of accounts, scoped to an admin's
subtree and paged, reads in one load (ADR 0052)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id

ACCOUNT_ROSTER_ID = derived_id("account-roster", "all")


class AccountRoster(LoopAggregate):
    """Every account by its username: its unit and whether it was closed."""

    class Started(LoopAggregate.Created):
        pass

    class Listed(LoopAggregate.Event):
        username: str
        unit: str

    class MarkedClosed(LoopAggregate.Event):
        username: str

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return ACCOUNT_ROSTER_ID

    @event(Started)
    def __init__(self, meta: Meta) -> None:
        #: username -> {"unit": code, "closed": bool}, oldest first.
        self.entries: dict[str, dict[str, Any]] = {}

    @event(Listed)
    def list_account(self, username: str, unit: str, meta: Meta) -> None:
        self.entries[username] = {"unit": unit, "closed": False}

    @event(MarkedClosed)
    def mark_closed(self, username: str, meta: Meta) -> None:
        self.entries[username] = {**self.entries[username], "closed": True}

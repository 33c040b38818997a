"""The roster of the silences not yet over (ADR 0085): what the intake consults when a
breach would raise, and the silence watch walks for expiries, in one load; and, in the
order they were set, every silence listed, over or not (ADR 0091)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id

SILENCE_ROSTER_ID = derived_id("silence-roster", "all")


class SilenceRoster(LoopAggregate):
    """Every silence set and not yet over: what it covers and its period."""

    class Started(LoopAggregate.Created):
        pass

    class Listed(LoopAggregate.Event):
        silence_id: UUID
        kind: str
        target: str
        metric: str | None
        scope: str
        starts_at: datetime
        ends_at: datetime

    class Moved(LoopAggregate.Event):
        silence_id: UUID
        ends_at: datetime

    class Dropped(LoopAggregate.Event):
        silence_id: UUID

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return SILENCE_ROSTER_ID

    @event(Started)
    def __init__(self, meta: Meta) -> None:
        #: silence id (text) -> {"kind", "target", "metric", "scope", "starts_at", "ends_at"}
        self.entries: dict[str, dict[str, Any]] = {}
        #: Every silence ever listed, live or over, in the order they were set, with
        #: the unit whose subtree sees it: what the history of silences pages (ADR 0091).
        self.scopes: dict[str, str] = {}

    @event(Listed)
    def list_silence(
        self,
        silence_id: UUID,
        kind: str,
        target: str,
        metric: str | None,
        scope: str,
        starts_at: datetime,
        ends_at: datetime,
        meta: Meta,
    ) -> None:
        self.scopes.setdefault(str(silence_id), scope)
        self.entries[str(silence_id)] = {
            "kind": kind,
            "target": target,
            "metric": metric,
            "scope": scope,
            "starts_at": starts_at,
            "ends_at": ends_at,
        }

    @event(Moved)
    def move(self, silence_id: UUID, ends_at: datetime, meta: Meta) -> None:
        self.entries[str(silence_id)] = {**self.entries[str(silence_id)], "ends_at": ends_at}

    @event(Dropped)
    def drop(self, silence_id: UUID, meta: Meta) -> None:
        self.entries.pop(str(silence_id), None)

"""A deduplication key, pointing at the warning its condition currently belongs to.

Repeats of one condition must fold into the warning already open (as in Alertmanager
and PagerDuty). The event store offers one unique index, the aggregate id, so each key
is an aggregate of its own whose id derives from the key: two monitors raising the same
key at once race on its version and the loser, retrying, finds the warning the winner
opened (ADR 0006).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id


def condition_key(unit: str, rule: str, dedup_key: str) -> str:
    """A deduplication key as it is kept: one rule's condition at one unit. The same words
    sent by another unit's monitor, or under another rule, name another condition."""
    return f"{unit}|{rule}|{dedup_key}"


def warning_key_id(key: str) -> UUID:
    """The aggregate id of a key made by :func:`condition_key`."""
    return derived_id("warning-key", key)


class WarningKey(LoopAggregate):
    """Which warning the condition named by a deduplication key belongs to now."""

    class Claimed(LoopAggregate.Created):
        dedup_key: str
        warning_id: UUID

    class Repointed(LoopAggregate.Event):
        warning_id: UUID
        previous_warning_id: UUID

    @staticmethod
    def create_id(dedup_key: str) -> UUID:
        return warning_key_id(dedup_key)

    @event(Claimed)
    def __init__(self, dedup_key: str, warning_id: UUID, meta: Meta) -> None:
        self.dedup_key = dedup_key
        self.warning_id = warning_id

    def repoint(self, warning_id: UUID, meta: Meta) -> None:
        """The previous warning is no longer open: a new one now holds the key."""
        if warning_id != self.warning_id:
            self._repointed(warning_id=warning_id, previous_warning_id=self.warning_id, meta=meta)

    @event(Repointed)
    def _repointed(self, warning_id: UUID, previous_warning_id: UUID, meta: Meta) -> None:
        self.warning_id = warning_id
        self.previous_warning_ids = [*self.earlier_warnings(), previous_warning_id][-8:]

    def earlier_warnings(self) -> list[UUID]:
        """The warnings that held this key before, most recent last (at most eight).

        A repeat that folded into one of them and is retried after the key moved on
        must be recognised there, not counted again on the new warning.
        """
        # Snapshots taken before this attribute existed do not carry it.
        earlier: list[UUID] = self.__dict__.get("previous_warning_ids", [])
        return earlier

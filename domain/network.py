"""The roster of the command network: which unit codes exist, in the order they joined.

One small aggregate, written in the same transaction as each new unit, so that the
network can be listed without scanning the log, and so that two registrations of the
same code race on one version and one of them loses (ADR 0006).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id

NETWORK_ID = derived_id("network", "roster")


class Network(LoopAggregate):
    """The list of every unit code ever registered (deactivated ones included)."""

    class Started(LoopAggregate.Created):
        pass

    class UnitJoined(LoopAggregate.Event):
        code: str

    @staticmethod
    def create_id() -> UUID:
        return NETWORK_ID

    @event(Started)
    def __init__(self, meta: Meta) -> None:
        self.codes: list[str] = []

    def join(self, code: str, meta: Meta) -> None:
        if code not in self.codes:
            self._joined(code=code, meta=meta)

    @event(UnitJoined)
    def _joined(self, code: str, meta: Meta) -> None:
        self.codes.append(code)

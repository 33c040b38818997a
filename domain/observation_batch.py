"""A monitor's batch of readings, recorded once with what came of each reading, so that
the same batch sent again is answered from the record (idempotency)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from eventsourcing.utils import register_topic

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id


def batch_id(unit: str, batch: str) -> UUID:
    """A batch id is the monitor's own: scoped by its unit, like a command id."""
    return derived_id("observation-batch", f"{unit}:{batch}")


class ObservationBatch(LoopAggregate):
    """A batch of readings, once, with the outcome of each."""

    class Recorded(LoopAggregate.Created):
        unit: str
        batch: str
        readings: int
        results: list[dict[str, Any]]

    @staticmethod
    def create_id(unit: str, batch: str) -> UUID:
        return batch_id(unit, batch)

    @event(Recorded)
    def __init__(
        self, unit: str, batch: str, readings: int, results: list[dict[str, Any]], meta: Meta
    ) -> None:
        self.unit = unit
        self.batch = batch
        self.readings = readings
        self.results = results


# Batches recorded before the class had a module of its own name the old one (ADR 0033).
register_topic("domain.condition:ObservationBatch", ObservationBatch)

"""The roster of the open warnings inhibition is about (ADR 0087): those whose rule is
a source or a target of an ``[[inhibit]]`` entry, what a raise consults and the
inhibition watch walks, in one load."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.meta import Meta, derived_id

INHIBITION_ROSTER_ID = derived_id("inhibition-roster", "all")


class InhibitionRoster(LoopAggregate):
    """Every warning an inhibit rule names, listed when raised and dropped once over."""

    class Started(LoopAggregate.Created):
        pass

    class Listed(LoopAggregate.Event):
        warning_id: UUID
        rule: str
        unit: str
        labels: dict[str, str]

    class Dropped(LoopAggregate.Event):
        warning_id: UUID

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return INHIBITION_ROSTER_ID

    @event(Started)
    def __init__(self, meta: Meta) -> None:
        #: warning id (text) -> {"rule", "unit", "labels"}
        self.entries: dict[str, dict[str, Any]] = {}

    def list_warning(
        self, warning_id: UUID, rule: str, unit: str, labels: dict[str, str], meta: Meta
    ) -> None:
        if str(warning_id) not in self.entries:
            self._listed(warning_id=warning_id, rule=rule, unit=unit, labels=labels, meta=meta)

    @event(Listed)
    def _listed(
        self, warning_id: UUID, rule: str, unit: str, labels: dict[str, str], meta: Meta
    ) -> None:
        self.entries = {
            **self.entries,
            str(warning_id): {"rule": rule, "unit": unit, "labels": dict(labels)},
        }

    def drop(self, warning_id: UUID, meta: Meta) -> None:
        if str(warning_id) in self.entries:
            self._dropped(warning_id=warning_id, meta=meta)

    @event(Dropped)
    def _dropped(self, warning_id: UUID, meta: Meta) -> None:
        self.entries = {k: v for k, v in self.entries.items() if k != str(warning_id)}

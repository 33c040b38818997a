"""A scenario's emergency mode: switched on and off by a dispatcher, both on the record.

In peacetime, deadlines are counted in working time. While a scenario (typhoon, reservoir
flood...) is in emergency mode, the instructions issued for it run on clock time with the
tighter limits its playbook defines. The switch itself is an event with who and why, so
an auditor can tell which rule was in force when any instruction was issued.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition
from domain.limits import MAX_NOTE, check_text
from domain.meta import Meta, derived_id


def scenario_id(name: str) -> UUID:
    return derived_id("scenario", name)


class Scenario(LoopAggregate):
    """One scenario and whether it is in emergency mode."""

    class Started(LoopAggregate.Created):
        name: str

    class EmergencySwitchedOn(LoopAggregate.Event):
        reason: str

    class EmergencySwitchedOff(LoopAggregate.Event):
        reason: str

    @staticmethod
    def create_id(name: str) -> UUID:
        return scenario_id(name)

    @event(Started)
    def __init__(self, name: str, meta: Meta) -> None:
        self.name = name
        self.emergency = False
        self.since: datetime | None = None
        self.switched_by: str | None = None

    def switch_on(self, reason: str, meta: Meta) -> None:
        self._on(reason=self._reason_to_switch(True, reason), meta=meta)

    @event(EmergencySwitchedOn)
    def _on(self, reason: str, meta: Meta) -> None:
        self.emergency = True
        self.since = meta.occurred_at
        self.switched_by = meta.unit

    def switch_off(self, reason: str, meta: Meta) -> None:
        self._off(reason=self._reason_to_switch(False, reason), meta=meta)

    def _reason_to_switch(self, on: bool, reason: str) -> str:
        """The reason, checked, once the switch would change the mode."""
        if self.emergency == on:
            state = "already" if on else "not"
            raise InvalidTransition(f"scenario {self.name} is {state} in emergency mode")
        what = "emergency mode" if on else "ending emergency mode"
        return check_text(reason, f"the reason for {what}", MAX_NOTE, required=True)

    @event(EmergencySwitchedOff)
    def _off(self, reason: str, meta: Meta) -> None:
        self.emergency = False
        self.since = None
        self.switched_by = meta.unit

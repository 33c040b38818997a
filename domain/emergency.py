"""A scenario's emergency mode: switched on and off by a duty officer, both on the record.

In peacetime, deadlines are counted in working time. While a scenario (typhoon, reservoir
flood...) is in emergency mode, the instructions issued for it run on clock time with the
tighter limits its playbook defines. The switch itself is an event with who and why, so
an auditor can tell which rule was in force when any instruction was issued.

Emergency mode is declared for the whole scenario (its owner's subtree) or for one
subtree of it (a district's own, say): the event's ``scope`` names that subtree's unit,
None the whole scenario (as every switch stored before scopes existed was). Who may
declare which is the playbook runner's rule (:mod:`domain.playbook_runner`).
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
        scope: str | None = None

    class EmergencySwitchedOff(LoopAggregate.Event):
        reason: str
        scope: str | None = None

    @staticmethod
    def create_id(name: str) -> UUID:
        return scenario_id(name)

    @event(Started)
    def __init__(self, name: str, meta: Meta) -> None:
        self.name = name
        #: In emergency mode for the whole scenario, since when, switched by which unit.
        self.emergency = False
        self.since: datetime | None = None
        self.switched_by: str | None = None
        #: The subtrees declared in emergency on their own: their unit -> since when.
        self.subtrees: dict[str, datetime] = {}

    def switch_on(self, reason: str, meta: Meta, scope: str | None = None) -> None:
        reason = self._reason_to_switch(True, reason, scope)
        self._on(reason=reason, meta=meta, scope=scope)

    @event(EmergencySwitchedOn)
    def _on(self, reason: str, meta: Meta, scope: str | None = None) -> None:
        if scope is None:
            self.emergency = True
            self.since = meta.occurred_at
            self.switched_by = meta.unit
        else:
            self.subtrees[scope] = meta.occurred_at

    def switch_off(self, reason: str, meta: Meta, scope: str | None = None) -> None:
        reason = self._reason_to_switch(False, reason, scope)
        self._off(reason=reason, meta=meta, scope=scope)

    def _reason_to_switch(self, on: bool, reason: str, scope: str | None) -> str:
        """The reason, checked, once the switch would change the mode."""
        where = f"scenario {self.name}" + (f" in {scope}" if scope else "")
        current = self.emergency if scope is None else scope in self.subtrees
        if current == on:
            state = "already" if on else "not"
            raise InvalidTransition(f"{where} is {state} in emergency mode")
        if on and scope is not None and self.emergency:
            raise InvalidTransition(
                f"scenario {self.name} is already in emergency mode as a whole, {scope} with it"
            )
        what = "emergency mode" if on else "ending emergency mode"
        return check_text(reason, f"the reason for {what}", MAX_NOTE, required=True)

    @event(EmergencySwitchedOff)
    def _off(self, reason: str, meta: Meta, scope: str | None = None) -> None:
        if scope is None:
            self.emergency = False
            self.since = None
            self.switched_by = meta.unit
        else:
            self.subtrees.pop(scope, None)

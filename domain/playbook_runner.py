"""Playbooks run over warnings, and the emergency mode of their scenarios (ADR 0012).

:class:`PlaybookRunner` issues the instructions of every playbook that applies to a
warning, when it is raised or confirmed, through the command center's public commands,
so every rule of the closed loop still holds. Each instruction is issued as the playbook's
dispatching unit in the role ``system``, under a command id derived from the warning, the
playbook, the step and the unit, so running the same playbook twice issues nothing new.
:class:`~domain.intake.Intake` extends it with the readings and CAP messages that raise
the warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.application import CommandCenter, Outcome
from domain.decision import Decision
from domain.emergency import Scenario, scenario_id
from domain.errors import DomainError, NotFound, NotPermitted
from domain.instruction import Priority
from domain.meta import Actor, Context, derived_id, now
from domain.playbooks import Playbook, Step
from domain.unit import Kind
from domain.warning import EarlyWarning, WarningStatus

T = TypeVar("T", bound=Aggregate)

#: The one role that may switch a scenario's emergency mode: the command center's duty
#: leadership, not its dispatchers (emergency mode makes every playbook instruction
#: urgent, on clock time, across the owner's whole subtree).
DECLARES_EMERGENCY = "duty_officer"


class PlaybookRunner:
    """The playbooks over one command center, and their scenarios' emergency mode."""

    def __init__(self, center: CommandCenter, playbooks: Sequence[Playbook] = ()) -> None:
        self.center = center
        self.playbooks = list(playbooks)

    def _find(self, cls: type[T], aggregate_id: UUID) -> T | None:
        return self.center.unit_of_work.find(cls, aggregate_id)

    def _first_of(self, cls: type[T], aggregate_id: UUID, make: Callable[[], T]) -> T | None:
        """Record what ``make`` builds under ``aggregate_id``, through the one command path;
        None when it is recorded, or what was recorded there first (the same batch or
        message handled at the same time elsewhere: the first record stands)."""
        work = self.center.unit_of_work

        def decide() -> Decision:
            first = work.find_repeat(cls, aggregate_id)
            if first is not None:
                return Decision(first, [])
            made = make()
            return Decision(made, [made], created=True)

        if work.execute(decide).recorded:
            return None
        return self._find(cls, aggregate_id)

    # -- playbooks -------------------------------------------------------------------

    def run_playbooks(self, wid: UUID, trigger: str) -> list[dict[str, Any]]:
        """Issue the instructions of every playbook that applies to the warning now."""
        w = self.center.warning(wid)
        if w.status in (WarningStatus.FALSE_ALARM, WarningStatus.CANCELLED, WarningStatus.CLOSED):
            return []
        if w.inhibited_by is not None:
            # Inhibited (ADR 0087): recorded, shown, and no playbook until released.
            return []
        text = " ".join([w.title, w.rule, w.description, *_cap_events(w.attributes)])
        issued: list[dict[str, Any]] = []
        for book in self.playbooks:
            if not book.applies_to(
                trigger=trigger, rule=w.rule, theme=w.theme, level=w.level, text=text
            ):
                continue
            for step in book.steps:
                for unit in self._targets(book, step, w):
                    emergency = self.in_emergency(book.scenario, unit)
                    issued.append(self._issue_step(book, step, w, unit, emergency))
        return issued

    def _targets(self, book: Playbook, step: Step, w: EarlyWarning) -> list[str]:
        units: list[str] = []
        for target in step.to:
            if target == "responsible":
                units.append(w.unit)
            elif target.startswith("unit:"):
                units.append(target.removeprefix("unit:"))
            else:
                level = target.removeprefix("every:")
                units += [
                    u.code
                    for u in self.center.units()
                    if u.active
                    and u.level == level
                    and u.kind == Kind.GOVERNMENT
                    and u.code != book.dispatcher
                    and self.center.is_within(u.code, book.dispatcher)
                ]
        return list(dict.fromkeys(units))

    def _issue_step(
        self, book: Playbook, step: Step, w: EarlyWarning, unit: str, emergency: bool
    ) -> dict[str, Any]:
        key = derived_id("playbook-step", f"{w.id}:{book.code}:{step.code}:{unit}").hex
        start = now()
        ctx = Context(
            Actor(person="closedloop", unit=book.dispatcher, role="system"),
            command_id=f"playbook:{key}",
            # The deadline is counted from this instant, which is also the dispatch time.
            occurred_at=start,
            cause=f"playbook {book.code} step {step.code} for warning {w.id}",
        )
        result: dict[str, Any] = {"playbook": book.code, "step": step.code, "unit": unit}
        if unit == book.dispatcher:
            return {**result, "skipped": "the dispatching unit does not instruct itself"}
        priority = Priority.URGENT if emergency else step.priority
        deadline = self.step_deadline(step, emergency, start)
        try:
            outcome = self.center.issue_instruction(
                ctx,
                lead_unit=unit,
                title=step.title,
                content=step.content or None,
                priority=priority,
                deadline=deadline,
                warning_ids=[w.id],
                emergency=emergency,
            )
        except DomainError as e:
            # One unit that cannot take it (deactivated, out of reach) must not stop the rest.
            return {**result, "skipped": str(e)}
        return {**result, "instruction_id": str(outcome.id), "emergency": emergency}

    def step_deadline(self, step: Step, emergency: bool, start: datetime) -> datetime:
        """Emergency mode: clock time with the tighter limit; otherwise the priority's count."""
        if emergency:
            return start + (step.emergency_due_in or step.due_in).clock()
        return self.center.deadline_for(step.priority, start, step.due_in)

    def follow(self, start: int = 1) -> int:
        """Run playbooks for warnings raised or confirmed by anyone (the API included),
        reading the log from ``start``; answers the next position to read from."""
        position = start
        for n in self.center.iter_log(start):
            position = n.id + 1
            if n.topic.endswith(("EarlyWarning.Raised", "EarlyWarning.Uninhibited")):
                # Released from its inhibitor (ADR 0087): its playbooks run as at a raise.
                trigger = "raise"
            elif n.topic.endswith("EarlyWarning.Assessed"):
                e = self.center.mapper.to_domain_event(n)
                if not getattr(e, "confirmed", False):
                    continue
                trigger = "confirm"
            else:
                continue
            try:
                self.run_playbooks(n.originator_id, trigger)
            except DomainError:
                continue  # a warning gone meanwhile; the next event may still matter
        return position

    # -- emergency mode --------------------------------------------------------------

    @property
    def scenarios(self) -> list[str]:
        return sorted({b.scenario for b in self.playbooks})

    def scenario(self, name: str) -> Scenario | None:
        if name not in self.scenarios:
            raise NotFound(f"no playbook defines scenario {name!r}")
        return self._find(Scenario, scenario_id(name))

    def scenario_owner(self, name: str) -> str:
        """The unit that owns a scenario: the dispatching unit of its playbooks (their
        common ancestor when they name several), under whose name their instructions go
        out to its subtree."""
        dispatchers = list(
            dict.fromkeys(b.dispatcher for b in self.playbooks if b.scenario == name)
        )
        if not dispatchers:
            raise NotFound(f"no playbook defines scenario {name!r}")
        owner = dispatchers[0]
        for other in dispatchers[1:]:
            while not self.center.is_within(other, owner):
                above = self.center.unit(owner).parent
                if above is None:
                    break
                owner = above
        return owner

    def check_may_switch(self, ctx: Context, name: str, scope: str | None = None) -> None:
        """Only a duty officer switches emergency mode (issue 19, "who may act on what" 1):
        for the whole scenario, one of its owner or of a unit above it; for a subtree of
        it (``scope``), one of that subtree's unit or above. Everyone else is refused."""
        owner = self.scenario_owner(name)
        actor = ctx.actor
        if actor.role != DECLARES_EMERGENCY:
            raise NotPermitted(
                f"only a duty officer switches emergency mode for scenario {name}, "
                f"not a {actor.role.replace('_', ' ')}"
            )
        if scope is not None and not self.center.is_within(scope, owner):
            raise NotPermitted(f"scenario {name} belongs to {owner}; {scope} is not in its subtree")
        where = owner if scope is None else scope
        if not self.center.is_within(where, actor.unit):
            raise NotPermitted(
                f"scenario {name} belongs to {owner}; a duty officer of {actor.unit} "
                f"cannot switch its emergency mode for {where}"
            )

    def in_emergency(self, name: str, unit: str | None = None) -> bool:
        """Whether the scenario is in emergency mode as a whole, or (given a unit) in a
        subtree declared on its own that holds the unit."""
        found = self._find(Scenario, scenario_id(name))
        if found is None:
            return False
        if found.emergency:
            return True
        return unit is not None and any(self.center.is_within(unit, s) for s in found.subtrees)

    def switch_emergency(
        self, ctx: Context, name: str, *, on: bool, reason: str, scope: str | None = None
    ) -> Outcome:
        """Switch a scenario's emergency mode on or off, for the whole scenario or (given
        ``scope``, a unit) for that unit's subtree; both are events with who and why."""
        sid = scenario_id(name)
        work = self.center.unit_of_work
        if scope is not None:
            self.center.unit(scope)  # a unit that does not exist answers 404
            if scope == self.scenario_owner(name):
                scope = None  # the owner's subtree is the whole scenario

        def decide() -> Decision:
            # In the decision, so that the units it reads are checked at the write.
            self.check_may_switch(ctx, name, scope)
            scenario = work.find(Scenario, sid)
            if scenario is not None and scenario.has_seen(ctx.command_id):
                return Decision(scenario, [])
            if scenario is None:
                scenario = Scenario(name=name, meta=ctx.meta("StartScenario", sid))
            if on:
                scenario.switch_on(reason, ctx.meta("SwitchEmergencyOn", sid), scope)
            else:
                scenario.switch_off(reason, ctx.meta("SwitchEmergencyOff", sid), scope)
            return Decision(scenario, [scenario])

        self.scenario(name)  # a scenario no playbook defines is refused
        return work.execute(decide)


def _cap_events(attributes: dict[str, Any]) -> list[str]:
    cap = attributes.get("cap")
    if not isinstance(cap, dict):
        return []
    return [
        f"{i.get('event', '')} {i.get('headline', '')}"
        for i in cap.get("infos", [])
        if isinstance(i, dict)
    ]

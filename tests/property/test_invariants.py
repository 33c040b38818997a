"""Invariants of the closed loop under random sequences of commands (hypothesis).

A state machine drives the application on the in-memory store, with the demo district
loaded, through warnings and instructions commanded by random actors: the issuer, the
lead, a cooperating unit, a unit above the issuer, a stranger. Most random commands are
refused; that is the point. After every step the record must still make sense:

- nothing happens to a closed or cancelled instruction any more;
- an instruction is closed only after an accepted verification;
- a parent is never closed while a part forwarded from it is open, and each parent
  knows exactly which of its children are still open;
- a warning closes only once every instruction linked to it is finished, and knows
  exactly which of them are still open;
- an extension never shortens a deadline, and no child is due after its parent;
- a forwarded part stays below the unit that forwarded it, even once redirected;
- every event of a warning carries the warning's own loop, every event of an instruction
  or of a disposition the instruction's loop;
- replaying the stored events rebuilds exactly the state the application works on;
- a command given again with its command id writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.application import CommandCenter, Outcome
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.errors import ConcurrencyConflict, DomainError
from domain.instruction import Instruction, InstructionStatus, Priority
from domain.meta import Actor, Context
from domain.warning import EarlyWarning, WarningStatus

settings.register_profile(
    "closedloop-invariants",
    max_examples=50,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

CALENDAR = load_calendar(DEFAULT_CALENDAR)

# (issuer, lead, a cooperating unit the issuer may also address). The last two go up or
# sideways and are always refused.
DISPATCHES = [
    ("HW", "HW-DH", "HW-WATER"),
    ("HW", "HW-WATER", "HW-ECO"),
    ("HW-DH", "HW-DH-HP", "HW-DH-LY"),
    ("HW-WATER", "E-QSRES", "HW-ECO"),
    ("HW-WATER", "HW-ECO", "HW-TRANS"),
    ("HC", "HW", "HC-EM"),
    ("HW-DH", "HW", "HW-DH-LY"),
    ("HW-DH-HP", "HW-XL-SQ", "HW-DH-LY"),
]
# Units below each unit that may lead; a forward to "HW-ECO" (across, not below) is refused.
BELOW = {
    "HW": ["HW-DH", "HW-WATER", "HW-DH-HP"],
    "HW-DH": ["HW-DH-HP", "HW-DH-LY", "E-DHSCENIC"],
    "HW-DH-HP": ["E-DHSCENIC"],
    "HW-DH-LY": [],
    "HW-WATER": ["E-QSRES"],
}
REDIRECT_TO = ["HW-XL", "HW-NG", "HW-DH-LY", "HW-ECO", "HW-TRANS", "E-QSRES", "HC"]
WARNING_UNITS = ["HW-WATER", "HW-DH", "HW-DH-HP", "E-QSRES"]
STRANGER = "HW-XL-FL"  # a community no dispatch above ever involves
# The units a command concerns come up more often than the others, so that loops get far.
ROLES = ["issuer", "issuer", "lead", "lead", "lead", "cooperating", "above", "stranger"]
# Few loops per run, so that each is driven far rather than many barely started.
MAX_ISSUED = 6
MAX_WARNINGS = 3
MOVES = ["accept"] * 4 + ["reject"] + ["forward"] * 2 + ["extend"] * 2 + ["park", "cancel"]
POKES = [
    "sign for",
    "return",
    "report progress",
    "request an extension",
    "submit",
    "forward",
    "redirect",
    "grant an extension",
    "deny an extension",
    "accept",
    "reject",
    "remind",
    "supervise",
    "park",
    "resume",
    "cancel",
]
WARNING_STEPS = ["acknowledge", "confirm", "false alarm", "escalate", "resolve", "cancel", "close"]


@dataclass(frozen=True)
class Done:
    """A command that was recorded, kept so that it can be given again."""

    command: Callable[[Context], Outcome]
    ctx: Context


def roles() -> st.SearchStrategy[str]:
    return st.sampled_from(ROLES)


class ClosedLoopMachine(RuleBasedStateMachine):
    warnings = Bundle("warnings")
    instructions = Bundle("instructions")

    def __init__(self) -> None:
        super().__init__()
        self.app = CommandCenter(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=CALENDAR
        )
        load_demo(self.app)
        self.warning_ids: set[UUID] = set()
        self.instruction_ids: set[UUID] = set()
        self.finished_at_version: dict[UUID, int] = {}
        self.done: list[Done] = []
        self.counter = 0
        self.issued = 0

    def teardown(self) -> None:
        self.app.close()

    # -- helpers -----------------------------------------------------------------------

    def ctx(self, unit: str) -> Context:
        self.counter += 1
        return Context(Actor(f"person-{unit.lower()}", unit, "duty"), command_id=f"c{self.counter}")

    def unit_for(self, iid: UUID, role: str) -> str:
        i = self.app.instruction(iid)
        if role == "issuer":
            return i.issuer
        if role == "lead":
            return i.lead
        if role == "cooperating":
            return i.cooperating[0] if i.cooperating else i.lead
        if role == "above":
            above = self.app.ancestors(i.issuer)
            return above[0] if above else STRANGER
        return STRANGER

    def attempt(self, unit: str, command: Callable[[Context], Outcome]) -> Outcome | None:
        ctx = self.ctx(unit)
        try:
            outcome = command(ctx)
        except ConcurrencyConflict:
            # One writer, no expected version: a conflict can only be a bug.
            raise
        except DomainError:
            return None
        if outcome.recorded:
            self.done.append(Done(command, ctx))
        return outcome

    def on(self, iid: UUID, role: str, command: Callable[[Context], Outcome]) -> None:
        self.attempt(self.unit_for(iid, role), command)

    # -- warnings ----------------------------------------------------------------------

    @precondition(lambda self: len(self.warning_ids) < MAX_WARNINGS)
    @rule(
        target=warnings,
        key=st.sampled_from(["reservoir:qingshan", "rain:donghu", "coach:hw-1"]),
        level=st.integers(1, 4),
        unit=st.sampled_from(WARNING_UNITS),
    )
    def raise_warning(self, key: str, level: int, unit: str) -> Any:
        def command(c: Context) -> Outcome:
            return self.app.raise_warning(
                c,
                source="monitor",
                rule="RULE-1",
                theme="reservoir",
                level=level,
                title=f"condition {key}",
                unit=unit,
                dedup_key=key,
            )

        ctx = self.ctx("HW-EM")
        outcome = command(ctx)
        self.done.append(Done(command, ctx))
        self.warning_ids.add(outcome.id)
        return outcome.id

    @rule(wid=warnings, step=st.sampled_from(WARNING_STEPS))
    def work_warning(self, wid: UUID, step: str) -> None:
        app = self.app
        commands: dict[str, Callable[[Context], Outcome]] = {
            "acknowledge": lambda c: app.acknowledge_warning(c, wid),
            "confirm": lambda c: app.assess_warning(c, wid, confirmed=True),
            "false alarm": lambda c: app.assess_warning(c, wid, confirmed=False, note="fault"),
            "escalate": lambda c: app.change_warning_level(c, wid, 1, "worse upstream"),
            "resolve": lambda c: app.resolve_warning(c, wid, "cleared"),
            "cancel": lambda c: app.cancel_warning(c, wid, "withdrawn"),
            "close": lambda c: app.close_warning(c, wid),
        }
        self.attempt("HW", commands[step])

    @rule(wid=warnings, steps=st.lists(st.booleans(), min_size=1, max_size=4))
    def advance_warning(self, wid: UUID, steps: list[bool]) -> None:
        """The next steps of the warning's loop: confirmed (or a false alarm) and closed."""
        app = self.app
        for confirmed in steps:
            status = app.warning(wid).status
            commands: dict[str, Callable[[Context], Outcome]] = {
                WarningStatus.RAISED: lambda c: app.acknowledge_warning(c, wid),
                WarningStatus.ACKNOWLEDGED: lambda c, confirmed=confirmed: app.assess_warning(
                    c, wid, confirmed=confirmed, note="checked"
                ),
                WarningStatus.CONFIRMED: lambda c: app.resolve_warning(c, wid),
                WarningStatus.RESOLVED: lambda c: app.close_warning(c, wid),
                WarningStatus.FALSE_ALARM: lambda c: app.close_warning(c, wid),
                WarningStatus.CANCELLED: lambda c: app.close_warning(c, wid),
            }
            if status not in commands:
                return
            self.attempt("HW", commands[status])

    @rule(wid=warnings, iid=instructions, role=roles())
    def link(self, wid: UUID, iid: UUID, role: str) -> None:
        self.on(iid, role, lambda c: self.app.link_instruction(c, wid, iid))

    # -- issuing and forwarding --------------------------------------------------------

    def _issue(
        self,
        dispatch: tuple[str, str, str],
        jointly: bool,
        priority: str,
        hours: int,
        warning_ids: list[UUID],
    ) -> Any:
        issuer, lead, cooperating = dispatch
        outcome = self.attempt(
            issuer,
            lambda c: self.app.issue_instruction(
                c,
                lead_unit=lead,
                title="inspect",
                priority=priority,
                due_in=WorkingDuration(seconds=3600 * hours),
                cooperating_units=[cooperating] if jointly else None,
                warning_ids=warning_ids,
            ),
        )
        self.issued += 1
        if outcome is None:
            return multiple()
        self.instruction_ids.add(outcome.id)
        return outcome.id

    @precondition(lambda self: self.issued < MAX_ISSUED)
    @rule(
        target=instructions,
        dispatch=st.sampled_from(DISPATCHES),
        jointly=st.booleans(),
        priority=st.sampled_from(list(Priority)),
        hours=st.integers(1, 40),
    )
    def issue(
        self, dispatch: tuple[str, str, str], jointly: bool, priority: str, hours: int
    ) -> Any:
        return self._issue(dispatch, jointly, priority, hours, [])

    @precondition(lambda self: self.issued < MAX_ISSUED)
    @rule(
        target=instructions,
        wid=warnings,
        dispatch=st.sampled_from(DISPATCHES),
        jointly=st.booleans(),
        hours=st.integers(1, 40),
    )
    def issue_for_warning(
        self, wid: UUID, dispatch: tuple[str, str, str], jointly: bool, hours: int
    ) -> Any:
        return self._issue(dispatch, jointly, Priority.URGENT, hours, [wid])

    @rule(target=instructions, iid=instructions, role=roles(), pick=st.integers(0, 3))
    def forward(self, iid: UUID, role: str, pick: int) -> Any:
        unit = self.unit_for(iid, role)
        targets = [*BELOW.get(unit, []), "HW-ECO"]
        to = targets[pick % len(targets)]
        outcome = self.attempt(unit, lambda c: self.app.forward(c, iid, to_unit=to))
        if outcome is None:
            return multiple()
        self.instruction_ids.add(outcome.id)
        return outcome.id

    # -- the assignees -----------------------------------------------------------------

    @rule(iid=instructions, role=roles())
    def sign_for(self, iid: UUID, role: str) -> None:
        self.on(iid, role, lambda c: self.app.sign_for(c, iid))

    @rule(iid=instructions, role=roles())
    def return_to_issuer(self, iid: UUID, role: str) -> None:
        self.on(iid, role, lambda c: self.app.return_to_issuer(c, iid, "not ours"))

    @rule(iid=instructions, role=roles())
    def report_progress(self, iid: UUID, role: str) -> None:
        self.on(iid, role, lambda c: self.app.report_progress(c, iid, "halfway"))

    @rule(iid=instructions, role=roles(), days=st.integers(-1, 5))
    def request_extension(self, iid: UUID, role: str, days: int) -> None:
        wanted = self.app.instruction(iid).deadline + timedelta(days=days, hours=1)
        self.on(
            iid,
            role,
            lambda c: self.app.request_extension(c, iid, deadline=wanted, reason="flooded"),
        )

    @rule(iid=instructions, role=roles())
    def submit(self, iid: UUID, role: str) -> None:
        self.on(iid, role, lambda c: self.app.submit(c, iid, "done"))

    # -- the issuer and the units above it ---------------------------------------------

    @rule(iid=instructions, role=roles(), to=st.sampled_from(REDIRECT_TO))
    def redirect(self, iid: UUID, role: str, to: str) -> None:
        self.on(iid, role, lambda c: self.app.redirect(c, iid, to_unit=to))

    @rule(iid=instructions, role=roles(), granted=st.booleans())
    def decide_extension(self, iid: UUID, role: str, granted: bool) -> None:
        self.on(iid, role, lambda c: self.app.decide_extension(c, iid, granted=granted, note="no"))

    @rule(iid=instructions, role=roles(), accepted=st.booleans())
    def verify(self, iid: UUID, role: str, accepted: bool) -> None:
        self.on(iid, role, lambda c: self.app.verify(c, iid, accepted=accepted, note="redo"))

    @rule(
        iid=instructions,
        role=roles(),
        side=st.sampled_from(["remind", "supervise", "park", "resume", "cancel"]),
    )
    def side_path(self, iid: UUID, role: str, side: str) -> None:
        app = self.app
        commands: dict[str, Callable[[Context], Outcome]] = {
            "remind": lambda c: app.remind(c, iid),
            "supervise": lambda c: app.supervise(c, iid),
            "park": lambda c: app.park(c, iid, "backlog"),
            "resume": lambda c: app.resume(c, iid),
            "cancel": lambda c: app.cancel_instruction(c, iid, "not needed"),
        }
        self.on(iid, role, commands[side])

    @rule(
        target=instructions,
        iid=instructions,
        moves=st.lists(st.sampled_from(MOVES), min_size=1, max_size=5),
        to=st.sampled_from(REDIRECT_TO),
    )
    def advance(self, iid: UUID, moves: list[str], to: str) -> Any:
        """The next steps of the loop, each by the unit whose turn it is.

        ``accept`` and ``reject`` are the issuer's verdict when it is its turn, and mean
        "go on" at any other step. The side moves are tried by the unit they belong to:
        ``forward`` by the lead, to the first unit below it; ``extend`` by the lead (a
        request) or the issuer (a grant); ``park`` and ``cancel`` by the issuer.
        """
        app = self.app
        children: list[UUID] = []
        for move in moves:
            i = app.instruction(iid)
            below = BELOW.get(i.lead, [])
            steps: dict[str, tuple[str, Callable[[Context], Outcome]]] = {
                InstructionStatus.DISPATCHED: (i.lead, lambda c: app.sign_for(c, iid)),
                InstructionStatus.RETURNED: (
                    i.issuer,
                    lambda c: app.redirect(c, iid, to_unit=to),
                ),
                InstructionStatus.IN_PROGRESS: (i.lead, lambda c: app.submit(c, iid, "done")),
                InstructionStatus.REWORK: (i.lead, lambda c: app.submit(c, iid, "redone")),
                InstructionStatus.SUBMITTED: (
                    i.issuer,
                    lambda c, ok=move != "reject": app.verify(c, iid, accepted=ok, note="redo"),
                ),
                InstructionStatus.PARKED: (i.issuer, lambda c: app.resume(c, iid)),
            }
            if move == "extend":
                if i.pending_extension is None:
                    wanted = i.deadline + timedelta(days=1)
                    self.attempt(
                        i.lead,
                        lambda c, d=wanted: app.request_extension(
                            c, iid, deadline=d, reason="flooded"
                        ),
                    )
                else:
                    self.attempt(i.issuer, lambda c: app.decide_extension(c, iid, granted=True))
                continue
            if move == "park":
                self.attempt(i.issuer, lambda c: app.park(c, iid, "backlog"))
                continue
            if move == "cancel":
                self.attempt(i.issuer, lambda c: app.cancel_instruction(c, iid, "not needed"))
                break
            if move == "forward" and i.status == InstructionStatus.IN_PROGRESS and below:
                outcome = self.attempt(
                    i.lead, lambda c, to=below[0]: app.forward(c, iid, to_unit=to)
                )
                if outcome is not None:
                    self.instruction_ids.add(outcome.id)
                    children.append(outcome.id)
                continue
            if i.status not in steps:
                break
            unit, command = steps[i.status]
            self.attempt(unit, command)
        return multiple(*children)

    @rule(
        iid=instructions,
        command=st.sampled_from(POKES),
        by_superior=st.booleans(),
        to=st.sampled_from(REDIRECT_TO),
    )
    def poke(self, iid: UUID, command: str, by_superior: bool, to: str) -> None:
        """Any command, given by the unit it belongs to (so only the state can refuse it)."""
        app = self.app
        i = app.instruction(iid)
        boss = i.issuer
        if by_superior and app.ancestors(i.issuer):
            boss = app.ancestors(i.issuer)[0]
        later = i.deadline + timedelta(days=1)
        by_lead: dict[str, Callable[[Context], Outcome]] = {
            "sign for": lambda c: app.sign_for(c, iid),
            "return": lambda c: app.return_to_issuer(c, iid, "not ours"),
            "report progress": lambda c: app.report_progress(c, iid, "halfway"),
            "request an extension": lambda c: app.request_extension(
                c, iid, deadline=later, reason="flooded"
            ),
            "submit": lambda c: app.submit(c, iid, "done"),
            "forward": lambda c: app.forward(c, iid, to_unit=[*BELOW.get(i.lead, []), "HW-ECO"][0]),
        }
        by_issuer: dict[str, Callable[[Context], Outcome]] = {
            "redirect": lambda c: app.redirect(c, iid, to_unit=to),
            "grant an extension": lambda c: app.decide_extension(c, iid, granted=True),
            "deny an extension": lambda c: app.decide_extension(c, iid, granted=False, note="no"),
            "accept": lambda c: app.verify(c, iid, accepted=True),
            "reject": lambda c: app.verify(c, iid, accepted=False, note="redo"),
        }
        by_boss: dict[str, Callable[[Context], Outcome]] = {
            "remind": lambda c: app.remind(c, iid),
            "supervise": lambda c: app.supervise(c, iid),
            "park": lambda c: app.park(c, iid, "backlog"),
            "resume": lambda c: app.resume(c, iid),
            "cancel": lambda c: app.cancel_instruction(c, iid, "not needed"),
        }
        if command in by_lead:
            outcome = self.attempt(i.lead, by_lead[command])
            if command == "forward" and outcome is not None:
                self.instruction_ids.add(outcome.id)
        elif command in by_issuer:
            self.attempt(i.issuer, by_issuer[command])
        else:
            self.attempt(boss, by_boss[command])

    # -- retries -----------------------------------------------------------------------

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        done = data.draw(st.sampled_from(self.done))
        before = self.app.head_position()
        outcome = done.command(done.ctx)
        assert outcome.position is None
        assert self.app.head_position() == before

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def finished_instructions_never_change(self) -> None:
        for iid in self.instruction_ids:
            i = self.app.instruction(iid)
            if iid in self.finished_at_version:
                assert i.version == self.finished_at_version[iid], "a finished instruction moved"
            elif i.is_finished:
                self.finished_at_version[iid] = i.version

    @invariant()
    def closed_only_after_an_accepted_verification(self) -> None:
        for iid in self.instruction_ids:
            if self.app.instruction(iid).status == InstructionStatus.CLOSED:
                assert any(
                    isinstance(e, Instruction.Verified) and e.accepted
                    for e in self.app.history(iid)
                )

    @invariant()
    def parents_know_their_open_children(self) -> None:
        for iid in self.instruction_ids:
            parent = self.app.instruction(iid)
            open_children = {c for c in parent.children if not self.app.instruction(c).is_finished}
            assert set(parent.open_children) == open_children
            if parent.status == InstructionStatus.CLOSED:
                assert not open_children, "a parent closed while a child is open"
            for c in parent.children:
                child = self.app.instruction(c)
                assert child.original_deadline <= parent.deadline
                assert child.issuer in self.app.ancestors(child.lead), "a part went up or across"

    @invariant()
    def warnings_close_only_after_their_instructions(self) -> None:
        for wid in self.warning_ids:
            w = self.app.warning(wid)
            assert w.loop_id == wid
            unfinished = {i for i in w.instructions if not self.app.instruction(i).is_finished}
            assert set(w.open_instructions) == unfinished
            if w.status == WarningStatus.CLOSED:
                assert not unfinished, "a warning closed with an instruction still open"

    @invariant()
    def deadlines_never_move_earlier(self) -> None:
        for iid in self.instruction_ids:
            deadlines = [
                e.deadline
                for e in self.app.history(iid)
                if isinstance(e, Instruction.Issued | Instruction.ExtensionDecided)
            ]
            assert deadlines == sorted(deadlines)

    @invariant()
    def every_event_carries_the_loop_of_its_aggregate(self) -> None:
        for wid in self.warning_ids:
            assert {e.meta.loop_id for e in self.app.history(wid)} == {wid}
        for iid in self.instruction_ids:
            i = self.app.instruction(iid)
            assert {e.meta.loop_id for e in self.app.history(iid)} == {i.loop_id}
            for did in i.dispositions.values():
                assert {e.meta.loop_id for e in self.app.history(did)} == {i.loop_id}

    @invariant()
    def replaying_the_events_rebuilds_the_same_state(self) -> None:
        for aggregate_id in self.instruction_ids | self.warning_ids:
            current = self.app.repository.get(aggregate_id)
            assert isinstance(current, Instruction | EarlyWarning)
            rebuilt = project_aggregate(None, self.app.history(aggregate_id))
            assert rebuilt is not None
            assert rebuilt.__dict__ == current.__dict__
            uncached = self.app.repository.get(aggregate_id, version=current.version)
            assert uncached.__dict__ == current.__dict__


ClosedLoopMachine.TestCase.settings = settings.get_profile("closedloop-invariants")
TestClosedLoopInvariants = ClosedLoopMachine.TestCase

"""A living demo: a simulated storm day over the demo district, on a compressed clock.

:class:`Simulator` plays a :class:`~closedloop.storm_script.Script` beat by beat through
the commands people give: readings and CAP messages through the
:class:`~domain.intake.Intake` (whose rules raise, escalate and resolve warnings, and
whose playbooks issue instructions, as they do for any sender), and the dispatchers',
handlers' and duty officers' steps through the :class:`~domain.application.CommandCenter`.
Nothing is written behind the domain's back, so every rule of the closed loop holds and
a beat a person already took on the board (signing for an instruction first, say) is
simply found done or refused, and said so.

Every command it gives carries a simulator's actor (:func:`simulator_actor`: the person
``模拟·<role>@<unit>``), a command id under ``sim:`` and the script and beat as its
cause, so an auditor tells its events apart; what rules and playbooks do in answer is
the system's, with the simulator's batch or message as the cause (ADR 0050).

Time: the store records real time. The script's moments and deadlines are simulated
time, played at ``speed`` (60: a simulated hour per real minute), so an instruction due
in twenty simulated minutes is due twenty real seconds after it is issued and goes
overdue on the board while one watches.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from api.cap_xml import CapRejected, cap_time, parse_cap
from closedloop.storm_script import (
    Acknowledge,
    Beat,
    BeatAct,
    Cap,
    CloseWarning,
    Confirm,
    Issue,
    Observe,
    Progress,
    Redirect,
    Return,
    Script,
    ScriptError,
    Sign,
    Submit,
    Verify,
    clock_duration,
)
from domain.application import CommandCenter
from domain.cap_sender_commands import CapSenderCases
from domain.errors import DomainError, NotFound
from domain.instruction import Instruction, InstructionStatus
from domain.intake import Intake
from domain.meta import Actor, Context, now
from domain.rules import Reading

#: What begins the person of every simulator actor: 模拟 is "simulated".
SIMULATOR_MARK = "模拟·"
#: What begins the id of every command the simulator gives.
COMMAND_PREFIX = "sim:"
#: Beyond this a simulated day of hours would pass in milliseconds: nothing to watch.
MAX_SPEED = 100_000.0

_WORKING = (InstructionStatus.IN_PROGRESS, InstructionStatus.REWORK)


def simulator_actor(role: str, unit: str) -> Actor:
    """The simulator acting as ``role`` of ``unit``: a person no one else is named."""
    return Actor(person=f"{SIMULATOR_MARK}{role}@{unit}", unit=unit, role=role)


def is_simulator(person: str) -> bool:
    return person.startswith(SIMULATOR_MARK)


@dataclass
class _Day:
    """One playing of the script: its tag, and what its beats produced, by script key."""

    tag: str
    warnings: dict[str, UUID] = field(default_factory=dict)
    instructions: dict[str, UUID] = field(default_factory=dict)
    #: A CAP message's key as another message's ``<references>`` names it.
    messages: dict[str, str] = field(default_factory=dict)
    tally: Counter[str] = field(default_factory=Counter)


class Simulator:
    """Plays a script over a command center, once or day after day, until stopped."""

    def __init__(
        self,
        center: CommandCenter,
        intake: Intake,
        script: Script,
        *,
        speed: float = 60.0,
        seed: int | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], object] = print,
    ) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ScriptError(f"the speed is more than 0 and at most {MAX_SPEED:g}, not {speed}")
        self.center = center
        self.intake = intake
        self.script = script
        self.speed = speed
        # The seed moves readings by their jitter; nothing here is a secret.
        self.rng = random.Random(seed)  # noqa: S311
        self.stop = stop or threading.Event()
        # Waiting on the stop event: a signal that sets it ends the wait at once.
        self.sleep = sleep or self.stop.wait
        self.clock = clock
        self.say = say
        self.zone = ZoneInfo(center.calendar.zone)

    # -- the days --------------------------------------------------------------------

    def check_district(self) -> None:
        """Every unit and CAP sender the script names is on the record (``demo load``), and
        every reading lies within its monitor's subtree."""
        for code in sorted(_units_named(self.script)):
            try:
                self.center.unit(code)
            except NotFound:
                raise NotFound(
                    f"unit {code} of the simulation script is not on the record; "
                    "run `closedloop demo load` first"
                ) from None
        for beat in self.script.beats:
            act = beat.act
            # As the API holds a monitor to its subtree, the script's monitors are held to theirs.
            if isinstance(act, Observe) and not self.center.is_within(act.unit, act.monitor):
                raise ScriptError(
                    f"beat {beat.number}: a monitor of {act.monitor} reports only for units "
                    f"under it, not for {act.unit}"
                )
        bound = {b["sender"] for b in CapSenderCases(self.center).bindings()}
        for sender in sorted({b.act.sender for b in self.script.beats if isinstance(b.act, Cap)}):
            if sender not in bound:
                raise NotFound(
                    f"CAP sender {sender} of the simulation script is not bound; "
                    "run `closedloop demo load` first"
                )

    def run(self, *, once: bool = False) -> int:
        """Play the day, again and again (once with ``once``) until stopped; answer how
        many days were begun."""
        days = 0
        while not self.stop.is_set():
            days += 1
            self.play_day()
            if once:
                break
        return days

    def play_day(self) -> Counter[str]:
        """Play every beat at its moment; a stop ends the day between two beats, never
        within a command. Answers how many beats of each kind were played."""
        day = _Day(tag=f"{now():%Y%m%dT%H%M%S}-{secrets.token_hex(2)}")
        started = self.clock()
        beats = len(self.script.beats)
        self.say(f"{self.script.title} {day.tag}: {beats} beats at {self.speed:g}x")
        for beat in self.script.beats:
            if not self._wait_until(started, beat.at):
                self.say(f"{self.script.title} {day.tag}: stopped before beat {beat.number}")
                return day.tally
            self._play(day, beat)
        self._wait_until(started, self.script.length)
        self.say(f"{self.script.title} {day.tag}: over ({_summary(day.tally)})")
        return day.tally

    def _wait_until(self, started: float, at: timedelta) -> bool:
        """Wait for a moment of simulated time; False once stopped."""
        delay = started + at.total_seconds() / self.speed - self.clock()
        if delay > 0 and not self.stop.is_set():
            self.sleep(delay)
        return not self.stop.is_set()

    def _play(self, day: _Day, beat: Beat) -> None:
        moment = _clock_text(beat.at)
        try:
            what = self._act(day, beat)
            day.tally[beat.kind] += 1
        except DomainError as e:
            # A person acted first, or the record moved on: the day goes on without it.
            what = f"refused: {e}"
            day.tally["refused"] += 1
        self.say(f"  [{moment}] {beat.kind}: {what}")

    def _act(self, day: _Day, beat: Beat) -> str:
        act = beat.act
        if isinstance(act, Observe):
            return self._observe(day, beat, act)
        if isinstance(act, Cap):
            return self._cap(day, beat, act)
        if isinstance(act, Issue):
            return self._issue(day, beat, act)
        if isinstance(act, Acknowledge | Confirm | CloseWarning):
            return self._on_warning(day, beat, act)
        return self._on_instructions(day, beat, act)

    def _context(self, day: _Day, beat: Beat, role: str, unit: str, part: str = "") -> Context:
        return Context(
            simulator_actor(role, unit),
            command_id=f"{COMMAND_PREFIX}{day.tag}:{beat.number}{part}",
            cause=f"simulation {self.script.code} {day.tag}, beat {beat.number} ({beat.kind})",
        )

    # -- the monitors ----------------------------------------------------------------

    def _observe(self, day: _Day, beat: Beat, act: Observe) -> str:
        value = act.value + (self.rng.uniform(-act.jitter, act.jitter) if act.jitter else 0.0)
        reading = Reading(
            source=act.source,
            subject=act.subject,
            metric=act.metric,
            value=round(value, 2),
            unit_of_measure=act.unit_of_measure,
            location=act.location,
            unit=act.unit,
            observed_at=now(),
            attributes={"simulation": self.script.code},
        )
        ctx = self._context(day, beat, "monitor", act.monitor)
        result = self.intake.observe(ctx, f"sim-{day.tag}-{beat.number}", [reading])
        outcome = result.results[0] if result.results else {}
        wid = outcome.get("warning_id")
        if act.warning is not None and wid is not None:
            day.warnings[act.warning] = UUID(wid)
        return f"{act.subject} {act.metric} = {reading.value:g}: {outcome.get('action')}"

    def _cap(self, day: _Day, beat: Beat, act: Cap) -> str:
        sent = cap_time(now().astimezone(self.zone))
        identifier = f"SIM-{day.tag}-{act.message}"
        references = " ".join(day.messages[k] for k in act.references if k in day.messages)
        try:
            alert = parse_cap(_cap_xml(act, identifier, sent, references))
        except CapRejected as e:
            raise ScriptError(f"beat {beat.number} makes a CAP message refused: {e}") from None
        ctx = self._context(day, beat, "monitor", act.monitor)
        result = self.intake.receive_cap(ctx, alert)
        day.messages[act.message] = alert.key
        if act.warning is not None and result.warning_ids:
            day.warnings[act.warning] = result.warning_ids[0]
        return f"CAP {act.type} {act.message}: {result.outcome}"

    # -- the dispatchers, handlers and duty officers -------------------------------------

    def _issue(self, day: _Day, beat: Beat, act: Issue) -> str:
        warnings = [self._warning(day, act.warning)] if act.warning is not None else []
        due = clock_duration(act.due_in, "due_in") / self.speed
        # Never due at the instant it is issued, however fast the day is played.
        deadline = now() + max(due, timedelta(seconds=1))
        outcome = self.center.issue_instruction(
            self._context(day, beat, "dispatcher", act.by),
            lead_unit=act.to,
            title=act.title,
            content=act.content or None,
            priority=act.priority,
            deadline=deadline,
            warning_ids=warnings,
        )
        day.instructions[act.instruction] = outcome.id
        return f"{act.by} → {act.to}: {act.title} (due {act.due_in} simulated)"

    def _on_warning(self, day: _Day, beat: Beat, act: Acknowledge | Confirm | CloseWarning) -> str:
        wid = self._warning(day, act.warning)
        ctx = self._context(day, beat, "duty_officer", act.by)
        note = act.note or None
        if isinstance(act, Acknowledge):
            self.center.acknowledge_warning(ctx, wid)
        elif isinstance(act, Confirm):
            self.center.assess_warning(ctx, wid, confirmed=True, note=note)
        else:
            self.center.close_warning(ctx, wid, note)
        return f"warning {act.warning} ({self.center.warning(wid).status})"

    def _on_instructions(self, day: _Day, beat: Beat, act: BeatAct) -> str:
        assert isinstance(act, Sign | Progress | Submit | Return | Redirect | Verify)
        if act.instruction is not None:
            ids = [self._instruction(day, act.instruction)]
        else:
            ids = self.center.warning(self._warning(day, act.warning or "")).instructions
        done: list[str] = []
        for i in self._ready(ids, act):
            step = _step_of(self.center, act, i)
            role = "dispatcher" if isinstance(act, Redirect | Verify) else "handler"
            unit = i.issuer if role == "dispatcher" else i.lead
            what = f"{unit} on {i.title.split(' ')[0]}"
            try:
                step(self._context(day, beat, role, unit, f":{i.id.hex[:12]}"))
            except DomainError as e:
                # One instruction a person moved on meanwhile; the others still get the step.
                done.append(f"{what}, refused: {e}")
                continue
            rework = isinstance(act, Verify) and not act.accepted
            done.append(what + (", sent back" if rework else ""))
        return "; ".join(done) if done else "nothing in a state for it"

    def _ready(self, ids: Iterable[UUID], act: BeatAct) -> list[Instruction]:
        """The instructions in a state for the act (and led by its ``lead`` if it names one)."""
        wanted = {
            Sign: (InstructionStatus.DISPATCHED,),
            Return: (InstructionStatus.DISPATCHED,),
            Redirect: (InstructionStatus.RETURNED,),
            Verify: (InstructionStatus.SUBMITTED,),
        }.get(type(act), _WORKING)
        lead = getattr(act, "lead", None)
        found = [self.center.instruction(iid) for iid in dict.fromkeys(ids)]
        return [i for i in found if i.status in wanted and lead in (None, i.lead)]

    def _warning(self, day: _Day, key: str) -> UUID:
        if key not in day.warnings:
            raise NotFound(f"warning {key!r} was not raised today")
        return day.warnings[key]

    def _instruction(self, day: _Day, key: str) -> UUID:
        if key not in day.instructions:
            raise NotFound(f"instruction {key!r} was not issued today")
        return day.instructions[key]


def _step_of(center: CommandCenter, act: BeatAct, i: Instruction) -> Callable[[Context], object]:
    """The command an act on one instruction gives, waiting for its context."""
    if isinstance(act, Sign):
        return lambda ctx: center.sign_for(ctx, i.id)
    if isinstance(act, Progress):
        return lambda ctx: center.report_progress(ctx, i.id, act.note)
    if isinstance(act, Submit):
        return lambda ctx: center.submit(ctx, i.id, act.result)
    if isinstance(act, Return):
        return lambda ctx: center.return_to_issuer(ctx, i.id, act.reason)
    if isinstance(act, Redirect):
        return lambda ctx: center.redirect(ctx, i.id, to_unit=act.to)
    assert isinstance(act, Verify)
    return lambda ctx: center.verify(ctx, i.id, accepted=act.accepted, note=act.note or None)


def _cap_xml(act: Cap, identifier: str, sent: str, references: str) -> bytes:
    """One CAP 1.2 alert of the script's words, every text escaped."""

    def e(text: str) -> str:
        return escape(text)

    refs = f"<references>{e(references)}</references>" if references else ""
    colour = (
        f"<parameter><valueName>预警颜色</valueName><value>{e(act.colour)}</value></parameter>"
        if act.colour
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{e(identifier)}</identifier><sender>{e(act.sender)}</sender><sent>{sent}</sent>
  <status>Actual</status><msgType>{e(act.type)}</msgType><scope>Public</scope>{refs}
  <info><language>zh-CN</language><category>Met</category><event>{e(act.event)}</event>
    <urgency>{e(act.urgency)}</urgency><severity>{e(act.severity)}</severity>
    <certainty>Likely</certainty><headline>{e(act.headline)}</headline>
    <description>{e(act.description or act.headline)}</description>{colour}
    <area><areaDesc>{e(act.area)}</areaDesc></area></info>
</alert>""".encode()


def _units_named(script: Script) -> set[str]:
    units: set[str] = set()
    for beat in script.beats:
        act = beat.act
        for name in ("unit", "monitor", "by", "to", "lead"):
            value = getattr(act, name, None)
            if isinstance(value, str):
                units.add(value)
    return units


def _clock_text(at: timedelta) -> str:
    minutes = int(at.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _summary(tally: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(tally.items())) or "nothing played"

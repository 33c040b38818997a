"""The script of a simulated day, read from its TOML file and checked (ADR 0050).

A script is data: a title, the day's simulated length, and its *beats*, each an act at a
moment of simulated time (``at = "PT1H20M"`` after the day starts). Each beat's ``act``
names what happens: a reading reaches the intake, a CAP message arrives, a dispatcher
issues an instruction, a unit signs for, reports, submits or returns it, a dispatcher
redirects or verifies it, the duty officer acknowledges, confirms or closes a warning.
Later beats name what earlier ones produced by the script's own keys (``warning =
"reservoir"``, ``instruction = "scenic"``, ``message = "rain-1"``), so the file reads as
a story and every reference is checked when it is loaded: a key used before a beat
gives it is refused with the beat's number, as is an unknown setting or a moment past
the day's end. Nothing is hard-coded in Python but the kinds of act.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

from closedloop.catalogues import decode, read_toml
from domain.calendar import CalendarError, WorkingDuration
from domain.errors import InvalidValue

#: The storm day that ships beside this module, and that ``make run`` plays.
STORM_DAY = Path(__file__).parent / "storm_day.toml"

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]


class ScriptError(InvalidValue):
    """The script cannot be played; the message names the file, the beat and the reason."""


class _Beat(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="act"):
    #: When it happens, as an ISO 8601 duration after the day starts.
    at: str


class Observe(_Beat, tag="reading", kw_only=True):
    """One reading into the intake, as a monitor of ``monitor`` (the district by default)."""

    subject: Text
    metric: Text
    #: TOML can write nan and inf, which no sensor reads.
    value: Annotated[float, msgspec.Meta(ge=-1e9, le=1e9)]
    unit: str
    source: Text = "simulated-sensor"
    unit_of_measure: str = ""
    location: str = ""
    #: How far the seed may move the value either way (0: exactly ``value``).
    jitter: float = 0.0
    monitor: str = "HW"
    #: The key under which the warning the reading raised is remembered.
    warning: Key | None = None


class Cap(_Beat, tag="cap", kw_only=True):
    """One CAP 1.2 message (Alert, Update or Cancel) from a sender the demo binds."""

    message: Key
    #: A ``Cancel``, or an ``Update`` whose urgency is ``Past``, withdraws what it references.
    type: Literal["Alert", "Update", "Cancel"] = "Alert"
    references: list[Key] = msgspec.field(default_factory=list)
    sender: Text = "met@haiwan.gov.cn"
    monitor: str = "HW"
    # The message's <info>, as CAP 1.2 spells its values (a typo here would be a message
    # the schema check refuses, found only when the beat is played).
    event: Text
    headline: Text
    description: str = ""
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"] = "Moderate"
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"] = "Immediate"
    #: The 预警颜色 parameter (红色, 橙色, 黄色, 蓝色), which the CAP profile reads first.
    colour: str = ""
    area: Text = "海湾区"
    warning: Key | None = None


class Issue(_Beat, tag="issue", kw_only=True):
    """A dispatcher of ``by`` issues an instruction to ``to``, due ``due_in`` later in
    simulated time (a clock duration, played at the simulation's speed)."""

    instruction: Key
    by: str
    to: str
    title: Text
    content: str = ""
    priority: Literal["urgent", "high", "normal"] = "high"
    due_in: str
    warning: Key | None = None


class _OnInstructions(_Beat, kw_only=True):
    """An act on one instruction the script issued, or on every instruction linked to a
    warning (those its playbooks issued), optionally only those led by ``lead``."""

    instruction: Key | None = None
    warning: Key | None = None
    lead: str | None = None


class Sign(_OnInstructions, tag="sign", kw_only=True):
    pass


class Progress(_OnInstructions, tag="progress", kw_only=True):
    note: Text


class Submit(_OnInstructions, tag="submit", kw_only=True):
    result: Text


class Return(_OnInstructions, tag="return", kw_only=True):
    reason: Text


class Redirect(_OnInstructions, tag="redirect", kw_only=True):
    to: str


class Verify(_OnInstructions, tag="verify", kw_only=True):
    accepted: bool = True
    note: str = ""


class _OnWarning(_Beat, kw_only=True):
    """An act of the duty officer of ``by`` on a warning."""

    warning: Key
    by: str = "HW"
    note: str = ""


class Acknowledge(_OnWarning, tag="acknowledge", kw_only=True):
    pass


class Confirm(_OnWarning, tag="confirm", kw_only=True):
    pass


class CloseWarning(_OnWarning, tag="close_warning", kw_only=True):
    pass


BeatAct = (
    Observe
    | Cap
    | Issue
    | Sign
    | Progress
    | Submit
    | Return
    | Redirect
    | Verify
    | Acknowledge
    | Confirm
    | CloseWarning
)


class _ScriptFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Key
    title: Text
    length: str
    beats: list[Any]


@dataclass(frozen=True)
class Beat:
    """One act of the script at its moment of simulated time; ``number`` counts from 1 in
    the file's order, and names the beat in command ids and messages."""

    number: int
    at: timedelta
    act: BeatAct

    @property
    def kind(self) -> str:
        tag = type(self.act).__struct_config__.tag
        return str(tag)


class Script(NamedTuple):
    """A day to play: its beats in the order of their moments."""

    #: Names the script in the simulator's causes (``simulation storm-day ...``).
    code: str
    title: str
    #: The simulated day; the next one starts after it, whenever its last beat was.
    length: timedelta
    beats: tuple[Beat, ...]


def load_script(path: Path = STORM_DAY) -> Script:
    """The script in ``path``, checked; a bad file is a :class:`ScriptError` naming it."""
    data = read_toml(path, ScriptError, "simulation script")
    try:
        return script_from_mapping(data)
    except ScriptError as e:
        raise ScriptError(f"simulation script {path}: {e}") from None


def script_from_mapping(data: Any) -> Script:
    top = decode(data, _ScriptFile, ScriptError)
    length = clock_duration(top.length, "length")
    beats: list[Beat] = []
    given: dict[str, set[str]] = {"warning": set(), "instruction": set(), "message": set()}
    for number, raw in enumerate(top.beats, start=1):
        try:
            act: BeatAct = decode(raw, BeatAct, ScriptError)  # type: ignore[arg-type]
            beat = Beat(number, clock_duration(act.at, "at", may_be_zero=True), act)
            if isinstance(act, Issue):
                clock_duration(act.due_in, "due_in")
            if beat.at > length:
                raise ScriptError(f"at = {act.at!r} lies past the day's length {top.length}")
            _check_keys(act, given)
        except ScriptError as e:
            raise ScriptError(f"beat {number}: {e}") from None
        beats.append(beat)
    if not beats:
        raise ScriptError("needs at least one [[beats]]")
    # Played in the order of their moments; beats at the same moment in the file's order.
    ordered = sorted(beats, key=lambda b: (b.at, b.number))
    return Script(code=top.code, title=top.title, length=length, beats=tuple(ordered))


def clock_duration(text: str, setting: str, *, may_be_zero: bool = False) -> timedelta:
    """An ISO 8601 duration of the script as clock time (simulated time is never working
    time: the day is played whole). A moment may be the day's start, ``PT0M``
    (``may_be_zero``); a deadline's duration may not."""
    if may_be_zero and re.fullmatch(r"PT0+[HMS]", text.strip().upper()):
        return timedelta(0)
    try:
        return WorkingDuration.parse(text).clock()
    except CalendarError as e:
        raise ScriptError(f"{setting}: {e}") from None


def _check_keys(act: BeatAct, given: dict[str, set[str]]) -> None:
    """Every key a beat names was given by an earlier beat; a beat that gives one adds it."""
    gives: list[tuple[str, str | None]] = []
    needs: list[tuple[str, str | None]] = []
    if isinstance(act, Observe | Cap):
        gives.append(("warning", act.warning))
    if isinstance(act, Cap):
        gives.append(("message", act.message))
        needs += [("message", ref) for ref in act.references]
    if isinstance(act, Issue):
        gives.append(("instruction", act.instruction))
        needs.append(("warning", act.warning))
    if isinstance(act, _OnInstructions):
        if (act.instruction is None) == (act.warning is None):
            raise ScriptError("name either an instruction or a warning, not both or neither")
        needs += [("instruction", act.instruction), ("warning", act.warning)]
    if isinstance(act, _OnWarning):
        needs.append(("warning", act.warning))
    for kind, key in needs:
        if key is not None and key not in given[kind]:
            raise ScriptError(f"{kind} {key!r} is named before any beat gives it")
    for kind, key in gives:
        if key is not None:
            given[kind].add(key)

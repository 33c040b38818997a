"""Playbooks (预案): the instructions a known scenario sets in motion, as data.

A playbook says when it applies (themes, rule codes or keywords of a warning, and a
minimum level: 2 means levels I and II), on which step of the warning's life it fires
(``raise`` or ``confirm``), which unit dispatches, and what each step instructs: to
whom, with which text and deadline. A step addresses

``responsible``
    the warning's responsible unit;
``unit:CODE``
    one unit by its code (e.g. the district's water department);
``every:LEVEL``
    every active government unit of that level under the dispatching unit (``every:office``
    is every sub-district office).

Each step has a normal deadline (``due_in``, counted on the working calendar unless the
priority is urgent) and may have a tighter one for emergency mode (``emergency_due_in``,
always clock time), used while the playbook's scenario is in emergency mode.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.calendar import CalendarError, WorkingDuration
from domain.errors import InvalidValue
from domain.instruction import Priority
from domain.unit import Level, check_code
from domain.warning import Theme

TRIGGERS = ("raise", "confirm")
_KEYS = frozenset(
    {"code", "title", "dispatcher", "trigger", "min_level", "match", "steps", "scenario"}
)
_MATCH_KEYS = frozenset({"themes", "rules", "keywords"})
_STEP_KEYS = frozenset({"code", "to", "title", "content", "priority", "due_in", "emergency_due_in"})


class PlaybookError(InvalidValue):
    """A playbook file cannot be used; the message names the file and the setting."""


@dataclass(frozen=True)
class Step:
    code: str
    to: tuple[str, ...]
    title: str
    content: str
    priority: str
    due_in: WorkingDuration
    emergency_due_in: WorkingDuration | None


@dataclass(frozen=True)
class Playbook:
    code: str
    title: str
    dispatcher: str
    trigger: str
    min_level: int
    themes: tuple[str, ...]
    rules: tuple[str, ...]
    keywords: tuple[str, ...]
    steps: tuple[Step, ...]
    scenario: str

    def applies_to(self, *, trigger: str, rule: str, theme: str, level: int, text: str) -> bool:
        if trigger != self.trigger or level > self.min_level:
            return False
        if self.rules and rule in self.rules:
            return True
        if self.themes and theme not in self.themes:
            return False
        if self.keywords:
            lowered = text.lower()
            return any(k.lower() in lowered for k in self.keywords)
        return bool(self.themes)


def load_playbooks(folder: Path) -> list[Playbook]:
    """Every ``*.toml`` in the folder, checked; a bad file stops with its name."""
    if not folder.is_dir():
        raise PlaybookError(f"playbook folder {folder} does not exist")
    books: list[Playbook] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
            books.append(playbook_from_mapping(data))
        except tomllib.TOMLDecodeError as e:
            raise PlaybookError(f"playbook {path.name} is not valid TOML: {e}") from None
        except PlaybookError as e:
            raise PlaybookError(f"playbook {path.name}: {e}") from None
    codes = [b.code for b in books]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise PlaybookError(f"playbook code(s) {', '.join(twice)} used by two files")
    return books


def playbook_from_mapping(data: Mapping[str, Any]) -> Playbook:
    _refuse_unknown(data, _KEYS, "the playbook")
    code = _text(data, "code")
    trigger = data.get("trigger", "raise")
    if trigger not in TRIGGERS:
        raise PlaybookError(f"trigger {trigger!r} is 'raise' or 'confirm'")
    min_level = data.get("min_level", 4)
    if min_level not in (1, 2, 3, 4):
        raise PlaybookError("min_level is 1 (only level I) to 4 (every level)")
    match = data.get("match", {})
    if not isinstance(match, Mapping):
        raise PlaybookError("[match] must be a table")
    _refuse_unknown(match, _MATCH_KEYS, "[match]")
    themes = _strings(match.get("themes", []), "match.themes")
    for theme in themes:
        if theme not in set(Theme):
            raise PlaybookError(f"match.themes: {theme!r} is not a theme")
    rules = _strings(match.get("rules", []), "match.rules")
    keywords = _strings(match.get("keywords", []), "match.keywords")
    if not (themes or rules):
        raise PlaybookError("[match] needs themes or rules")
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise PlaybookError("needs at least one [[steps]]")
    steps = [_step(s, i) for i, s in enumerate(steps_raw)]
    names = [s.code for s in steps]
    if len(set(names)) != len(names):
        raise PlaybookError("two steps share a code")
    dispatcher = _text(data, "dispatcher")
    try:
        check_code(dispatcher)
    except InvalidValue as e:
        raise PlaybookError(f"dispatcher: {e}") from None
    return Playbook(
        code=code,
        title=_text(data, "title"),
        dispatcher=dispatcher,
        trigger=trigger,
        min_level=min_level,
        themes=themes,
        rules=rules,
        keywords=keywords,
        steps=tuple(steps),
        scenario=str(data.get("scenario", code)),
    )


def _step(entry: Any, index: int) -> Step:
    if not isinstance(entry, Mapping):
        raise PlaybookError(f"steps[{index}] must be a table")
    where = f"step {entry.get('code', index)!r}"
    _refuse_unknown(entry, _STEP_KEYS, where)
    try:
        to = entry.get("to")
        targets = (to,) if isinstance(to, str) else _strings(to or [], "to")
        if not targets:
            raise PlaybookError("to names no unit")
        for target in targets:
            _check_target(target)
        priority = entry.get("priority", "high")
        if priority not in set(Priority):
            raise PlaybookError(f"priority {priority!r} is urgent, high or normal")
        emergency = entry.get("emergency_due_in")
        return Step(
            code=_text(entry, "code"),
            to=targets,
            title=_text(entry, "title"),
            content=str(entry.get("content", "")),
            priority=priority,
            due_in=_duration(_text(entry, "due_in")),
            emergency_due_in=_duration(emergency) if emergency is not None else None,
        )
    except PlaybookError as e:
        raise PlaybookError(f"{where}: {e}") from None


def _check_target(target: str) -> None:
    if target == "responsible":
        return
    kind, _, value = target.partition(":")
    if kind == "unit":
        try:
            check_code(value)
        except InvalidValue:
            raise PlaybookError(f"to = {target!r}: {value!r} is not a unit code") from None
        return
    if kind == "every" and value in set(Level):
        return
    raise PlaybookError(
        f"to = {target!r}: write 'responsible', 'unit:CODE' or 'every:LEVEL' "
        f"(LEVEL one of {', '.join(Level)})"
    )


def _duration(text: Any) -> WorkingDuration:
    try:
        return WorkingDuration.parse(str(text))
    except CalendarError as e:
        raise PlaybookError(str(e)) from None


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PlaybookError(f'needs {key} = "..."')
    return value.strip()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PlaybookError(f"{where} is a list of strings")
    return tuple(value)


def _refuse_unknown(table: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise PlaybookError(f"{where} has unknown setting(s) {', '.join(unknown)}")

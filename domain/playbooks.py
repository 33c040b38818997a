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

The playbooks are data (``closedloop/playbooks/*.toml``), read and checked by
``closedloop/catalogues.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.calendar import WorkingDuration
from domain.errors import InvalidValue

TRIGGERS = ("raise", "confirm")


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

"""Inhibition (ADR 0087): a higher warning suppresses the lesser ones it explains.

As Alertmanager's inhibit rules, each ``[[inhibit]]`` entry of the rule catalogue
names a source (rules and levels), targets (rules and levels) and the labels both must
share: a district's red rainstorm warning inhibits the blue and yellow rainstorm
warnings of its communities (``equal = ["area"]``: the target's unit lies in the
source's unit's subtree), a silent feed inhibits the threshold warnings of that feed
(``equal = ["station", "metric"]``). An inhibited warning is raised and recorded as
such (an event naming its inhibitor), runs no playbook, and is released (its
playbooks then run) once its inhibitor ends or no longer matches, unless another
inhibitor holds it. These are pure rules; ``domain/inhibition_commands.py`` applies
them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from uuid import UUID

#: The label that compares units by ancestry rather than equality.
AREA = "area"


def labels_of(unit: str, attributes: Mapping[str, Any]) -> dict[str, str]:
    """A warning's labels: its attributes' ``labels`` table, its unit, and the station
    (``subject``) and metric a reading's warning names."""
    found: dict[str, str] = {}
    extra = attributes.get("labels")
    if isinstance(extra, Mapping):
        found.update({str(k): str(v) for k, v in extra.items() if isinstance(v, str | int)})
    for key, label in (("subject", "station"), ("metric", "metric")):
        value = attributes.get(key)
        if isinstance(value, str) and value:
            found[label] = value
    found["unit"] = unit
    return found


@dataclass(frozen=True)
class Alerting:
    """An open warning as inhibition sees it."""

    id: UUID
    rule: str
    level: int
    unit: str
    labels: Mapping[str, str] = field(default_factory=dict)
    #: The warning that inhibits this one, if any.
    inhibited_by: UUID | None = None


def _matches(patterns: Iterable[str], rule: str) -> bool:
    return any(fnmatchcase(rule, p) for p in patterns)


@dataclass(frozen=True)
class InhibitRule:
    """One ``[[inhibit]]`` entry: rule codes may be glob patterns (``cap:*暴雨*``); an
    empty set of levels takes every level."""

    name: str
    source_rules: tuple[str, ...]
    target_rules: tuple[str, ...]
    source_levels: frozenset[int] = frozenset()
    target_levels: frozenset[int] = frozenset()
    equal: tuple[str, ...] = ()

    def is_source(self, rule: str, level: int) -> bool:
        return _matches(self.source_rules, rule) and (
            not self.source_levels or level in self.source_levels
        )

    def is_target(self, rule: str, level: int) -> bool:
        return _matches(self.target_rules, rule) and (
            not self.target_levels or level in self.target_levels
        )

    def mentions(self, rule: str) -> bool:
        return _matches(self.source_rules, rule) or _matches(self.target_rules, rule)

    def inhibits(
        self, source: Alerting, target: Alerting, within: Callable[[str, str], bool]
    ) -> bool:
        """Whether ``source`` inhibits ``target`` under this rule; ``within(a, b)``
        tells whether unit ``a`` lies in unit ``b``'s subtree (or is it)."""
        if source.id == target.id or source.inhibited_by == target.id:
            # Never one another: a source held by its target does not hold it back.
            return False
        if not self.is_source(source.rule, source.level):
            return False
        if not self.is_target(target.rule, target.level):
            return False
        for label in self.equal:
            if label == AREA:
                if not within(target.unit, source.unit):
                    return False
                continue
            value = source.labels.get(label)
            if value is None or value != target.labels.get(label):
                return False
        return True


def inhibitor_of(
    rules: Iterable[InhibitRule],
    target: Alerting,
    sources: Iterable[Alerting],
    within: Callable[[str, str], bool],
) -> tuple[InhibitRule, Alerting] | None:
    """The first rule and open source that inhibit ``target`` (rules in their file's
    order, sources in the order given), or None. A source that is itself inhibited
    still inhibits: it explains the lesser ones all the same."""
    candidates = list(sources)
    for rule in rules:
        for source in candidates:
            if rule.inhibits(source, target, within):
                return rule, source
    return None


def check_inhibit(
    name: str,
    source_rules: list[str],
    target_rules: list[str],
    equal: list[str],
    known: Callable[[str], bool],
) -> None:
    """An ``[[inhibit]]`` entry's settings (ValueError): it names a source and a target;
    a rule code without a wildcard is one the intake knows (``known``)."""
    if not name.strip():
        raise ValueError('needs name = "..."')
    if not source_rules:
        raise ValueError("needs source_rules = [...]")
    if not target_rules:
        raise ValueError("needs target_rules = [...]")
    for code in [*source_rules, *target_rules]:
        if not any(c in code for c in "*?[") and not known(code):
            raise ValueError(f"rule {code!r} is not in the catalogue")
    if len(set(equal)) != len(equal):
        raise ValueError("equal names a label twice")
    if not equal:
        raise ValueError(
            'needs equal = [...] (e.g. ["area"] or ["station", "metric"]): without it one '
            "warning would inhibit every target warning of the city"
        )

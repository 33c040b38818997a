"""A report rolled up from its tallies: the subtree, the unit's own cases, each child,
each theme and each level."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.warning import Theme
from projections.indicators import EMERGENCY_KIND, NONE, URGENT_KIND
from projections.reports.facts import Tallies
from projections.reports.figures import Indicators, SignForLimits, Tally
from projections.reports.periods import Period

#: Report keys of the levels, most severe first, then cases that answer no warning.
LEVELS = ("1", "2", "3", "4", NONE)
THEMES = (*(t.value for t in Theme), NONE)


@dataclass(frozen=True)
class UnitRef:
    """A unit as a report names it."""

    code: str
    name: str
    name_en: str
    level: str


@dataclass(frozen=True)
class Row:
    """One child of the reported unit with the indicators of its subtree."""

    unit: UnitRef
    indicators: Indicators


@dataclass(frozen=True)
class Report:
    """A unit's indicators over a period: its subtree, its own cases, each child's subtree,
    and the subtree's figures by theme and by level."""

    unit: UnitRef
    period: Period
    as_of: datetime
    position: int
    limits: SignForLimits
    total: Indicators
    own: Indicators
    children: list[Row]
    by_theme: dict[str, Indicators]
    by_level: dict[str, Indicators]
    #: The subtree's cases handled under emergency mode, and its urgent-priority ones,
    #: rated on their own (they are in every other figure too; ADR 0071).
    emergency: Indicators
    urgent: Indicators


def _ordered(keys: Iterable[str], order: tuple[str, ...]) -> list[str]:
    rank = {k: i for i, k in enumerate(order)}
    return sorted(set(keys), key=lambda k: (rank.get(k, len(order)), k))


def _sorted_durations(tallies: Iterable[Tally]) -> None:
    """Sort each tally's durations in place: a roll-up of sorted lists is then a merge
    of runs for :meth:`Durations.of`, not a sort from scratch (every duration is in four
    roll-ups: its child, its theme, its level and the total)."""
    for t in tallies:
        t.acknowledge.sort()
        t.sign.sort()
        t.close.sort()


def assemble(
    *,
    top: UnitRef,
    children: list[UnitRef],
    tallies: Tallies,
    bucket_codes: Sequence[str],
    theme_levels: Mapping[int, tuple[str, str]],
    period: Period,
    as_of: datetime,
    position: int,
    limits: SignForLimits,
) -> Report:
    """Roll the tallies up: the whole subtree, the unit's own cases, each child's subtree,
    each theme and each level. Every child is listed, with zeros when nothing happened."""
    per_bucket = tallies.by_bucket
    _sorted_durations(per_bucket.values())
    _sorted_durations(tallies.by_theme_level.values())
    emergency, urgent = Tally(), Tally()
    for kind, tally in tallies.by_kind.items():
        if kind & EMERGENCY_KIND:
            emergency.add(tally)
        if kind & URGENT_KIND:
            urgent.add(tally)
    own = per_bucket.get(0) or Tally()
    per_child: dict[str, Tally] = {c.code: Tally() for c in children}
    for bucket, tally in per_bucket.items():
        if bucket:
            per_child[bucket_codes[bucket]] = tally
    per_theme: dict[str, Tally] = {}
    per_level: dict[str, Tally] = {}
    for theme_level, tally in tallies.by_theme_level.items():
        theme, level = theme_levels[theme_level]
        per_theme.setdefault(theme, Tally()).add(tally)
        per_level.setdefault(level, Tally()).add(tally)
    total = Tally.sum([own, *per_child.values()])
    refs = {c.code: c for c in children}
    rows = [
        Row(refs.get(code, UnitRef(code, code, code, "")), Indicators.of(per_child[code]))
        for code in sorted(per_child)
    ]
    return Report(
        unit=top,
        period=period,
        as_of=as_of,
        position=position,
        limits=limits,
        total=Indicators.of(total),
        own=Indicators.of(own),
        children=rows,
        by_theme={k: Indicators.of(per_theme[k]) for k in _ordered(per_theme, THEMES)},
        by_level={k: Indicators.of(per_level[k]) for k in _ordered(per_level, LEVELS)},
        emergency=Indicators.of(emergency),
        urgent=Indicators.of(urgent),
    )

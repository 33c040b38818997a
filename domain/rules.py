"""The rule catalogue of the standard warning model, and how one reading is judged.

The catalogue is data (``closedloop/rules/catalogue.toml``): each rule names the metric it
reads, the theme and title of the warning it raises, and how a value maps to a level.
Four ways of judging cover the shipped rules:

``threshold``
    Fixed thresholds per level (a generic rule for anything without a limit of its own).
``limit``
    A limit per subject (a reservoir's flood-control limit level, taken from the reading's
    attributes or from the rule's table), graded by how far the value goes beyond it.
``standard``
    An environmental index against its standard, graded by the ratio value / standard.
``speed``
    A passenger coach's speed against its limit; at night (22:00–06:00 local by default)
    the limit is 80 % of the day limit.
``driving_time``
    Fatigue driving, from the driving-time minutes a vehicle terminal reports: continuous
    driving over 240 minutes by day or 120 at night, or over 480 minutes in 24 hours.

Boundaries: a value exactly at a limit or threshold is **within** it; only a value beyond
it breaches ("above the flood-control limit", "over 4 hours", "over the speed limit").
For rules with ``direction = "below"`` (a dissolved-oxygen minimum), beyond means under.

A rule resolves its warning after the condition has stayed normal for ``settle`` (a
duration of observed time) or for ``settle_readings`` consecutive normal readings,
whichever comes first.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidValue
from domain.warning import Theme

KINDS = ("threshold", "limit", "standard", "speed", "driving_time")
LEVEL_KEYS = {"I": 1, "II": 2, "III": 3, "IV": 4}
_RULE_KEYS = frozenset(
    {
        "code",
        "kind",
        "theme",
        "title",
        "metric",
        "direction",
        "levels",
        "limit",
        "limits",
        "limit_attribute",
        "night_limit",
        "night_factor",
        "night",
        "bands",
        "settle",
        "settle_readings",
        "unit_of_measure",
    }
)


class CatalogueError(InvalidValue):
    """The rule catalogue cannot be used; the message names the rule and the setting."""


@dataclass(frozen=True)
class Reading:
    """One observation a monitoring system reports."""

    source: str
    subject: str
    metric: str
    value: float | None
    unit_of_measure: str
    location: str
    unit: str
    observed_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        value = "no value" if self.value is None else f"{self.value:g} {self.unit_of_measure}"
        return f"{self.metric} of {self.subject} = {value} at {self.observed_at.isoformat()}"


@dataclass(frozen=True)
class Judgement:
    """What a rule makes of one reading.

    ``level`` is 1 (I, most severe) to 4 (IV), or None when the reading is normal.
    ``judged`` is False when the reading cannot be judged (no value, no known limit):
    such a reading neither breaches nor counts as normal.
    """

    level: int | None
    limit: float | None
    explanation: str
    judged: bool = True

    @property
    def breach(self) -> bool:
        return self.judged and self.level is not None


@dataclass(frozen=True)
class Rule:
    code: str
    kind: str
    theme: str
    title: str
    metric: str
    direction: str = "above"
    # threshold: level -> threshold; the others: level -> how far beyond the limit
    # (absolute for limit, speed and driving_time; a ratio of the standard for standard).
    bands: tuple[tuple[int, float], ...] = ()
    limit: float | None = None
    limits: Mapping[str, float] = field(default_factory=dict)
    limit_attribute: str | None = None
    night_limit: float | None = None
    night_factor: float | None = None
    night: tuple[time, time] = (time(22, 0), time(6, 0))
    settle: timedelta | None = None
    settle_readings: int | None = None
    unit_of_measure: str = ""

    # -- judging ---------------------------------------------------------------------

    def judge(self, reading: Reading, zone: ZoneInfo) -> Judgement:
        if reading.value is None or not math.isfinite(reading.value):
            return Judgement(None, None, f"{reading.metric}: no value to judge", judged=False)
        value = reading.value
        if self.kind == "threshold":
            return self._grade(value, None, value, "")
        limit = self.limit_for(reading, zone)
        if limit is None:
            return Judgement(
                None,
                None,
                f"no limit known for {reading.subject} under rule {self.code}",
                judged=False,
            )
        beyond = value - limit if self.direction == "above" else limit - value
        if self.kind == "standard":
            if limit <= 0:
                return Judgement(None, limit, f"standard of {self.code} is not positive", False)
            ratio = value / limit if self.direction == "above" else limit / max(value, 1e-9)
            return self._grade(ratio, limit, beyond, f" (standard {limit:g})")
        return self._grade(beyond, limit, beyond, f" (limit {limit:g})")

    def _grade(self, measure: float, limit: float | None, beyond: float, note: str) -> Judgement:
        if self.kind in ("threshold",):
            crossed = [
                level
                for level, threshold in self.bands
                if (measure > threshold if self.direction == "above" else measure < threshold)
            ]
        elif self.kind == "standard":
            crossed = [level for level, ratio in self.bands if measure > ratio]
        else:
            crossed = [level for level, excess in self.bands if beyond > excess]
        if not crossed:
            return Judgement(None, limit, f"within rule {self.code}{note}")
        level = min(crossed)
        return Judgement(level, limit, f"beyond rule {self.code}{note}: level {level}")

    def is_night(self, when: datetime, zone: ZoneInfo) -> bool:
        local = when.astimezone(zone).time()
        start, end = self.night
        if start <= end:
            return start <= local < end
        return local >= start or local < end

    def limit_for(self, reading: Reading, zone: ZoneInfo) -> float | None:
        """The limit that applies to this reading (per subject, by day or by night)."""
        limit: float | None = None
        if self.limit_attribute and self.limit_attribute in reading.attributes:
            raw = reading.attributes[self.limit_attribute]
            if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
                limit = float(raw)
        if limit is None:
            limit = self.limits.get(reading.subject, self.limit)
        if limit is None:
            return None
        if self.is_night(reading.observed_at, zone):
            if self.night_limit is not None:
                return self.night_limit
            if self.night_factor is not None:
                return limit * self.night_factor
        return limit

    def is_settled(self, normal_since: datetime | None, normal_count: int, at: datetime) -> bool:
        """Whether a condition normal since ``normal_since`` has settled by ``at``."""
        if normal_since is None:
            return False
        if self.settle_readings is not None and normal_count >= self.settle_readings:
            return True
        return self.settle is not None and at - normal_since >= self.settle


@dataclass(frozen=True)
class Catalogue:
    """The rules in force, and the zone in which "night" is read."""

    rules: tuple[Rule, ...]
    zone: str = "Asia/Shanghai"

    def for_metric(self, metric: str) -> list[Rule]:
        return [r for r in self.rules if r.metric == metric]

    def rule(self, code: str) -> Rule | None:
        return next((r for r in self.rules if r.code == code), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


# -- loading ---------------------------------------------------------------------------


def load_catalogue(path: Path) -> Catalogue:
    """Read and check the catalogue file; a bad entry stops with its name and reason."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise CatalogueError(f"rule catalogue {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise CatalogueError(f"rule catalogue {path} is not valid TOML: {e}") from None
    try:
        return catalogue_from_mapping(data)
    except CatalogueError as e:
        raise CatalogueError(f"rule catalogue {path}: {e}") from None


def catalogue_from_mapping(data: Mapping[str, Any]) -> Catalogue:
    unknown = sorted(set(data) - {"zone", "rules"})
    if unknown:
        raise CatalogueError(f"unknown setting(s) {', '.join(unknown)}; expected zone, rules")
    zone = data.get("zone", "Asia/Shanghai")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise CatalogueError(f"zone {zone!r} is not an IANA time zone") from None
    entries = data.get("rules")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError("no [[rules]] entries")
    rules: list[Rule] = []
    for index, entry in enumerate(entries):
        name = entry.get("code") if isinstance(entry, Mapping) else None
        where = f"rule {name!r}" if isinstance(name, str) else f"rules[{index}]"
        try:
            rules.append(_rule(entry))
        except CatalogueError as e:
            raise CatalogueError(f"{where}: {e}") from None
    codes = [r.code for r in rules]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise CatalogueError(f"rule code(s) {', '.join(twice)} listed twice")
    return Catalogue(tuple(rules), str(zone))


def _rule(entry: Any) -> Rule:
    if not isinstance(entry, Mapping):
        raise CatalogueError("each rule is a table ([[rules]])")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise CatalogueError(f"unknown setting(s) {', '.join(unknown)}")
    code = _text(entry, "code")
    kind = _text(entry, "kind")
    if kind not in KINDS:
        raise CatalogueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    theme = _text(entry, "theme")
    if theme not in set(Theme):
        raise CatalogueError(f"theme {theme!r} is not one of {', '.join(Theme)}")
    direction = entry.get("direction", "above")
    if direction not in ("above", "below"):
        raise CatalogueError("direction is 'above' or 'below'")
    source = "levels" if kind == "threshold" else "bands"
    table = entry.get(source)
    if not isinstance(table, Mapping) or not table:
        raise CatalogueError(f"needs a [{source}] table such as {{ IV = 0, III = 1 }}")
    bands: list[tuple[int, float]] = []
    for key, value in table.items():
        if key not in LEVEL_KEYS:
            raise CatalogueError(f"{source}.{key}: levels are I, II, III, IV")
        bands.append((LEVEL_KEYS[key], _number(value, f"{source}.{key}")))
    bands.sort()
    _check_monotonic(bands, source, direction if kind == "threshold" else "above")
    limits_raw = entry.get("limits", {})
    if not isinstance(limits_raw, Mapping):
        raise CatalogueError("limits is a table of subject = limit")
    limits = {str(k): _number(v, f"limits.{k}") for k, v in limits_raw.items()}
    limit = _number(entry["limit"], "limit") if "limit" in entry else None
    limit_attribute = entry.get("limit_attribute")
    if kind != "threshold" and limit is None and not limits and not limit_attribute:
        raise CatalogueError("needs a limit, a [limits] table or a limit_attribute")
    night = _night(entry.get("night", "22:00-06:00"))
    night_factor = (
        _number(entry["night_factor"], "night_factor") if "night_factor" in entry else None
    )
    if night_factor is not None and not 0 < night_factor <= 1:
        raise CatalogueError("night_factor is a fraction of the day limit, over 0 and at most 1")
    settle = _duration(entry["settle"]) if "settle" in entry else None
    settle_readings = entry.get("settle_readings")
    if settle_readings is not None and (
        not isinstance(settle_readings, int)
        or isinstance(settle_readings, bool)
        or settle_readings < 1
    ):
        raise CatalogueError("settle_readings is a whole number of readings, at least 1")
    if settle is None and settle_readings is None:
        raise CatalogueError("needs settle (e.g. 'PT30M') or settle_readings (e.g. 3)")
    return Rule(
        code=code,
        kind=kind,
        theme=theme,
        title=_text(entry, "title"),
        metric=_text(entry, "metric"),
        direction=direction,
        bands=tuple(bands),
        limit=limit,
        limits=limits,
        limit_attribute=str(limit_attribute) if limit_attribute else None,
        night_limit=_number(entry["night_limit"], "night_limit")
        if "night_limit" in entry
        else None,
        night_factor=night_factor,
        night=night,
        settle=settle,
        settle_readings=settle_readings,
        unit_of_measure=str(entry.get("unit_of_measure", "")),
    )


def _check_monotonic(bands: list[tuple[int, float]], source: str, direction: str) -> None:
    # Level I is the most severe, so it must sit furthest beyond the limit.
    values = [v for _, v in bands]  # ordered I, II, III, IV
    ordered = values == sorted(values, reverse=direction == "above")
    if not ordered or len(set(values)) != len(values):
        raise CatalogueError(
            f"{source}: level I must lie furthest beyond, then II, III, IV in order"
        )


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f'needs {key} = "..."')
    return value.strip()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CatalogueError(f"{where} must be a number, not {value!r}")
    return float(value)


def _night(text: Any) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(text).split("-"))
    except ValueError:
        raise CatalogueError(f"night = {text!r}: expected 'HH:MM-HH:MM'") from None
    return start, end


def _duration(text: Any) -> timedelta:
    from domain.calendar import CalendarError, WorkingDuration

    try:
        return WorkingDuration.parse(str(text)).clock()
    except CalendarError as e:
        raise CatalogueError(f"settle: {e}") from None

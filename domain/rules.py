"""The rule catalogue of the standard warning model, and how one reading is judged.

The catalogue is data (``closedloop/rules/catalogue.toml``, read by
``closedloop/catalogues.py``): each rule names the metric it
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import InvalidValue
from domain.inhibition import InhibitRule

KINDS = ("threshold", "limit", "standard", "speed", "driving_time")
LEVEL_KEYS = {"I": 1, "II": 2, "III": 3, "IV": 4}


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

    @classmethod
    def of(
        cls,
        source: str,
        subject: str,
        metric: str,
        value: float | None,
        unit_of_measure: str,
        location: str,
        unit: str,
        observed_at: datetime,
        attributes: Mapping[str, Any],
    ) -> Reading:
        """The same reading as the constructor makes, every field given, without its one
        ``object.__setattr__`` a field: a door builds a thousand a batch (ADR 0099)."""
        made = object.__new__(cls)
        made.__dict__.update(
            source=source,
            subject=subject,
            metric=metric,
            value=value,
            unit_of_measure=unit_of_measure,
            location=location,
            unit=unit,
            observed_at=observed_at,
            attributes=attributes,
        )
        return made

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
    #: Grouping (ADR 0087): the labels its breaches are grouped by, and the window after
    #: a group's first breach in which another station's breach joins it.
    group_by: tuple[str, ...] = ()
    group_window: timedelta | None = None

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

    def calm(self, value: object) -> Judgement | None:
        """What :meth:`judge` answers for a number that a threshold rule's bands cannot
        reach, or None when it must judge: the door's quiet readings skip the grading
        (ADR 0099). The answer is one shared value, as equal to judge's as its own."""
        if type(value) is not float or self.kind != "threshold" or not math.isfinite(value):
            return None
        bound, within = self._calm_bound
        if value <= bound if self.direction == "above" else value >= bound:
            return within
        return None

    @cached_property
    def _calm_bound(self) -> tuple[float, Judgement]:
        # Beyond no band: at or below the lowest threshold (above), or at or over the
        # highest (below); a number judge would call finite and uncrossed.
        thresholds = [t for _, t in self.bands]
        if self.direction == "above":
            bound = min(thresholds, default=math.inf)
        else:
            bound = max(thresholds, default=-math.inf)
        return bound, Judgement(None, None, f"within rule {self.code}")

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
    #: The inhibit rules (ADR 0087), in the file's order.
    inhibit: tuple[InhibitRule, ...] = ()

    def for_metric(self, metric: str) -> list[Rule]:
        return [r for r in self.rules if r.metric == metric]

    def rule(self, code: str) -> Rule | None:
        return next((r for r in self.rules if r.code == code), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

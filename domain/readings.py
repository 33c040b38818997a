"""Readings as telemetry: the station catalogue, what a stored reading is, and the port
of the store that keeps them (ADR 0073).

A reading is not a decision. It is kept in a readings store made for time series (an
adapter: ``projections/readings.py``), and only what a reading changes about a condition
(opened, worsened, eased, resolved) becomes an event on the log, with the readings that
decided it named as its evidence. The domain defines the store's protocol here and the
checks a reading must pass before it is kept (:func:`screen`); it never sees SQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha1
from typing import Any, Protocol
from uuid import UUID, SafeUUID

from domain.meta import derived_id


@dataclass(frozen=True)
class Feed:
    """One metric a station reports, in one unit of measure ("" when any is taken)."""

    metric: str
    unit_of_measure: str = ""
    #: How often the feed is expected to report, and how long it may stay quiet before
    #: it is "silent" (ADR 0085); None: the feed is not watched for silence.
    interval: timedelta | None = None
    grace: timedelta | None = None


@dataclass(frozen=True)
class Station:
    """A place that measures, owned by one unit of the network (it decides who reads it)."""

    id: str
    unit: str
    name: str = ""
    feeds: tuple[Feed, ...] = ()
    #: Enrolled from its first reading rather than listed in the catalogue.
    enrolled: bool = False
    #: What its breaches are grouped by (ADR 0087): ``(("reservoir", "qingshan"),)``.
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Looked up for every reading of a batch: a dict, not a scan.
        object.__setattr__(self, "_feeds", {f.metric: f for f in self.feeds})

    def feed(self, metric: str) -> Feed | None:
        feeds: dict[str, Feed] = self._feeds  # type: ignore[attr-defined]
        return feeds.get(metric)


@dataclass(frozen=True)
class StationCatalogue:
    """The stations in service. With ``enrol_unknown``, a reading from a station the
    catalogue does not list is kept and its station enrolled under the reading's unit
    (the demo's monitors name their stations freely); without it, such a reading is
    refused as from an unknown station."""

    stations: tuple[Station, ...] = ()
    enrol_unknown: bool = True

    def station(self, sid: str) -> Station | None:
        return next((s for s in self.stations if s.id == sid), None)

    def by_id(self) -> dict[str, Station]:
        return {s.id: s for s in self.stations}


def reading_id(
    station: str, metric: str, measured_at: datetime, instant: str | None = None
) -> UUID:
    """A reading's id: the same measurement sent twice, by any door, is the same reading
    (so a redelivery stores nothing new). A name-based UUID, as :func:`derived_id`
    makes, built by hand: a batch makes a thousand of them, and ``uuid5`` is slower.
    ``instant`` is ``measured_at`` in UTC as ISO 8601 text, when the caller has it (a
    batch's readings share a few instants: the text is made once each, ADR 0091)."""
    if instant is None:
        instant = measured_at.astimezone(UTC).isoformat()
    name = _READING_NS + f"{station}|{metric}|{instant}".encode()
    # SHA-1 as RFC 4122 names it for version 5 ids: a name, not a secret.
    n = int.from_bytes(sha1(name, usedforsecurity=False).digest()[:16])
    n = (n & _VERSION_CLEAR) | _VERSION_5_VARIANT
    # UUID(int=…) checks what is already true here; a thousand ids a batch skip it.
    made = object.__new__(UUID)
    object.__setattr__(made, "int", n)
    object.__setattr__(made, "is_safe", _UNKNOWN_SAFETY)
    return made


#: Looked up once: an enum member read from its class costs a descriptor call each time.
_UNKNOWN_SAFETY = SafeUUID.unknown
#: The bits of a version 5 RFC 4122 id: the version nibble and the variant's two bits.
_VERSION_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_5_VARIANT = (0x5000 << 64) | (0x8000 << 48)


#: The namespace of readings' ids, itself a name under the domain's namespace.
_READING_NS = derived_id("namespace", "reading").bytes


@dataclass(frozen=True)
class TelemetryReading:
    """One reading as the readings store keeps it."""

    reading_id: UUID
    station: str
    metric: str
    value: float | None
    unit_of_measure: str
    measured_at: datetime
    received_at: datetime
    source: str

    @classmethod
    def of(
        cls,
        reading_id: UUID,
        station: str,
        metric: str,
        value: float | None,
        unit_of_measure: str,
        measured_at: datetime,
        received_at: datetime,
        source: str,
    ) -> TelemetryReading:
        """The same reading as the constructor makes, without its one
        ``object.__setattr__`` a field (a frozen dataclass's ``__init__``): a batch builds
        a thousand, and this takes a third of the time (ADR 0099)."""
        made = object.__new__(cls)
        made.__dict__.update(
            reading_id=reading_id,
            station=station,
            metric=metric,
            value=value,
            unit_of_measure=unit_of_measure,
            measured_at=measured_at,
            received_at=received_at,
            source=source,
        )
        return made

    def evidence(self) -> dict[str, Any]:
        """What a decision cites of it: enough to prove why without the readings table."""
        return {
            "reading_id": str(self.reading_id),
            "station": self.station,
            "metric": self.metric,
            "value": self.value,
            "measured_at": self.measured_at.isoformat(),
        }


@dataclass(frozen=True)
class SeriesPoint:
    """A step of a series: its start, and the min, max and mean of the readings in it
    (one raw reading is a point whose three agree, with ``count`` 1)."""

    at: datetime
    min: float | None
    max: float | None
    mean: float | None
    count: int


@dataclass(frozen=True)
class Refusal:
    """A reading of a batch that was not kept: its index in the batch and why."""

    index: int
    field: str
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """A message a door could not take (ADR 0079): unreadable, or all its readings
    refused. ``unit`` is the unit it spoke as (the topic's, else the door's)."""

    door: str
    topic: str
    unit: str
    payload: str
    reason: str
    received_at: datetime
    id: int = 0


class ReadingStore(Protocol):
    """Where readings live. Every method is one transaction or one query; appending the
    same reading again (same id) changes nothing."""

    def append(
        self,
        readings: Sequence[TelemetryReading],
        *,
        receipt: tuple[str, str, Mapping[str, Any]] | None = None,
        cited: Sequence[TelemetryReading] = (),
    ) -> None:
        """Keep ``readings`` (many per statement), and with them, in the same
        transaction, a batch's receipt ``(unit, batch, body)`` and the readings its
        decisions cite (as :meth:`keep` does)."""

    def receipt(self, unit: str, batch: str) -> dict[str, Any] | None:
        """The receipt kept for a batch, if it was kept."""

    def enrol(self, stations: Iterable[Station]) -> None:
        """Remember stations enrolled from their first readings."""

    def enrolled(self) -> list[Station]:
        """The stations enrolled so far."""

    def last_measured(self, station: str, metric: str) -> datetime | None:
        """The latest measured time kept for one feed."""

    def latest(self, station: str) -> list[TelemetryReading]:
        """The last reading of each of a station's feeds."""

    def series(
        self, station: str, metric: str, start: datetime, end: datetime, step: timedelta | None
    ) -> list[SeriesPoint]:
        """Raw readings in ``[start, end)``, or with ``step`` their min/max/mean per step
        (from the hourly roll-ups where the raw rows were dropped)."""

    def keep(self, readings: Sequence[TelemetryReading]) -> None:
        """Keep these readings past retention: a decision on the log cites them."""

    def apply_retention(self, now: datetime, days: int) -> int:
        """Roll up and drop the raw readings older than ``days``; answers how many
        raw readings went."""

    def reject(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages a door could not take, in one transaction."""

    def rejected(
        self, units: Sequence[str] | None, *, limit: int, before: int | None = None
    ) -> list[DeadLetter]:
        """Dead letters newest first (of ``units`` only, unless None), ids below ``before``."""

    def close(self) -> None: ...


# -- the checks a reading passes before it is kept ----------------------------------


def screen(
    index: int,
    *,
    station: Station | None,
    metric: str,
    value: object,
    unit_of_measure: str,
    measured_at: datetime,
    received_at: datetime,
    future: timedelta,
    rule_units: Sequence[str] = (),
) -> Refusal | None:
    """Why reading ``index`` of a batch cannot be kept, or None when it can.

    ``station`` is None for a station neither listed nor enrollable; ``rule_units`` the
    units of measure the rules reading this metric expect (for an enrolled station,
    whose feeds are not written down)."""
    where = f"readings[{index}]"
    if station is None:
        return Refusal(index, f"{where}.subject", "unknown station")
    feed = station.feed(metric)
    if feed is None and not station.enrolled:
        return Refusal(index, f"{where}.metric", f"station {station.id} has no feed {metric}")
    if isinstance(value, str) and _is_non_finite(value):
        # JSON has no NaN or infinity: senders spell them as text.
        return Refusal(index, f"{where}.value", "the value is not a finite number")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return Refusal(index, f"{where}.value", "the value is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        return Refusal(index, f"{where}.value", "the value is not a finite number")
    expected = [feed.unit_of_measure] if feed is not None else list(rule_units)
    expected = [u for u in expected if u]
    if unit_of_measure and expected and unit_of_measure not in expected:
        return Refusal(
            index,
            f"{where}.unit_of_measure",
            f"{metric} is measured in {expected[0]}, not {unit_of_measure}",
        )
    if measured_at.tzinfo is None:
        return Refusal(index, f"{where}.observed_at", "the time must carry a time-zone offset")
    if measured_at > received_at + future:
        return Refusal(
            index,
            f"{where}.observed_at",
            f"the measured time lies more than {int(future.total_seconds())} s in the future",
        )
    return None


def _is_non_finite(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


@dataclass
class ConditionState:
    """What the intake keeps in memory of one rule's condition on one station, so that a
    normal reading of a quiet condition costs no read of any store. Loaded once per
    process from the log (the warning its key points at) and the readings store (the
    latest measured time); changed only by readings judged in this process."""

    level: int | None = None
    warning_id: UUID | None = None
    last_at: datetime | None = None
    normal_since: datetime | None = None
    normal_count: int = 0
    #: The normal readings counted towards settling: a resolution's evidence.
    settling: list[TelemetryReading] = field(default_factory=list)
    #: A breach a silence kept from raising (ADR 0085): the silence, the level the
    #: breach would have had and the latest silenced reading (its evidence).
    silenced_by: UUID | None = None
    silenced_level: int | None = None
    silenced_reading: TelemetryReading | None = None

    def is_stale(self, at: datetime) -> bool:
        """An older reading than the last one judged, or the same again, decides nothing."""
        return self.last_at is not None and at <= self.last_at

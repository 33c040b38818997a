"""The stations and their readings, read back (ADR 0073): the catalogue and the enrolled
stations, each one's feeds, last readings and open conditions, and a feed's series, raw
or as min/max/mean per step for the screens' charts.

A station belongs to a unit: whoever may read that unit's warnings may read its
stations (the unit's subtree, or everything for the auditor and the admin).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from api.access import can_see_unit_case
from api.http import READ, On
from api.intake import intake_of
from api.problems import ProblemError, invalid
from domain.errors import NotFound
from domain.meta import now
from domain.readings import Station

#: The times a series may name: what both stores represent, with room either side.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: The longest span one series answers.
MAX_SPAN = timedelta(days=366)
#: The most steps one downsampled series answers.
MAX_STEPS = 10_000


class FeedOut(msgspec.Struct, kw_only=True):
    metric: str
    unit_of_measure: str


class StationOut(msgspec.Struct, kw_only=True):
    id: str
    unit: str
    name: str
    enrolled: bool
    feeds: list[FeedOut]


class LastReading(msgspec.Struct, kw_only=True):
    reading_id: UUID
    metric: str
    value: float | None
    unit_of_measure: str
    measured_at: datetime
    received_at: datetime
    source: str


class ConditionOut(msgspec.Struct, kw_only=True):
    rule: str
    level: int
    warning_id: UUID
    status: str


class SilencedBreach(msgspec.Struct, kw_only=True):
    """A breach a silence kept from raising (ADR 0085), with the reading that breached."""

    rule: str
    level: int | None
    silence_id: UUID
    reading_id: UUID | None
    measured_at: datetime | None


class StationDetail(StationOut, kw_only=True):
    last_readings: list[LastReading]
    conditions: list[ConditionOut]
    #: The breaches silenced on this station, from its latest kept readings and the live
    #: silences (ADR 0091): the same after a restart, and in every server.
    silenced: list[SilencedBreach] = msgspec.field(default_factory=list)


class Point(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A raw reading (``value``), or a step's ``min``, ``max``, ``mean`` of ``count``."""

    at: datetime
    value: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    count: int = 0


class Series(msgspec.Struct, kw_only=True):
    station: str
    metric: str
    start: datetime
    end: datetime
    step_seconds: int | None
    points: list[Point]


def _out(station: Station, feeds: list[FeedOut] | None = None) -> StationOut:
    return StationOut(
        id=station.id,
        unit=station.unit,
        name=station.name,
        enrolled=station.enrolled,
        feeds=feeds
        if feeds is not None
        else [FeedOut(metric=f.metric, unit_of_measure=f.unit_of_measure) for f in station.feeds],
    )


def _visible(call: On, station: Station | None) -> Station:
    try:
        seen = station is not None and can_see_unit_case(
            call.center, call.principal, [station.unit]
        )
    except NotFound:  # a catalogued station of a unit the network no longer has
        seen = False
    if not seen or station is None:
        raise NotFound("station not found")
    return station


def _instant(name: str, text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(name, f"{name} must be an RFC 3339 time") from None
    if at.tzinfo is None:
        raise invalid(name, f"{name} must carry a time-zone offset")
    if not EARLIEST <= at <= LATEST:
        raise invalid(name, f"{name} must lie between the years 1970 and 2200")
    return at


class StationController(Controller):
    path = "/v1/stations"
    tags = ("stations",)

    @get("/", sync_to_thread=True, responses=READ)
    def list_stations(self, call: On) -> list[StationOut]:
        intake = intake_of(call.request)
        out: list[StationOut] = []
        for station in intake.all_stations():
            try:
                if can_see_unit_case(call.center, call.principal, [station.unit]):
                    out.append(_out(station))
            except NotFound:
                continue
        return out

    @get("/{sid:str}", sync_to_thread=True, responses=READ)
    def get_station(self, call: On, sid: FromPath[str]) -> StationDetail:
        intake = intake_of(call.request)
        station = _visible(call, intake.station(sid))
        latest = intake.readings.latest(station.id)
        metrics = sorted({f.metric for f in station.feeds} | {r.metric for r in latest})
        feeds = {f.metric: f.unit_of_measure for f in station.feeds}
        for r in latest:
            feeds.setdefault(r.metric, r.unit_of_measure)
        base = _out(station, [FeedOut(metric=m, unit_of_measure=feeds[m]) for m in metrics])
        return StationDetail(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            last_readings=[
                LastReading(
                    reading_id=r.reading_id,
                    metric=r.metric,
                    value=r.value,
                    unit_of_measure=r.unit_of_measure,
                    measured_at=r.measured_at,
                    received_at=r.received_at,
                    source=r.source,
                )
                for r in latest
            ],
            conditions=[
                ConditionOut(rule=w.rule, level=w.level, warning_id=w.id, status=str(w.status))
                for w in intake.open_conditions(station, metrics)
            ],
            silenced=[
                SilencedBreach(
                    rule=b.rule,
                    level=b.level,
                    silence_id=b.silence_id,
                    reading_id=b.reading.reading_id,
                    measured_at=b.reading.measured_at,
                )
                for b in intake.silenced_breaches(station)
            ],
        )

    @get("/{sid:str}/readings", sync_to_thread=True, responses=READ)
    def readings(
        self,
        call: On,
        sid: FromPath[str],
        metric: Annotated[str, QueryParameter(min_length=1, max_length=200)],
        from_: Annotated[str | None, QueryParameter(name="from", max_length=64)] = None,
        to: Annotated[str | None, QueryParameter(max_length=64)] = None,
        step: Annotated[
            int | None,
            QueryParameter(ge=1, le=31 * 86_400, description="seconds per step; none: raw"),
        ] = None,
    ) -> Series:
        """A feed's readings in ``[from, to)`` (the last 24 hours by default): raw, or
        the min, max and mean of each ``step`` seconds."""
        intake = intake_of(call.request)
        station = _visible(call, intake.station(sid))
        end = _instant("to", to, now())
        start = _instant("from", from_, end - timedelta(days=1))
        if start >= end:
            raise invalid("from", "from must lie before to")
        if end - start > MAX_SPAN:
            raise invalid("from", f"a series spans at most {MAX_SPAN.days} days")
        if station.feeds and station.feed(metric) is None:
            raise invalid("metric", f"station {station.id} has no feed {metric}")
        delta = timedelta(seconds=step) if step is not None else None
        if delta is not None and (end - start) / delta > MAX_STEPS:
            # A chart has a few thousand pixels: more steps only cost the server memory.
            raise invalid("step", f"a series has at most {MAX_STEPS} steps; take a longer step")
        try:
            points = intake.readings.series(station.id, metric, start, end, delta)
        except OverflowError:
            raise ProblemError(422, "the times lie out of range") from None
        return Series(
            station=station.id,
            metric=metric,
            start=start,
            end=end,
            step_seconds=step,
            points=[
                Point(at=p.at, value=p.mean, count=1)
                if delta is None
                else Point(at=p.at, min=p.min, max=p.max, mean=p.mean, count=p.count)
                for p in points
            ],
        )


STATION_HANDLERS: list[Any] = [StationController]

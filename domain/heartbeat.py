"""Heartbeats (ADR 0085): a feed that stops reporting is noticed.

Each feed of the station catalogue may name the interval at which it reports and its
grace: how long it may stay quiet. A feed whose latest reading is older than its grace
raises a "feed silent" warning (rule :data:`FEED_SILENT_RULE`, level IV) to the unit
that owns the station, citing the last reading (its id and measured time) as evidence;
the warning is resolved once readings return, citing the first one back.

The watch's acts are commands of the system with ids derived from the feed and its
last reading (``heartbeat:<station>:<metric>:<reading>``), as the deadline watch's are:
run twice, across restarts or by two watchers at once, a silence is raised once and
resolved once. A feed that never reported counts its quiet from the watch's start, so
a restart notices it later, never earlier. A silence over the station, the feed, its
unit or the rule ``feed.silent`` keeps the warning from being raised.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.errors import DomainError
from domain.intake import Intake
from domain.meta import SYSTEM, Context, now
from domain.readings import Feed, Station, TelemetryReading
from domain.silence_commands import FEED_SILENT_RULE
from domain.warning import EarlyWarning
from domain.warning_key import WarningKey, condition_key, warning_key_id

#: The source the heartbeat's warnings name.
HEARTBEAT_SOURCE = "closedloop-heartbeat"
#: A silent feed is a warning of the lowest level: the sensor, not the city, is at fault.
FEED_SILENT_LEVEL = 4


def heartbeat_key(station: str, metric: str) -> str:
    return f"heartbeat:{station}|{metric}"


def is_silent(
    feed: Feed, last: datetime | None, started: datetime, at: datetime
) -> tuple[bool, timedelta]:
    """Whether ``feed`` is silent at ``at`` and for how long (a pure rule): its latest
    reading, or the watch's start when it never reported, lies more than its grace ago."""
    if feed.grace is None:
        return False, timedelta(0)
    quiet = at - (last if last is not None else started)
    return quiet > feed.grace, quiet


class HeartbeatWatch:
    """Raises a feed's silence once, and resolves it once its readings return."""

    def __init__(self, intake: Intake, started: datetime | None = None) -> None:
        self.intake = intake
        self.started = started or now()

    def watched(self) -> list[tuple[Station, Feed]]:
        return [
            (s, f) for s in self.intake.stations.stations for f in s.feeds if f.grace is not None
        ]

    def tick(self, at: datetime | None = None) -> list[dict[str, Any]]:
        at = at or now()
        done: list[dict[str, Any]] = []
        latest: dict[str, dict[str, TelemetryReading]] = {}
        for station, feed in self.watched():
            if station.id not in latest:
                latest[station.id] = {r.metric: r for r in self.intake.readings.latest(station.id)}
            last = latest[station.id].get(feed.metric)
            try:
                act = self._watch(station, feed, last, at)
            except DomainError as e:
                act = {"station": station.id, "metric": feed.metric, "skipped": str(e)}
            if act:
                done.append(act)
        return done

    def _open(self, station: Station, feed: Feed) -> EarlyWarning | None:
        center = self.intake.center
        scoped = condition_key(
            station.unit, FEED_SILENT_RULE, heartbeat_key(station.id, feed.metric)
        )
        pointer = center.unit_of_work.find(WarningKey, warning_key_id(scoped))
        if pointer is None:
            return None
        warning = center.unit_of_work.find(EarlyWarning, pointer.warning_id)
        return warning if warning is not None and warning.is_open else None

    def _watch(
        self, station: Station, feed: Feed, last: TelemetryReading | None, at: datetime
    ) -> dict[str, Any]:
        silent, quiet = is_silent(feed, last.measured_at if last else None, self.started, at)
        open_ = self._open(station, feed)
        where = {"station": station.id, "metric": feed.metric}
        center = self.intake.center
        if not silent:
            if open_ is None or last is None:
                return {}
            back = f"reading {last.reading_id} at {last.measured_at.isoformat()}"
            ctx = Context(
                SYSTEM,
                command_id=f"heartbeat:{open_.id.hex}:resolve:{last.reading_id.hex}",
                cause="heartbeat: readings returned",
            )
            outcome = center.resolve_warning(
                ctx, open_.id, f"{station.id} {feed.metric}: readings returned; evidence: {back}"
            )
            return (
                {**where, "act": "resolved", "warning_id": str(open_.id)}
                if outcome.recorded
                else {}
            )
        if open_ is not None:
            return {}
        if self.intake.silences.covering(station, feed.metric, FEED_SILENT_RULE, at) is not None:
            return {**where, "act": "silenced"}
        mark = last.reading_id.hex if last is not None else f"never:{self.started.isoformat()}"
        ctx = Context(
            SYSTEM,
            command_id=f"heartbeat:{station.id}:{feed.metric}:{mark}",
            cause=f"heartbeat: {station.id} {feed.metric} silent",
        )
        evidence = (
            f"last reading {last.reading_id} at {last.measured_at.isoformat()}"
            if last is not None
            else "no reading yet"
        )
        grace = int(feed.grace.total_seconds()) if feed.grace else 0
        outcome = center.raise_warning(
            ctx,
            source=HEARTBEAT_SOURCE,
            rule=FEED_SILENT_RULE,
            theme="other",
            level=FEED_SILENT_LEVEL,
            title=f"Feed silent: {station.id} {feed.metric}"[:200],
            unit=station.unit,
            description=(
                f"{station.id} has reported no {feed.metric} for {int(quiet.total_seconds())} s "
                f"(grace {grace} s); evidence: {evidence}"
            )[:2000],
            dedup_key=heartbeat_key(station.id, feed.metric),
            attributes={
                "subject": station.id,
                "metric": feed.metric,
                "grace_seconds": grace,
                "evidence": [last.evidence()] if last is not None else [],
            },
        )
        if not outcome.created:
            return {}
        return {**where, "act": "raised", "warning_id": str(outcome.id)}

"""The early-warning intake: readings and CAP messages in, warnings and playbooks out.

:class:`Intake` does its work only through the :class:`~domain.application.CommandCenter`'s
public commands (raise, change level, resolve, cancel, issue instruction), so every rule
of the closed loop still holds. What a reading's rule decides is done as the system
(:data:`~domain.meta.SYSTEM`), what a CAP message does as the token that sent it
(``domain/cap_intake.py``, ADR 0041), and a playbook's instructions as its dispatching
unit in the role ``system``, with the rule, message or playbook named as the cause.

Every command it gives has an id derived from what caused it (a reading's id and the
rule, a CAP message, a warning and a playbook step), so doing the same work twice, after
a crash or a retry, changes nothing. Readings themselves are kept in a readings store
(ADR 0073); only the decisions they make reach the log.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.cap import CapProfile
from domain.cap_intake import CapIntake, CapResult
from domain.condition import Condition, condition_id
from domain.errors import DomainError, InvalidValue
from domain.grouping import OWN_LABELS, breach_labels, group_key, joins
from domain.meta import SYSTEM, Context, derived_id, now
from domain.observation_batch import ObservationBatch, batch_id
from domain.playbooks import Playbook
from domain.readings import (
    ConditionState,
    ReadingStore,
    Station,
    StationCatalogue,
    TelemetryReading,
    reading_id,
    screen,
)
from domain.rules import Catalogue, CatalogueError, Reading, Rule
from domain.silence import Silence, SilenceKind
from domain.silence_commands import SilenceCases
from domain.warning import EarlyWarning
from domain.warning_key import WarningKey, condition_key, warning_key_id

__all__ = ["BatchResult", "CapResult", "Intake", "SilencedBreach"]

#: How many of the normal readings that settle a condition its resolution cites.
SETTLING_EVIDENCE = 10
#: How many feeds' checks the intake remembers (ADR 0091): a city's feeds, with room.
FEED_CHECKS_KEPT = 1_000_000
#: How far in the future a measured time may lie (clocks drift) unless configured.
DEFAULT_FUTURE = timedelta(minutes=5)


@dataclass(frozen=True)
class SilencedBreach:
    """A breach a live silence keeps from raising (ADR 0085): the rule, the level it
    would have raised at, the silence and the reading that breached."""

    rule: str
    level: int
    silence_id: UUID
    reading: TelemetryReading


@dataclass
class BatchResult:
    batch: str
    readings: int
    results: list[dict[str, Any]]
    replayed: bool = False
    #: The readings not kept: their index, the field at fault and why.
    refused: list[dict[str, Any]] = field(default_factory=list)


class Intake(CapIntake):
    """Observations, CAP messages, playbooks and emergency mode over one command center.

    The playbooks and emergency mode are the :class:`PlaybookRunner`'s, the CAP messages
    the :class:`CapIntake`'s; the intake adds the readings, and its commands stay where
    the API and the workers call them.
    """

    def __init__(
        self,
        center: CommandCenter,
        *,
        catalogue: Catalogue,
        profile: CapProfile,
        playbooks: Sequence[Playbook] = (),
        readings: ReadingStore,
        stations: StationCatalogue | None = None,
        future: timedelta = DEFAULT_FUTURE,
        retention_days: int = 30,
    ) -> None:
        super().__init__(center, profile=profile, playbooks=playbooks)
        self.stations = stations or StationCatalogue()
        check_grouping(catalogue, self.stations)
        self.catalogue = catalogue
        # The inhibit rules are the center's: every raise, from any door, consults them.
        center.inhibit_rules = catalogue.inhibit
        self.readings = readings
        self.future = future
        self.retention_days = retention_days
        # Each condition's state, in memory: one lock, as readings of one condition must
        # be judged one after another (ADR 0073).
        self._lock = threading.RLock()
        self._conditions: dict[tuple[str, str], ConditionState] = {}
        self._enrolled: dict[str, Station] | None = None
        #: (station, metric, unit of measure) that passed the checks not on the value.
        self._feed_ok: dict[tuple[str, str, str], bool] = {}
        #: The silences over the stations this intake judges (ADR 0085).
        self.silences = SilenceCases(
            center, self.station, lambda code: self.catalogue.rule(code) is not None
        )

    def reload(
        self,
        *,
        catalogue: Catalogue | None = None,
        profile: CapProfile | None = None,
        playbooks: Sequence[Playbook] | None = None,
    ) -> None:
        """Swap in configuration already loaded and checked (a bad file never gets here)."""
        if catalogue is not None:
            check_grouping(catalogue, self.stations)
            self.catalogue = catalogue
            self.center.inhibit_rules = catalogue.inhibit
            self._feed_ok = {}
        if profile is not None:
            self.profile = profile
        if playbooks is not None:
            self.playbooks = list(playbooks)

    # -- observations ----------------------------------------------------------------

    def observe(
        self, ctx: Context, batch: str, readings: Sequence[Reading], *, new_batch: bool = False
    ) -> BatchResult:
        """Keep a batch's good readings in the readings store and judge those that can
        change a condition; the same batch again answers its first result.

        Only a decision (a warning raised, its level changed, resolved) is written to the
        log; a reading that changes nothing is a row in the readings store and no more.
        """
        if not batch.strip() or len(batch) > 64:
            raise InvalidValue("a batch id is 1 to 64 characters")
        unit = ctx.actor.unit
        # ``new_batch``: the caller named the batch afresh (the MQTT door's random ids),
        # so no receipt can be kept for it and neither store is asked (ADR 0091).
        kept = None if new_batch else self.readings.receipt(unit, batch)
        if kept is not None:
            return BatchResult(
                batch, kept["readings"], list(kept["results"]), True, list(kept["refused"])
            )
        # Batches recorded on the log before ADR 0073 are answered from there.
        done = None if new_batch else self._find(ObservationBatch, batch_id(unit, batch))
        if done is not None:
            return BatchResult(batch, done.readings, list(done.results), replayed=True)
        received = now()
        known = self._known_stations()
        rules_of: dict[str, list[Rule]] = {}
        refused: list[dict[str, Any]] = []
        good: list[tuple[int, Reading, TelemetryReading]] = []
        enrol: dict[str, Station] = {}
        # What a batch's readings share is worked out once a batch (ADR 0091): each
        # feed's checks that do not depend on the value or the time, and each instant's
        # text (a batch is one time step of many stations, or many steps of a few).
        feed_ok = self._feed_ok
        instants: dict[datetime, str] = {}
        latest = received + self.future
        for index, reading in enumerate(readings):
            rules = rules_of.get(reading.metric)
            if rules is None:
                rules = rules_of[reading.metric] = self.catalogue.for_metric(reading.metric)
            station = known.get(reading.subject) or enrol.get(reading.subject)
            if station is None and self.stations.enrol_unknown:
                station = Station(reading.subject, reading.unit, enrolled=True)
                enrol[station.id] = station
            value, at = reading.value, reading.observed_at
            shared = (reading.subject, reading.metric, reading.unit_of_measure)
            fine = feed_ok.get(shared)
            if fine is None:
                fine = station is not None and _feed_takes(
                    station, reading.metric, reading.unit_of_measure, rules
                )
                if fine and len(feed_ok) < FEED_CHECKS_KEPT:
                    # Kept only when it passes: a station known stays known, and its
                    # feeds change only with the catalogue (:meth:`reload` forgets).
                    feed_ok[shared] = True
            if not (
                fine
                and station is not None
                and type(value) is float
                and math.isfinite(value)
                and at.tzinfo is not None
                and at <= latest
            ):
                # Anything unusual is screened whole, and refused with the screen's reason.
                refusal = screen(
                    index,
                    station=station,
                    metric=reading.metric,
                    value=value,
                    unit_of_measure=reading.unit_of_measure,
                    measured_at=at,
                    received_at=received,
                    future=self.future,
                    rule_units=[r.unit_of_measure for r in rules],
                )
                if refusal is not None:
                    refused.append(
                        {"index": refusal.index, "field": refusal.field, "reason": refusal.reason}
                    )
                    continue
            instant = instants.get(at)
            if instant is None:
                instant = instants[at] = at.astimezone(UTC).isoformat()
            row = TelemetryReading.of(
                reading_id(reading.subject, reading.metric, at, instant),
                reading.subject,
                reading.metric,
                None if value is None else float(value),
                reading.unit_of_measure,
                at,
                received,
                reading.source,
            )
            good.append((index, reading, row))
        if enrol:
            self.readings.enrol(enrol.values())
            with self._lock:
                self._enrolled = {**(self._enrolled or {}), **enrol}
        results: list[dict[str, Any]] = []
        cited: list[TelemetryReading] = []
        zone = self.catalogue.tz
        with self._lock:
            conditions = self._conditions
            for index, reading, row in good:
                rules = rules_of[reading.metric]
                if not rules:
                    results.append(
                        {"index": index, "rule": None, "action": "no_rule", "warning_id": None}
                    )
                    continue
                for rule in rules:
                    # A quiet condition (no warning open, no breach silenced) whose
                    # reading is newer and within its limit changes nothing: its state
                    # moves on here, without the decision path (ADR 0091).
                    state = conditions.get((rule.code, reading.subject))
                    if (
                        state is not None
                        and state.warning_id is None
                        and state.silenced_by is None
                        and (state.last_at is None or reading.observed_at > state.last_at)
                    ):
                        judgement = rule.calm(reading.value) or rule.judge(reading, zone)
                        if judgement.judged and judgement.level is None:
                            state.last_at = reading.observed_at
                            results.append(
                                {
                                    "index": index,
                                    "rule": rule.code,
                                    "level": None,
                                    "limit": judgement.limit,
                                    "explanation": judgement.explanation,
                                    "action": "normal",
                                    "warning_id": None,
                                }
                            )
                            continue
                    result = self._judge_with_retry(ctx, batch, rule, reading, row, cited)
                    results.append({"index": index, **result})
        receipt = {"readings": len(readings), "results": results, "refused": refused}
        # The readings and the receipt in one transaction: a batch is answered as kept
        # only once its readings are durable.
        self.readings.append(
            [row for _, _, row in good], receipt=(unit, batch, receipt), cited=cited
        )
        return BatchResult(batch, len(readings), results, refused=refused)

    def apply_retention(self) -> int:
        """Roll up and drop the raw readings past retention (the cited ones stay)."""
        return self.readings.apply_retention(now(), self.retention_days)

    def _known_stations(self) -> dict[str, Station]:
        if self._enrolled is None:
            # Once per process: the stations enrolled by earlier batches.
            enrolled = {s.id: s for s in self.readings.enrolled()}
            self._enrolled = enrolled
        return {**self._enrolled, **self.stations.by_id()}

    def station(self, sid: str) -> Station | None:
        """A station of the catalogue, or one enrolled from its readings."""
        return self._known_stations().get(sid)

    def all_stations(self) -> list[Station]:
        return sorted(self._known_stations().values(), key=lambda s: s.id)

    def current_conditions(self, sid: str) -> list[tuple[str, ConditionState]]:
        """The conditions of a station this process holds (rule code, state)."""
        with self._lock:
            return [
                (rule, state)
                for (rule, subject), state in self._conditions.items()
                if subject == sid
                and (state.warning_id is not None or state.silenced_by is not None)
            ]

    def silenced_breaches(self, station: Station) -> list[SilencedBreach]:
        """The breaches on a station a live silence keeps from raising, read from what is
        stored rather than from this process's memory (ADR 0091): each feed's latest kept
        reading, judged by its rules; a breach that a live silence active at its measured
        time covers, and that no open warning holds, is silenced. A restarted server, or
        one beside the door that judged the reading (``closedloop intake mqtt``), shows
        what the judging process showed."""
        if not self.silences.live():
            return []
        found: list[SilencedBreach] = []
        zone = self.catalogue.tz
        for row in self.readings.latest(station.id):
            for rule in self.catalogue.for_metric(row.metric):
                reading = _reading_of(row, station)
                judgement = rule.judge(reading, zone)
                if not judgement.breach or judgement.level is None:
                    continue
                sid = self.silences.covering(station, row.metric, rule.code, row.measured_at)
                if sid is None:
                    continue
                key = condition_key(station.unit, rule.code, _dedup_key(rule, reading))
                pointer = self._find(WarningKey, warning_key_id(key))
                if self._open_warning(pointer.warning_id if pointer is not None else None):
                    continue  # people are on it: a warning, not a silenced breach
                found.append(SilencedBreach(rule.code, judgement.level, sid, row))
        return found

    def open_conditions(self, station: Station, metrics: Sequence[str]) -> list[EarlyWarning]:
        """The open warnings of a station's conditions, as the log has them now."""
        found: list[EarlyWarning] = []
        for metric in metrics:
            for rule in self.catalogue.for_metric(metric):
                key = f"rule:{rule.code}|{station.id}"
                pointer = self._find(
                    WarningKey, warning_key_id(condition_key(station.unit, rule.code, key))
                )
                warning = self._open_warning(pointer.warning_id if pointer is not None else None)
                if warning is None:
                    warning = self._open_group_of(station, rule)
                if warning is not None:
                    found.append(warning)
        return found

    def _open_group_of(self, station: Station, rule: Rule) -> EarlyWarning | None:
        """The open group's warning a station is an active member of (ADR 0087)."""
        labels = breach_labels(station.id, station.unit, rule.metric, dict(station.labels))
        key = group_key(rule.code, rule.group_by, labels)
        if key is None:
            return None
        pointer = self._find(
            WarningKey, warning_key_id(condition_key(station.unit, rule.code, key))
        )
        warning = self._open_warning(pointer.warning_id if pointer is not None else None)
        if warning is None or not warning.group_members.get(station.id, {}).get("active"):
            return None
        return warning

    # -- silences (ADR 0085) -----------------------------------------------------------

    def _silenced(self, rule: Rule, reading: Reading) -> UUID | None:
        """The silence that keeps this breach from raising, or None."""
        station = self.station(reading.subject) or Station(reading.subject, reading.unit)
        return self.silences.covering(station, reading.metric, rule.code, reading.observed_at)

    def covered_stations(self, silence: Silence) -> list[Station]:
        """The stations a silence covers, as the intake knows them now."""
        if silence.kind in (SilenceKind.STATION, SilenceKind.FEED):
            station = self.station(silence.target)
            return [station] if station is not None else []
        found: list[Station] = []
        for station in self.all_stations():
            try:
                if self.center.is_within(station.unit, silence.scope):
                    found.append(station)
            except DomainError:  # a station of a unit the network no longer has
                continue
        return found

    def lift(self, silence: Silence) -> list[dict[str, Any]]:
        """Once a silence is over, raise at once what is still beyond its limit: for
        every feed it covered, the latest reading measured during it is judged again,
        and a breach no other silence covers and no open warning holds is raised (its
        playbooks run). The commands' ids derive from the silence and the reading, so
        lifting twice (a watch restarted, two watchers) raises once."""
        done: list[dict[str, Any]] = []
        at = now()
        for station in self.covered_stations(silence):
            for row in self.readings.latest(station.id):
                if silence.kind == SilenceKind.FEED and row.metric != silence.metric:
                    continue
                if row.measured_at < silence.starts_at or row.measured_at >= silence.until:
                    continue
                for rule in self.catalogue.for_metric(row.metric):
                    if silence.kind == SilenceKind.RULE and rule.code != silence.target:
                        continue
                    outcome = self._lift_one(silence, station, rule, row, at)
                    if outcome:
                        done.append(outcome)
        return done

    def _lift_one(
        self, silence: Silence, station: Station, rule: Rule, row: TelemetryReading, at: Any
    ) -> dict[str, Any]:
        reading = _reading_of(row, station)
        judgement = rule.judge(reading, self.catalogue.tz)
        if not judgement.breach or judgement.level is None:
            return {}
        if self.silences.covering(station, row.metric, rule.code, at) is not None:
            return {}  # another silence still holds it
        with self._lock:
            state = self._state(rule, reading)
            if self._open_warning(state.warning_id) is not None:
                return {}
            base = f"silence:{silence.id.hex}:lift:{row.reading_id.hex}:{_rule_hash(rule.code)}"
            ctx = Context(SYSTEM, command_id=base, cause=f"silence {silence.id} over")
            evidence = f"evidence: reading {row.reading_id} = {_value(row)} at {row.measured_at}"
            reason = (
                f"{reading.describe()}: {judgement.explanation}; still beyond its limit when "
                f"silence {silence.id} ended; {evidence}"
            )
            outcome = self._raise(ctx, rule, reading, judgement.level, reason, row)
            instructions = self.run_playbooks(outcome.id, "raise") if outcome.created else []
            state.warning_id, state.level = outcome.id, judgement.level
            state.silenced_by, state.silenced_level, state.silenced_reading = None, None, None
        self.readings.keep([row])
        return {
            "silence_id": str(silence.id),
            "station": station.id,
            "rule": rule.code,
            "action": "raised" if outcome.created else "repeated",
            "warning_id": str(outcome.id),
            "instructions": instructions,
        }

    def _state(self, rule: Rule, reading: Reading) -> ConditionState:
        key = (rule.code, reading.subject)
        state = self._conditions.get(key)
        if state is not None:
            return state
        # Once per condition and process: the warning its key points at on the log, and
        # the latest reading kept (so a late reading after a restart decides nothing).
        state = ConditionState(last_at=self.readings.last_measured(reading.subject, rule.metric))
        scoped = condition_key(reading.unit, rule.code, _dedup_key(rule, reading))
        pointer = self._find(WarningKey, warning_key_id(scoped))
        warning = self._open_warning(pointer.warning_id if pointer is not None else None)
        if warning is None:
            # A member of a group's open warning (ADR 0087): found by the group's key.
            group = self._grouping(rule, reading)
            if group is not None and group[1] is not None:
                member = group[1].group_members.get(reading.subject, {})
                if member.get("active"):
                    warning = group[1]
        if warning is not None:
            state.warning_id, state.level = warning.id, warning.level
        old = self._find(Condition, condition_id(rule.code, reading.subject))
        if old is not None and old.last_observed_at is not None:
            # A condition kept on the log before ADR 0073.
            if state.last_at is None or old.last_observed_at > state.last_at:
                state.last_at = old.last_observed_at
            if warning is not None:
                state.normal_since, state.normal_count = old.normal_since, old.normal_count
        self._conditions[key] = state
        return state

    @staticmethod
    def _system(rule: Rule, row: TelemetryReading, batch: str) -> tuple[Context, str]:
        """The system's context for a decision a reading makes, and its evidence.

        The command ids derive from the reading and the rule, not the batch: the same
        reading sent again in another batch gives the same commands."""
        base = f"obs:{row.reading_id.hex}:{_rule_hash(rule.code)}"
        system = Context(SYSTEM, command_id=base, cause=f"rule {rule.code}, batch {batch}")
        return system, f"evidence: reading {row.reading_id} = {_value(row)} at {row.measured_at}"

    def _judge_with_retry(
        self,
        ctx: Context,
        batch: str,
        rule: Rule,
        reading: Reading,
        row: TelemetryReading,
        cited: list[TelemetryReading],
    ) -> dict[str, Any]:
        # Another process decided on this subject at the same time: judged again, whole;
        # the commands it gave the first time are answered as done by their command ids.
        return self.center.unit_of_work.again_on_conflict(
            lambda: self._judge(ctx, batch, rule, reading, row, cited),
            f"the condition of {reading.subject} kept changing; try again",
        )

    def _judge(
        self,
        ctx: Context,
        batch: str,
        rule: Rule,
        reading: Reading,
        row: TelemetryReading,
        cited: list[TelemetryReading],
    ) -> dict[str, Any]:
        state = self._state(rule, reading)
        judgement = rule.judge(reading, self.catalogue.tz)
        result: dict[str, Any] = {
            "rule": rule.code,
            "level": None,
            "limit": judgement.limit,
            "explanation": judgement.explanation,
        }
        if state.is_stale(reading.observed_at):
            # Kept in the store; it changes no condition backwards.
            same = state.last_at == reading.observed_at
            return {
                **result,
                "action": "already_recorded" if same else "stale",
                "warning_id": _text_id(state.warning_id),
            }
        state.last_at = reading.observed_at
        result["level"] = judgement.level if judgement.judged else None
        if not judgement.judged:
            return {**result, "action": "unjudged", "warning_id": _text_id(state.warning_id)}
        if judgement.level is not None:
            system, evidence = self._system(rule, row, batch)
            state.normal_since, state.normal_count, state.settling = None, 0, []
            warning = self._open_warning(state.warning_id)
            reason = f"{reading.describe()}: {judgement.explanation}; {evidence}"
            instructions: list[dict[str, Any]] = []
            silence = None if warning is not None else self._silenced(rule, reading)
            if silence is not None:
                # Recorded, not raised: the reading is kept and cited, the condition
                # shows the silenced breach, and no playbook runs (ADR 0085).
                if state.silenced_by != silence:
                    cited.append(row)
                state.silenced_by, state.silenced_level = silence, judgement.level
                state.silenced_reading = row
                result.update(action="silenced", warning_id=None, silence_id=str(silence))
                return result
            if warning is None:
                group = self._grouping(rule, reading)
                joined = self._join(system, rule, reading, row, judgement.level, group)
                if joined is not None:
                    # A member of an open group's warning (ADR 0087): an event on it.
                    cited.append(row)
                    state.warning_id, state.level = joined, judgement.level
                    result.update(action="joined", warning_id=str(joined))
                    return result
                outcome = self._raise(
                    system.derived("raise"),
                    rule,
                    reading,
                    judgement.level,
                    reason,
                    row,
                    group=group if group is not None and group[1] is None else None,
                )
                action = "raised" if outcome.created else "repeated"
                if outcome.created:
                    instructions = self.run_playbooks(outcome.id, "raise")
                    cited.append(row)
                state.warning_id, state.level = outcome.id, judgement.level
            elif warning.is_group:
                # A group's level is its worst active member's (ADR 0087).
                before = warning.level
                member = warning.group_members.get(reading.subject, {})
                action = "repeated"
                if member.get("level") != judgement.level:
                    self.center.change_member_level(
                        system.derived("member-level"),
                        warning.id,
                        member=reading.subject,
                        level=judgement.level,
                        reason=reason[:2000],
                    )
                    cited.append(row)
                    now_level = self.center.warning(warning.id).level
                    if now_level != before:
                        action = "escalated" if now_level < before else "de-escalated"
                state.level = judgement.level
            elif judgement.level != warning.level:
                self.center.change_warning_level(
                    system.derived("level"), warning.id, judgement.level, reason[:2000]
                )
                action = "escalated" if judgement.level < warning.level else "de-escalated"
                cited.append(row)
                state.level = judgement.level
            else:
                # The same level again changes no decision: nothing goes on the log.
                action = "repeated"
                state.level = warning.level
            result.update(action=action, warning_id=_text_id(state.warning_id))
            if instructions:
                result["instructions"] = instructions
            return result
        if state.warning_id is None:
            state.silenced_by, state.silenced_level, state.silenced_reading = None, None, None
            return {**result, "action": "normal", "warning_id": None}
        state.normal_since = state.normal_since or reading.observed_at
        state.normal_count += 1
        state.settling = [*state.settling, row][-SETTLING_EVIDENCE:]
        wid = state.warning_id
        if not rule.is_settled(state.normal_since, state.normal_count, reading.observed_at):
            return {**result, "action": "settling", "warning_id": _text_id(wid)}
        warning = self._open_warning(wid)
        if warning is not None and warning.is_group:
            # One member normal again (ADR 0087); the last one resolves the warning.
            system, _ = self._system(rule, row, batch)
            readings_ = ", ".join(f"{r.reading_id} = {_value(r)}" for r in state.settling)
            self.center.resolve_member(
                system.derived("resolve-member"),
                warning.id,
                member=reading.subject,
                note=(
                    f"{rule.code}: {reading.subject} normal since "
                    f"{state.normal_since.isoformat()} ({state.normal_count} reading(s)); "
                    f"evidence: {readings_}"
                )[:2000],
            )
            cited.extend(state.settling)
            state.warning_id, state.level = None, None
            state.normal_since, state.normal_count, state.settling = None, 0, []
            after = self._find(EarlyWarning, warning.id)
            action = "resolved" if after is not None and not after.is_open else "member_resolved"
            return {**result, "action": action, "warning_id": _text_id(wid)}
        if warning is not None:
            system, _ = self._system(rule, row, batch)
            readings_ = ", ".join(f"{r.reading_id} = {_value(r)}" for r in state.settling)
            self.center.resolve_warning(
                system.derived("resolve"),
                warning.id,
                (
                    f"{rule.code}: normal since {state.normal_since.isoformat()} "
                    f"({state.normal_count} reading(s)); last {reading.describe()}; "
                    f"evidence: {readings_}"
                )[:2000],
            )
            cited.extend(state.settling)
        # Resolved, or closed by people meanwhile: the condition lets go of it.
        state.warning_id, state.level = None, None
        state.normal_since, state.normal_count, state.settling = None, 0, []
        action = "resolved" if warning is not None else "normal"
        return {**result, "action": action, "warning_id": _text_id(wid if warning else None)}

    # -- grouping (ADR 0087) -------------------------------------------------------------

    def _grouping(self, rule: Rule, reading: Reading) -> tuple[str, EarlyWarning | None] | None:
        """The group key of a breach and its group's open warning, or None when the rule
        does not group it (no grouping, or a label its station lacks)."""
        if not rule.group_by:
            return None
        station = self.station(reading.subject)
        labels = breach_labels(
            reading.subject, reading.unit, reading.metric, dict(station.labels if station else ())
        )
        key = group_key(rule.code, rule.group_by, labels)
        if key is None:
            return None
        pointer = self._find(
            WarningKey, warning_key_id(condition_key(reading.unit, rule.code, key))
        )
        return key, self._open_warning(pointer.warning_id if pointer is not None else None)

    def _join(
        self,
        system: Context,
        rule: Rule,
        reading: Reading,
        row: TelemetryReading,
        level: int,
        group: tuple[str, EarlyWarning | None] | None,
    ) -> UUID | None:
        """Join the breach to its group's open warning when it may (a member again, or
        a new one within the window); the warning's id, or None to raise."""
        if group is None or group[1] is None:
            return None
        warning = group[1]
        known = reading.subject in warning.group_members
        window = rule.group_window or timedelta(0)
        if not known and not joins(warning.observed_at, reading.observed_at, window):
            return None  # the window has passed: it raises on its own
        self.center.join_group(
            system.derived("join"),
            warning.id,
            member=reading.subject,
            level=level,
            observed_at=reading.observed_at,
            evidence=row.evidence(),
        )
        return warning.id

    def group_of(self, warning: EarlyWarning) -> dict[str, Any] | None:
        """What the API shows of a group's warning: its key, labels and members."""
        if not warning.is_group:
            return None
        group = dict(warning.attributes.get("group", {}))
        members = [
            {
                "member": m,
                "level": v.get("level"),
                "active": bool(v.get("active")),
                "joined_at": v.get("joined_at"),
            }
            for m, v in warning.group_members.items()
        ]
        return {**group, "members": members, "count": len(members)}

    def _open_warning(self, wid: UUID | None) -> EarlyWarning | None:
        if wid is None:
            return None
        warning = self._find(EarlyWarning, wid)
        return warning if warning is not None and warning.is_open else None

    def _raise(
        self,
        ctx: Context,
        rule: Rule,
        reading: Reading,
        level: int,
        reason: str,
        row: TelemetryReading,
        group: tuple[str, EarlyWarning | None] | None = None,
    ) -> Outcome:
        extra: dict[str, Any] = {}
        title = f"{rule.title}: {reading.subject}"
        if group is not None:
            # The group's first breach raises its warning under the group's key.
            station = self.station(reading.subject)
            labels = dict(station.labels) if station is not None else {}
            shown = {k: labels.get(k, reading.unit if k == "unit" else "") for k in rule.group_by}
            extra["group"] = {
                "key": group[0],
                "by": list(rule.group_by),
                "labels": shown,
                "window_minutes": int((rule.group_window or timedelta(0)).total_seconds() // 60),
            }
            extra["labels"] = labels
            title = f"{rule.title}: " + ", ".join(f"{k} {v}" for k, v in shown.items())
        elif (station := self.station(reading.subject)) is not None and station.labels:
            extra["labels"] = dict(station.labels)
        return self.center.raise_warning(
            ctx,
            source=reading.source,
            rule=rule.code,
            theme=rule.theme,
            level=level,
            title=title[:200],
            unit=reading.unit,
            description=reason,
            location=reading.location or None,
            observed_at=reading.observed_at,
            dedup_key=group[0] if group is not None else _dedup_key(rule, reading),
            attributes={
                **extra,
                "subject": reading.subject,
                "metric": reading.metric,
                "value": reading.value,
                "unit_of_measure": reading.unit_of_measure or rule.unit_of_measure,
                **{k: v for k, v in reading.attributes.items() if isinstance(k, str)},
                # The reading that decided it: the audit trail proves why on its own.
                "evidence": [row.evidence()],
            },
        )


def check_grouping(catalogue: Catalogue, stations: StationCatalogue) -> None:
    """Every label a rule groups by is a breach's own or one a station of the catalogue
    names: a misspelt label would group nothing, silently (ADR 0087)."""
    named = {k for s in stations.stations for k, _ in s.labels} | set(OWN_LABELS)
    for rule in catalogue.rules:
        unknown = [label for label in rule.group_by if label not in named]
        if unknown:
            raise CatalogueError(
                f"rule {rule.code!r}: group_by names {', '.join(unknown)}, which no station "
                f"of the catalogue has among its labels (nor is it one of {', '.join(OWN_LABELS)})"
            )


@lru_cache(maxsize=256)
def _rule_hash(code: str) -> str:
    return derived_id("rule", code).hex[:12]


def _dedup_key(rule: Rule, reading: Reading) -> str:
    return f"rule:{rule.code}|{reading.subject}"


def _reading_of(row: TelemetryReading, station: Station) -> Reading:
    """A kept reading as the rules judge it, spoken for by its station's unit."""
    return Reading(
        source=row.source,
        subject=station.id,
        metric=row.metric,
        value=row.value,
        unit_of_measure=row.unit_of_measure,
        location="",
        unit=station.unit,
        observed_at=row.measured_at,
    )


def _feed_takes(station: Station, metric: str, unit_of_measure: str, rules: list[Rule]) -> bool:
    """Whether a reading of ``station``'s feed ``metric`` in ``unit_of_measure`` passes the
    checks of :func:`~domain.readings.screen` that do not look at its value or time."""
    feed = station.feed(metric)
    if feed is None and not station.enrolled:
        return False
    expected = [feed.unit_of_measure] if feed is not None else [r.unit_of_measure for r in rules]
    expected = [u for u in expected if u]
    return not (unit_of_measure and expected and unit_of_measure not in expected)


def _value(row: TelemetryReading) -> str:
    return "no value" if row.value is None else f"{row.value:g} {row.unit_of_measure}".strip()


def _text_id(wid: UUID | None) -> str | None:
    return str(wid) if wid is not None else None

"""The silences' use cases (ADR 0085): set, extend and end a silence, the system's
expiry, and which live silence covers a breach. Each goes through the command center's
one command path (load, decide, save, retry on conflict, idempotency by command id).

Who may: a silence is set, extended and ended by a duty officer of a unit whose subtree
holds what is silenced (a station's owning unit, the unit silenced; a rule is silenced
within the duty officer's own unit's subtree); the expiry is the system's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.decision import Decision, check_same_command
from domain.errors import NotFound, SilenceNotFound, SilenceRefused, SilenceTargetUnknown
from domain.meta import Context
from domain.readings import Station
from domain.silence import Silence, SilenceKind, silence_id
from domain.silence_roster import SILENCE_ROSTER_ID, SilenceRoster

#: The role that keeps a unit's watch and so silences its stations.
SILENCES = "duty_officer"
#: The rule code of the heartbeat's "feed silent" warning (``domain/heartbeat.py``).
FEED_SILENT_RULE = "feed.silent"


class SilenceCases:
    """Silences set over the stations, feeds, rules and units of the network.

    ``station_of`` finds a station (the catalogue's or an enrolled one), ``rule_known``
    tells a rule of the catalogue: both are the intake's, which builds this."""

    def __init__(
        self,
        center: CommandCenter,
        station_of: Callable[[str], Station | None],
        rule_known: Callable[[str], bool],
    ) -> None:
        self.center = center
        self.station_of = station_of
        self.rule_known = rule_known

    # -- reading -----------------------------------------------------------------------

    def silence(self, sid: UUID) -> Silence:
        found = self.center.unit_of_work.find(Silence, sid)
        if found is None:
            raise SilenceNotFound(f"no silence {sid} was set")
        return found

    def live(self) -> dict[str, dict[str, Any]]:
        """The silences not yet over, by id: what each covers and its period."""
        roster = self.center.unit_of_work.find(SilenceRoster, SILENCE_ROSTER_ID)
        return {} if roster is None else dict(roster.entries)

    def history(self) -> list[tuple[int, UUID, str, bool]]:
        """Every silence set, over or not, newest first: its serial (the order it was
        set in, from 1), id, scope unit and whether it is over (ended or expired)."""
        roster = self.center.unit_of_work.find(SilenceRoster, SILENCE_ROSTER_ID)
        if roster is None:
            return []
        listed = list(roster.scopes.items())
        return [
            (serial, UUID(sid), scope, sid not in roster.entries)
            for serial, (sid, scope) in reversed(list(enumerate(listed, start=1)))
        ]

    def covering(self, station: Station, metric: str, rule: str, at: datetime) -> UUID | None:
        """The live silence active at ``at`` that covers a breach of ``rule`` on
        ``station``'s feed ``metric`` (the earliest ending, when several do), or None."""
        found: list[tuple[datetime, str]] = []
        within: dict[str, bool] = {}  # scope -> whether it holds the station's unit
        for sid, e in self.live().items():
            if not e["starts_at"] <= at < e["ends_at"]:
                continue
            if self._covers(e, station, metric, rule, within):
                found.append((e["ends_at"], sid))
        return UUID(min(found)[1]) if found else None

    def _covers(
        self,
        e: dict[str, Any],
        station: Station,
        metric: str,
        rule: str,
        within: dict[str, bool],
    ) -> bool:
        kind = e["kind"]
        if kind == SilenceKind.STATION:
            return bool(e["target"] == station.id)
        if kind == SilenceKind.FEED:
            return bool(e["target"] == station.id and e["metric"] == metric)
        if kind == SilenceKind.RULE and e["target"] != rule:
            return False
        scope = e["scope"]
        if scope not in within:
            # The station's unit's ancestors once, not once per silence.
            if not within:
                try:
                    within[""] = False
                    within.update(dict.fromkeys(self.center.ancestors(station.unit), True))
                except NotFound:  # a station of a unit the network no longer has
                    pass
                within[station.unit] = True
            within.setdefault(scope, False)
        return within[scope]

    # -- commands ----------------------------------------------------------------------

    def _scope_of(self, ctx: Context, kind: SilenceKind, target: str, metric: str | None) -> str:
        """The unit whose subtree holds the target; the target is checked to exist."""
        if kind in (SilenceKind.STATION, SilenceKind.FEED):
            station = self.station_of(target)
            if station is None:
                raise SilenceTargetUnknown(f"no station {target} is known")
            if kind == SilenceKind.FEED:
                if not metric:
                    raise SilenceTargetUnknown("a feed's silence names the feed's metric")
                if station.feeds and station.feed(metric) is None:
                    raise SilenceTargetUnknown(f"station {target} has no feed {metric}")
            elif metric:
                raise SilenceTargetUnknown("only a feed's silence names a metric")
            return station.unit
        if metric:
            raise SilenceTargetUnknown("only a feed's silence names a metric")
        if kind == SilenceKind.RULE:
            if target != FEED_SILENT_RULE and not self.rule_known(target):
                raise SilenceTargetUnknown(f"no rule {target} is in the catalogue")
            return ctx.actor.unit
        try:
            self.center.unit(target)
        except NotFound:
            raise SilenceTargetUnknown(f"no unit {target} is in the network") from None
        return target

    def _check_may(self, ctx: Context, scope: str, doing: str) -> None:
        actor = ctx.actor
        if actor.role not in (SILENCES, "system"):
            raise SilenceRefused(f"a {SILENCES.replace('_', ' ')} {doing}, not a {actor.role}")
        if actor.role != "system" and not self.center.is_within(scope, actor.unit):
            raise SilenceRefused(
                f"a duty officer of {actor.unit} {doing} only within its own unit's "
                f"subtree, and {scope} is not in it"
            )

    def set_silence(
        self,
        ctx: Context,
        *,
        kind: str,
        target: str,
        metric: str | None,
        starts_at: datetime,
        ends_at: datetime,
        category: str,
        reason: str,
    ) -> Outcome:
        """Silence ``target`` (a station, a feed, a rule or a unit) from ``starts_at``
        to ``ends_at``, for ``reason``."""
        try:
            what = SilenceKind(kind)
        except ValueError:
            names = ", ".join(k.value for k in SilenceKind)
            raise SilenceTargetUnknown(f"a silence covers one of {names}") from None
        new_id = silence_id(ctx.command_id)
        center = self.center

        def decide() -> Decision:
            again = center.unit_of_work.find(Silence, new_id)
            if again is not None:
                check_same_command(
                    "set a silence", (again.kind.value, what.value), (again.target, target)
                )
                return Decision(again, [], created=True)
            scope = self._scope_of(ctx, what, target, metric)
            self._check_may(ctx, scope, "sets silences")
            silence = Silence.set(
                kind=what,
                target=target,
                metric=metric or None,
                scope=scope,
                starts_at=starts_at,
                ends_at=ends_at,
                category=category,
                reason=reason,
                meta=ctx.meta("SetSilence", new_id),
            )
            roster = center.unit_of_work.find(SilenceRoster, SILENCE_ROSTER_ID)
            if roster is None:
                roster = SilenceRoster(meta=ctx.meta("StartSilenceRoster", SILENCE_ROSTER_ID))
            roster.list_silence(
                silence_id=new_id,
                kind=silence.kind.value,
                target=silence.target,
                metric=silence.metric,
                scope=silence.scope,
                starts_at=silence.starts_at,
                ends_at=silence.ends_at,
                meta=ctx.meta("SetSilence", new_id),
            )
            return Decision(silence, [silence, roster], created=True)

        return center.unit_of_work.execute(decide, expected_version=ctx.expected_version)

    def _roster(self) -> SilenceRoster:
        return self.center.unit_of_work.load(SilenceRoster, SILENCE_ROSTER_ID, "silence roster")

    def extend_silence(self, ctx: Context, sid: UUID, ends_at: datetime, reason: str) -> Outcome:
        """Move a live silence's end later, saying why."""

        def act(s: Silence) -> list[Any]:
            self._check_may(ctx, s.scope, "extends silences")
            meta = ctx.meta("ExtendSilence", s.loop_id)
            s.extend(ends_at, reason, meta)
            roster = self._roster()
            roster.move(silence_id=s.id, ends_at=s.ends_at, meta=meta)
            return [roster]

        self.silence(sid)
        return self.center.unit_of_work.command(ctx, Silence, sid, "silence", act, "ExtendSilence")

    def end_silence(self, ctx: Context, sid: UUID, reason: str) -> Outcome:
        """End a silence now, saying why (a pending one never starts)."""

        def act(s: Silence) -> list[Any]:
            self._check_may(ctx, s.scope, "ends silences")
            meta = ctx.meta("EndSilence", s.loop_id)
            s.end(reason, meta)
            roster = self._roster()
            roster.drop(silence_id=s.id, meta=meta)
            return [roster]

        self.silence(sid)
        return self.center.unit_of_work.command(ctx, Silence, sid, "silence", act, "EndSilence")

    def expire_silence(self, ctx: Context, sid: UUID) -> Outcome:
        """The system marks a silence's end reached (the silence watch's act)."""

        def act(s: Silence) -> list[Any]:
            meta = ctx.meta("ExpireSilence", s.loop_id)
            if not s.expire(meta):
                return []
            roster = self._roster()
            roster.drop(silence_id=s.id, meta=meta)
            return [roster]

        return self.center.unit_of_work.command(ctx, Silence, sid, "silence", act, "ExpireSilence")

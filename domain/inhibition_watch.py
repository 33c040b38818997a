"""The inhibition watch (ADR 0087): an inhibited warning comes back once its inhibitor
ends first.

Each round walks the inhibition roster: for every open warning listed, the inhibitor
that should hold it now (an open source that matches, by the inhibit rules in force) is
compared with the one that does. A warning whose inhibitor resolved, was cancelled,
closed, merged or fell below the source's levels is released (``Uninhibited``, then its
playbooks run, as at a raise) unless another open source holds it, and then that one
inhibits it instead; a target raised before its source, or inhibited by no raise (a
crash between), is inhibited now. Only then are the warnings that are over dropped from
the roster, so a crash in between does it again in the next round. Every command's id
derives from the warning and its version (``inhibit:<warning>:<version>:…``): run
twice, across restarts or by two watchers, each act happens once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.errors import DomainError
from domain.inhibition import inhibitor_of
from domain.meta import SYSTEM, Context
from domain.playbook_runner import PlaybookRunner
from domain.warning import EarlyWarning, WarningStatus


class InhibitionWatch:
    """Releases and re-inhibits the roster's warnings as their inhibitors come and go."""

    def __init__(self, runner: PlaybookRunner) -> None:
        self.runner = runner

    @property
    def center(self) -> CommandCenter:
        return self.runner.center

    def tick(self) -> list[dict[str, Any]]:
        center = self.center
        roster = center.inhibition_roster()
        if roster is None:
            return []
        rules = center.inhibit_rules
        listed = center.open_listed(roster)
        alerting = [center.alerting(w) for w in listed]
        done: list[dict[str, Any]] = []
        for index, w in enumerate(listed):
            me = alerting[index]
            mine = [r for r in rules if r.mentions(w.rule)]
            others = [a for a in alerting if a.id != w.id]
            holding = {a.id for r in mine for a in others if r.inhibits(a, me, center.unit_within)}
            wanted = inhibitor_of(mine, me, others, center.unit_within)
            try:
                acts = self._settle(w, wanted, holding)
                if acts:
                    # What it is now decides the warnings after it in this round.
                    alerting[index] = center.alerting(center.warning(w.id))
                done += acts
            except DomainError as e:
                done.append({"warning_id": str(w.id), "act": "inhibit", "skipped": str(e)})
        still = {w.id for w in listed}
        for text in list(roster.entries):
            wid = UUID(text)
            if wid in still:
                continue
            ctx = Context(SYSTEM, command_id=f"inhibit:{wid.hex}:drop", cause="inhibition: over")
            try:
                center.drop_from_inhibition(ctx, wid)
            except DomainError as e:
                done.append({"warning_id": text, "act": "drop", "skipped": str(e)})
        return done

    def _settle(self, w: EarlyWarning, wanted: Any, holding: set[UUID]) -> list[dict[str, Any]]:
        center = self.center
        base = f"inhibit:{w.id.hex}:{w.version}"
        if wanted is None:
            if w.inhibited_by is None:
                return []
            by = w.inhibited_by
            center.uninhibit_warning(
                Context(SYSTEM, command_id=f"{base}:release", cause="inhibition: inhibitor over"),
                w.id,
                f"its inhibitor, warning {by}, ended or no longer matches",
            )
            instructions = self.runner.run_playbooks(w.id, "raise")
            if center.warning(w.id).status == WarningStatus.CONFIRMED:
                instructions += self.runner.run_playbooks(w.id, "confirm")
            return [
                {
                    "warning_id": str(w.id),
                    "act": "released",
                    "by": str(by),
                    "instructions": len(instructions),
                }
            ]
        rule, source = wanted
        if w.inhibited_by in holding:
            return []  # its inhibitor still stands and matches: it keeps it
        center.inhibit_warning(
            Context(SYSTEM, command_id=f"{base}:by:{source.id.hex}", cause="inhibition"),
            w.id,
            by=source.id,
            inhibition=rule.name,
            reason=f"inhibited by warning {source.id} under inhibit rule {rule.name}",
        )
        return [{"warning_id": str(w.id), "act": "inhibited", "by": str(source.id)}]

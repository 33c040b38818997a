"""The early-warning intake: readings and CAP messages in, warnings and playbooks out.

:class:`Intake` does its work only through the :class:`~domain.application.CommandCenter`'s
public commands (raise, change level, resolve, cancel, issue instruction), so every rule
of the closed loop still holds. What a reading's rule decides is done as the system
(:data:`~domain.meta.SYSTEM`), what a CAP message does as the token that sent it
(``domain/cap_intake.py``, ADR 0041), and a playbook's instructions as its dispatching
unit in the role ``system``, with the rule, message or playbook named as the cause.

Every command it gives has an id derived from what caused it (a batch and a reading's
index, a CAP message, a warning and a playbook step), so doing the same work twice, after
a crash or a retry, changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.cap import CapProfile
from domain.cap_intake import CapIntake, CapResult
from domain.condition import Condition, condition_id
from domain.errors import InvalidValue
from domain.meta import SYSTEM, Context, derived_id
from domain.observation_batch import ObservationBatch, batch_id
from domain.playbooks import Playbook
from domain.rules import Catalogue, Reading, Rule
from domain.warning import EarlyWarning

__all__ = ["BatchResult", "CapResult", "Intake"]


@dataclass
class BatchResult:
    batch: str
    readings: int
    results: list[dict[str, Any]]
    replayed: bool = False


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
    ) -> None:
        super().__init__(center, profile=profile, playbooks=playbooks)
        self.catalogue = catalogue

    def reload(
        self,
        *,
        catalogue: Catalogue | None = None,
        profile: CapProfile | None = None,
        playbooks: Sequence[Playbook] | None = None,
    ) -> None:
        """Swap in configuration already loaded and checked (a bad file never gets here)."""
        if catalogue is not None:
            self.catalogue = catalogue
        if profile is not None:
            self.profile = profile
        if playbooks is not None:
            self.playbooks = list(playbooks)

    # -- observations ----------------------------------------------------------------

    def observe(self, ctx: Context, batch: str, readings: Sequence[Reading]) -> BatchResult:
        """Judge a batch of readings; the same batch again answers its first result."""
        if not batch.strip() or len(batch) > 64:
            raise InvalidValue("a batch id is 1 to 64 characters")
        bid = batch_id(ctx.actor.unit, batch)
        done = self._find(ObservationBatch, bid)
        if done is not None:
            return BatchResult(batch, done.readings, list(done.results), replayed=True)
        results: list[dict[str, Any]] = []
        for index, reading in enumerate(readings):
            rules = self.catalogue.for_metric(reading.metric)
            if not rules:
                results.append(
                    {"index": index, "rule": None, "action": "no_rule", "warning_id": None}
                )
                continue
            for rule in rules:
                base = f"obs:{bid.hex}:{index}:{derived_id('rule', rule.code).hex[:12]}"
                result = self._apply_with_retry(ctx, batch, rule, reading, base)
                results.append({"index": index, **result})
        first = self._first_of(
            ObservationBatch,
            bid,
            lambda: ObservationBatch(
                unit=ctx.actor.unit,
                batch=batch,
                readings=len(readings),
                results=results,
                meta=ctx.meta("ObserveBatch", bid),
            ),
        )
        if first is not None:
            return BatchResult(batch, first.readings, list(first.results), replayed=True)
        return BatchResult(batch, len(readings), results)

    def _apply_with_retry(
        self, ctx: Context, batch: str, rule: Rule, reading: Reading, base: str
    ) -> dict[str, Any]:
        # Another batch judged this subject at the same time: judged again, whole; the
        # commands it gave the first time are answered as done by their command ids.
        return self.center.unit_of_work.again_on_conflict(
            lambda: self._apply(ctx, batch, rule, reading, base),
            f"the condition of {reading.subject} kept changing; try again",
        )

    def _apply(
        self, ctx: Context, batch: str, rule: Rule, reading: Reading, base: str
    ) -> dict[str, Any]:
        cid = condition_id(rule.code, reading.subject)
        own = Context(actor=ctx.actor, command_id=base)
        condition = self._find(Condition, cid)
        if condition is None:
            condition = Condition(
                rule=rule.code, subject=reading.subject, meta=own.meta("StartCondition", cid)
            )
        elif condition.has_seen(base):
            return {
                "rule": rule.code,
                "action": "already_recorded",
                "warning_id": _text_id(condition.warning_id),
            }
        judgement = rule.judge(reading, self.catalogue.tz)
        warning = self._open_warning(condition.warning_id)
        system = Context(SYSTEM, command_id=base, cause=f"rule {rule.code}, batch {batch}")
        applied = not condition.is_stale(reading.observed_at)
        wid = warning.id if warning is not None else None
        instructions: list[dict[str, Any]] = []
        if not applied:
            action = "stale"
        elif not judgement.judged:
            action = "unjudged"
        elif judgement.level is not None:
            reason = f"{reading.describe()}: {judgement.explanation}"
            if warning is not None and judgement.level != warning.level:
                self.center.change_warning_level(
                    system.derived("level"), warning.id, judgement.level, reason[:2000]
                )
                action = "escalated" if judgement.level < warning.level else "de-escalated"
            else:
                action = "repeated"
            outcome = self._raise(system.derived("raise"), rule, reading, judgement.level, reason)
            if warning is None:
                action = "raised" if outcome.created else "repeated"
                if outcome.created:
                    instructions = self.run_playbooks(outcome.id, "raise")
            wid = outcome.id
        elif warning is not None:
            normal_since = condition.normal_since or reading.observed_at
            if rule.is_settled(normal_since, condition.normal_count + 1, reading.observed_at):
                self.center.resolve_warning(
                    system.derived("resolve"),
                    warning.id,
                    f"{rule.code}: normal since {normal_since.isoformat()} "
                    f"({condition.normal_count + 1} reading(s)); last {reading.describe()}",
                )
                action = "resolved"
            else:
                action = "settling"
        else:
            action = "normal"
        condition.record(
            metric=reading.metric,
            value=reading.value,
            observed_at=reading.observed_at,
            level=judgement.level if judgement.judged else None,
            judged=judgement.judged,
            applied=applied,
            action=action,
            # After a resolution, or once people closed it, the condition lets go of it.
            warning_id=None if action == "resolved" else wid,
            meta=own.meta("RecordReading", cid),
        )
        self.center.save(condition)
        result: dict[str, Any] = {
            "rule": rule.code,
            "action": action,
            "level": judgement.level if applied and judgement.judged else None,
            "limit": judgement.limit,
            "explanation": judgement.explanation,
            "warning_id": _text_id(wid),
        }
        if instructions:
            result["instructions"] = instructions
        return result

    def _open_warning(self, wid: UUID | None) -> EarlyWarning | None:
        if wid is None:
            return None
        warning = self._find(EarlyWarning, wid)
        return warning if warning is not None and warning.is_open else None

    def _raise(
        self, ctx: Context, rule: Rule, reading: Reading, level: int, reason: str
    ) -> Outcome:
        return self.center.raise_warning(
            ctx,
            source=reading.source,
            rule=rule.code,
            theme=rule.theme,
            level=level,
            title=f"{rule.title}: {reading.subject}"[:200],
            unit=reading.unit,
            description=reason,
            location=reading.location or None,
            observed_at=reading.observed_at,
            dedup_key=f"rule:{rule.code}|{reading.subject}",
            attributes={
                "subject": reading.subject,
                "metric": reading.metric,
                "value": reading.value,
                "unit_of_measure": reading.unit_of_measure or rule.unit_of_measure,
                **{k: v for k, v in reading.attributes.items() if isinstance(k, str)},
            },
        )


def _text_id(wid: UUID | None) -> str | None:
    return str(wid) if wid is not None else None

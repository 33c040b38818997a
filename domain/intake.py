"""The early-warning intake: readings and CAP messages in, warnings and playbooks out.

:class:`Intake` does its work only through the :class:`~domain.application.CommandCenter`'s
public commands (raise, change level, resolve, cancel, issue instruction), so every rule
of the closed loop still holds. What it decides by itself is done as the system
(:data:`~domain.meta.SYSTEM`, or the dispatching unit of a playbook acting in the role
``system``), with the rule, message or playbook that caused it named as the cause.

Every command it gives has an id derived from what caused it (a batch and a reading's
index, a CAP message, a warning and a playbook step), so doing the same work twice, after
a crash or a retry, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.application import CommandCenter, Outcome
from domain.cap import CapAlert, CapMessage, CapProfile, cap_message_id, warning_of
from domain.condition import Condition, condition_id
from domain.decision import Decision
from domain.errors import InvalidValue, NotFound
from domain.meta import SYSTEM, Context, derived_id
from domain.observation_batch import ObservationBatch, batch_id
from domain.playbook_runner import PlaybookRunner
from domain.playbooks import Playbook
from domain.rules import Catalogue, Reading, Rule
from domain.warning import EarlyWarning, WarningStatus

T = TypeVar("T", bound=Aggregate)

_WITHDRAWABLE = frozenset(
    {
        WarningStatus.RAISED,
        WarningStatus.ACKNOWLEDGED,
        WarningStatus.CONFIRMED,
        WarningStatus.RESOLVED,
    }
)


@dataclass
class BatchResult:
    batch: str
    readings: int
    results: list[dict[str, Any]]
    replayed: bool = False


@dataclass
class CapResult:
    key: str
    outcome: str
    warning_ids: list[UUID]
    replayed: bool = False
    instructions: list[dict[str, Any]] = field(default_factory=list)


class Intake(PlaybookRunner):
    """Observations, CAP messages, playbooks and emergency mode over one command center.

    The playbooks and emergency mode are the :class:`PlaybookRunner`'s; the intake adds
    what raises the warnings they act on, and its commands stay where the API and the
    workers call them.
    """

    def __init__(
        self,
        center: CommandCenter,
        *,
        catalogue: Catalogue,
        profile: CapProfile,
        playbooks: Sequence[Playbook] = (),
    ) -> None:
        super().__init__(center, playbooks)
        self.catalogue = catalogue
        self.profile = profile

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

    # -- storage of the intake's own aggregates ------------------------------------------

    def _first_of(self, cls: type[T], aggregate_id: UUID, make: Callable[[], T]) -> T | None:
        """Record what ``make`` builds under ``aggregate_id``, through the one command path;
        None when it is recorded, or what was recorded there first (the same batch or
        message handled at the same time elsewhere: the first record stands)."""
        work = self.center.unit_of_work

        def decide() -> Decision:
            first = work.find_repeat(cls, aggregate_id)
            if first is not None:
                return Decision(first, [])
            made = make()
            return Decision(made, [made], created=True)

        if work.execute(decide).recorded:
            return None
        return self._find(cls, aggregate_id)

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

    # -- CAP -------------------------------------------------------------------------

    def receive_cap(self, ctx: Context, alert: CapAlert) -> CapResult:
        """Act on one CAP message, once."""
        mid = cap_message_id(alert.key)
        seen = self._find(CapMessage, mid)
        if seen is not None:
            return CapResult(alert.key, seen.outcome, list(seen.warning_ids), replayed=True)
        system = Context(SYSTEM, command_id=f"cap:{mid.hex}", cause=f"CAP {alert.key}"[:500])
        references = [self._find(CapMessage, cap_message_id(",".join(r))) for r in alert.references]
        referenced = [w for m in references if m is not None for w in m.warning_ids]
        instructions: list[dict[str, Any]] = []
        if alert.status not in self.profile.act_on_statuses or alert.msg_type in ("Ack", "Error"):
            outcome, wids = f"recorded only ({alert.status} {alert.msg_type})", []
        elif alert.is_withdrawal:
            wids = self._withdraw(system, alert, referenced)
            outcome = "withdrew" if wids else "nothing to withdraw"
        elif alert.msg_type == "Update" and self._open_ones(referenced):
            wids = self._supersede(system, alert, self._open_ones(referenced))
            outcome = "superseded"
        else:
            raised = self._raise_cap(system, alert)
            wids = [raised.id]
            outcome = "raised" if raised.created else "repeated"
            if raised.created:
                instructions = self.run_playbooks(raised.id, "raise")
        first = self._first_of(
            CapMessage,
            mid,
            lambda: CapMessage(
                key=alert.key,
                msg_type=alert.msg_type,
                status=alert.status,
                references=[",".join(r) for r in alert.references],
                warning_ids=wids,
                outcome=outcome,
                meta=ctx.meta("ReceiveCap", mid),
            ),
        )
        if first is not None:
            return CapResult(alert.key, first.outcome, list(first.warning_ids), replayed=True)
        return CapResult(alert.key, outcome, wids, instructions=instructions)

    def _open_ones(self, wids: Iterable[UUID]) -> list[EarlyWarning]:
        found = [self._open_warning(w) for w in dict.fromkeys(wids)]
        return [w for w in found if w is not None]

    def _raise_cap(self, ctx: Context, alert: CapAlert) -> Outcome:
        cw = warning_of(alert, self.profile)
        try:
            self.center.unit(cw.unit)
        except NotFound:
            raise InvalidValue(
                f"the CAP profile maps this alert to unit {cw.unit} ({cw.unit_from}), "
                "which is not registered"
            ) from None
        attributes = {**cw.attributes, "level_from": cw.level_from, "unit_from": cw.unit_from}
        return self.center.raise_warning(
            ctx,
            source=alert.sender[:128],
            rule=cw.rule,
            theme=cw.theme,
            level=cw.level,
            title=cw.title,
            unit=cw.unit,
            description=cw.description or None,
            location=cw.location or None,
            observed_at=alert.sent_at,
            dedup_key=f"cap:{cap_message_id(alert.key).hex}",
            attributes=attributes,
        )

    def _supersede(self, ctx: Context, alert: CapAlert, warnings: list[EarlyWarning]) -> list[UUID]:
        cw = warning_of(alert, self.profile)
        for w in warnings:
            if w.level != cw.level:
                self.center.change_warning_level(
                    ctx.derived(f"level:{w.id.hex}"),
                    w.id,
                    cw.level,
                    f"CAP update {alert.identifier} sent {alert.sent}: {cw.level_from}",
                )
        return [w.id for w in warnings]

    def _withdraw(self, ctx: Context, alert: CapAlert, wids: list[UUID]) -> list[UUID]:
        withdrawn: list[UUID] = []
        for wid in dict.fromkeys(wids):
            w = self._find(EarlyWarning, wid)
            if w is None or w.status not in _WITHDRAWABLE:
                continue
            self.center.cancel_warning(
                ctx.derived(f"cancel:{wid.hex}"),
                wid,
                f"CAP {alert.msg_type} {alert.identifier} sent {alert.sent} withdrew it",
            )
            withdrawn.append(wid)
        return withdrawn


def _text_id(wid: UUID | None) -> str | None:
    return str(wid) if wid is not None else None

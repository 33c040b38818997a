"""CAP messages in, warnings raised, updated or withdrawn, within the sender's reach (ADR 0041).

A CAP message says who sent it and where it applies in its own text; neither is taken on
trust. Before anything is done:

- **the sender** must be bound to the sending token (``domain/cap_senders.py``): its
  unit, or its public id;
- **every area** of a message that acts must be mapped to a unit by the profile (an
  unmapped one is refused with 422, never filed at a default), and every unit so named,
  as every warning an update or cancel reaches, must lie in the token's subtree (403);
- **references** of an update or cancel reach the same sender's messages only: one
  sender never updates or withdraws another's (a withdrawal naming another's is refused).

The message is then recorded under its key, ``sender,identifier,sent``, in a namespace
taken only by bound senders (:func:`~domain.cap.cap_message_id`), and a replay answers
only the warnings the asking token's unit can see. The warnings' events carry the
token's person, unit and role; the playbooks it sets off act, as ever, as their
dispatching unit in the role ``system``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.cap import (
    CapAlert,
    CapAreaUnplaced,
    CapMessage,
    CapOutsideSubtree,
    CapProfile,
    CapReferenceRefused,
    cap_message_id,
    legacy_cap_message_id,
    unplaced_text,
    warning_of,
)
from domain.cap_sender_commands import CapSenderCases
from domain.cap_senders import CapSenders
from domain.errors import InvalidValue, NotFound
from domain.meta import Actor, Context
from domain.playbook_runner import PlaybookRunner
from domain.playbooks import Playbook
from domain.warning import EarlyWarning, WarningStatus

_WITHDRAWABLE = frozenset(
    {
        WarningStatus.RAISED,
        WarningStatus.ACKNOWLEDGED,
        WarningStatus.CONFIRMED,
        WarningStatus.RESOLVED,
    }
)


@dataclass
class CapResult:
    key: str
    outcome: str
    warning_ids: list[UUID]
    replayed: bool = False
    instructions: list[dict[str, Any]] = field(default_factory=list)


class CapIntake(PlaybookRunner):
    """CAP messages over one command center, from senders bound to the sending tokens."""

    def __init__(
        self, center: CommandCenter, *, profile: CapProfile, playbooks: Sequence[Playbook] = ()
    ) -> None:
        super().__init__(center, playbooks)
        self.profile = profile
        self.senders = CapSenderCases(center)

    def receive_cap(self, ctx: Context, alert: CapAlert, *, token: str | None = None) -> CapResult:
        """Act on one CAP message, once; ``token`` is the public id of the token that
        sent it (a sender may be bound to it rather than to its unit)."""
        actor = ctx.actor
        registry = self.senders.check_may_speak(actor, alert.sender, token)
        mid = cap_message_id(alert.key)
        seen = self._record_of(alert.key, registry, alert.sender)
        if seen is not None:
            return self._replay(alert, seen, actor)
        acts = alert.status in self.profile.act_on_statuses and alert.msg_type not in (
            "Ack",
            "Error",
        )
        referenced: list[UUID] = []
        if acts:
            self._check_areas(actor, alert)
            referenced = self._referenced(alert, registry)
            self._check_reach(actor, referenced)
        # The token's person, unit and role on every event; the message as the cause.
        own = Context(actor, command_id=f"cap:{mid.hex}", cause=f"CAP {alert.key}"[:500])
        instructions: list[dict[str, Any]] = []
        if not acts:
            outcome, wids = f"recorded only ({alert.status} {alert.msg_type})", []
        elif alert.is_withdrawal:
            wids = self._withdraw(own, alert, referenced)
            outcome = "withdrew" if wids else "nothing to withdraw"
        elif alert.msg_type == "Update" and self._open_ones(referenced):
            wids = self._supersede(own, alert, self._open_ones(referenced))
            outcome = "superseded"
        else:
            raised = self._raise_cap(own, alert)
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
            return self._replay(alert, first, actor)
        return CapResult(alert.key, outcome, wids, instructions=instructions)

    # -- what is checked before anything is done ------------------------------------------

    def _record_of(self, key: str, registry: CapSenders, sender: str) -> CapMessage | None:
        """The message recorded under ``key`` for this sender: under the bound senders'
        namespace, or one received before senders were bound if a unit bound to the
        sender now is the one that sent it (anyone could take a key then)."""
        found = self._find(CapMessage, cap_message_id(key))
        if found is not None:
            return found
        legacy_id = legacy_cap_message_id(key)
        legacy = self._find(CapMessage, legacy_id)
        if legacy is None:
            return None
        received = next(iter(self.center.events.get(legacy_id, limit=1)), None)
        meta = getattr(received, "meta", None)
        unit = getattr(meta, "unit", None)
        return legacy if unit is not None and registry.may_speak(sender, unit, None) else None

    def _replay(self, alert: CapAlert, seen: CapMessage, actor: Actor) -> CapResult:
        # Another token of the same sender may sit elsewhere: it learns only what its
        # own unit may see.
        visible = [w for w in seen.warning_ids if self._sees(actor, w)]
        return CapResult(alert.key, seen.outcome, visible, replayed=True)

    def _sees(self, actor: Actor, wid: UUID) -> bool:
        warning = self._find(EarlyWarning, wid)
        return warning is not None and self.center.is_within(warning.unit, actor.unit)

    def _check_areas(self, actor: Actor, alert: CapAlert) -> None:
        """Every area mapped to a registered unit in the token's subtree."""
        places = self.profile.places_of(alert)
        unplaced = [area.description for area, unit, _ in places if unit is None]
        if unplaced:
            raise CapAreaUnplaced(unplaced_text(unplaced))
        for _, unit, found_by in places:
            if unit is not None:
                self._check_unit(actor, unit, found_by)

    def _check_unit(self, actor: Actor, unit: str, found_by: str) -> None:
        try:
            self.center.unit(unit)
        except NotFound:
            raise InvalidValue(
                f"the CAP profile maps this alert to unit {unit} ({found_by}), "
                "which is not registered"
            ) from None
        if not self.center.is_within(unit, actor.unit):
            raise CapOutsideSubtree(
                f"a monitor of {actor.unit} sends CAP messages only for units under it; "
                f"{found_by} names {unit}"
            )

    def _referenced(self, alert: CapAlert, registry: CapSenders) -> list[UUID]:
        """The warnings of the messages an update or cancel references, found among its
        own sender's only. Another sender's are never reached: a withdrawal naming one is
        refused, since it asks what cannot be done; an update naming one (tsunami centres
        cite each other's bulletins) is, for that reference, as one naming a message we
        do not know."""
        if alert.msg_type not in ("Update", "Cancel"):
            return []
        wids: list[UUID] = []
        for ref in alert.references:
            if ref[0] != alert.sender:
                if alert.is_withdrawal:
                    raise CapReferenceRefused(
                        f"only the original sender withdraws a CAP message; "
                        f"{alert.sender[:100]} cannot withdraw one of {ref[0][:100]}"
                    )
                continue
            message = self._record_of(",".join(ref), registry, alert.sender)
            if message is not None:
                wids += message.warning_ids
        return wids

    def _check_reach(self, actor: Actor, wids: Iterable[UUID]) -> None:
        for wid in dict.fromkeys(wids):
            warning = self._find(EarlyWarning, wid)
            if warning is not None and not self.center.is_within(warning.unit, actor.unit):
                raise CapOutsideSubtree(
                    f"a monitor of {actor.unit} updates or cancels only warnings of units "
                    "under it; a referenced message's warning lies elsewhere"
                )

    # -- what a message does --------------------------------------------------------------

    def _open_ones(self, wids: Iterable[UUID]) -> list[EarlyWarning]:
        found = [self._find(EarlyWarning, w) for w in dict.fromkeys(wids)]
        return [w for w in found if w is not None and w.is_open]

    def _raise_cap(self, ctx: Context, alert: CapAlert) -> Outcome:
        cw = warning_of(alert, self.profile)
        # Areas were checked; an alert naming none goes to the default unit, which must
        # lie in the token's subtree as well.
        self._check_unit(ctx.actor, cw.unit, cw.unit_from)
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

"""The notices' use cases: send a notice, confirm its receipt, remind the late units
(ADR 0077). Each goes through the command center's one command path
(:class:`~domain.unit_of_work.UnitOfWork`: load, decide, save, retry on conflict,
idempotency by command id).

Who may: a notice is sent by a dispatcher of the sending unit, to units strictly under
it; a receipt is confirmed by a duty officer of the addressed unit (the one who keeps
the unit's watch and reads its inbox); the reminder is the system's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.decision import Decision, check_same_command
from domain.errors import (
    NoticeAddresseeRefused,
    NoticeNotFound,
    NoticeRefused,
    NotPermitted,
    ReceiptRefused,
)
from domain.meta import Context, derived_id, now
from domain.notice import MAX_ADDRESSEES, MAX_BODY, MAX_TITLE, Notice, check_kind, check_text

#: The role that sends notices, and the one that confirms their receipt.
SENDS = "dispatcher"
CONFIRMS = "duty_officer"


def notice_id(command_id: str) -> UUID:
    """The id of the notice sent by the command with this id."""
    return derived_id("notice", command_id)


class NoticeCases:
    """Notices sent down the network and the receipts of their addressees."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center

    def notice(self, nid: UUID) -> Notice:
        found = self.center.unit_of_work.find(Notice, nid)
        if found is None:
            raise NoticeNotFound(f"no notice {nid} was sent")
        return found

    def addressees_under(self, sender: str) -> list[str]:
        """Every active unit strictly under ``sender`` (a notice "to all below")."""
        center = self.center
        return [
            u.code
            for u in center.units()
            if u.active and u.code != sender and center.is_within(u.code, sender)
        ]

    def send(
        self,
        ctx: Context,
        *,
        title: str,
        body: str,
        kind: str,
        confirm_by: datetime,
        addressees: Sequence[str] | None = None,
    ) -> Outcome:
        """Send a notice from the actor's unit to ``addressees`` (None: every unit under
        it); each must confirm receipt by ``confirm_by``."""
        title = check_text(title, "title", MAX_TITLE)
        body = check_text(body, "body", MAX_BODY)
        kind = check_kind(kind).value
        if confirm_by.tzinfo is None:
            raise NoticeRefused("a notice's confirm-by limit must carry a time-zone offset")
        if confirm_by <= now():
            raise NoticeRefused("a notice's confirm-by limit must lie in the future")
        actor = ctx.actor
        if actor.role not in (SENDS, "system"):
            raise NotPermitted(f"a notice is sent by a {SENDS}, not a {actor.role}")
        new_id = notice_id(ctx.command_id)
        work = self.center.unit_of_work

        def decide() -> Decision:
            again = work.find_repeat(Notice, new_id)
            if again is not None:
                check_same_command(
                    "send a notice", (again.sender, actor.unit), (again.title, title)
                )
                return Decision(again, [], created=True)
            sender = self.center.unit(actor.unit)
            if not sender.active:
                raise NoticeRefused(f"unit {actor.unit} is deactivated; it sends no notice")
            if addressees is None:
                chosen = self.addressees_under(actor.unit)
            else:
                chosen = list(dict.fromkeys(addressees))
                for code in chosen:
                    if code == actor.unit or not self.center.is_within(code, actor.unit):
                        raise NoticeAddresseeRefused(
                            f"unit {code[:64]} is not under {actor.unit}: a notice goes down "
                            "the network"
                        )
                    if not self.center.unit(code).active:
                        raise NoticeRefused(f"unit {code} is deactivated; it receives no notice")
            if not chosen:
                raise NoticeRefused("a notice has at least one addressee")
            if len(chosen) > MAX_ADDRESSEES:
                raise NoticeRefused(f"a notice has at most {MAX_ADDRESSEES} addressees")
            notice = Notice(
                sender=actor.unit,
                title=title,
                body=body,
                kind=kind,
                confirm_by=confirm_by,
                addressees=chosen,
                meta=ctx.meta("SendNotice", new_id),
            )
            return Decision(notice, [notice], created=True)

        return work.execute(decide, expected_version=ctx.expected_version)

    def confirm_receipt(self, ctx: Context, nid: UUID, at: datetime | None = None) -> Outcome:
        """The actor's unit confirms receipt of notice ``nid``, now. ``at`` is for the
        composition root and tests only (the API never passes it): a unit cannot choose
        when its receipt is recorded."""
        actor = ctx.actor
        if actor.role != CONFIRMS:
            raise ReceiptRefused(f"a receipt is confirmed by a {CONFIRMS}, not a {actor.role}")
        work = self.center.unit_of_work

        def decide() -> Decision:
            notice = work.find(Notice, nid)
            if notice is None:
                raise NoticeNotFound(f"no notice {nid} was sent; there is nothing to confirm")
            if notice.has_seen(ctx.command_id):
                return Decision(notice, [])
            notice.confirm_receipt(actor.unit, at or now(), ctx.meta("ConfirmReceipt", nid))
            return Decision(notice, [notice])

        return work.execute(decide, expected_version=ctx.expected_version)

    def remind_late(
        self,
        ctx: Context,
        nid: UUID,
        at: datetime | None = None,
        on_duty: Mapping[str, str | None] | None = None,
    ) -> Outcome:
        """Remind, once, the units that have not confirmed by the limit, naming who is
        on duty at each as ``on_duty`` says (the watch asks the rosters, ADR 0098)."""
        work = self.center.unit_of_work
        when = at or now()

        def decide() -> Decision:
            notice = work.find(Notice, nid)
            if notice is None:
                raise NoticeNotFound(f"no notice {nid} was sent")
            if notice.has_seen(ctx.command_id):
                return Decision(notice, [])
            if not notice.remind_late(when, ctx.meta("RemindLateReceipts", nid), on_duty):
                return Decision(notice, [])
            return Decision(notice, [notice])

        return work.execute(decide, expected_version=ctx.expected_version)

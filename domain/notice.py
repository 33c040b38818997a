"""A notice (通知) and its receipts (签收回执): word sent down the network that each
addressed unit must confirm having received (ADR 0077).

A notice is sent by a unit to every unit under it, or to a chosen set of units of its
subtree, with a title, a body, a kind (a typhoon's approach, a meeting, a rule change)
and a confirm-by limit, an instant on the clock. Each addressed unit confirms once (who,
when); the units that have not confirmed once the limit has passed are reminded once,
by the notice watch (``domain/notice_watch.py``).

A receipt confirmed by the limit is *on time*, after it *late*; a unit that has not
confirmed is *missing*. So on time + late + missing = addressed, always.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import (
    NoticeRefused,
    ReceiptAlreadyConfirmed,
    ReceiptRefused,
    check_printable,
)
from domain.meta import Meta
from domain.on_duty import NamesOnDuty

MAX_TITLE = 200
MAX_BODY = 10_000
#: A district has a few hundred units; a city's notice to all of them stays one record.
MAX_ADDRESSEES = 5_000


class NoticeKind(StrEnum):
    """What a notice is about, for the inbox's badge and the report's filter."""

    WARNING = "warning"  # a typhoon's approach, a rainstorm: act on it
    MEETING = "meeting"
    RULE = "rule"  # a rule or procedure changed
    OTHER = "other"


class ReceiptStatus(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"


def check_text(value: str, what: str, most: int) -> str:
    """``value`` stripped, 1 to ``most`` characters and printable, or :class:`NoticeRefused`."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > most:
        raise NoticeRefused(f"a notice's {what} is 1 to {most} characters")
    try:
        check_printable(text.replace("\n", " ").replace("\t", " "), f"a notice's {what}")
    except Exception as e:
        raise NoticeRefused(str(e)) from None
    return text


def check_kind(kind: str) -> NoticeKind:
    try:
        return NoticeKind(kind)
    except ValueError:
        raise NoticeRefused(
            f"a notice's kind is one of {', '.join(k.value for k in NoticeKind)}"
        ) from None


class Notice(LoopAggregate):
    """One notice, its addressees and their receipts."""

    class Sent(LoopAggregate.Created):
        sender: str
        title: str
        body: str
        kind: str
        confirm_by: datetime
        addressees: list[str]

    class ReceiptConfirmed(LoopAggregate.Event):
        unit: str
        person: str
        confirmed_at: datetime
        late: bool

    class LateReminded(NamesOnDuty, LoopAggregate.Event):
        """The units reminded at once, and who was on duty at each (ADR 0098)."""

        units: list[str]
        #: Unit -> the person holding its duty officer's post at the watch's moment; a
        #: unit with no shift then is not in it. Empty on a reminder stored before.
        on_duty: dict[str, str]

        NOBODY_NAMED: ClassVar[Mapping[str, Any]] = {"on_duty": {}}

    @event(Sent)
    def __init__(
        self,
        sender: str,
        title: str,
        body: str,
        kind: str,
        confirm_by: datetime,
        addressees: list[str],
        meta: Meta,
    ) -> None:
        self.sender = sender
        self.title = title
        self.body = body
        self.kind = kind
        self.confirm_by = confirm_by
        self.addressees = list(addressees)
        self.sent_at = meta.occurred_at
        #: unit -> {"person", "confirmed_at", "late"}
        self.receipts: dict[str, dict[str, Any]] = {}
        self.reminded: list[str] = []
        #: unit -> who was on duty there when it was reminded (ADR 0098)
        self.reminded_on_duty: dict[str, str] = {}

    # -- receipts ------------------------------------------------------------------

    def check_may_confirm(self, unit: str) -> None:
        if unit not in self.addressees:
            raise ReceiptRefused(f"this notice is not addressed to unit {unit}; it has no receipt")
        if unit in self.receipts:
            r = self.receipts[unit]
            raise ReceiptAlreadyConfirmed(
                f"unit {unit} confirmed receipt of this notice already "
                f"({r['person']}, {r['confirmed_at'].isoformat()})"
            )

    def confirm_receipt(self, unit: str, at: datetime, meta: Meta) -> None:
        """``unit`` confirms receipt at ``at`` (the recorded moment, not one the caller
        chooses: a late unit cannot back-date its receipt)."""
        self.check_may_confirm(unit)
        self._confirmed(
            unit=unit, person=meta.person, confirmed_at=at, late=at > self.confirm_by, meta=meta
        )

    @event(ReceiptConfirmed)
    def _confirmed(
        self, unit: str, person: str, confirmed_at: datetime, late: bool, meta: Meta
    ) -> None:
        self.receipts[unit] = {"person": person, "confirmed_at": confirmed_at, "late": late}

    # -- the reminder --------------------------------------------------------------

    def unconfirmed(self) -> list[str]:
        return [u for u in self.addressees if u not in self.receipts]

    def reminder_due(self, at: datetime) -> list[str]:
        """The units to remind at ``at``: past the limit, not confirmed, never reminded.
        Empty once the notice has been reminded: the reminder is sent once."""
        if at <= self.confirm_by or self.reminded:
            return []
        return self.unconfirmed()

    def remind_late(
        self, at: datetime, meta: Meta, on_duty: Mapping[str, str | None] | None = None
    ) -> bool:
        """Remind the units due a reminder at ``at``, naming who is on duty at each as
        ``on_duty`` says (the watch asks the rosters); answers whether any were."""
        units = self.reminder_due(at)
        if not units:
            return False
        named = {u: p for u in units if (p := (on_duty or {}).get(u))}
        self._reminded(units=units, on_duty=named, meta=meta)
        return True

    @event(LateReminded)
    def _reminded(self, units: list[str], on_duty: dict[str, str], meta: Meta) -> None:
        self.reminded = list(units)
        self.reminded_on_duty = dict(on_duty)

    def on_duty_when_reminded(self, unit: str) -> str | None:
        """Who was on duty at ``unit`` when it was reminded; None: nobody named."""
        return self.reminded_on_duty.get(unit)

    # -- the report ----------------------------------------------------------------

    def status_of(self, unit: str) -> ReceiptStatus:
        r = self.receipts.get(unit)
        if r is None:
            return ReceiptStatus.MISSING
        return ReceiptStatus.LATE if r["late"] else ReceiptStatus.ON_TIME

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in ReceiptStatus}
        for unit in self.addressees:
            out[self.status_of(unit).value] += 1
        out["addressed"] = len(self.addressees)
        return out

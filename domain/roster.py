"""A unit's duty roster (值班表, ADR 0084): who keeps each post of its watch, and when.

A unit has two posts: the *duty officer* (值班员), who keeps the watch and reads the
inbox, and the *duty leader* (带班领导), to whom what the officer cannot settle goes.
A shift puts one person on one post from ``starts_at`` to ``ends_at`` (half-open), with a
deputy who stands in. Two shifts of one post never overlap: at any moment a post has at
most one person on duty. A handover (交接班) is a recorded step: the person on duty hands
the post to another person at a moment inside the shift, with a note of what was passed
on; from then to the shift's end, the post is that person's.

The roster is one aggregate per unit (its id derived from the unit's code); it answers
"who is on duty at T" (:meth:`DutyRoster.on_duty`) for the watch, the webhooks and the
API alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import HandoverRefused, InvalidValue, ShiftRefused
from domain.limits import MAX_NOTE, MAX_SHORT, check_text
from domain.meta import Meta, derived_id

#: No shift is longer than this: a longer one is a typing mistake (a year for a day).
LONGEST_SHIFT = timedelta(days=7)
#: How many shifts one command may arrange.
MAX_SHIFTS_AT_ONCE = 100


class Post(StrEnum):
    DUTY_OFFICER = "duty_officer"  # 值班员
    DUTY_LEADER = "duty_leader"  # 带班领导


def roster_id(unit: str) -> UUID:
    """The id of ``unit``'s duty roster."""
    return derived_id("duty-roster", unit)


@dataclass(frozen=True)
class OnDuty:
    """Who holds a post at a moment: the person (after any handover), the deputy, and
    the shift they stand in."""

    post: str
    person: str
    deputy: str
    shift_id: str
    starts_at: datetime
    ends_at: datetime
    handed_over: bool


@dataclass(frozen=True)
class ShiftPlan:
    """One shift as asked for, before the roster checks it."""

    post: str
    person: str
    deputy: str
    starts_at: datetime
    ends_at: datetime


def check_plan(plan: ShiftPlan) -> ShiftPlan:
    """The plan with its texts stripped, once it is a shift in itself (the roster checks
    it against the others)."""
    try:
        post = Post(plan.post)
    except ValueError:
        raise ShiftRefused(
            f"a shift's post is {Post.DUTY_OFFICER.value} or {Post.DUTY_LEADER.value}, "
            f"not {plan.post!r}"
        ) from None
    person = check_text(plan.person, "the person on duty", MAX_SHORT, required=True)
    deputy = check_text(plan.deputy, "the deputy", MAX_SHORT, required=True)
    if person == deputy:
        raise ShiftRefused(f"{person} cannot be their own deputy: a deputy is another person")
    for at, name in ((plan.starts_at, "starts_at"), (plan.ends_at, "ends_at")):
        if at.tzinfo is None:
            raise ShiftRefused(f"a shift's {name} must carry a time-zone offset")
    if plan.ends_at <= plan.starts_at:
        raise ShiftRefused(
            f"a shift ends after it starts; this one starts {plan.starts_at.isoformat()} "
            f"and ends {plan.ends_at.isoformat()}"
        )
    if plan.ends_at - plan.starts_at > LONGEST_SHIFT:
        raise ShiftRefused(f"a shift lasts at most {LONGEST_SHIFT.days} days")
    return ShiftPlan(post.value, person, deputy, plan.starts_at, plan.ends_at)


def overlapping(a: ShiftPlan | dict[str, Any], b: ShiftPlan | dict[str, Any]) -> bool:
    """Whether two shifts of the same post share a moment (half-open intervals)."""
    fa, fb = _fields(a), _fields(b)
    return fa[0] == fb[0] and fa[1] < fb[2] and fb[1] < fa[2]


def _fields(s: ShiftPlan | dict[str, Any]) -> tuple[str, datetime, datetime]:
    if isinstance(s, ShiftPlan):
        return s.post, s.starts_at, s.ends_at
    return s["post"], s["starts_at"], s["ends_at"]


class DutyRoster(LoopAggregate):
    """One unit's shifts and the handovers within them."""

    class Started(LoopAggregate.Created):
        unit: str

    class ShiftsArranged(LoopAggregate.Event):
        shifts: list[dict[str, Any]]

    class ShiftWithdrawn(LoopAggregate.Event):
        shift_id: str
        reason: str

    class HandedOver(LoopAggregate.Event):
        shift_id: str
        post: str
        from_person: str
        to_person: str
        at: datetime
        note: str

    @staticmethod
    def create_id(unit: str) -> UUID:
        return roster_id(unit)

    @classmethod
    def start(cls, unit: str, meta: Meta) -> DutyRoster:
        return cls(unit=unit, meta=meta)

    @event(Started)
    def __init__(self, unit: str, meta: Meta) -> None:
        self.unit = unit
        # shift id -> {"post", "person", "deputy", "starts_at", "ends_at", "handovers"}
        self.shifts: dict[str, dict[str, Any]] = {}

    # -- reading ---------------------------------------------------------------------

    def on_duty(self, post: str, at: datetime) -> OnDuty | None:
        """Who holds ``post`` at ``at``; None when no shift covers that moment."""
        for sid, s in self.shifts.items():
            if s["post"] == post and s["starts_at"] <= at < s["ends_at"]:
                person, handed = s["person"], False
                for h in s["handovers"]:
                    if h["at"] <= at:
                        person, handed = h["to_person"], True
                return OnDuty(
                    post=post,
                    person=person,
                    deputy=s["deputy"],
                    shift_id=sid,
                    starts_at=s["starts_at"],
                    ends_at=s["ends_at"],
                    handed_over=handed,
                )
        return None

    def shifts_between(self, start: datetime, end: datetime) -> list[tuple[str, dict[str, Any]]]:
        """The shifts that share a moment with [start, end), earliest first."""
        found = [
            (sid, s)
            for sid, s in self.shifts.items()
            if s["starts_at"] < end and start < s["ends_at"]
        ]
        return sorted(found, key=lambda p: (p[1]["starts_at"], p[1]["post"]))

    # -- commands ----------------------------------------------------------------------

    def arrange(self, plans: list[ShiftPlan], now: datetime, meta: Meta) -> list[str]:
        """Put ``plans`` on the roster, all or none; answer the new shifts' ids."""
        if not plans:
            raise ShiftRefused("a roster change arranges at least one shift")
        if len(plans) > MAX_SHIFTS_AT_ONCE:
            raise ShiftRefused(f"at most {MAX_SHIFTS_AT_ONCE} shifts are arranged at once")
        checked = [check_plan(p) for p in plans]
        for n, p in enumerate(checked):
            if p.ends_at <= now:
                raise ShiftRefused(
                    f"the shift of {p.person} ended at {p.ends_at.isoformat()}, before now: "
                    "the roster is not rewritten afterwards"
                )
            for q in checked[:n]:
                if overlapping(p, q):
                    raise ShiftRefused(self._overlap_words(p, q.person, q.starts_at, q.ends_at))
            for s in self.shifts.values():
                if overlapping(p, s):
                    raise ShiftRefused(
                        self._overlap_words(p, s["person"], s["starts_at"], s["ends_at"])
                    )
        base = len(self.shifts)
        shifts: list[dict[str, Any]] = [
            {
                "shift_id": derived_id("shift", f"{self.unit}:{meta.command_id}:{base + n}").hex,
                "post": p.post,
                "person": p.person,
                "deputy": p.deputy,
                "starts_at": p.starts_at,
                "ends_at": p.ends_at,
            }
            for n, p in enumerate(checked)
        ]
        self._arranged(shifts=shifts, meta=meta)
        return [s["shift_id"] for s in shifts]

    @staticmethod
    def _overlap_words(p: ShiftPlan, other: str, starts: datetime, ends: datetime) -> str:
        post = p.post.replace("_", " ")
        return (
            f"the {post} shift of {p.person} ({p.starts_at.isoformat()} to "
            f"{p.ends_at.isoformat()}) overlaps the {post} shift of {other} "
            f"({starts.isoformat()} to {ends.isoformat()}): a post has one person on duty "
            "at a time"
        )

    @event(ShiftsArranged)
    def _arranged(self, shifts: list[dict[str, Any]], meta: Meta) -> None:
        for s in shifts:
            self.shifts[s["shift_id"]] = {
                "post": s["post"],
                "person": s["person"],
                "deputy": s["deputy"],
                "starts_at": s["starts_at"],
                "ends_at": s["ends_at"],
                "handovers": [],
            }

    def withdraw(self, shift_id: str, reason: str, now: datetime, meta: Meta) -> None:
        """Take a shift that has not started off the roster (a mistake, a swap)."""
        s = self.shifts.get(shift_id)
        if s is None:
            raise InvalidValue(f"no shift {shift_id} is on the roster of {self.unit}")
        if s["starts_at"] <= now:
            raise ShiftRefused(
                f"the shift of {s['person']} started at {s['starts_at'].isoformat()}: a shift "
                "begun is handed over, not withdrawn"
            )
        reason = check_text(reason, "a reason", MAX_NOTE, required=True)
        self._withdrawn(shift_id=shift_id, reason=reason, meta=meta)

    @event(ShiftWithdrawn)
    def _withdrawn(self, shift_id: str, reason: str, meta: Meta) -> None:
        del self.shifts[shift_id]

    def hand_over(self, post: str, by: str, to: str, note: str | None, meta: Meta) -> OnDuty:
        """``by``, on duty at ``post`` now, hands it to ``to`` with ``note``."""
        at = meta.occurred_at
        try:
            post = Post(post).value
        except ValueError:
            raise ShiftRefused(f"no post {post!r}: duty_officer or duty_leader") from None
        holding = self.on_duty(post, at)
        if holding is None:
            raise HandoverRefused(
                f"nobody is on duty as {post.replace('_', ' ')} of {self.unit} at "
                f"{at.isoformat()}: there is no watch to hand over"
            )
        if by not in (holding.person, holding.deputy):
            raise HandoverRefused(
                f"{by} is not on duty as {post.replace('_', ' ')} of {self.unit}: "
                f"{holding.person} is (deputy {holding.deputy}); only they hand over"
            )
        to = check_text(to, "who takes over", MAX_SHORT, required=True)
        if to == holding.person:
            raise ShiftRefused(f"{to} holds the post already: a handover passes it to another")
        note = check_text(note, "a handover note", MAX_NOTE, required=False)
        self._handed_over(
            shift_id=holding.shift_id,
            post=post,
            from_person=holding.person,
            to_person=to,
            at=at,
            note=note,
            meta=meta,
        )
        return OnDuty(
            post=post,
            person=to,
            deputy=holding.deputy,
            shift_id=holding.shift_id,
            starts_at=holding.starts_at,
            ends_at=holding.ends_at,
            handed_over=True,
        )

    @event(HandedOver)
    def _handed_over(
        self,
        shift_id: str,
        post: str,
        from_person: str,
        to_person: str,
        at: datetime,
        note: str,
        meta: Meta,
    ) -> None:
        self.shifts[shift_id]["handovers"].append(
            {"from_person": from_person, "to_person": to_person, "at": at, "note": note}
        )

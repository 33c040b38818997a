"""The duty rosters' use cases (值班, 交接班, 升级; ADR 0084): arrange shifts, withdraw
one, hand a post over, escalate an instruction not signed for. Each goes through the
command center's one command path (load, decide, save, retry on conflict, idempotency by
command id).

Who may: shifts of a unit are arranged (and withdrawn) by a duty officer of that unit or
of a unit above it; a handover is given by the person on duty at the post, in the duty
officer's role, of the unit itself; the escalations are the system's.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.decision import Decision
from domain.duty_escalation import SignForEscalation, Target, escalation_id
from domain.errors import HandoverRefused, NotFound, NotPermitted
from domain.instruction import AssigneeStatus, Instruction
from domain.meta import Context, now
from domain.roster import DutyRoster, OnDuty, Post, ShiftPlan, roster_id

#: The role that keeps rosters and hands the watch over.
KEEPS = "duty_officer"


class RosterCases:
    """Duty rosters of the units, their handovers, and the sign-for escalations."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center

    # -- reading ---------------------------------------------------------------------

    def roster(self, unit: str) -> DutyRoster | None:
        """``unit``'s roster; None when it never had a shift."""
        return self.center.unit_of_work.find(DutyRoster, roster_id(unit))

    def on_duty(self, unit: str, post: str, at: datetime) -> OnDuty | None:
        roster = self.roster(unit)
        return None if roster is None else roster.on_duty(post, at)

    def escalation(self, iid: UUID, lead: str, since: datetime) -> SignForEscalation | None:
        return self.center.unit_of_work.find(SignForEscalation, escalation_id(iid, lead, since))

    # -- rules -------------------------------------------------------------------------

    def _check_keeper(self, ctx: Context, unit: str) -> None:
        actor = ctx.actor
        if actor.role != "system" and actor.role != KEEPS:
            raise NotPermitted(f"rosters are kept in the {KEEPS} role, not {actor.role}")
        if actor.role != "system" and not self.center.is_within(unit, actor.unit):
            raise NotPermitted(
                f"a duty officer of {actor.unit} keeps the rosters of units under it, and "
                f"{unit} is not"
            )

    # -- commands ----------------------------------------------------------------------

    def arrange_shifts(self, ctx: Context, unit: str, plans: list[ShiftPlan]) -> Outcome:
        """Put ``plans`` on ``unit``'s roster, all or none."""
        self.center.unit(unit)  # an unknown unit is a 404
        self._check_keeper(ctx, unit)
        rid = roster_id(unit)

        def decide() -> Decision:
            roster = self.center.unit_of_work.find(DutyRoster, rid)
            if roster is not None and roster.has_seen(ctx.command_id):
                return Decision(roster, [])
            if roster is None:
                roster = DutyRoster.start(unit, ctx.meta("StartRoster", rid))
                created = True
            else:
                created = False
            ids = roster.arrange(plans, now(), ctx.meta("ArrangeShifts", rid))
            return Decision(roster, [roster], created=created, extra={"shifts": ids})

        return self.center.unit_of_work.execute(decide, expected_version=ctx.expected_version)

    def withdraw_shift(self, ctx: Context, unit: str, shift_id: str, reason: str) -> Outcome:
        self.center.unit(unit)
        self._check_keeper(ctx, unit)
        if self.roster(unit) is None:
            raise NotFound(f"{unit} has no duty roster")

        def act(r: DutyRoster) -> None:
            r.withdraw(shift_id, reason, now(), ctx.meta("WithdrawShift", r.loop_id))

        return self.center.unit_of_work.command(
            ctx, DutyRoster, roster_id(unit), "duty roster", act, "WithdrawShift"
        )

    def hand_over(
        self, ctx: Context, unit: str, post: str, to_person: str, note: str | None
    ) -> Outcome:
        """The caller, on duty at ``post`` of ``unit`` now, hands it to ``to_person``."""
        self.center.unit(unit)
        actor = ctx.actor
        if actor.role != KEEPS or actor.unit != unit:
            raise NotPermitted(
                f"a handover at {unit} is given by its own {KEEPS.replace('_', ' ')} on duty"
            )
        if self.roster(unit) is None:
            raise HandoverRefused(
                f"nobody is on duty at {unit}: it has no duty roster, so no watch to hand over"
            )

        def act(r: DutyRoster) -> None:
            r.hand_over(post, actor.person, to_person, note, ctx.meta("HandOver", r.loop_id))

        return self.center.unit_of_work.command(
            ctx, DutyRoster, roster_id(unit), "duty roster", act, "HandOver"
        )

    def escalate_unsigned(
        self,
        ctx: Context,
        iid: UUID,
        step: int,
        to: Target,
        due_at: datetime,
    ) -> Outcome:
        """Take step ``step`` of the ladder for instruction ``iid``, whose lead has not
        signed for it: to the lead's duty leader, or the superior unit's duty officer,
        naming who is on duty there now."""
        center = self.center

        def decide() -> Decision:
            i = center.unit_of_work.load(Instruction, iid, "instruction")
            since = i.lead_since or i.issued_at
            eid = escalation_id(i.id, i.lead, since)
            record = center.unit_of_work.find(SignForEscalation, eid)
            if record is not None and record.has_seen(ctx.command_id):
                return Decision(record, [])
            if i.assignees.get(i.lead) != AssigneeStatus.DISPATCHED or i.is_finished:
                raise NotPermitted(f"{i.lead} is not waiting to sign for instruction {i.id}")
            if to == Target.DUTY_LEADER:
                unit, post = i.lead, Post.DUTY_LEADER.value
            else:
                parent = center.unit(i.lead).parent
                if parent is None:
                    raise NotFound(f"{i.lead} has no unit above it to escalate to")
                unit, post = parent, Post.DUTY_OFFICER.value
            created = record is None
            if record is None:
                record = SignForEscalation.open(
                    i.id, i.lead, since, i.priority.value, ctx.meta("OpenEscalation", i.loop_id)
                )
            holding = self.on_duty(unit, post, ctx.business_time())
            record.escalate(
                step,
                to,
                unit,
                post,
                holding.person if holding else None,
                holding.deputy if holding else None,
                due_at,
                ctx.meta("EscalateUnsigned", i.loop_id),
            )
            return Decision(record, [record], created=created)

        return center.unit_of_work.execute(decide, expected_version=ctx.expected_version)

"""The instructions' and dispositions' use cases: issue, forward, link to a warning,
sign for, return, redirect, report, request and decide extensions, submit, verify, and
the issuer's reminders, supervision, parking and cancelling (down the tree of forwarded
parts), and deferrals asked by the lead unit and decided by the issuer (ADR 0071)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.base import LoopAggregate
from domain.calendar import WorkingDuration
from domain.decision import Decision, Outcome, check_same_command
from domain.disposition import Disposition, disposition_id
from domain.errors import DirectionRefused, InvalidValue, NotPermitted
from domain.follow_up import FollowUpLimits, is_public
from domain.instruction import DisputeLimits, Instruction, Priority, instruction_id
from domain.meta import Context, Meta, now
from domain.warning import EarlyWarning
from domain.warning_commands import WarningCases


class InstructionCases(WarningCases):
    """Instructions down the network and the dispositions of the units that take them."""

    #: How long disputes may be filed and arbitrated (ADR 0076); set by the application.
    dispute_limits: DisputeLimits
    #: How long after closure a case from the public is followed up (ADR 0083).
    follow_up_limits: FollowUpLimits

    # -- instructions ------------------------------------------------------------------

    def instruction(self, iid: UUID) -> Instruction:
        return self._load(Instruction, iid, "instruction")

    def link_instruction(self, ctx: Context, wid: UUID, iid: UUID) -> Outcome:
        """Link an instruction already issued to a warning: the warning then closes only
        once that instruction is finished too. Only the instruction's issuer may link it."""

        def act(w: EarlyWarning) -> list[LoopAggregate]:
            i = self.instruction(iid)
            i.check_issuer(ctx.actor.unit, "link it to a warning")
            w.link_instruction(i.id, ctx.meta("LinkInstruction", w.loop_id, str(i.id)))
            i.link_to_warning(w.id, ctx.meta("LinkInstruction", i.loop_id, str(w.id)))
            return [i]

        return self._command(ctx, EarlyWarning, wid, "warning", act, "LinkInstruction")

    def disposition(self, did: UUID) -> Disposition:
        return self._load(Disposition, did, "disposition")

    def deadline_for(self, priority: str, start: datetime, due_in: WorkingDuration) -> datetime:
        """A deadline from a duration: clock time when urgent, working time otherwise."""
        if priority == Priority.URGENT:
            return start + due_in.clock()
        return self.calendar.add(start, due_in)

    def _resolve_deadline(
        self,
        priority: str,
        start: datetime,
        deadline: datetime | None,
        due_in: WorkingDuration | None,
    ) -> datetime:
        if (deadline is None) == (due_in is None):
            raise InvalidValue("give either a deadline or a duration (due_in), not both or neither")
        if priority not in set(Priority):
            raise InvalidValue(f"unknown priority {priority!r}; one of: urgent, high, normal")
        if deadline is not None:
            if deadline.tzinfo is None:
                raise InvalidValue("the deadline must carry a time-zone offset")
            if deadline <= now():
                raise InvalidValue("the deadline lies in the past")
            return deadline.astimezone(start.tzinfo)
        assert due_in is not None
        return self.deadline_for(priority, start, due_in)

    def issue_instruction(
        self,
        ctx: Context,
        *,
        lead_unit: str,
        title: str,
        content: str | None = None,
        priority: str = Priority.NORMAL,
        deadline: datetime | None = None,
        due_in: WorkingDuration | None = None,
        cooperating_units: list[str] | None = None,
        warning_ids: list[UUID] | None = None,
        parent_id: UUID | None = None,
        emergency: bool = False,
    ) -> Outcome:
        """Issue an instruction from the actor's unit; the clock starts now.

        ``emergency``: issued under a scenario's emergency mode (the playbook runner
        says so); a part forwarded from an emergency case is one too."""
        new_id = instruction_id(ctx.command_id)
        start = ctx.business_time()

        def decide() -> Decision:
            again = self._find_repeat(Instruction, new_id)
            if again is not None:  # the same command again: answer as the first time
                check_same_command(
                    "issue an instruction",
                    (again.issuer, ctx.actor.unit),
                    (again.title, title.strip()),
                    (again.parent_id, parent_id),
                )
                return Decision(again, [], created=True)
            resolved = self._resolve_deadline(priority, start, deadline, due_in)
            issuer = self._require_active(ctx.actor.unit)
            for code in [lead_unit, *(cooperating_units or [])]:
                self.check_direction(issuer, self._require_active(code))
            touched: list[LoopAggregate] = []
            loop_id = new_id
            parent: Instruction | None = None
            if parent_id is not None:
                parent = self.instruction(parent_id)
                # If-Match on a forward names the parent's version.
                self._check_version(ctx, parent)
                # Forwarding is a step on the parent: not dated before the parent's last.
                parent.check_business_time(ctx.occurred_at)
                parent.check_can_forward(issuer.code, resolved)
                if issuer.code not in self.ancestors(lead_unit):
                    raise DirectionRefused(
                        f"unit {issuer.code} can forward only to a unit below it, "
                        f"and {lead_unit} is not"
                    )
                loop_id = parent.loop_id
            warnings = [self.warning(w) for w in dict.fromkeys(warning_ids or [])]
            for w in warnings:
                w.check_can_link()
                # Answering a warning is a step on it too, not dated before its last one.
                w.check_business_time(ctx.occurred_at)
            if parent is None and warnings:
                loop_id = warnings[0].loop_id
            meta = ctx.meta("IssueInstruction", loop_id, cause=_cause(parent_id, warning_ids))
            instruction = Instruction.issue(
                issuer=issuer.code,
                lead=lead_unit,
                cooperating=cooperating_units,
                title=title,
                content=content,
                priority=priority,
                deadline=resolved,
                warning_ids=[w.id for w in warnings],
                parent_id=parent_id,
                meta=meta,
                emergency=emergency or (parent is not None and parent.emergency),
            )
            touched.append(instruction)
            if parent is not None:
                parent.forward(
                    issuer.code, lead_unit, new_id, resolved, ctx.meta("Forward", parent.loop_id)
                )
                touched.append(parent)
            for w in warnings:
                w.link_instruction(new_id, ctx.meta("IssueInstruction", w.loop_id))
                touched.append(w)
            return Decision(instruction, touched, created=True)

        return self._execute(ctx, decide)

    def forward(
        self,
        ctx: Context,
        iid: UUID,
        *,
        to_unit: str,
        title: str | None = None,
        content: str | None = None,
        deadline: datetime | None = None,
        due_in: WorkingDuration | None = None,
        priority: str | None = None,
    ) -> Outcome:
        """Pass an instruction (or part of it) down to a unit below: a child instruction.

        Title, content, priority and deadline default to the parent's.
        """
        parent = self.instruction(iid)
        if deadline is None and due_in is None:
            deadline = parent.deadline
        return self.issue_instruction(
            ctx,
            lead_unit=to_unit,
            title=title or parent.title,
            content=content if content is not None else parent.content,
            priority=priority or parent.priority,
            deadline=deadline,
            due_in=due_in,
            parent_id=iid,
        )

    def _on_instruction(
        self,
        ctx: Context,
        iid: UUID,
        command: str,
        act: Callable[[Instruction, Meta], list[LoopAggregate] | None],
    ) -> Outcome:
        return self._command(
            ctx,
            Instruction,
            iid,
            "instruction",
            lambda i: act(i, ctx.meta(command, i.loop_id)),
            command,
        )

    def sign_for(self, ctx: Context, iid: UUID) -> Outcome:
        """The actor's unit accepts the instruction; its disposition opens."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            did = disposition_id(i.id, ctx.actor.unit)
            i.sign_for(ctx.actor.unit, did, meta)
            if self._find(Disposition, did) is not None:  # signed before, returned, back again
                return []
            return [Disposition(instruction_id=i.id, unit=ctx.actor.unit, meta=meta)]

        return self._on_instruction(ctx, iid, "SignFor", act)

    def return_to_issuer(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        return self._on_instruction(
            ctx, iid, "Return", lambda i, m: i.return_to_issuer(ctx.actor.unit, reason, m)
        )

    def redirect(
        self, ctx: Context, iid: UUID, *, to_unit: str, from_unit: str | None = None
    ) -> Outcome:
        """The issuer sends a returned instruction to another unit (by default the lead's)."""

        def act(i: Instruction, meta: Meta) -> None:
            issuer = self._require_active(i.issuer)
            target = self._require_active(to_unit)
            if i.parent_id is not None and issuer.code not in self.ancestors(to_unit):
                # A forwarded part goes down only, as it did when it was forwarded.
                raise DirectionRefused(
                    f"unit {issuer.code} can forward only to a unit below it, and {to_unit} is not"
                )
            self.check_direction(issuer, target)
            i.redirect(from_unit or i.lead, to_unit, meta)

        return self._on_instruction(ctx, iid, "Redirect", act)

    def _on_disposition_of(
        self, ctx: Context, iid: UUID, command: str, act: Callable[[Disposition, Meta], None]
    ) -> Outcome:
        """A command that only adds to the actor's own disposition (no contention)."""
        did = disposition_id(iid, ctx.actor.unit)
        if self._find(Disposition, did) is None:
            # Never signed for: let the instruction say why this unit cannot report.
            self.instruction(iid).check_can_report(ctx.actor.unit)

        def on_disposition(d: Disposition) -> None:
            instruction = self.instruction(iid)
            # The client named the instruction: its If-Match is the instruction's version.
            self._check_version(ctx, instruction)
            instruction.check_can_report(ctx.actor.unit)
            act(d, ctx.meta(command, d.loop_id))

        on_own_record = replace(ctx, expected_version=None)
        return self._command(
            on_own_record, Disposition, did, "disposition", on_disposition, command
        )

    def report_progress(self, ctx: Context, iid: UUID, note: str) -> Outcome:
        return self._on_disposition_of(
            ctx, iid, "ReportProgress", lambda d, m: d.report_progress(note, m)
        )

    def record_action(
        self, ctx: Context, did: UUID, text: str, evidence: list[str] | None = None
    ) -> Outcome:
        def act(d: Disposition) -> None:
            instruction = self.instruction(d.instruction_id)
            if d.unit == ctx.actor.unit:
                instruction.check_can_report(ctx.actor.unit)
            d.record_action(text, evidence, ctx.meta("RecordAction", d.loop_id))

        return self._command(ctx, Disposition, did, "disposition", act, "RecordAction")

    def request_extension(
        self, ctx: Context, iid: UUID, *, deadline: datetime, reason: str
    ) -> Outcome:
        return self._on_instruction(
            ctx,
            iid,
            "RequestExtension",
            lambda i, m: i.request_extension(ctx.actor.unit, deadline, reason, m),
        )

    def decide_extension(
        self, ctx: Context, iid: UUID, *, granted: bool, note: str | None = None
    ) -> Outcome:
        return self._on_instruction(
            ctx, iid, "DecideExtension", lambda i, m: i.decide_extension(granted, note, m)
        )

    def submit(self, ctx: Context, iid: UUID, result: str) -> Outcome:
        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            unit = ctx.actor.unit
            i.submit(unit, result, meta)
            d = self.disposition(i.dispositions[unit])
            d.submit(result.strip(), ctx.meta("Submit", d.loop_id))
            return [d]

        return self._on_instruction(ctx, iid, "Submit", act)

    def verify(
        self, ctx: Context, iid: UUID, *, accepted: bool, note: str | None = None
    ) -> Outcome:
        """Accepted closes the instruction (and tells its parent and warnings); rejected
        sends it back to the lead unit for rework."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            submitted = [u for u, s in i.assignees.items() if s == "submitted"]
            i.verify(accepted, note, meta)
            touched: list[LoopAggregate] = []
            for unit in submitted if accepted else [i.lead]:
                d = self.disposition(i.dispositions[unit])
                d.record_verification(accepted, (note or "").strip(), ctx.meta("Verify", d.loop_id))
                touched.append(d)
            if accepted:
                # A cooperating unit that never submitted: its disposition ends with the case.
                for unit, did in i.dispositions.items():
                    if unit not in submitted:
                        d = self.disposition(did)
                        d.end("instruction closed", ctx.meta("Verify", d.loop_id, str(i.id)))
                        touched.append(d)
                touched += self._tell_finished(ctx, i, "closed")
            return touched

        return self._on_instruction(ctx, iid, "Verify", act)

    def _tell_finished(self, ctx: Context, i: Instruction, outcome: str) -> list[LoopAggregate]:
        """A finished instruction frees its parent and its warnings to close."""
        touched: list[LoopAggregate] = []
        if i.parent_id is not None:
            parent = self.instruction(i.parent_id)
            parent.child_finished(
                i.id, outcome, ctx.meta("ChildFinished", parent.loop_id, str(i.id))
            )
            touched.append(parent)
        return touched + self._tell_warnings(ctx, i, outcome)

    def _tell_warnings(self, ctx: Context, i: Instruction, outcome: str) -> list[LoopAggregate]:
        touched: list[LoopAggregate] = []
        for wid in i.warning_ids:
            w = self.warning(wid)
            w.instruction_finished(
                i.id, outcome, ctx.meta("InstructionFinished", w.loop_id, str(i.id))
            )
            touched.append(w)
        return touched

    def _check_issuer_or_superior(self, i: Instruction, unit: str, doing: str) -> None:
        if unit != i.issuer and unit not in self.ancestors(i.issuer):
            raise NotPermitted(f"only the issuing unit {i.issuer} or a unit above it may {doing}")

    def remind(
        self, ctx: Context, iid: UUID, note: str | None = None, on_duty: str | None = None
    ) -> Outcome:
        """Remind the lead unit; the deadline watch names ``on_duty``, who is on duty there."""

        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "remind")
            i.remind(note, meta, on_duty)

        return self._on_instruction(ctx, iid, "Remind", act)

    def mark_overdue(
        self, ctx: Context, iid: UUID, note: str | None = None, on_duty: str | None = None
    ) -> Outcome:
        """Record that an open instruction's deadline has passed (the deadline watch),
        naming ``on_duty``, who is on duty at the lead unit."""

        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "mark it overdue")
            i.mark_overdue(note, meta, on_duty)

        return self._on_instruction(ctx, iid, "MarkOverdue", act)

    def supervise(
        self, ctx: Context, iid: UUID, note: str | None = None, on_duty: str | None = None
    ) -> Outcome:
        """Put a case under the acting unit's supervision; the deadline watch names
        ``on_duty``, who is on duty at that unit."""

        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "put it under supervision")
            i.supervise(note, meta, on_duty)

        return self._on_instruction(ctx, iid, "Supervise", act)

    def park(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "park it")
            i.park(reason, meta)

        return self._on_instruction(ctx, iid, "Park", act)

    def resume(self, ctx: Context, iid: UUID, note: str | None = None) -> Outcome:
        def act(i: Instruction, meta: Meta) -> None:
            self._check_issuer_or_superior(i, ctx.actor.unit, "resume it")
            i.resume(note, meta, self.calendar)

        return self._on_instruction(ctx, iid, "Resume", act)

    def request_deferral(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        """The lead unit asks the issuer to defer the case (缓办), with its reason."""
        return self._on_instruction(
            ctx,
            iid,
            "RequestDeferral",
            lambda i, m: i.request_deferral(ctx.actor.unit, reason, m),
        )

    def decide_deferral(
        self, ctx: Context, iid: UUID, *, granted: bool, note: str | None = None
    ) -> Outcome:
        """The issuer approves (the clock stops) or refuses (nothing changes) a deferral."""
        return self._on_instruction(
            ctx,
            iid,
            "DecideDeferral",
            lambda i, m: i.decide_deferral(granted, note, m, self.calendar),
        )

    def file_dispute(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        """The lead unit disputes the dispatch (派单异议): not its job, with its reason."""
        return self._on_instruction(
            ctx,
            iid,
            "FileDispute",
            lambda i, m: i.file_dispute(
                ctx.actor.unit, reason, m, self.dispute_limits, self.calendar
            ),
        )

    def arbitrate_dispute(
        self,
        ctx: Context,
        iid: UUID,
        *,
        upheld: bool,
        to_unit: str | None = None,
        note: str | None = None,
    ) -> Outcome:
        """The issuer upholds a dispute (the case goes to ``to_unit``, checked as a
        redirect is) or refuses it (the case stays, its clock never stopped)."""

        def act(i: Instruction, meta: Meta) -> None:
            i.check_can_arbitrate(meta, self.dispute_limits, self.calendar)
            if upheld and to_unit:
                issuer = self._require_active(i.issuer)
                target = self._require_active(to_unit)
                if i.parent_id is not None and issuer.code not in self.ancestors(to_unit):
                    raise DirectionRefused(
                        f"unit {issuer.code} can forward only to a unit below it, "
                        f"and {to_unit} is not"
                    )
                self.check_direction(issuer, target)
            i.arbitrate_dispute(upheld, to_unit, note, meta, self.dispute_limits, self.calendar)

        return self._on_instruction(ctx, iid, "ArbitrateDispute", act)

    def came_from_the_public(self, i: Instruction) -> bool:
        """Whether a warning the case answers was raised by the public (ADR 0083)."""
        for wid in i.warning_ids:
            w = self.warning(wid)
            if is_public(w.source, w.attributes):
                return True
        return False

    def follow_up(
        self,
        ctx: Context,
        iid: UUID,
        *,
        contacted: bool | None,
        resolved: bool | None,
        satisfaction: str | None,
        note: str | None = None,
    ) -> Outcome:
        """The issuer records the caller's answers on a closed case from the public (回访);
        unresolved and dissatisfied reopens it to the same lead unit (重办)."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            i.follow_up(
                public=self.came_from_the_public(i),
                contacted=contacted,
                resolved=resolved,
                satisfaction=satisfaction,
                note=note,
                meta=meta,
                limits=self.follow_up_limits,
                calendar=self.calendar,
            )
            if i.status != "in_progress" or i.lead not in i.dispositions:
                return []
            d = self.disposition(i.dispositions[i.lead])
            d.reopen((note or "").strip(), ctx.meta("FollowUp", d.loop_id))
            return [d]

        return self._on_instruction(ctx, iid, "FollowUp", act)

    def record_unreached_follow_up(self, ctx: Context, iid: UUID, note: str | None) -> Outcome:
        """The issuer records an attempt at the follow-up in which the caller could not be
        reached (未联系上, ADR 0093); the case stays closed."""
        return self._on_instruction(
            ctx,
            iid,
            "RecordUnreachedFollowUp",
            lambda i, m: i.record_unreached_follow_up(
                public=self.came_from_the_public(i),
                note=note,
                meta=m,
                limits=self.follow_up_limits,
                calendar=self.calendar,
            ),
        )

    def remind_follow_up(self, ctx: Context, iid: UUID, on_duty: str | None = None) -> Outcome:
        """The watch reminds the issuer of a follow-up nearing its limit (ADR 0083),
        naming ``on_duty``, who is on duty at the issuer now (ADR 0090)."""
        return self._on_instruction(
            ctx,
            iid,
            "RemindFollowUp",
            lambda i, m: i.remind_follow_up(
                self.came_from_the_public(i), m, self.follow_up_limits, self.calendar, on_duty
            ),
        )

    def cancel_instruction(self, ctx: Context, iid: UUID, reason: str) -> Outcome:
        """Cancel an instruction and, with it, every open instruction forwarded from it."""

        def act(i: Instruction, meta: Meta) -> list[LoopAggregate]:
            self._check_issuer_or_superior(i, ctx.actor.unit, "cancel it")
            return self._cancel_tree(ctx, i, reason, meta, top=True)

        return self._on_instruction(ctx, iid, "CancelInstruction", act)

    def _cancel_tree(
        self, ctx: Context, i: Instruction, reason: str, meta: Meta, *, top: bool
    ) -> list[LoopAggregate]:
        touched: list[LoopAggregate] = []
        for child_id in list(i.open_children):
            child = self.instruction(child_id)
            if child.is_finished:
                continue
            child_meta = ctx.meta("CancelInstruction", child.loop_id, cause=str(i.id))
            touched.append(child)
            touched += self._cancel_tree(
                ctx, child, f"parent cancelled: {reason}", child_meta, top=False
            )
            i.child_finished(child.id, "cancelled", meta)
        i.cancel(reason, meta)
        for did in i.dispositions.values():
            d = self.disposition(did)
            d.end("instruction cancelled", ctx.meta("CancelInstruction", d.loop_id, str(i.id)))
            touched.append(d)
        # A child's parent is told by the loop above, which is cancelling it.
        finished = self._tell_finished if top else self._tell_warnings
        return touched + finished(ctx, i, "cancelled")

    def overdue_by(self, iid: UUID, at: datetime | None = None) -> timedelta:
        return self.instruction(iid).overdue_by(at or now(), self.calendar)


def _cause(parent_id: UUID | None, warning_ids: list[UUID] | None) -> str | None:
    if parent_id is not None:
        return str(parent_id)
    if warning_ids:
        return str(warning_ids[0])
    return None

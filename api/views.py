"""Aggregates and catalog rows turned into the Structs the API answers; nothing else
hands domain objects to the edge. Times are answered in the calendar's zone (RFC 3339
with its offset, +08:00 for China Standard Time)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from api import schemas as s
from domain.disposition import Disposition
from domain.instruction import Instruction
from domain.unit import Unit
from domain.warning import EarlyWarning
from projections.catalog import InstructionRow, WarningRow


class Views:
    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def t(self, value: datetime) -> datetime:
        return value.astimezone(self.zone)

    def maybe(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(self.zone)

    def unit(self, u: Unit) -> s.Unit:
        return s.Unit(
            code=u.code,
            name=u.name,
            name_en=u.name_en,
            level=str(u.level),
            kind=str(u.kind),
            parent=u.parent,
            active=u.active,
            version=u.version,
        )

    def warning(self, w: EarlyWarning) -> s.Warning:
        return s.Warning(
            id=w.id,
            status=str(w.status),
            version=w.version,
            source=w.source,
            rule=w.rule,
            theme=w.theme,
            level=w.level,
            title=w.title,
            description=w.description,
            location=w.location,
            unit=w.unit,
            dedup_key=w.dedup_key,
            observed_at=self.t(w.observed_at),
            last_observed_at=self.t(w.last_observed_at),
            raised_at=self.t(w.raised_at),
            acknowledged_at=self.maybe(w.acknowledged_at),
            closed_at=self.maybe(w.closed_at),
            assessment=w.assessment,
            repeats=w.repeats,
            instructions=list(w.instructions),
            open_instructions=list(w.open_instructions),
            attributes=dict(w.attributes),
        )

    def warning_row(self, r: WarningRow) -> s.WarningSummary:
        return s.WarningSummary(
            id=r.id,
            status=r.status,
            version=r.version,
            theme=r.theme,
            level=r.level,
            title=r.title,
            unit=r.unit,
            rule=r.rule,
            raised_at=self.t(r.raised_at),
            last_observed_at=self.t(r.last_observed_at),
            repeats=r.repeats,
        )

    def disposition(self, d: Disposition) -> s.Disposition:
        return s.Disposition(
            id=d.id,
            instruction_id=d.instruction_id,
            unit=d.unit,
            status=str(d.status),
            version=d.version,
            opened_at=self.t(d.opened_at),
            actions=[
                s.Action(
                    kind=a["kind"],
                    person=a["person"],
                    text=a["text"],
                    evidence=list(a["evidence"]),
                    occurred_at=self.t(datetime.fromisoformat(a["occurred_at"])),
                )
                for a in d.actions
            ],
            results=list(d.results),
            verifications=[
                s.Verdict(
                    accepted=bool(v["accepted"]),
                    note=str(v["note"]),
                    at=self.t(datetime.fromisoformat(str(v["at"]))),
                )
                for v in d.verifications
            ],
        )

    def instruction(
        self,
        i: Instruction,
        dispositions: dict[UUID, Disposition],
        now: datetime,
    ) -> s.Instruction:
        pending = i.pending_extension
        return s.Instruction(
            id=i.id,
            status=str(i.status),
            version=i.version,
            issuer=i.issuer,
            lead_unit=i.lead,
            cooperating_units=list(i.cooperating),
            title=i.title,
            content=i.content,
            priority=str(i.priority),
            deadline=self.t(i.deadline),
            original_deadline=self.t(i.original_deadline),
            issued_at=self.t(i.issued_at),
            signed_at=self.maybe(i.signed_at),
            submitted_at=self.maybe(i.submitted_at),
            closed_at=self.maybe(i.closed_at),
            overdue=i.is_overdue(now),
            warning_ids=list(i.warning_ids),
            parent_id=i.parent_id,
            children=list(i.children),
            open_children=list(i.open_children),
            pending_extension=None
            if pending is None
            else s.PendingExtension(
                unit=pending["unit"],
                deadline=self.t(datetime.fromisoformat(pending["deadline"])),
                reason=pending["reason"],
            ),
            reminders=i.reminders,
            supervised_by=i.supervised_by,
            rework_count=i.rework_count,
            assignees=[
                s.Assignee(
                    unit=unit,
                    lead=unit == i.lead,
                    state=str(state),
                    disposition=(
                        self.disposition(dispositions[i.dispositions[unit]])
                        if unit in i.dispositions and i.dispositions[unit] in dispositions
                        else None
                    ),
                )
                for unit, state in i.assignees.items()
            ],
        )

    def instruction_row(self, r: InstructionRow, now: datetime) -> s.InstructionSummary:
        return s.InstructionSummary(
            id=r.id,
            status=r.status,
            version=r.version,
            title=r.title,
            issuer=r.issuer,
            lead_unit=r.lead,
            assignees=list(r.assignees),
            priority=r.priority,
            deadline=self.t(r.deadline),
            issued_at=self.t(r.issued_at),
            parent_id=r.parent_id,
            overdue=not r.finished and now > r.deadline,
        )

"""Aggregates and view rows turned into the Structs the API answers; nothing else
hands domain objects to the edge. Times are answered in the calendar's zone (RFC 3339
with its offset, +08:00 for China Standard Time)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from api import schemas as s
from domain.calendar import WorkingCalendar
from domain.disposition import Disposition
from domain.instruction import AssigneeStatus, InstructionStatus, Priority
from domain.unit import Unit

Row = dict[str, Any]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe_at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _uuid(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


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

    def unit_row(self, r: Row) -> s.Unit:
        return s.Unit(
            code=r["code"],
            name=r["name"],
            name_en=r["name_en"],
            level=r["level"],
            kind=r["kind"],
            parent=r["parent"],
            active=bool(r["active"]),
            version=r["version"],
        )

    def warning(self, r: Row) -> s.Warning:
        return s.Warning(
            id=UUID(r["id"]),
            status=r["status"],
            version=r["version"],
            source=r["source"],
            rule=r["rule"],
            theme=r["theme"],
            level=r["level"],
            title=r["title"],
            description=r["description"],
            location=r["location"],
            unit=r["unit"],
            dedup_key=r["dedup_key"],
            observed_at=self.t(_at(r["observed_at"])),
            last_observed_at=self.t(_at(r["last_observed_at"])),
            raised_at=self.t(_at(r["raised_at"])),
            acknowledged_at=self.maybe(_maybe_at(r["acknowledged_at"])),
            closed_at=self.maybe(_maybe_at(r["closed_at"])),
            assessment=r["assessment"],
            repeats=r["repeats"],
            instructions=[UUID(i) for i in r["instructions"]],
            open_instructions=[UUID(i) for i in r["open_instructions"]],
            attributes=dict(r["attributes"]),
        )

    def warning_row(self, r: Row) -> s.WarningSummary:
        return s.WarningSummary(
            id=UUID(r["id"]),
            status=r["status"],
            version=r["version"],
            theme=r["theme"],
            level=r["level"],
            title=r["title"],
            unit=r["unit"],
            rule=r["rule"],
            raised_at=self.t(_at(r["raised_at"])),
            last_observed_at=self.t(_at(r["last_observed_at"])),
            repeats=r["repeats"],
        )

    def board(self, rows: list[Row], now: datetime) -> s.WarningBoard:
        cells: dict[tuple[str, int, str], s.BoardCell] = {}
        for r in rows:
            age = max(int((now - _at(r["raised_at"])).total_seconds()), 0)
            key = (r["theme"], r["level"], r["unit"])
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = s.BoardCell(
                    theme=r["theme"],
                    level=r["level"],
                    unit=r["unit"],
                    count=0,
                    repeats=0,
                    oldest_age_seconds=0,
                    by_status={},
                    warnings=[],
                )
            cell.count += 1
            cell.repeats += r["repeats"]
            cell.oldest_age_seconds = max(cell.oldest_age_seconds, age)
            cell.by_status[r["status"]] = cell.by_status.get(r["status"], 0) + 1
            cell.warnings.append(
                s.BoardWarning(
                    id=UUID(r["id"]),
                    title=r["title"],
                    status=r["status"],
                    repeats=r["repeats"],
                    raised_at=self.t(_at(r["raised_at"])),
                    last_observed_at=self.t(_at(r["last_observed_at"])),
                    age_seconds=age,
                )
            )
        ordered = sorted(cells.values(), key=lambda c: (c.level, c.theme, c.unit))
        return s.WarningBoard(at=self.t(now), open=len(rows), cells=ordered)

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
        self, r: Row, dispositions: dict[UUID, Disposition], now: datetime
    ) -> s.Instruction:
        pending = r["pending_extension"]
        deadline = _at(r["deadline"])
        return s.Instruction(
            id=UUID(r["id"]),
            status=r["status"],
            version=r["version"],
            issuer=r["issuer"],
            lead_unit=r["lead"],
            cooperating_units=list(r["cooperating"]),
            title=r["title"],
            content=r["content"],
            priority=r["priority"],
            deadline=self.t(deadline),
            original_deadline=self.t(_at(r["original_deadline"])),
            issued_at=self.t(_at(r["issued_at"])),
            signed_at=self.maybe(_maybe_at(r["signed_at"])),
            submitted_at=self.maybe(_maybe_at(r["submitted_at"])),
            closed_at=self.maybe(_maybe_at(r["closed_at"])),
            overdue=not r["finished"] and now > deadline,
            warning_ids=[UUID(w) for w in r["warning_ids"]],
            parent_id=_uuid(r["parent_id"]),
            children=[UUID(c) for c in r["children"]],
            open_children=[UUID(c) for c in r["open_children"]],
            pending_extension=None
            if pending is None
            else s.PendingExtension(
                unit=pending["unit"],
                deadline=self.t(_at(pending["deadline"])),
                reason=pending["reason"],
            ),
            reminders=r["reminders"],
            supervised_by=r["supervised_by"],
            rework_count=r["rework_count"],
            assignees=[
                s.Assignee(
                    unit=a["unit"],
                    lead=a["lead"],
                    state=a["state"],
                    disposition=(
                        self.disposition(dispositions[UUID(a["disposition_id"])])
                        if a["disposition_id"] and UUID(a["disposition_id"]) in dispositions
                        else None
                    ),
                )
                for a in r["assignees"]
            ],
        )

    def instruction_row(self, r: Row, now: datetime) -> s.InstructionSummary:
        deadline = _at(r["deadline"])
        return s.InstructionSummary(
            id=UUID(r["id"]),
            status=r["status"],
            version=r["version"],
            title=r["title"],
            issuer=r["issuer"],
            lead_unit=r["lead"],
            assignees=[a["unit"] for a in r["assignees"]],
            priority=r["priority"],
            deadline=self.t(deadline),
            issued_at=self.t(_at(r["issued_at"])),
            parent_id=_uuid(r["parent_id"]),
            overdue=not r["finished"] and now > deadline,
        )

    def inbox(
        self, code: str, rows: dict[str, list[Row]], now: datetime, calendar: WorkingCalendar
    ) -> s.Inbox:
        def item(r: Row) -> s.InboxItem:
            deadline = _at(r["deadline"])
            finished = r["status"] in (InstructionStatus.CLOSED, InstructionStatus.CANCELLED)
            left = late = timedelta(0)
            if not finished and now < deadline:
                left = (
                    deadline - now
                    if r["priority"] == Priority.URGENT
                    else calendar.time_left(deadline, now)
                )
            elif not finished and now > deadline:
                late = (
                    now - deadline
                    if r["priority"] == Priority.URGENT
                    else calendar.overdue_by(deadline, now)
                )
            state = r.get("my_state")
            return s.InboxItem(
                id=UUID(r["id"]),
                title=r["title"],
                status=r["status"],
                issuer=r["issuer"],
                lead_unit=r["lead"],
                priority=r["priority"],
                deadline=self.t(deadline),
                issued_at=self.t(_at(r["issued_at"])),
                version=r["version"],
                my_state=state,
                disposition_id=_uuid(r.get("disposition_id")),
                overdue=not finished and now > deadline,
                time_left_seconds=int(left.total_seconds()),
                overdue_seconds=int(late.total_seconds()),
                supervised=r["supervised_by"] is not None,
                supervised_by=r["supervised_by"],
                rework=r["status"] == InstructionStatus.REWORK
                or (state == AssigneeStatus.SIGNED and r["rework_count"] > 0),
                rework_count=r["rework_count"],
                reminders=r["reminders"],
            )

        return s.Inbox(
            unit=code,
            at=self.t(now),
            assigned=[item(r) for r in rows["assigned"]],
            issued=[item(r) for r in rows["issued"]],
        )

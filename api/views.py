"""Aggregates and view rows turned into the Structs the API answers; nothing else
hands domain objects to the edge. Times are answered in the calendar's zone (RFC 3339
with its offset, +08:00 for China Standard Time)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from api import schemas as s
from domain.calendar import WorkingCalendar
from domain.disposition import Disposition
from domain.instruction import AssigneeStatus, InstructionStatus, Priority
from domain.unit import Unit

Row = dict[str, Any]
Shape = TypeVar("Shape", bound=msgspec.Struct)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _late(r: Row, now: datetime) -> bool:
    """Open, past its deadline, and not under a deferral (its clock is stopped)."""
    return (
        not r["finished"] and r["status"] != InstructionStatus.DEFERRED and now > _at(r["deadline"])
    )


def _uuid(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


class Views:
    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def t(self, value: datetime) -> datetime:
        return value.astimezone(self.zone)

    def shaped(self, row: Row, shape: type[Shape], **fields: Any) -> Shape:
        """A view row as the Struct whose fields it names (``fields`` added or
        replacing its own), its texts of times and ids decoded, times in the zone."""
        out = msgspec.convert({**row, **fields}, shape, strict=False)
        for name in out.__struct_fields__:
            value = getattr(out, name)
            if isinstance(value, datetime):
                setattr(out, name, value.astimezone(self.zone))
        return out

    def unit(self, u: Unit) -> s.Unit:
        # Level and kind are the domain's StrEnums: their values are the codes shown.
        return msgspec.convert(u, s.Unit, from_attributes=True)

    def unit_row(self, r: Row) -> s.Unit:
        return self.shaped(r, s.Unit)

    def warning(self, r: Row) -> s.Warning:
        out = self.shaped(r, s.Warning)
        out.group = self.group(r)
        return out

    def warning_row(self, r: Row) -> s.WarningSummary:
        return self.shaped(r, s.WarningSummary, members=len(r.get("members") or {}))

    def group(self, r: Row) -> s.WarningGroup | None:
        """A group's warning's group and members (ADR 0087), from its view row."""
        group = (r.get("attributes") or {}).get("group")
        if not isinstance(group, dict):
            return None
        members = [
            s.GroupMember(
                member=m,
                level=int(v["level"]),
                active=bool(v["active"]),
                joined_at=self.t(_at(v["joined_at"])),
            )
            for m, v in (r.get("members") or {}).items()
        ]
        return s.WarningGroup(
            key=str(group.get("key", "")),
            by=[str(b) for b in group.get("by", [])],
            labels={str(k): str(v) for k, v in (group.get("labels") or {}).items()},
            window_minutes=int(group.get("window_minutes", 0)),
            members=members,
            count=len(members),
            active=sum(1 for m in members if m.active),
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
            cell.warnings.append(self.shaped(r, s.BoardWarning, age_seconds=age))
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
        out = self.shaped(
            r,
            s.Instruction,
            lead_unit=r["lead"],
            cooperating_units=r["cooperating"],
            overdue=_late(r, now),
            pending_extension=None,
            assignees=[],
            emergency=bool(r.get("emergency")),
            pending_deferral=None,
            deferred_remaining_seconds=r.get("deferred_remaining_s"),
            reopen_count=r.get("reopen_count") or 0,
            last_follow_up=None,
            unreached_follow_ups=r.get("unreached_follow_ups") or 0,
        )
        follow_up = r.get("last_follow_up")
        if follow_up is not None:
            out.last_follow_up = s.FollowUpRecord(
                **{**follow_up, "at": self.t(_at(follow_up["at"]))}
            )
        deferral = r.get("pending_deferral")
        if deferral is not None:
            out.pending_deferral = s.PendingDeferral(
                unit=deferral["unit"], reason=deferral["reason"], at=self.t(_at(deferral["at"]))
            )
        dispute = r.get("pending_dispute")
        if dispute is not None:
            out.pending_dispute = s.PendingDispute(
                unit=dispute["unit"], reason=dispute["reason"], at=self.t(_at(dispute["at"]))
            )
        if pending is not None:
            out.pending_extension = s.PendingExtension(
                unit=pending["unit"],
                deadline=self.t(_at(pending["deadline"])),
                reason=pending["reason"],
            )
        out.assignees = [
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
        ]
        return out

    def instruction_row(self, r: Row, now: datetime) -> s.InstructionSummary:
        return self.shaped(
            r,
            s.InstructionSummary,
            lead_unit=r["lead"],
            assignees=[a["unit"] for a in r["assignees"]],
            overdue=_late(r, now),
        )

    def inbox(
        self,
        code: str,
        rows: dict[str, list[Row]],
        now: datetime,
        calendar: WorkingCalendar,
        next_cursor: str | None = None,
    ) -> s.Inbox:
        def item(r: Row) -> s.InboxItem:
            deadline = _at(r["deadline"])
            finished = r["status"] in (InstructionStatus.CLOSED, InstructionStatus.CANCELLED)
            left = late = timedelta(0)
            if r["status"] == InstructionStatus.DEFERRED:
                # The clock is stopped: what was left stays left, nothing is late.
                finished = True
                left = timedelta(seconds=r.get("deferred_remaining_s") or 0)
            elif not finished and now < deadline:
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
            return self.shaped(
                r,
                s.InboxItem,
                lead_unit=r["lead"],
                my_state=state,
                disposition_id=r.get("disposition_id"),
                overdue=not finished and now > deadline,
                time_left_seconds=int(left.total_seconds()),
                overdue_seconds=int(late.total_seconds()),
                supervised=r["supervised_by"] is not None,
                rework=r["status"] == InstructionStatus.REWORK
                or (state == AssigneeStatus.SIGNED and r["rework_count"] > 0),
            )

        return s.Inbox(
            unit=code,
            at=self.t(now),
            assigned=[item(r) for r in rows["assigned"]],
            issued=[item(r) for r in rows["issued"]],
            next_cursor=next_cursor,
        )

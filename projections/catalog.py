"""An interim, in-memory index of warnings and instructions, for the API's lists.

This is a stopgap. The domain has no list queries, and the durable read models (tracked
projections written with their position in one transaction) belong to the read-model
issue, which will replace this module. Until then, :class:`Catalog` keeps in memory a
row per warning and instruction, and the unit tree, rebuilt from the whole event log when
the process starts and brought up to date on each request by reading only the events
recorded since its last position. Nothing here is stored; a restart rebuilds it.

It follows the log by decoding each event of the aggregates it indexes and applying it to
a private copy of the aggregate, exactly as the repository would, then summarising the
copy as a frozen row. Rows are replaced, never changed, so a reader holding one sees a
consistent state.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.instruction import Instruction
from domain.unit import Unit
from domain.warning import EarlyWarning

_TOPICS = {
    "domain.warning:EarlyWarning": "warning",
    "domain.instruction:Instruction": "instruction",
    "domain.unit:Unit": "unit",
}


@dataclass(frozen=True)
class WarningRow:
    id: UUID
    position: int
    version: int
    status: str
    theme: str
    level: int
    title: str
    unit: str
    rule: str
    raised_at: datetime
    last_observed_at: datetime
    repeats: int


@dataclass(frozen=True)
class InstructionRow:
    id: UUID
    position: int
    version: int
    status: str
    title: str
    issuer: str
    lead: str
    assignees: tuple[str, ...]
    priority: str
    deadline: datetime
    issued_at: datetime
    parent_id: UUID | None
    finished: bool


class BadCursor(ValueError):
    """A cursor that this catalog did not hand out."""


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "p" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("the cursor is not one this server handed out") from None


class Catalog:
    """Warnings, instructions and the unit tree, indexed in memory from the event log."""

    def __init__(self, center: CommandCenter) -> None:
        self._center = center
        self._lock = threading.Lock()
        self._position = 0
        self._aggregates: dict[UUID, Any] = {}
        self._parents: dict[str, str | None] = {}
        self._warnings: dict[UUID, WarningRow] = {}
        self._instructions: dict[UUID, InstructionRow] = {}

    @property
    def position(self) -> int:
        return self._position

    def catch_up(self) -> int:
        """Read the events recorded since the last call; return the new position."""
        with self._lock:
            while True:
                batch = self._center.recorder.select_notifications(self._position + 1, 500)
                if not batch:
                    return self._position
                for notification in batch:
                    self._apply(notification)
                    self._position = notification.id

    def _apply(self, notification: Any) -> None:
        kind = _TOPICS.get(notification.topic.rsplit(".", 1)[0])
        if kind is None:
            return
        domain_event: Any = self._center.mapper.to_domain_event(notification)
        previous = self._aggregates.get(domain_event.originator_id)
        aggregate = domain_event.mutate(previous)
        self._aggregates[aggregate.id] = aggregate
        if kind == "unit":
            assert isinstance(aggregate, Unit)
            self._parents[aggregate.code] = aggregate.parent
        elif kind == "warning":
            assert isinstance(aggregate, EarlyWarning)
            self._warnings[aggregate.id] = _warning_row(
                aggregate, self._warnings.get(aggregate.id), notification.id
            )
        else:
            assert isinstance(aggregate, Instruction)
            self._instructions[aggregate.id] = _instruction_row(
                aggregate, self._instructions.get(aggregate.id), notification.id
            )

    # -- the unit tree ---------------------------------------------------------------

    def ancestors(self, code: str) -> list[str]:
        chain: list[str] = []
        parent = self._parents.get(code)
        while parent is not None and parent not in chain and len(chain) < 16:
            chain.append(parent)
            parent = self._parents.get(parent)
        return chain

    def is_within(self, code: str, ancestor: str) -> bool:
        return code == ancestor or ancestor in self.ancestors(code)

    def any_within(self, codes: Iterable[str], ancestor: str) -> bool:
        return any(self.is_within(c, ancestor) for c in codes)

    # -- lists -----------------------------------------------------------------------

    def warnings(
        self,
        *,
        visible_to: str | None,
        status: str | None = None,
        level: int | None = None,
        theme: str | None = None,
        unit: str | None = None,
        raised_from: datetime | None = None,
        raised_to: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[WarningRow], str | None]:
        """Newest first; ``unit`` takes the unit's whole subtree; ``visible_to`` likewise."""
        self.catch_up()

        def keep(row: WarningRow) -> bool:
            return (
                (visible_to is None or self.is_within(row.unit, visible_to))
                and (status is None or row.status == status)
                and (level is None or row.level == level)
                and (theme is None or row.theme == theme)
                and (unit is None or self.is_within(row.unit, unit))
                and (raised_from is None or row.raised_at >= raised_from)
                and (raised_to is None or row.raised_at < raised_to)
            )

        return _page(list(self._warnings.values()), keep, cursor, limit)

    def instructions(
        self,
        *,
        visible_to: str | None,
        assignee: str | None = None,
        issuer: str | None = None,
        status: str | None = None,
        overdue_at: datetime | None = None,
        overdue: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[InstructionRow], str | None]:
        """Newest first. An instruction concerns a unit's subtree when its issuer or one
        of its assignees lies in it."""
        self.catch_up()

        def keep(row: InstructionRow) -> bool:
            late = overdue_at is not None and not row.finished and row.deadline < overdue_at
            return (
                (visible_to is None or self.any_within((row.issuer, *row.assignees), visible_to))
                and (assignee is None or assignee in row.assignees)
                and (issuer is None or row.issuer == issuer)
                and (status is None or row.status == status)
                and (overdue is None or late == overdue)
            )

        return _page(list(self._instructions.values()), keep, cursor, limit)


def _page(
    rows: list[Any], keep: Callable[[Any], bool], cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    before = decode_cursor(cursor) if cursor else None
    rows.sort(key=lambda r: r.position, reverse=True)
    selected: list[Any] = []
    for row in rows:
        if before is not None and row.position >= before:
            continue
        if keep(row):
            selected.append(row)
            if len(selected) > limit:
                break
    if len(selected) > limit:
        return selected[:limit], encode_cursor(selected[limit - 1].position)
    return selected, None


def _warning_row(w: EarlyWarning, previous: WarningRow | None, position: int) -> WarningRow:
    return WarningRow(
        id=w.id,
        position=previous.position if previous else position,
        version=w.version,
        status=str(w.status),
        theme=w.theme,
        level=w.level,
        title=w.title,
        unit=w.unit,
        rule=w.rule,
        raised_at=w.raised_at,
        last_observed_at=w.last_observed_at,
        repeats=w.repeats,
    )


def _instruction_row(
    i: Instruction, previous: InstructionRow | None, position: int
) -> InstructionRow:
    return InstructionRow(
        id=i.id,
        position=previous.position if previous else position,
        version=i.version,
        status=str(i.status),
        title=i.title,
        issuer=i.issuer,
        lead=i.lead,
        assignees=tuple(i.assignees),
        priority=str(i.priority),
        deadline=i.deadline,
        issued_at=i.issued_at,
        parent_id=i.parent_id,
        finished=i.is_finished,
    )

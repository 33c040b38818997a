"""The board's ticker: the latest steps of the loops a subtree may see (ADR 0054).

The steps are the log's own last events (the timeline's lines, :mod:`texts.timeline`),
read up to the position the board's views stand at, so the ticker never names a case
the rest of the board does not know yet. Each is kept only when its case concerns the
subtree, decided on the views as the API's lists decide it: a warning by its unit, an
instruction by its issuer and assignees, a disposition by its instruction's. A
subtree with little activity among many others' sees fewer lines, never another's.
"""

# Table names are constants; every value is a bound parameter.

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.application import CommandCenter
from projections.store import Tx
from projections.units import like_prefix, unit_path
from texts.timeline import describe

#: How far back in the log the ticker looks, and how many lines it shows.
LOOK_BACK = 400
LINES = 12
_KINDS = ("EarlyWarning", "Instruction", "Disposition")


@dataclass(frozen=True)
class Step:
    """One line of the ticker."""

    position: int
    recorded_at: datetime
    unit: str
    description: str
    title: str


@dataclass
class _Seen:
    event: Any
    position: int
    kind: str
    case: str


def _recent(center: CommandCenter, upto: int) -> list[_Seen]:
    if upto <= 0:
        return []
    start = max(1, upto - LOOK_BACK + 1)
    found = []
    for n in center.recorder.select_notifications(start, LOOK_BACK, stop=upto):
        kind = n.topic.rsplit(":", 1)[-1].split(".", 1)[0]
        if kind in _KINDS:
            event = center.mapper.to_domain_event(n)
            found.append(_Seen(event, n.id, kind, str(n.originator_id)))
    return found


def _cases(tx: Tx, seen: list[_Seen]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each case's units and title, from the views: dispositions as their instructions'."""
    units: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    warnings = sorted({s.case for s in seen if s.kind == "EarlyWarning"})
    for wid, unit, title in tx.select_in(
        "SELECT id, unit, title FROM warnings WHERE id IN ({keys})", warnings
    ):
        units[str(wid)] = [str(unit)]
        titles[str(wid)] = str(title)
    dispositions = sorted({s.case for s in seen if s.kind == "Disposition"})
    instruction_of = {
        str(d): str(i)
        for d, i in tx.select_in(
            "SELECT disposition_id, instruction_id FROM instruction_assignees "
            "WHERE disposition_id IN ({keys})",
            dispositions,
        )
    }
    instructions = sorted(
        {s.case for s in seen if s.kind == "Instruction"} | set(instruction_of.values())
    )
    for iid, issuer, title in tx.select_in(
        "SELECT id, issuer, title FROM instructions WHERE id IN ({keys})", instructions
    ):
        units.setdefault(str(iid), []).append(str(issuer))
        titles[str(iid)] = str(title)
    for iid, unit in tx.select_in(
        "SELECT instruction_id, unit FROM instruction_assignees WHERE instruction_id IN ({keys})",
        instructions,
    ):
        units.setdefault(str(iid), []).append(str(unit))
    for d, i in instruction_of.items():
        units[d] = units.get(i, [])
        titles[d] = titles.get(i, "")
    return units, titles


def latest_steps(
    center: CommandCenter,
    tx: Tx,
    scope: str | None,
    upto: int,
    language: str,
    zone: ZoneInfo,
    unit_name: Callable[[str], str] | None = None,
) -> list[Step]:
    """The latest :data:`LINES` steps up to position ``upto`` that ``scope``'s subtree
    (everything when None) may see, newest first, in ``language``; the units in the
    lines by ``unit_name`` (a hall reads names, not codes)."""
    seen = _recent(center, upto)
    if not seen:
        return []
    units, titles = _cases(tx, seen)
    inside: set[str] | None = None
    if scope is not None:
        path = unit_path(tx, scope)
        if path is None:
            return []
        rows = tx.execute(
            "SELECT code FROM units WHERE path LIKE ? ESCAPE '\\'", [like_prefix(path)]
        )
        inside = {str(c) for (c,) in rows}
    steps: list[Step] = []
    for s in reversed(seen):
        concerned = units.get(s.case)
        if concerned is None or (inside is not None and not inside.intersection(concerned)):
            continue
        meta = getattr(s.event, "meta", None)
        name = type(s.event).__qualname__
        steps.append(
            Step(
                position=s.position,
                recorded_at=s.event.timestamp,
                unit=getattr(meta, "unit", "") or "",
                description=describe(name, vars(s.event), language, zone, unit_name),
                title=titles.get(s.case, ""),
            )
        )
        if len(steps) == LINES:
            break
    return steps

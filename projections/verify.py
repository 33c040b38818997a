"""``closedloop projections verify``: each view compared with a rebuild of it from the log.

Each view is rebuilt into a scratch area up to exactly the position the live view has
reached, and then compared row by row. A view behind the log's head is not a fault: a
freshly restored store, or one whose followers are stopped, has views that are simply
behind, and they are compared at the position they are at. Only a view whose position
changed while it was being compared (a follower is running) cannot be judged, and that
alone is reported as the log having moved on.

Why exactly: the runner reads the log a batch at a time, so a rebuild left to run until
it passes the live position lands at the end of a batch, beyond it (issue 18 item 4:
verify on a restored store said the log moved on when the views were only behind).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from domain.application import CommandCenter
from projections.registry import build_views, view_classes
from projections.runner import BATCH, Runner
from projections.store import ViewStore
from projections.view import View


@dataclass(frozen=True)
class Verdict:
    """One view's comparison: ``fault`` is None when it equals its rebuild."""

    view: str
    position: int
    head: int
    fault: str | None = None
    #: The live view advanced while it was compared: run verify again.
    moved: bool = False

    @property
    def ok(self) -> bool:
        return self.fault is None and not self.moved

    def line(self) -> str:
        if self.moved:
            return (
                f"view {self.view} advanced from position {self.position} while it was "
                "compared (the log moved on while verifying; run verify again)"
            )
        if self.fault is not None:
            return f"view {self.view}, {self.fault}"
        behind = self.head - self.position
        lag = (
            ""
            if behind <= 0
            else f" ({behind} event(s) behind the log's head {self.head}: not yet followed)"
        )
        return f"{self.view}: identical to a rebuild at position {self.position}{lag}"


def rebuild_to(center: CommandCenter, scratch: ViewStore, views: list[View], target: int) -> int:
    """Feed ``views`` (over ``scratch``) from the log up to ``target`` exactly, never past
    it; answers the position reached (less than ``target`` only if the log is shorter)."""
    runner = Runner(center, scratch, views, listen=False)
    runner.prepare()
    position = min(runner.positions.values(), default=0)
    while position < target:
        runner.batch = min(BATCH, target - position)
        if not runner.step():
            break
        position = min(runner.positions.values(), default=0)
    return position


def _first_difference(live: list[tuple[object, ...]], rebuilt: list[tuple[object, ...]]) -> str:
    return next(
        (f"live {x} / rebuilt {y}" for x, y in zip(live, rebuilt, strict=False) if x != y),
        f"live has {len(live)} rows, rebuilt {len(rebuilt)}",
    )


def verify_views(center: CommandCenter, live: ViewStore) -> Iterator[Verdict]:
    """Each view's verdict, in the registry's order, rebuilt into a scratch area that is
    discarded afterwards."""
    head = center.head_position()
    classes = view_classes()
    start = {c.name: live.max_tracking_id(f"closedloop/{c.name}") or 0 for c in classes}
    # Views at one position are rebuilt together, each group exactly to its position.
    groups: dict[int, list[type[View]]] = {}
    for cls in classes:
        groups.setdefault(start[cls.name], []).append(cls)
    scratch = live.scratch()
    try:
        for target, members in sorted(groups.items()):
            rebuild_to(center, scratch, build_views(scratch, center.calendar, members), target)
        for cls in classes:
            at = start[cls.name]
            rebuilt_at = scratch.max_tracking_id(f"closedloop/{cls.name}") or 0
            if rebuilt_at != at:
                yield Verdict(
                    cls.name, at, head, f"its rebuild reached {rebuilt_at} only (log too short)"
                )
                continue
            fault = None
            for table in cls.tables():
                a, b = live.table_rows(table), scratch.table_rows(table)
                if a != b:
                    fault = f"table {table} differs: {_first_difference(a, b)}"
                    break
            now_at = live.max_tracking_id(f"closedloop/{cls.name}") or 0
            # Rows read while a follower moved the view are of no one position.
            yield Verdict(cls.name, at, head, fault, moved=now_at != at)
    finally:
        scratch.discard()

"""The loop index: for each loop (a root warning or root instruction), every aggregate
that belongs to it, with its kind and the position of its first event in the loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.disposition import Disposition
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from domain.whistle import Whistle
from projections.store import Tx
from projections.values import id_text
from projections.view import View

KINDS: dict[str, str] = {
    EarlyWarning.__qualname__: "warning",
    Instruction.__qualname__: "instruction",
    Disposition.__qualname__: "disposition",
    Whistle.__qualname__: "whistle",
}


_KIND_OF: dict[type, str | None] = {}


def _kind(event_type: type) -> str | None:
    try:
        return _KIND_OF[event_type]
    except KeyError:
        kind = _KIND_OF[event_type] = KINDS.get(event_type.__qualname__.split(".", 1)[0])
        return kind


class LoopsView(View):
    """Every aggregate of each loop, with its kind and the position it joined the loop at."""

    name = "loops"
    version = 1
    create_statements = [  # noqa: RUF012
        "CREATE TABLE IF NOT EXISTS loop_members ("
        "loop_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, kind TEXT NOT NULL, "
        "first_position BIGINT NOT NULL, PRIMARY KEY (loop_id, aggregate_id))",
        "CREATE INDEX IF NOT EXISTS loop_members_aggregate ON loop_members (aggregate_id)",
    ]

    def apply(self, event: Any, tx: Tx) -> None:
        self.apply_batch([(event, self.at)], tx)

    def apply_batch(self, events: Sequence[tuple[Any, int]], tx: Tx) -> None:
        # An aggregate joins a loop by any event recorded under that loop's metadata
        # (an instruction linked to a warning joins the warning's loop too). Most events
        # name a membership already known: only the first of each is written, once.
        # Keyed by the ids themselves: a UUID hashes faster than it turns into text.
        first: dict[tuple[Any, Any], tuple[str, str, str, int]] = {}
        for event, position in events:
            kind = _kind(type(event))
            if kind is None:
                continue
            key = (event.meta.loop_id, event.originator_id)
            if key not in first:
                first[key] = (id_text(key[0]), id_text(key[1]), kind, position)
        tx.insert_rows(
            "loop_members",
            ("loop_id", "aggregate_id", "kind", "first_position"),
            list(first.values()),
            "ON CONFLICT (loop_id, aggregate_id) DO NOTHING",
        )


def loop_members(tx: Tx, loop_id: str) -> list[tuple[str, str, int]]:
    """(aggregate id, kind, first position) of every member of a loop, in log order."""
    rows = tx.execute(
        "SELECT aggregate_id, kind, first_position FROM loop_members WHERE loop_id = ? "
        "ORDER BY first_position, aggregate_id",
        (loop_id,),
    )
    return [(str(a), str(k), int(p)) for a, k, p in rows]

"""A varied workload on the demo district: warnings through every state, instructions
signed, returned and redirected, forwarded, extended, reworked, parked, cancelled,
and a unit moved with its subtree; and the views it leaves, as rows, projected or rebuilt."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.application import CommandCenter
from domain.demo import load_demo
from domain.meta import Actor, Context, now
from projections.registry import view_classes
from projections.runner import Runner
from projections.store import ViewStore


def ctx(unit: str, role: str = "dispatcher", **kw: Any) -> Context:
    return Context(actor=Actor(person=f"{unit}-person", unit=unit, role=role), **kw)


def warning(center: CommandCenter, n: int, unit: str = "HW-DH-QS", level: int = 2) -> Any:
    return center.raise_warning(
        ctx("HW", "monitor"),
        source="sensor",
        rule="reservoir.level",
        theme="reservoir",
        level=level,
        title=f"Reservoir {n} above the flood limit",
        unit=unit,
        dedup_key=f"res-{n}",
        attributes={"gauge": n, "metres": 12.5},
    ).id


def run_workload(center: CommandCenter, rounds: int = 2) -> None:
    load_demo(center)
    later = now() + timedelta(days=5)
    for r in range(rounds):
        # A warning repeated, escalated, confirmed, answered by an instruction, closed.
        w1 = warning(center, 100 * r + 1)
        center.raise_warning(
            ctx("HW", "monitor"),
            source="sensor",
            rule="reservoir.level",
            theme="reservoir",
            level=1,
            title="Still rising",
            unit="HW-DH-QS",
            dedup_key=f"res-{100 * r + 1}",
        )
        center.acknowledge_warning(ctx("HW", "duty_officer"), w1)
        center.assess_warning(ctx("HW", "duty_officer"), w1, confirmed=True, note=None)
        i1 = center.issue_instruction(
            ctx("HW"),
            lead_unit="HW-DH",
            cooperating_units=["HW-WATER"],
            title="Inspect the dam",
            deadline=later,
            warning_ids=[w1],
        ).id
        center.sign_for(ctx("HW-DH", "handler"), i1)
        center.sign_for(ctx("HW-WATER", "handler"), i1)
        child = center.forward(ctx("HW-DH", "handler"), i1, to_unit="HW-DH-QS").id
        center.sign_for(ctx("HW-DH-QS", "handler"), child)
        center.report_progress(ctx("HW-DH-QS", "handler"), child, "on site")
        center.submit(ctx("HW-DH-QS", "handler"), child, "gates opened")
        center.verify(ctx("HW-DH"), child, accepted=True)
        center.request_extension(
            ctx("HW-DH", "handler"), i1, deadline=later + timedelta(days=2), reason="rain"
        )
        center.decide_extension(ctx("HW"), i1, granted=True)
        center.submit(ctx("HW-DH", "handler"), i1, "dam inspected")
        center.verify(ctx("HW"), i1, accepted=False, note="photos missing")
        center.submit(ctx("HW-DH", "handler"), i1, "dam inspected, photos attached")
        center.verify(ctx("HW"), i1, accepted=True)
        center.close_warning(ctx("HW", "duty_officer"), w1, "done")

        # A false alarm; a cancelled warning; an open one for the board.
        w2 = warning(center, 100 * r + 2, unit="HW-XL-SQ", level=3)
        center.acknowledge_warning(ctx("HW", "duty_officer"), w2)
        center.assess_warning(ctx("HW", "duty_officer"), w2, confirmed=False, note="sensor")
        center.close_warning(ctx("HW", "duty_officer"), w2, None)
        w3 = warning(center, 100 * r + 3, unit="HW-NG-GK", level=4)
        center.cancel_warning(ctx("HW", "duty_officer"), w3, "withdrawn by the source")
        warning(center, 100 * r + 4, unit="HW-DH-HP", level=1)

        # Returned and redirected; reminded, supervised, parked and resumed; cancelled.
        i2 = center.issue_instruction(
            ctx("HW"), lead_unit="HW-XL", title="Clear the drains", deadline=later
        ).id
        center.return_to_issuer(ctx("HW-XL", "handler"), i2, "not ours")
        center.redirect(ctx("HW"), i2, to_unit="HW-NG")
        center.remind(ctx("HW"), i2, "soon please")
        center.supervise(ctx("HC"), i2, "watch this")
        center.park(ctx("HW"), i2, "after the season")
        center.resume(ctx("HW"), i2, None)
        i3 = center.issue_instruction(
            ctx("HW"), lead_unit="HW-DH", title="Patrol", priority="urgent", deadline=later
        ).id
        center.cancel_instruction(ctx("HW"), i3, "no longer needed")
    center.rename_unit(ctx("HC", "admin"), "HW-DH-LY", "柳营社区", "Liuying Community (new)")


def snapshot(store: ViewStore) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every view table."""
    return {table: store.table_rows(table) for cls in view_classes() for table in cls.tables()}


def rebuilt(center: CommandCenter, store: ViewStore) -> dict[str, list[tuple[object, ...]]]:
    """The views rebuilt from the first event in a scratch store."""
    scratch = store.scratch()
    try:
        Runner(center, scratch).catch_up()
        return snapshot(scratch)
    finally:
        scratch.discard()

"""What ``closedloop serve`` runs beside the API: playbooks for warnings raised by anyone,
followed from a tracked place in the log, and the deadline watch fed by the views."""

from __future__ import annotations

from closedloop.bootstrap import build_background
from domain.application import CommandCenter
from domain.demo import load_demo
from domain.meta import Actor, Context
from projections.service import ReadModels

MONITOR = Actor("hydrology-net", "HW-WATER", "monitor")


def raise_reservoir_warning(center: CommandCenter, command_id: str) -> None:
    center.raise_warning(
        Context(MONITOR, command_id=command_id),
        source="hydrology-net",
        rule="reservoir.flood_limit",
        theme="reservoir",
        level=2,
        title="Qingshan reservoir above its flood-control limit",
        unit="E-QSRES",
        dedup_key=f"reservoir:{command_id}",
    )


def playbook_instructions(center: CommandCenter) -> list[str]:
    return [n.originator_id for n in center.iter_log() if n.topic.endswith("Instruction.Issued")]


def test_a_warning_raised_through_the_api_sets_its_playbook_in_motion_once(
    center: CommandCenter,
) -> None:
    load_demo(center)
    reads = ReadModels.beside(center, run=False)
    reads.start()
    try:
        background = build_background(center, reads.store)
        raise_reservoir_warning(center, "res-1")

        background.follow_once()
        issued = playbook_instructions(center)
        assert len(issued) == 2  # the reservoir-flood playbook has two steps

        # A restarted follower starts where the last one stopped: nothing twice.
        again = build_background(center, reads.store)
        again.follow_once()
        assert playbook_instructions(center) == issued

        raise_reservoir_warning(center, "res-2")
        again.follow_once()
        assert len(playbook_instructions(center)) == 4
    finally:
        reads.stop()


def test_the_watch_asks_the_instructions_view_which_cases_are_open(
    center: CommandCenter,
) -> None:
    load_demo(center)
    reads = ReadModels.beside(center)
    reads.start()
    try:
        raise_reservoir_warning(center, "res-3")
        background = build_background(center, reads.store)
        background.follow_once()
        reads.wait(["instructions"], center.head_position(), timeout=10)
        assert background.watch.open.listing is not None
        assert len(background.watch.open.listing()) == 2
    finally:
        reads.stop()

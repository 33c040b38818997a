"""Copies of ``projections run`` and of ``watch run`` as real processes on one PostgreSQL
schema divide their work (ADR 0074): an even split, a SIGKILLed copy's share taken by the
other, views that verify, a clean stop that leaves nothing behind, and no playbook
instruction issued twice. (A clean stop's hand-over at once, a lost connection and a
version mismatch are tested in one process: tests/integration/projections/test_leadership.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from closedloop.cli import main
from domain.demo import load_demo
from projections.leadership import AUDIT_CHAIN
from projections.registry import view_names
from projections.service import ReadModels
from projections.verify import verify_views
from tests.conftest import make_center
from tests.e2e.copies import Copies, wait_for
from tests.integration.intake.test_background import (
    playbook_instructions,
    raise_reservoir_warning,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PIECES = {*view_names(), AUDIT_CHAIN}
#: Each of two copies leads an even share: the count grows as views are added.
HALF = len(PIECES) // 2
#: The goal for a SIGKILLed copy's share to be taken (issue 23); it takes about a beat.
TAKEOVER = 10.0


def test_projection_copies_split_the_views_a_killed_ones_share_is_taken_and_they_verify(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    center = make_center(postgres_url)
    copies = Copies(postgres_url, tmp_path)
    try:
        load_demo(center)
        a, b = copies.start(), copies.start()
        assert wait_for(lambda: len(copies.leads(a)) == len(copies.leads(b)) == HALF, 60), (
            copies.live()
        )
        assert copies.leads(a) | copies.leads(b) == PIECES
        for n in range(5):
            raise_reservoir_warning(center, f"before-{n}")
        copies.kill(b)
        assert wait_for(lambda: copies.leads(a) == PIECES, TAKEOVER), copies.live()
        for n in range(5):
            raise_reservoir_warning(center, f"after-{n}")
        head = center.head_position()
        reads = ReadModels.beside(center, run=False)
        try:
            assert wait_for(lambda: reads.reached(view_names()) >= head, 30)
            (survivor,) = copies.live()
            assert {row["leader"] for row in reads.status()} == {survivor["copy"]}
            assert all(v.ok for v in verify_views(center, reads.store)), "views differ"
        finally:
            reads.stop()
        monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", postgres_url)
        assert main(["projections", "status"]) == 0
        shown = capsys.readouterr().out
        assert f"led by {survivor['copy']}" in shown
        assert f"copy projections\t{survivor['copy']}\tleads audit-chain, indicators" in shown
        assert "lost" not in copies.log(a)

        # A clean stop lets go and leaves the table: nothing is counted as live after it.
        assert copies.stop(a) == 0
        assert copies.live() == []
    finally:
        copies.close()
        center.close()


def test_two_watch_copies_divide_the_loops_and_issue_no_playbook_instruction_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    center = make_center(postgres_url)
    copies = Copies(postgres_url, tmp_path, role="watch")
    try:
        load_demo(center)
        for n in range(3):
            raise_reservoir_warning(center, f"res-{n}")
        a, b = copies.start(), copies.start()
        assert wait_for(lambda: len(copies.leads(a)) == len(copies.leads(b)) == 1, 30), (
            copies.live()
        )
        # Each reservoir warning's playbook has two steps: six instructions, once each.
        assert wait_for(lambda: len(playbook_instructions(center)) >= 6, 20)
        leader = a if "playbooks" in copies.leads(a) else b
        other = b if leader is a else a
        raise_reservoir_warning(center, "res-after")
        copies.kill(leader)
        assert wait_for(lambda: copies.leads(other) == {"playbooks", "deadline-watch"}, TAKEOVER)
        assert wait_for(lambda: len(playbook_instructions(center)) >= 8, 20)
        issued = playbook_instructions(center)
        assert len(issued) == len(set(issued)) == 8
    finally:
        copies.close()
        center.close()

"""``closedloop projections verify``: views behind the log (a restored store, stopped
followers) are compared at their own position and pass; a view that differs fails and
names its table; only a view that moved while compared says the log moved on."""

from __future__ import annotations

import argparse

import pytest

from closedloop.cli import parser
from closedloop.settings import Settings
from domain.application import CommandCenter
from projections.runner import Runner
from projections.store import ViewStore, tracking_name
from projections.verify import verify_views
from tests.integration.projections.workload import run_workload, warning


def verify(database_url: str) -> int:
    args: argparse.Namespace = parser().parse_args(["projections", "verify"])
    status: int = args.func(args, Settings(database_url=database_url))
    return status


def test_views_behind_the_log_verify_at_their_own_position(
    center: CommandCenter, store: ViewStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_workload(center, rounds=1)
    Runner(center, store).catch_up()
    followed = center.head_position()
    # Written after the views stopped following: the views are behind, nothing moves.
    for n in range(5):
        warning(center, 800 + n)
    assert center.head_position() > followed

    assert verify(database_url) == 0
    out = capsys.readouterr()
    assert "moved on" not in out.err
    assert f"identical to a rebuild at position {followed}" in out.out
    assert "behind the log's head" in out.out


def test_views_at_different_positions_are_each_rebuilt_to_their_own(
    center: CommandCenter, store: ViewStore
) -> None:
    run_workload(center, rounds=1)
    Runner(center, store).catch_up()
    for n in range(5):
        warning(center, 850 + n)
    # Only the warnings view followed the last events (a view added or rebuilt later).
    runner = Runner(center, store)
    runner.views = [v for v in runner.views if v.name == "warnings"]
    runner.catch_up()

    verdicts = {v.view: v for v in verify_views(center, store)}
    assert all(v.ok for v in verdicts.values()), [v.line() for v in verdicts.values()]
    assert verdicts["warnings"].position == center.head_position()
    assert verdicts["instructions"].position < center.head_position()


def test_a_view_that_differs_from_its_rebuild_fails_naming_the_table(
    center: CommandCenter, store: ViewStore, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_workload(center, rounds=1)
    Runner(center, store).catch_up()
    with store.transaction() as tx:
        tx.execute("UPDATE warnings SET title = 'changed behind the log'")

    assert verify(database_url) == 1
    err = capsys.readouterr().err
    assert "table warnings differs" in err
    assert "moved on" not in err
    assert store.max_tracking_id(tracking_name("warnings")) == center.head_position()

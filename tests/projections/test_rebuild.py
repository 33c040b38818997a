"""Views built live, event by event as commands are written, equal views rebuilt from
the first event; a runner stopped mid-stream and restarted applies nothing twice."""

from __future__ import annotations

import gc
import threading

import pytest

from domain.application import CommandCenter
from projections.base import ViewStore, tracking_name
from projections.runner import Runner
from tests.projections.conftest import rebuilt, snapshot
from tests.projections.workload import run_workload, warning


def test_views_followed_live_equal_views_rebuilt_from_the_first_event(
    center: CommandCenter, store: ViewStore
) -> None:
    runner = Runner(center, store, poll_interval=0.01).start()
    try:
        run_workload(center)
        assert runner.wait_for(None, center.head_position(), timeout=20)
    finally:
        runner.stop()

    live = snapshot(store)
    assert live["warnings"]
    assert live["instructions"]
    assert live["loop_members"]
    assert live == rebuilt(center, store)


def test_a_runner_stopped_mid_stream_and_restarted_applies_each_event_once(
    center: CommandCenter, store: ViewStore
) -> None:
    run_workload(center, rounds=1)
    first = Runner(center, store, batch=7)
    first.prepare()
    first.step()
    first.step()
    stopped_at = store.max_tracking_id(tracking_name("warnings"))
    assert stopped_at is not None
    assert 0 < stopped_at < center.head_position()

    writer = threading.Thread(target=lambda: [warning(center, 900 + n) for n in range(20)])
    writer.start()
    second = Runner(center, store, poll_interval=0.01).start()
    try:
        writer.join()
        assert second.wait_for(None, center.head_position(), timeout=20)
    finally:
        second.stop()

    live = snapshot(store)
    assert live == rebuilt(center, store)
    repeats = {row[0]: row for row in live["warnings"]}
    assert len(repeats) == len(live["warnings"])


def test_views_built_one_event_per_transaction_equal_views_built_in_large_batches(
    center: CommandCenter, store: ViewStore
) -> None:
    # Batches keep changed rows in memory and write them once at the end; one event at
    # a time reads and writes every row each time. Both must end with the same tables.
    run_workload(center)
    one_by_one = Runner(center, store, batch=1).catch_up()
    assert one_by_one == center.head_position()
    assert snapshot(store) == rebuilt(center, store)
    assert any(int(str(row[19])) > 0 for row in snapshot(store)["warnings"]), "none repeated"


def test_a_catch_up_leaves_the_garbage_collector_as_it_found_it(
    center: CommandCenter, store: ViewStore
) -> None:
    # The catch-up quietens the collector for itself (ADR 0022); the process it runs in
    # must get its own settings back, also when the catch-up fails.
    run_workload(center, rounds=1)
    before = gc.get_threshold()
    Runner(center, store).catch_up()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0

    failing = Runner(center, store)
    failing.positions = {"warnings": 0}

    def refuse(events: object) -> None:
        raise RuntimeError("the store went away")

    failing.apply = refuse  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="went away"):
        failing.catch_up()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0

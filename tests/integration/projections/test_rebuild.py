"""Views built live, event by event as commands are written, equal views rebuilt from
the first event; a runner stopped mid-stream and restarted applies nothing twice."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from domain.application import CommandCenter
from projections.runner import Runner
from projections.store import ViewStore, tracking_name
from tests.integration.projections.workload import rebuilt, run_workload, snapshot, warning


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


def test_a_runner_whose_views_were_reset_under_it_reads_again_from_the_first_event(
    center: CommandCenter, store: ViewStore
) -> None:
    # A server's runner has applied everything; `projections rebuild` resets the views
    # in place; more events come. The server's runner must not apply only the new
    # events to the empty tables (and mark them done up to the head).
    run_workload(center, rounds=1)
    server = Runner(center, store)
    server.catch_up()
    for view in server.views:
        store.reset(view)
    for n in range(3):
        warning(center, 700 + n)

    while server.step():
        pass

    assert server.positions["warnings"] == center.head_position()
    assert snapshot(store) == rebuilt(center, store)


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


def test_overlapping_catch_ups_restore_the_collector_once_and_keep_what_the_process_froze(
    center: CommandCenter, store: ViewStore
) -> None:
    run_workload(center, rounds=1)
    before = gc.get_threshold()
    gc.freeze()  # the process's own objects, frozen by the process
    frozen = gc.get_freeze_count()
    try:
        inner_done = threading.Event()
        outer = Runner(center, store)
        inner = Runner(center, ViewStore.for_env(center.env))
        apply = outer.apply

        def slow(events: Any) -> None:
            # The other catch-up runs while this one is in the middle of its own.
            if not inner_done.is_set():
                inner.catch_up()
                inner_done.set()
                assert gc.get_threshold() != before, "restored while a catch-up still ran"
            apply(events)

        outer.apply = slow  # type: ignore[method-assign]
        try:
            outer.catch_up()
        finally:
            inner.store.close()
        assert inner_done.is_set()
        assert gc.get_threshold() == before
        # Still frozen (a few of those objects may have been freed meanwhile).
        assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()

"""On PostgreSQL: the projection worker as its own process, killed with SIGKILL in the
middle of a stream of events and restarted; two workers at once; polling alone (a lost
NOTIFY) never stalls a view."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from domain.application import CommandCenter
from projections.registry import view_names
from projections.runner import Runner
from projections.store import ViewStore, tracking_name
from tests.integration.projections.workload import rebuilt, run_workload, snapshot, warning

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def worker(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "closedloop.cli", "projections", "run", "--poll", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def caught_up(store: ViewStore, center: CommandCenter, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = center.head_position()
        positions = store.positions()
        if all(positions.get(tracking_name(n), 0) >= head for n in view_names()):
            return True
        time.sleep(0.1)
    return False


def stream(center: CommandCenter, first: int, count: int) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: [
            warning(center, n % 7, level=1 + n % 4) for n in range(first, first + count)
        ]
    )
    thread.start()
    return thread


def test_a_worker_killed_mid_stream_and_restarted_ends_as_a_rebuild(
    pg_center: CommandCenter, postgres_url: str
) -> None:
    run_workload(pg_center, rounds=1)
    store = ViewStore.for_env(pg_center.env)
    try:
        first = worker(postgres_url)
        writer = stream(pg_center, 0, 300)
        deadline = time.monotonic() + 30
        while (store.positions().get(tracking_name("warnings"), 0) or 0) < 50:
            assert time.monotonic() < deadline, "the worker never started applying"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = store.positions()[tracking_name("warnings")]
        writer.join()
        # Commands go on after the kill: however fast the worker had been (one batch
        # can take the whole stream), the restarted one has events it never saw.
        stream(pg_center, 300, 50).join()
        assert killed_at < pg_center.head_position()

        second = worker(postgres_url)
        try:
            assert caught_up(store, pg_center)
        finally:
            second.terminate()
            second.wait(10)
        assert snapshot(store) == rebuilt(pg_center, store)
    finally:
        store.close()


def test_two_workers_at_once_never_apply_an_event_twice(
    pg_center: CommandCenter, postgres_url: str
) -> None:
    run_workload(pg_center, rounds=1)
    store = ViewStore.for_env(pg_center.env)
    workers = [worker(postgres_url), worker(postgres_url)]
    try:
        writer = stream(pg_center, 0, 200)
        writer.join()
        assert caught_up(store, pg_center)
        live = snapshot(store)
        # Repeats are counted by increments: an event applied twice would show here.
        assert live == rebuilt(pg_center, store)
    finally:
        for w in workers:
            w.terminate()
            w.wait(10)
        store.close()


def test_polling_alone_keeps_a_view_current_when_no_notification_arrives(
    pg_center: CommandCenter,
) -> None:
    store = ViewStore.for_env(pg_center.env)
    runner = Runner(pg_center, store, poll_interval=0.05, listen=False).start()
    try:
        run_workload(pg_center, rounds=1)
        assert runner.wait_for(None, pg_center.head_position(), timeout=20)
    finally:
        runner.stop()
        store.close()

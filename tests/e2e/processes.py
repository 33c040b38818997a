"""``closedloop notifiers run`` as real processes on PostgreSQL, and the outbox they work
on, for the tests of two processes at once and of processes killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from domain.application import CommandCenter
from domain.demo import load_demo
from notifiers.delivery import DeliveryWorker
from notifiers.secrets import Keyring
from notifiers.service import Notifiers
from projections.store import ViewStore
from tests.conftest import make_center
from tests.fakes import Receiver, fast_config
from tests.integration.notifiers.test_delivery import subscribe

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    url: str, key: Path, crash: float, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``closedloop notifiers run`` on ``url``, dying with SIGKILL after a POST with the
    probability ``crash`` (see :func:`crash_after_post`); its log goes to ``log``."""
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": url,
        "CLOSEDLOOP_WEBHOOK_KEY": str(key),
        "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CLOSEDLOOP_WEBHOOK_RETRY_SCHEDULE": "50ms,100ms,200ms,200ms,200ms,200ms,200ms,200ms",
        "CLOSEDLOOP_WEBHOOK_LEASE": "3s",
        "CLOSEDLOOP_WEBHOOK_TIMEOUT": "900ms",
        "CLOSEDLOOP_WEBHOOK_POLL": "50ms",
        "CLOSEDLOOP_WEBHOOK_CONCURRENCY": "4",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.processes", str(crash), "notifiers", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log is not None else subprocess.DEVNULL,
    )


@contextmanager
def subscribed_demo(
    url: str, receiver: Receiver, key: Path, *subscriptions: dict[str, Any]
) -> Iterator[tuple[CommandCenter, ViewStore, Notifiers]]:
    """The demo district on ``url`` with the receiver subscribed once per entry of
    ``subscriptions`` (fields of the subscription), the webhook key at ``key``, and a
    :class:`Notifiers` that follows and derives but leaves delivery to the processes."""
    center = make_center(url)
    store = ViewStore.for_url(url)
    try:
        load_demo(center)
        setup = Notifiers(
            center, store, keyring=Keyring.from_file(key), config=fast_config(), deliver=False
        )
        setup.prepare()
        for fields in subscriptions:
            subscribe(setup, receiver, **fields)
        yield center, store, setup
    finally:
        store.close()
        center.close()


def crash_after_post(probability: float) -> None:
    """Make this process's delivery workers kill it with SIGKILL right after a POST was
    answered and before its attempt is recorded (the worst moment), with ``probability``.

    The fault is the tests' own: production code has no hook for it (ADR 0036).
    """
    send = DeliveryWorker.send

    def send_then_maybe_die(self: DeliveryWorker, item: Any) -> Any:
        result = send(self, item)
        if random.random() < probability:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    DeliveryWorker.send = send_then_maybe_die  # type: ignore[method-assign]


if __name__ == "__main__":
    # python -m tests.e2e.processes CRASH notifiers run: the CLI with the fault in.
    from closedloop.notifiers_cli import main

    if float(sys.argv[1]) > 0:
        crash_after_post(float(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))

"""What the database fault tests share: the demo on a cluster of their own, its tokens,
the ``closedloop`` processes they start and stop, and where the followers stand."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg

from api.tokens import TokenBook
from domain.demo import load_demo
from tests.conftest import opened_center
from tests.e2e.load import ROLES
from tests.e2e.server import BIN


def demo_with_tokens(url: str) -> dict[str, str]:
    """The demo district loaded on ``url``, and a bearer token for each of the load's roles."""
    with opened_center(url) as center:
        load_demo(center)
        book = TokenBook(center)
        return {
            who: book.issue(user=who, unit=unit, roles=list(roles), label="faults").secret
            for who, (unit, roles) in ROLES.items()
        }


def environment(url: str, folder: Path, **more: str) -> dict[str, str]:
    key = folder / "webhook.key"
    return {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": url,
        "CLOSEDLOOP_WEBHOOK_KEY": str(key),
        "CLOSEDLOOP_AUDIT_KEY": str(folder / "audit.key"),
        "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        **more,
    }


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``closedloop ARGS`` in a session of its own, its output in ``log``."""
    return subprocess.Popen(
        [str(BIN), *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the process's session, SIGKILL if it does not end within 20 s."""
    if proc.poll() is not None:
        return proc.returncode
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def wait_for(what: str, check: object, seconds: float, every: float = 0.1) -> float:
    """Until ``check()`` is true; the seconds it took (fails past ``seconds``)."""
    began = time.monotonic()
    while True:
        try:
            if check():  # type: ignore[operator]
                return time.monotonic() - began
        except (httpx.TransportError, psycopg.OperationalError):
            pass
        if time.monotonic() - began > seconds:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        time.sleep(every)


def healthy(base: str) -> bool:
    return httpx.get(f"{base}/health", timeout=2).status_code == 200


def head(url: str) -> int:
    """The log's head, read straight from the cluster."""
    with psycopg.connect(url.partition("?")[0], connect_timeout=2) as conn:
        row = conn.execute("SELECT max(notification_id) FROM closedloop_events").fetchone()
    return int(row[0] or 0) if row else 0


def positions(url: str) -> dict[str, int]:
    """Every follower's place in the log (views, outbox, playbooks), from the cluster."""
    with psycopg.connect(url.partition("?")[0], connect_timeout=2) as conn:
        rows = conn.execute(
            "SELECT application_name, notification_id FROM projection_tracking"
        ).fetchall()
    return {str(name): int(at) for name, at in rows}


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""

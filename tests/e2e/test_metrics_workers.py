"""``serve --workers 2`` with a shared metrics folder (ADR 0070): one scrape of either
worker answers the sum of both workers' counts, and what an earlier run left in the
folder is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import BIN, free_port, wait_until_healthy

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HEALTH = {"method": "GET", "route": "/health", "status": "2xx"}


def health_count(families: object) -> float:
    return sum(
        s.value
        for family in families  # type: ignore[attr-defined]
        for s in family.samples
        if s.name == "closedloop_http_requests_total" and s.labels == HEALTH
    )


def per_worker(shared: Path) -> dict[str, float]:
    """Each worker's own count of healthy answers, read from its file alone."""
    return {
        path.name: health_count(MultiProcessCollector.merge([str(path)]))
        for path in sorted(shared.glob("counter_*.db"))
    }


def test_the_counts_of_two_workers_add_up_in_one_scrape(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    shared = tmp_path / "metrics"
    shared.mkdir()
    # Left by a process of an earlier run: unreadable, and emptied by serve's start.
    (shared / "counter_999999.db").write_bytes(b"stale")
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": postgres_url,
        "CLOSEDLOOP_PORT": str(port),
        "CLOSEDLOOP_METRICS_DIR": str(shared),
    }
    for name in ("CLOSEDLOOP_PROJECTIONS", "CLOSEDLOOP_TRACING", "CLOSEDLOOP_METRICS"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--workers", "2", "--no-projections"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, 90)
        # Fresh connections, until both workers have answered some.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for _ in range(10):
                httpx.get(f"{base}/health", headers={"Connection": "close"}, timeout=5)
            counted = per_worker(shared)
            if sum(1 for v in counted.values() if v > 0) >= 2:
                break
        scrape = httpx.get(f"{base}/metrics", timeout=5)
        counted = per_worker(shared)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()

    assert "counter_999999.db" not in counted
    assert len([v for v in counted.values() if v > 0]) == 2, (counted, out.decode()[-2000:])
    assert scrape.status_code == 200
    assert health_count(text_string_to_metric_families(scrape.text)) == sum(counted.values())

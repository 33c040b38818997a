"""A follower's own ``/metrics`` on ``CLOSEDLOOP_METRICS_PORT``, on loopback (ADR 0070)."""

from __future__ import annotations

import httpx

from closedloop.bootstrap import follower_metrics
from closedloop.settings import Settings
from telemetry import series
from tests.e2e.server import free_port


def test_a_follower_says_its_series_on_its_own_loopback_port() -> None:
    port = free_port()
    settings = Settings.from_env({"CLOSEDLOOP_METRICS_PORT": str(port)})
    start, stop = follower_metrics(settings)
    counts = series.recording()
    assert counts is not None
    counts.events_applied.labels("views").inc(3)
    start()
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        stop()

    assert 'closedloop_projection_events_total{runner="views"}' in text

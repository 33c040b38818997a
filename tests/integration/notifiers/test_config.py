"""The retry schedule, its jitter and the bounds a deployment sets through its settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.config import DEFAULT_SCHEDULE, WebhookConfig
from notifiers.delivery import DeliveryWorker, Result
from notifiers.secrets import Keyring
from projections.store import ViewStore


@pytest.fixture
def worker() -> Iterator[DeliveryWorker]:
    store = ViewStore.for_url("sqlite:///:memory:")
    w = DeliveryWorker(store, Keyring.generate(), WebhookConfig())
    yield w
    w.stop()
    store.close()


def test_retries_back_off_from_seconds_to_hours_with_jitter_then_stop(
    worker: DeliveryWorker,
) -> None:
    failed = Result(500, 3, "HTTP 500")
    assert DEFAULT_SCHEDULE[0] <= 5
    assert DEFAULT_SCHEDULE[-1] >= 3600 * 5
    for tries, base in enumerate(DEFAULT_SCHEDULE, start=1):
        delays = {worker._delay(tries, failed) for _ in range(50)}
        assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
        assert len(delays) > 1, "each delay is jittered"
    assert worker._delay(len(DEFAULT_SCHEDULE) + 1, failed) is None  # dead-lettered
    # Retry-After wins over the schedule, up to its cap.
    assert worker._delay(1, Result(429, 3, None, retry_after=120.0)) == 120.0
    assert worker._delay(1, Result(503, 3, None, retry_after=1e9)) == 86400.0


def test_settings_are_read_from_the_environment_and_a_short_lease_is_refused() -> None:
    config = WebhookConfig.from_env(
        {
            "CLOSEDLOOP_WEBHOOK_RETRY_SCHEDULE": "1s,1m,1h",
            "CLOSEDLOOP_WEBHOOK_TIMEOUT": "2s",
            "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, 127.0.0.0/8",
        }
    )
    assert config.schedule == (1.0, 60.0, 3600.0)
    assert config.attempt_deadline == 6.0
    assert [str(n) for n in config.allowed_networks] == ["10.0.0.0/8", "127.0.0.0/8"]
    with pytest.raises(ValueError, match="lease"):
        WebhookConfig.from_env(
            {"CLOSEDLOOP_WEBHOOK_LEASE": "20s", "CLOSEDLOOP_WEBHOOK_TIMEOUT": "10s"}
        )

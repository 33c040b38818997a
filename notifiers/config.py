"""The notifiers' settings (``CLOSEDLOOP_WEBHOOK_*``), read once by the composition root."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The retry schedule of the Standard Webhooks guidance, after the first attempt.
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(text: str) -> float:
    """``5s``, ``5m``, ``2h``, ``1d``, ``250ms`` or plain seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (e.g. 5s, 5m, 2h)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class WebhookConfig:
    """How deliveries are made, retried and bounded."""

    #: Delays before each retry; the notification is dead-lettered after the last.
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    #: Each delay is drawn uniformly within ± this fraction of itself.
    jitter: float = 0.2
    connect_timeout: float = 5.0
    #: For sending the body and for each read of the answer; the whole attempt
    #: (connecting, sending, the answer's headers and body) is cut at three times this.
    timeout: float = 10.0
    max_response_bytes: int = 64 * 1024
    #: A claimed delivery belongs to its worker until then; longer than any attempt, or a
    #: second worker could send it while the first is still waiting for the answer.
    lease: float = 60.0
    concurrency: int = 8
    poll_interval: float = 0.5
    #: ``Retry-After`` is honoured up to this long.
    retry_after_cap: float = 86400.0
    #: An endpoint whose notifications were dead-lettered this many times in a row is
    #: disabled (with an event on the subscription, and a notification to its unit).
    disable_after_dead: int = 3
    #: How long the previous secret still signs after a rotation.
    rotation_grace: timedelta = timedelta(hours=24)
    allowed_networks: tuple[Network, ...] = field(default_factory=tuple)
    #: The API's address, for the links in each notification.
    public_url: str = "http://127.0.0.1:8000"

    def __post_init__(self) -> None:
        if self.lease <= self.attempt_deadline:
            raise ValueError(
                f"the webhook lease ({self.lease:g} s) must be longer than an attempt may "
                f"last (three times the timeout: {self.attempt_deadline:g} s)"
            )

    @property
    def attempt_deadline(self) -> float:
        """Seconds one attempt may take in all, however slowly the receiver answers."""
        return 3 * self.timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookConfig:
        env = os.environ if env is None else env
        args: dict[str, object] = {}
        if text := env.get("CLOSEDLOOP_WEBHOOK_RETRY_SCHEDULE"):
            args["schedule"] = tuple(seconds(p) for p in text.split(",") if p.strip())
        if text := env.get("CLOSEDLOOP_WEBHOOK_TIMEOUT"):
            args["timeout"] = seconds(text)
        if text := env.get("CLOSEDLOOP_WEBHOOK_LEASE"):
            args["lease"] = seconds(text)
        if text := env.get("CLOSEDLOOP_WEBHOOK_CONCURRENCY"):
            args["concurrency"] = int(text)
        if text := env.get("CLOSEDLOOP_WEBHOOK_POLL"):
            args["poll_interval"] = seconds(text)
        if text := env.get("CLOSEDLOOP_WEBHOOK_DISABLE_AFTER"):
            args["disable_after_dead"] = int(text)
        if text := env.get("CLOSEDLOOP_WEBHOOK_ROTATION_GRACE"):
            args["rotation_grace"] = timedelta(seconds=seconds(text))
        if text := env.get("CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS"):
            args["allowed_networks"] = networks(text)
        if text := env.get("CLOSEDLOOP_PUBLIC_URL"):
            args["public_url"] = text.rstrip("/")
        return cls(**args)  # type: ignore[arg-type]

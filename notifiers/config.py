"""The notifiers' settings (``CLOSEDLOOP_WEBHOOK_*``).

The composition root reads the environment once (``closedloop/settings.py``) and hands
:meth:`WebhookConfig.from_env` the variables; nothing here reads the environment itself
(ADR 0036).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_KEY_PATH = "var/webhook-secrets.key"

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
    #: The file of the key the signing secrets are encrypted under (ADR 0014).
    key_path: Path = Path(DEFAULT_KEY_PATH)

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
    def from_env(cls, env: Mapping[str, str]) -> WebhookConfig:
        """The settings the ``CLOSEDLOOP_WEBHOOK_*`` variables of ``env`` give; a bad
        value is refused naming its variable."""
        args: dict[str, object] = {}
        for name, (field_name, decode) in _VARIABLES.items():
            text = env.get(name)
            if not text:
                continue
            try:
                args[field_name] = decode(text)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        return cls(**args)  # type: ignore[arg-type]


def _schedule(text: str) -> tuple[float, ...]:
    return tuple(seconds(p) for p in text.split(",") if p.strip())


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{text!r} is not a whole number")
    return int(text)


#: Each variable: the field it sets, and how its text is read.
_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "CLOSEDLOOP_WEBHOOK_RETRY_SCHEDULE": ("schedule", _schedule),
    "CLOSEDLOOP_WEBHOOK_TIMEOUT": ("timeout", seconds),
    "CLOSEDLOOP_WEBHOOK_LEASE": ("lease", seconds),
    "CLOSEDLOOP_WEBHOOK_CONCURRENCY": ("concurrency", _count),
    "CLOSEDLOOP_WEBHOOK_POLL": ("poll_interval", seconds),
    "CLOSEDLOOP_WEBHOOK_DISABLE_AFTER": ("disable_after_dead", _count),
    "CLOSEDLOOP_WEBHOOK_ROTATION_GRACE": (
        "rotation_grace",
        lambda text: timedelta(seconds=seconds(text)),
    ),
    "CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS": ("allowed_networks", networks),
    "CLOSEDLOOP_PUBLIC_URL": ("public_url", lambda text: text.rstrip("/")),
    "CLOSEDLOOP_WEBHOOK_KEY": ("key_path", Path),
}

"""The audit chain's settings: where the signing key is, how often to sign, the notes' name."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

DEFAULT_KEY_PATH = "var/audit-signing.key"
DEFAULT_ORIGIN = "closedloop/audit"


@dataclass(frozen=True)
class AuditSettings:
    """Where the signing key is, how often to sign, and the name the notes carry."""

    key_path: Path = Path(DEFAULT_KEY_PATH)
    every_events: int = 1000
    every: timedelta = timedelta(minutes=10)
    origin: str = DEFAULT_ORIGIN
    poll_interval: float = 0.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuditSettings:
        env = os.environ if environ is None else environ
        events = env.get("CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS") or "1000"
        minutes = env.get("CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES") or "10"
        origin = env.get("CLOSEDLOOP_AUDIT_ORIGIN") or DEFAULT_ORIGIN
        if not events.isdigit() or int(events) < 1:
            raise ValueError(
                f"CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS must be a positive integer, not {events!r}"
            )
        try:
            every = timedelta(minutes=float(minutes))
        except ValueError:
            raise ValueError(
                f"CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES must be a number, not {minutes!r}"
            ) from None
        if every <= timedelta(0):
            raise ValueError("CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES must be above zero")
        if not re.fullmatch(r"[^\s+]{1,200}", origin):
            raise ValueError("CLOSEDLOOP_AUDIT_ORIGIN must be one word without '+'")
        return cls(
            key_path=Path(env.get("CLOSEDLOOP_AUDIT_KEY") or DEFAULT_KEY_PATH),
            every_events=int(events),
            every=every,
            origin=origin,
        )

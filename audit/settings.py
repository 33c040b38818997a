"""The audit chain's settings: where the signing key is, how often to sign, the notes' name."""

from __future__ import annotations

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

"""The events benchmarks store in bulk: warnings as a storm raises them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from domain.meta import Meta
from domain.warning import EarlyWarning

UNITS = ["HW-DH-QS", "HW-DH-HP", "HW-XL-SQ", "HW-NG-GK", "HW-XL-FL"]

#: Events in one :func:`storm_warning`: raised, two repeats, acknowledged, assessed.
EVENTS_PER_WARNING = 5


def storm_warning(n: int, start: datetime) -> EarlyWarning:
    """The n-th warning of a storm, with its events pending (not saved)."""
    at = start + timedelta(seconds=n)

    def meta(cmd: str, k: int = 0) -> Meta:
        return Meta(
            person="bench",
            unit="HW",
            role="monitor",
            command=cmd,
            command_id=f"bench-{n}-{cmd}-{k}",
            occurred_at=at,
            loop_id=uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{n}"),
        )

    w = EarlyWarning.raise_(
        source="bench",
        rule="reservoir.level",
        theme="reservoir",
        level=1 + n % 4,
        title=f"水位读数 reading {n}",
        description=None,
        location=None,
        unit=UNITS[n % len(UNITS)],
        observed_at=at,
        dedup_key=f"bench-{n}",
        attributes={"n": n},
        meta=meta("raise"),
    )
    for k in range(2):
        w.repeat(at, w.level, meta("repeat", k))
    w.acknowledge(meta("acknowledge"))
    w.assess(True, None, meta("assess"))
    return w

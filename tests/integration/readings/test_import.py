"""``closedloop readings import`` (ADR 0073): a back-fill keeps its readings, raises no
warning for readings older than the current state, and twice changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from closedloop.bootstrap import build_command_center
from closedloop.cli import main
from closedloop.intake_config import build_intake
from closedloop.settings import Settings
from domain.demo import load_demo
from domain.meta import Actor, Context
from domain.rules import Reading


def gauge(value: float, at: datetime) -> dict[str, object]:
    return {
        "source": "archive",
        "subject": "qingshan-reservoir",
        "metric": "water_level",
        "value": value,
        "unit_of_measure": "m",
        "unit": "E-QSRES",
        "observed_at": at.isoformat(),
    }


def test_a_back_fill_is_kept_raises_nothing_for_the_past_and_twice_changes_nothing(
    sqlite_url: str, tmp_path: Path, monkeypatch: object
) -> None:
    settings = Settings(database_url=sqlite_url)
    center = build_command_center(settings)
    load_demo(center)
    intake = build_intake(center, settings)
    now = datetime.fromisoformat("2026-03-02T10:00:00+08:00")
    reading = Reading(
        "hydrology-net", "qingshan-reservoir", "water_level", 50.0, "m", "", "E-QSRES", now, {}
    )
    intake.observe(Context(Actor("gw", "HW", "monitor")), "live", [reading])
    intake.readings.close()
    head = center.head_position()
    center.close()
    # Last week's readings, some of them beyond the limit, and one bad record.
    history = [
        gauge(53.0 if i % 7 == 0 else 51.0, now - timedelta(days=7, minutes=-i))
        for i in range(2500)
    ]
    history.append({**gauge(51.0, now - timedelta(days=8)), "value": "high"})
    file = tmp_path / "history.ndjson"
    file.write_text("\n".join(json.dumps(h) for h in history) + "\n")

    monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", sqlite_url)  # type: ignore[attr-defined]
    first = main(["readings", "import", str(file), "--unit", "HW"])
    again = main(["readings", "import", str(file), "--unit", "HW"])

    assert (first, again) == (1, 1)  # one record refused, each time
    center = build_command_center(settings)
    try:
        assert center.head_position() == head  # no warning raised for the past
        intake = build_intake(center, settings)
        kept = intake.readings.series(
            "qingshan-reservoir", "water_level", now - timedelta(days=9), now, None
        )
        assert len(kept) == 2500
        intake.readings.close()
    finally:
        center.close()

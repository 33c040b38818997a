"""Grouping and inhibition across restarts (ADR 0087), on SQLite and PostgreSQL: a
process stopped after a group's first breach, a new one on the same store takes the
next gauge's breach as a member; a process stopped after an inhibitor ended, the next
one's watch releases the inhibited warning once, and a third does nothing again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from closedloop.intake_config import build_intake
from domain.demo import load_demo
from domain.inhibition_watch import InhibitionWatch
from domain.meta import Actor, Context, now
from domain.rules import Reading
from tests.conftest import opened_center

MONITOR = Actor(person="gateway", unit="HW", role="monitor")


def gauge(station: str, value: float, minutes: float) -> Reading:
    return Reading(
        source="hydrology-net",
        subject=station,
        metric="water_level",
        value=value,
        unit_of_measure="m",
        location="",
        unit="E-QSRES",
        observed_at=datetime.fromisoformat((now() + timedelta(minutes=minutes)).isoformat()),
    )


def names(center: Any, wid: UUID) -> list[str]:
    return [type(e).__name__ for e in center.history(wid)]


def test_a_group_survives_a_restart(database_url: str) -> None:
    with opened_center(database_url) as center:
        load_demo(center)
        intake = build_intake(center)
        [first] = intake.observe(
            Context(MONITOR, command_id="o1"), "b1", [gauge("qingshan-reservoir", 52.8, -10)]
        ).results
        intake.readings.close()
    wid = UUID(first["warning_id"])
    with opened_center(database_url) as center:
        intake = build_intake(center)
        [second] = intake.observe(
            Context(MONITOR, command_id="o2"),
            "b2",
            [gauge("qingshan-reservoir-spillway", 53.2, -5)],
        ).results
        # The same reading again, in another batch: the member joins once.
        intake.observe(
            Context(MONITOR, command_id="o3"),
            "b3",
            [gauge("qingshan-reservoir-spillway", 53.2, -5)],
        )
        intake.readings.close()
        assert second["action"] == "joined"
        assert UUID(second["warning_id"]) == wid
        w = center.warning(wid)
        assert sorted(w.group_members) == ["qingshan-reservoir", "qingshan-reservoir-spillway"]
        assert names(center, wid).count("MemberJoined") == 1


def test_an_inhibited_warning_is_released_once_across_restarts(database_url: str) -> None:
    met = Actor(person="met", unit="HW", role="monitor")
    with opened_center(database_url) as center:
        load_demo(center)
        intake = build_intake(center)

        def rain(name: str, unit: str, level: int) -> UUID:
            return center.raise_warning(
                Context(met, command_id=name),
                source="met",
                rule="cap:暴雨",
                theme="meteorological",
                level=level,
                title=f"暴雨预警 {name}",
                unit=unit,
                dedup_key=name,
            ).id

        red = rain("red", "HW-DH", 1)
        yellow = rain("yellow", "HW-DH-QS", 3)
        assert center.warning(yellow).inhibited_by == red
        center.cancel_warning(Context(met, command_id="c"), red, "withdrawn")
        intake.readings.close()
    for _ in range(2):  # a restarted watch, then another
        with opened_center(database_url) as center:
            intake = build_intake(center)
            InhibitionWatch(intake).tick()
            intake.readings.close()
            w = center.warning(yellow)
            assert w.inhibited_by is None
            assert w.instructions, "released, its playbooks ran"
            assert names(center, yellow).count("Uninhibited") == 1
            roster = center.inhibition_roster()
            assert roster is not None
            assert str(red) not in roster.entries

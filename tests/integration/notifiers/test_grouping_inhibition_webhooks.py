"""Grouping and inhibition are heard as webhooks (ADR 0087), derived from the log as
every notification is, on SQLite and on PostgreSQL: a member joining a group's warning
and resolving, a warning inhibited and released, each heard by the subscriptions of
the warning's unit and the units above it, with their texts in zh and en."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.inhibition_watch import InhibitionWatch
from domain.meta import Actor, Context, now
from domain.rules import Reading
from notifiers.service import Notifiers
from notifiers.texts import Texts
from tests.integration.notifiers.test_deactivated_units import heard, subscribe
from tests.integration.notifiers.test_silence_and_notice_webhooks import payloads

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


def test_a_member_joining_a_group_is_heard_by_the_reservoirs_desks(
    demo: CommandCenter, make_notifiers: Callable[..., Any]
) -> None:
    notifiers: Notifiers = make_notifiers()
    water = subscribe(notifiers, "HW-WATER")
    elsewhere = subscribe(notifiers, "HW-XL")
    intake = build_intake(demo)
    try:
        for n, (station, value) in enumerate(
            [("qingshan-reservoir", 52.8), ("qingshan-reservoir-spillway", 53.2)]
        ):
            ctx = Context(MONITOR, command_id=f"o{n}")
            intake.observe(ctx, f"b{n}", [gauge(station, value, -10 + n)])
    finally:
        intake.readings.close()
    types = heard(notifiers, water)
    assert "warning.raised" in types
    assert "warning.member_joined" in types
    assert "warning.member_joined" not in heard(notifiers, elsewhere)
    joined = next(p for p in payloads(notifiers, water) if p["type"] == "warning.member_joined")
    assert joined["data"]["event"]["member"] == "qingshan-reservoir-spillway"
    zh = Texts().render("warning.member_joined", "zh", "", joined["data"])
    en = Texts().render("warning.member_joined", "en", "", joined["data"])
    assert "qingshan-reservoir-spillway" in zh
    assert "并入本组预警" in zh
    assert "joined the group's warning" in en


def test_an_inhibited_warning_and_its_release_are_heard(
    demo: CommandCenter, make_notifiers: Callable[..., Any]
) -> None:
    notifiers: Notifiers = make_notifiers()
    community = subscribe(notifiers, "HW-DH-QS")
    intake = build_intake(demo)
    try:

        def rain(name: str, unit: str, level: int) -> Any:
            return demo.raise_warning(
                Context(Actor(person="met", unit="HW", role="monitor"), command_id=name),
                source="met",
                rule="cap:暴雨",
                theme="meteorological",
                level=level,
                title=f"暴雨预警 {name}",
                unit=unit,
                dedup_key=name,
            ).id

        red = rain("red", "HW-DH", 1)
        rain("yellow", "HW-DH-QS", 3)
        demo.cancel_warning(
            Context(Actor(person="met", unit="HW", role="monitor"), command_id="c"),
            red,
            "withdrawn",
        )
        InhibitionWatch(intake).tick()
    finally:
        intake.readings.close()
    types = heard(notifiers, community)
    assert "warning.inhibited" in types
    assert "warning.uninhibited" in types
    assert types.index("warning.inhibited") < types.index("warning.uninhibited")
    inhibited = next(p for p in payloads(notifiers, community) if p["type"] == "warning.inhibited")
    assert inhibited["data"]["event"]["by"] == str(red)
    assert inhibited["data"]["event"]["inhibition"] == "rainstorm-red-over-lesser"

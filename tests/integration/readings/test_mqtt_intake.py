"""The MQTT door's work on received messages (ADR 0079), without a broker, on SQLite and
PostgreSQL: one batch through the same intake as the HTTP door, a redelivery changes
nothing, and what cannot be taken is a dead letter listed newest first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from closedloop.bootstrap import build_command_center
from closedloop.intake_config import build_intake
from closedloop.mqtt_door import Incoming, MqttIntake
from closedloop.mqtt_payloads import MessageReading, compact
from closedloop.settings import Settings
from domain.demo import load_demo
from domain.meta import now
from telemetry.series import recording

TOPIC = "closedloop/E-QSRES/qingshan-reservoir/water_level"


@pytest.fixture
def door(database_url: str) -> Iterator[MqttIntake]:
    settings = Settings(database_url=database_url)
    center = build_command_center(settings)
    load_demo(center)
    intake = build_intake(center, settings)
    yield MqttIntake(center, intake, "HW")
    intake.readings.close()
    center.close()


def level(at: datetime, value: float = 50.0) -> bytes:
    return compact([MessageReading("water_level", value, "m", at)])


def kept(door: MqttIntake, since: datetime) -> int:
    return len(
        door.intake.readings.series(
            "qingshan-reservoir", "water_level", since, now() + timedelta(minutes=1), None
        )
    )


def test_messages_are_one_batch_and_a_redelivery_changes_nothing(door: MqttIntake) -> None:
    start = now().replace(microsecond=0) - timedelta(minutes=30)
    messages = [Incoming(TOPIC, level(start + timedelta(seconds=i))) for i in range(20)]
    first = door.take(messages)
    head = door.center.head_position()
    again = door.take(messages[5:])

    assert (first.messages, first.readings, first.dead) == (20, 20, [])
    assert again.readings == 15
    assert again.dead == []
    assert kept(door, start) == 20
    assert door.center.head_position() == head


def dead_letters_counted(reason: str) -> float:
    series = recording()
    assert series is not None
    return series.dead_letters.labels("mqtt", reason)._value.get()  # type: ignore[attr-defined,no-any-return]


def test_what_cannot_be_taken_is_a_dead_letter_and_the_rest_is_kept(door: MqttIntake) -> None:
    start = now().replace(microsecond=0) - timedelta(minutes=10)
    counted = {k: dead_letters_counted(k) for k in ("unreadable", "not_permitted", "all_refused")}
    door.take(
        [
            Incoming(TOPIC, b"not,a,reading"),
            Incoming("closedloop/HW-XL/qingshan-reservoir", level(start)),  # not its station
            Incoming("closedloop/E-QSRES", level(start)),  # no station
            Incoming(TOPIC, b"water_level,high,m,1796630400000"),  # all refused
            Incoming(TOPIC, level(start + timedelta(seconds=1))),
        ]
    )

    letters = door.intake.readings.rejected(None, limit=10)
    assert [d.topic for d in letters] == [
        TOPIC,
        "closedloop/E-QSRES",
        "closedloop/HW-XL/qingshan-reservoir",
        TOPIC,
    ]
    reasons = [d.reason for d in letters]
    assert "value" in reasons[0]
    assert "topic" in reasons[1]
    assert "does not speak for station qingshan-reservoir" in reasons[2]
    assert "time" in reasons[3]
    assert letters[0].payload == "water_level,high,m,1796630400000"
    assert letters[2].unit == "HW-XL"
    assert kept(door, start) == 1
    # Counted in /metrics, by why.
    assert dead_letters_counted("unreadable") - counted["unreadable"] == 2
    assert dead_letters_counted("not_permitted") - counted["not_permitted"] == 1
    assert dead_letters_counted("all_refused") - counted["all_refused"] == 1
    # Newest first, paged by id; a unit sees its own subtree's letters.
    older = door.intake.readings.rejected(None, limit=10, before=letters[1].id)
    assert [d.id for d in older] == [letters[2].id, letters[3].id]
    assert [d.unit for d in door.intake.readings.rejected(["HW-XL"], limit=10)] == ["HW-XL"]
    assert door.intake.readings.rejected([], limit=10) == []


def test_a_unit_outside_the_doors_unit_may_not_speak(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    center = build_command_center(settings)
    load_demo(center)
    intake = build_intake(center, settings)
    try:
        door = MqttIntake(center, intake, "HW-DH")
        taken = door.take([Incoming("closedloop/HW-XL/x-gauge/rain", level(now()))])
        [letter] = taken.dead
        assert "not within the door's unit HW-DH" in letter.reason
    finally:
        intake.readings.close()
        center.close()

"""A silence is heard by the webhooks of the units above what it covers (ADR 0085), and a
notice's webhook carries its summary (ADR 0077): both derived from the log as every
notification is, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.meta import Actor, Context, now
from domain.notice_commands import NoticeCases
from notifiers.outbox import DELIVERIES
from notifiers.service import Notifiers
from tests.integration.notifiers.test_deactivated_units import heard, subscribe


def duty(unit: str) -> Context:
    return Context(Actor(person=f"duty-{unit}", unit=unit, role="duty_officer"))


def payloads(notifiers: Notifiers, sid: str) -> list[dict[str, Any]]:
    """The bodies derived for a subscription, oldest first, as they will be sent."""
    notifiers.catch_up()
    with notifiers.store.read() as tx:
        rows = tx.execute(
            f"SELECT body FROM {DELIVERIES} WHERE subscription_id = ? ORDER BY position",  # noqa: S608
            (sid,),
        )
    return [json.loads(body) for (body,) in rows]


def test_a_silence_set_extended_and_ended_is_heard_by_the_district(
    demo: CommandCenter, make_notifiers: Callable[..., Any]
) -> None:
    notifiers: Notifiers = make_notifiers()
    district = subscribe(notifiers, "HW")
    intake = build_intake(demo)
    sid = intake.silences.set_silence(
        duty("HW-WATER"),
        kind="station",
        target="qingshan-reservoir",
        metric=None,
        starts_at=now(),
        ends_at=now() + timedelta(hours=2),
        category="maintenance",
        reason="the dam gauge is being recalibrated",
    ).id
    intake.silences.extend_silence(
        duty("HW-WATER"), sid, ends_at=now() + timedelta(hours=3), reason="works run late"
    )
    intake.silences.end_silence(duty("HW-WATER"), sid, reason="recalibrated")

    assert heard(notifiers, district) == ["silence.created", "silence.extended", "silence.ended"]
    created = payloads(notifiers, district)[0]
    assert created["data"]["aggregate"]["summary"]["target"] == "qingshan-reservoir"
    assert created["data"]["links"]["self"].endswith(f"/v1/silences/{sid}")


def test_a_notices_webhook_carries_its_title_and_addressees(
    demo: CommandCenter, make_notifiers: Callable[..., Any]
) -> None:
    notifiers: Notifiers = make_notifiers()
    office = subscribe(notifiers, "HW-DH")
    NoticeCases(demo).send(
        Context(Actor(person="dispatcher", unit="HW", role="dispatcher")),
        title="Typhoon Haikui approaches",
        body="Check the embankments before 18:00.",
        kind="warning",
        confirm_by=now() + timedelta(hours=6),
        addressees=["HW-DH"],
    )
    (sent,) = payloads(notifiers, office)
    assert sent["type"] == "notice.sent"
    assert sent["data"]["aggregate"]["summary"]["title"] == "Typhoon Haikui approaches"
    assert sent["data"]["aggregate"]["summary"]["addressees"] == ["HW-DH"]

"""A deactivated unit's webhooks hear nothing until it is reactivated (ADR 0042),
decided by the log as every match is; on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from domain.application import CommandCenter
from domain.meta import Actor, Context, now
from notifiers.delivery import deliveries
from notifiers.service import Notifiers
from tests.fakes import admin

DISPATCHER = Actor(person="dispatcher", unit="HW", role="dispatcher")
COMMUNITY = "HW-DH-QS"  # a leaf: a unit with active units under it cannot be deactivated


def subscribe(notifiers: Notifiers, unit: str) -> str:
    done = notifiers.book.register(
        admin(unit),
        unit=unit,
        # Never sent here: the worker is not started; only the derived deliveries count.
        url="https://hooks.qingshan.example/in",
        event_types=[],
        themes=[],
        min_level=None,
        units=[],
        subtrees=[],
        addressed_only=False,
        language="zh",
        template=None,
        description="the community's desk",
        active=True,
    )
    return str(done.id)


def heard(notifiers: Notifiers, sid: str) -> list[str]:
    """The notification types derived for a subscription, oldest first."""
    notifiers.catch_up()
    rows = deliveries(notifiers.store, subscription_ids=[sid], limit=1000)
    return [r["event_type"] for r in reversed(rows)]


def test_a_deactivated_units_subscription_hears_nothing_until_the_unit_is_back(
    demo: CommandCenter, make_notifiers: Callable[..., Any]
) -> None:
    notifiers: Notifiers = make_notifiers()
    community = subscribe(notifiers, COMMUNITY)
    district = subscribe(notifiers, "HW")
    iid = demo.issue_instruction(
        Context(actor=DISPATCHER),
        lead_unit=COMMUNITY,
        title="Check the drains",
        deadline=now() + timedelta(days=3),
    ).id
    assert heard(notifiers, community) == ["instruction.issued"]

    demo.update_unit(admin("HC"), COMMUNITY, active=False, reason="merged into Hupan")
    demo.remind(Context(actor=DISPATCHER), iid, "the drains, please")
    # Nothing new for the deactivated community; what was derived before stays.
    assert heard(notifiers, community) == ["instruction.issued"]
    assert heard(notifiers, district)[-1] == "instruction.reminded"

    demo.update_unit(admin("HC"), COMMUNITY, active=True)
    demo.remind(Context(actor=DISPATCHER), iid, "again")
    assert heard(notifiers, community) == ["instruction.issued", "instruction.reminded"]


def test_another_notifiers_process_knows_the_unit_is_off_from_the_outbox_itself(
    demo: CommandCenter, make_notifiers: Callable[..., Any]
) -> None:
    notifiers: Notifiers = make_notifiers()
    community = subscribe(notifiers, COMMUNITY)
    iid = demo.issue_instruction(
        Context(actor=DISPATCHER),
        lead_unit=COMMUNITY,
        title="Check the drains",
        deadline=now() + timedelta(days=3),
    ).id
    demo.update_unit(admin("HC"), COMMUNITY, active=False, reason="merged into Hupan")
    notifiers.catch_up()
    # Another process on the same store follows on from where the outbox stands.
    again: Notifiers = make_notifiers()
    demo.remind(Context(actor=DISPATCHER), iid, "the drains, please")
    assert heard(again, community) == ["instruction.issued"]

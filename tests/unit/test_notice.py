"""Notices and their receipts (通知, 签收回执; ADR 0077): sent down the network, each
addressed unit confirms once, the late ones reminded once; the limit is clock time."""

from __future__ import annotations

from datetime import datetime

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import (
    NoticeAddresseeRefused,
    NoticeNotFound,
    NoticeRefused,
    ReceiptAlreadyConfirmed,
    ReceiptRefused,
)
from domain.meta import Actor, Context
from domain.notice import Notice, ReceiptStatus
from domain.notice_commands import NoticeCases, notice_id
from domain.notice_watch import NoticeWatch, reminder_command_id
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    OTHER_COMMUNITY,
    OTHER_OFFICE,
    SHANGHAI,
    ctx,
    event_names,
    frozen_clock_center,
    nothing_stored,
)

LIMIT = datetime(2026, 3, 13, 18, 0, tzinfo=SHANGHAI)  # a Friday, 18:00 in Beijing


def duty(unit: str) -> Context:
    return Context(Actor(person=f"duty-{unit.lower()}", unit=unit, role="duty_officer"))


def send(app: CommandCenter, unit: str = OFFICE, **kw: object) -> Notice:
    args: dict[str, object] = {
        "title": "Typhoon Haikui approaches",
        "body": "Check the embankments before 18:00.",
        "kind": "warning",
        "confirm_by": LIMIT,
    }
    args.update(kw)
    cases = NoticeCases(app)
    return cases.notice(cases.send(ctx(unit), **args).id)  # type: ignore[arg-type]


@pytest.fixture
def frozen() -> CommandCenter:
    app = frozen_clock_center(WorkingCalendar())
    load_demo(app)
    return app


@freeze_time("2026-03-13 02:00:00")
def test_a_notice_to_all_below_reaches_every_unit_under_the_sender(frozen: CommandCenter) -> None:
    n = send(frozen)
    assert COMMUNITY in n.addressees
    assert OTHER_COMMUNITY in n.addressees
    assert OFFICE not in n.addressees
    assert all(frozen.is_within(u, OFFICE) for u in n.addressees)
    assert n.counts() == {
        "on_time": 0,
        "late": 0,
        "missing": len(n.addressees),
        "addressed": len(n.addressees),
    }


@freeze_time("2026-03-13 02:00:00")
def test_a_receipt_by_the_limit_is_on_time_and_after_it_late(frozen: CommandCenter) -> None:
    n = send(frozen, addressees=[COMMUNITY, OTHER_COMMUNITY])
    cases = NoticeCases(frozen)
    cases.confirm_receipt(duty(COMMUNITY), n.id)
    with freeze_time("2026-03-13 10:00:01"):  # 18:00:01 in Beijing: past the limit
        cases.confirm_receipt(duty(OTHER_COMMUNITY), n.id)
    n = cases.notice(n.id)
    assert n.status_of(COMMUNITY) is ReceiptStatus.ON_TIME
    assert n.status_of(OTHER_COMMUNITY) is ReceiptStatus.LATE
    assert n.receipts[COMMUNITY]["person"] == "duty-hw-dh-hp"
    assert event_names(frozen, n.id) == ["Sent", "ReceiptConfirmed", "ReceiptConfirmed"]


@freeze_time("2026-03-13 02:00:00")
def test_a_unit_confirms_once_and_a_retry_with_the_same_id_is_harmless(
    frozen: CommandCenter,
) -> None:
    n = send(frozen, addressees=[COMMUNITY])
    cases = NoticeCases(frozen)
    first = duty(COMMUNITY)
    cases.confirm_receipt(first, n.id)
    assert cases.confirm_receipt(first, n.id).position is None
    with nothing_stored(frozen), pytest.raises(ReceiptAlreadyConfirmed, match="already"):
        cases.confirm_receipt(duty(COMMUNITY), n.id)


@freeze_time("2026-03-13 02:00:00")
def test_receipts_refused_store_nothing(frozen: CommandCenter) -> None:
    n = send(frozen, addressees=[COMMUNITY])
    cases = NoticeCases(frozen)
    with nothing_stored(frozen):
        with pytest.raises(NoticeNotFound, match=r"no notice .* was sent"):
            cases.confirm_receipt(duty(COMMUNITY), notice_id("never sent"))
        with pytest.raises(ReceiptRefused, match="not addressed"):
            cases.confirm_receipt(duty(OTHER_COMMUNITY), n.id)
        with pytest.raises(ReceiptRefused, match="duty_officer"):
            cases.confirm_receipt(ctx(COMMUNITY), n.id)  # a dispatcher


@freeze_time("2026-03-13 02:00:00")
@pytest.mark.parametrize(
    ("given", "error", "words"),
    [
        ({"addressees": []}, NoticeRefused, "at least one addressee"),
        ({"title": "  "}, NoticeRefused, "title is 1 to"),
        ({"body": "x" * 10_001}, NoticeRefused, "body is 1 to"),
        ({"kind": "gossip"}, NoticeRefused, "kind is one of"),
        ({"confirm_by": datetime(2026, 3, 12, tzinfo=SHANGHAI)}, NoticeRefused, "future"),
        ({"addressees": [OTHER_OFFICE]}, NoticeAddresseeRefused, "not under"),
        ({"addressees": [DISTRICT]}, NoticeAddresseeRefused, "not under"),
        ({"addressees": [OFFICE]}, NoticeAddresseeRefused, "not under"),
    ],
)
def test_a_notice_refused_stores_nothing(
    frozen: CommandCenter, given: dict[str, object], error: type[Exception], words: str
) -> None:
    with nothing_stored(frozen), pytest.raises(error, match=words):
        send(frozen, **given)


@freeze_time("2026-03-13 02:00:00")
def test_the_late_units_are_reminded_once_even_by_a_restarted_watch(
    frozen: CommandCenter,
) -> None:
    n = send(frozen, addressees=[COMMUNITY, OTHER_COMMUNITY])
    NoticeCases(frozen).confirm_receipt(duty(COMMUNITY), n.id)
    watch = NoticeWatch(frozen)
    assert watch.tick() == []  # before the limit: nobody is reminded
    with freeze_time("2026-03-13 10:30:00"):
        assert watch.tick() == [{"notice_id": str(n.id), "reminded": [OTHER_COMMUNITY]}]
        assert watch.tick() == []
        assert NoticeWatch(frozen).tick() == []  # a restarted watch reads the log again
        # Two watchers racing with the same stable command id record it once.
        again = NoticeCases(frozen).remind_late(
            Context(Actor("closedloop", OFFICE, "system"), command_id=reminder_command_id(n.id)),
            n.id,
        )
        assert again.position is None
    assert event_names(frozen, n.id) == ["Sent", "ReceiptConfirmed", "LateReminded"]
    assert NoticeCases(frozen).notice(n.id).reminded == [OTHER_COMMUNITY]

"""The watches' own reminders and escalations name the person on duty at that moment
(ADRs 0090, 0098): a whistle's reminder the department's duty officer, its escalation the
government's, a follow-up's reminder the issuer's, a notice's late reminder each late
unit's; nobody on the roster is None (or no entry), and the timeline says the name in
both languages. On the frozen working calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun import freeze_time

from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.follow_up_watch import FollowUpWatch
from domain.meta import Actor, Context, now
from domain.notice_commands import NoticeCases
from domain.notice_watch import NoticeWatch
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases
from domain.whistle_watch import CheckInWatch
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    OTHER_COMMUNITY,
    WATER,
    ctx,
    frozen_clock_center,
    last_event,
)
from tests.unit.test_follow_ups import FRIDAY_10AM, _closed_case, beijing
from tests.unit.test_notice import LIMIT, send
from tests.unit.test_whistle import BLOWN, URBAN, blow
from texts.timeline import describe

SYSTEM = Context(Actor(person="roster-test", unit="SYSTEM", role="system"))


def on_duty(app: Any, unit: str, person: str, hours: float = 12) -> None:
    start = now() - timedelta(hours=1)
    RosterCases(app).arrange_shifts(
        Context(Actor(person="roster-test", unit="SYSTEM", role="system")),
        unit,
        [
            ShiftPlan(
                "duty_officer", person, f"{person}-deputy", start, start + timedelta(hours=hours)
            )
        ],
    )


def lines(e: Any) -> list[str]:
    name = type(e).__qualname__
    return [describe(name, vars(e), lang, "Asia/Shanghai") for lang in ("zh", "en")]


def test_a_whistles_reminder_and_escalation_name_who_is_on_duty(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(BLOWN) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        on_duty(app, URBAN, "城管值班员张三")
        wid = blow(app, departments=[URBAN, WATER])
        app.check_in(ctx(WATER), wid, "Li Wei")
        watch = CheckInWatch(app)
        clock.tick(timedelta(minutes=31))
        watch.tick()
        reminded = last_event(app, wid)
        assert type(reminded).__name__ == "Reminded"
        assert reminded.on_duty == "城管值班员张三"
        zh, en = lines(reminded)
        assert "值班人城管值班员张三" in zh
        assert "on duty: 城管值班员张三" in en
        clock.tick(timedelta(minutes=30))
        watch.tick()
        escalated = last_event(app, wid)
        assert type(escalated).__name__ == "Escalated"
        assert escalated.to == DISTRICT
        held = RosterCases(app).on_duty(DISTRICT, "duty_officer", now())
        assert escalated.on_duty == (held.person if held else None)
        assert all("%(" not in line and line != "Whistle.Escalated" for line in lines(escalated))


def test_a_reminder_with_nobody_on_the_roster_names_nobody_and_reads_as_before(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(BLOWN) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        wid = blow(app, by=OFFICE, departments=[WATER])
        clock.tick(timedelta(minutes=31))
        CheckInWatch(app).tick()
        e = last_event(app, wid)
        assert e.on_duty is None
        assert lines(e)[1].startswith(f"{WATER} was reminded: ")


def test_a_follow_ups_reminder_names_who_is_on_duty_at_the_issuer(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(FRIDAY_10AM) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        iid = _closed_case(app)
        clock.move_to(beijing(16, 9, 0))
        on_duty(app, DISTRICT, "区值班员李四", hours=30)
        clock.move_to(beijing(16, 10, 0))
        assert FollowUpWatch(app).tick() == [
            {"instruction_id": str(iid), "act": "remind_follow_up"}
        ]
        e = last_event(app, iid)
        assert type(e).__name__ == "FollowUpReminded"
        assert e.on_duty == "区值班员李四"
        zh, en = lines(e)
        assert "值班人区值班员李四" in zh
        assert "on duty: 区值班员李四" in en


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 13, hour, minute, tzinfo=UTC)


def test_a_notices_late_reminder_names_who_is_on_duty_at_each_late_unit_then(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(utc(2)) as clock:  # 10:00 in Beijing; the limit is 18:00 there
        app = frozen_clock_center(calendar)
        load_demo(app)
        addressees = [COMMUNITY, OTHER_COMMUNITY]
        # The community's day shift ends a quarter past the limit; the night shift's
        # person hands the post over before the watch comes round.
        RosterCases(app).arrange_shifts(
            SYSTEM,
            COMMUNITY,
            [
                ShiftPlan("duty_officer", "早班王五", "早班副", utc(1), utc(10, 15)),
                ShiftPlan("duty_officer", "晚班赵六", "晚班副", utc(10, 15), utc(22)),
            ],
        )
        n = send(app, addressees=addressees)
        clock.move_to(utc(10, 20))
        RosterCases(app).hand_over(
            Context(Actor(person="晚班赵六", unit=COMMUNITY, role="duty_officer")),
            COMMUNITY,
            "duty_officer",
            "接班钱七",
            "家中有事",
        )
        clock.move_to(utc(10, 30))
        assert utc(10, 30) > LIMIT

        assert NoticeWatch(app).tick() == [
            {"notice_id": str(n.id), "reminded": [COMMUNITY, OTHER_COMMUNITY]}
        ]

        e = last_event(app, n.id)
        assert type(e).__name__ == "LateReminded"
        assert e.units == [COMMUNITY, OTHER_COMMUNITY]
        # The person on duty at the watch's moment, after the handover; the community
        # with no roster is not named.
        assert e.on_duty == {COMMUNITY: "接班钱七"}
        notice = NoticeCases(app).notice(n.id)
        assert notice.on_duty_when_reminded(COMMUNITY) == "接班钱七"
        assert notice.on_duty_when_reminded(OTHER_COMMUNITY) is None
        zh, en = lines(e)
        assert zh == (
            f"签收时限已过，催办未签收单位：{COMMUNITY}、{OTHER_COMMUNITY}"
            f"（值班人 {COMMUNITY}：接班钱七）"
        )
        assert en.endswith(f"(on duty: {COMMUNITY}: 接班钱七)")


def test_a_notices_late_reminder_with_nobody_on_any_roster_reads_as_before(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time(utc(2)) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        n = send(app, addressees=[COMMUNITY, OTHER_COMMUNITY])
        clock.move_to(utc(10, 30))
        NoticeWatch(app).tick()
        e = last_event(app, n.id)
        assert e.on_duty == {}
        assert lines(e)[1] == (
            "Past the limit; reminded the units that have not confirmed: "
            f"{COMMUNITY}, {OTHER_COMMUNITY}"
        )

"""The watches' own reminders and escalations name the person on duty at that moment
(ADR 0090): a whistle's reminder the department's duty officer, its escalation the
government's, a follow-up's reminder the issuer's; nobody on the roster is None, and the
timeline says the name in both languages. On the frozen working calendar."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun import freeze_time

from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.follow_up_watch import FollowUpWatch
from domain.meta import Actor, Context, now
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases
from domain.whistle_watch import CheckInWatch
from tests.unit.builders import DISTRICT, OFFICE, WATER, ctx, frozen_clock_center, last_event
from tests.unit.test_follow_ups import FRIDAY_10AM, _closed_case, beijing
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

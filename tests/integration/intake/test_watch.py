"""The deadline watch over working days, a weekend with a public holiday, and restarts.

The instruction is issued by the district (HW) on Friday 3 April 2026 at 10:00 with
eight working hours: Friday gives 5.5 h, Qingming (Saturday 4 to Monday 6 April) none,
so it is due on Tuesday 7 April at 11:00.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest
from freezegun import freeze_time

from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.demo import load_demo
from domain.meta import Actor, Context
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases
from domain.watch import DeadlineWatch, WatchPolicy
from tests.unit.builders import FrozenClockCenter, frozen_clock_center
from texts.timeline import describe

ZONE = "Asia/Shanghai"

DISTRICT = Actor("dispatcher", "HW", "dispatcher")
POLICY = WatchPolicy(
    remind_before=WorkingDuration(seconds=2 * 3600),
    supervise_after=WorkingDuration(seconds=4 * 3600),
)


@pytest.fixture
def memory_center(calendar: WorkingCalendar) -> FrozenClockCenter:
    return frozen_clock_center(calendar)


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-04-{text}+08:00")


def issue(center: CommandCenter, **kwargs: object) -> UUID:
    with freeze_time(at("03T10:00:00")):
        load_demo(center)
        return center.issue_instruction(
            Context(DISTRICT, command_id="dam-check"),
            lead_unit="HW-DH",
            title="Inspect the dam",
            due_in=WorkingDuration.parse("PT8H"),
            **kwargs,  # type: ignore[arg-type]
        ).id


def tick(watch: DeadlineWatch, when: str) -> list[str]:
    with freeze_time(at(when)):
        return [a["act"] for a in watch.tick()]


def acts(center: CommandCenter, iid: UUID) -> list[tuple[str, str]]:
    return [
        (type(e).__name__, e.meta.unit)
        for e in center.history(iid)
        if type(e).__name__ in ("Reminded", "MarkedOverdue", "Supervised")
    ]


def test_the_deadline_counts_past_the_qingming_holiday(memory_center: CommandCenter) -> None:
    iid = issue(memory_center)

    assert memory_center.instruction(iid).deadline == at("07T11:00:00")


def test_the_watch_reminds_marks_overdue_and_escalates_once_across_restarts(
    sqlite_url: str, calendar: WorkingCalendar
) -> None:
    def start() -> CommandCenter:
        return FrozenClockCenter(
            env=Settings(database_url=sqlite_url).store_env(), calendar=calendar
        )

    memory_center = start()
    iid = issue(memory_center)
    watch = DeadlineWatch(memory_center, POLICY)

    assert tick(watch, "03T15:00:00") == []
    assert tick(watch, "03T17:00:00") == []  # 3 working hours left
    assert tick(watch, "05T12:00:00") == []  # the holiday weekend counts nothing
    assert tick(watch, "07T08:45:00") == []  # 2 h 15 min left
    assert tick(watch, "07T09:00:00") == ["remind"]

    memory_center.close()  # a restart: a new process on the same store
    memory_center = start()
    watch = DeadlineWatch(memory_center, POLICY)
    assert tick(watch, "07T09:30:00") == []
    assert tick(watch, "07T11:30:00") == ["overdue"]
    assert tick(watch, "07T16:00:00") == []  # 3 working hours late

    memory_center.close()
    memory_center = start()
    watch = DeadlineWatch(memory_center, POLICY)
    assert tick(watch, "08T09:30:00") == ["supervise"]  # 5.5 working hours late
    assert tick(watch, "08T10:00:00") == []

    assert acts(memory_center, iid) == [
        ("Reminded", "HW"),
        ("MarkedOverdue", "HW"),
        ("Supervised", "HC"),
    ]
    assert memory_center.instruction(iid).is_marked_overdue
    supervised = memory_center.history(iid)[-1]
    assert supervised.meta.role == "system"
    assert supervised.meta.person == "closedloop"


def test_an_urgent_instruction_is_watched_on_clock_time(memory_center: CommandCenter) -> None:
    with freeze_time(at("03T16:00:00")):
        load_demo(memory_center)
        iid = memory_center.issue_instruction(
            Context(DISTRICT, command_id="urgent"),
            lead_unit="HW-DH",
            title="Evacuate the basement",
            priority="urgent",
            due_in=WorkingDuration.parse("PT4H"),
        ).id
    watch = DeadlineWatch(memory_center, POLICY)

    assert tick(watch, "03T17:59:00") == []
    assert tick(watch, "03T18:00:00") == ["remind"]
    assert tick(watch, "03T20:01:00") == ["overdue"]
    assert tick(watch, "04T00:00:00") == ["supervise"]  # 4 clock hours late, on a holiday
    assert len(acts(memory_center, iid)) == 3


def test_a_finished_instruction_is_no_longer_watched(memory_center: CommandCenter) -> None:
    iid = issue(memory_center)
    with freeze_time(at("03T11:00:00")):
        memory_center.cancel_instruction(Context(DISTRICT), iid, "no longer needed")
    watch = DeadlineWatch(memory_center, POLICY)

    assert tick(watch, "08T12:00:00") == []


def test_an_extended_deadline_is_watched_afresh(memory_center: CommandCenter) -> None:
    iid = issue(memory_center)
    office = Actor("office", "HW-DH", "handler")
    watch = DeadlineWatch(memory_center, POLICY)
    assert tick(watch, "07T09:00:00") == ["remind"]
    with freeze_time(at("07T09:10:00")):
        memory_center.sign_for(Context(office), iid)
        memory_center.request_extension(
            Context(office), iid, deadline=at("09T17:30:00"), reason="rain"
        )
        memory_center.decide_extension(Context(DISTRICT), iid, granted=True)

    assert tick(watch, "07T11:30:00") == []
    assert tick(watch, "09T15:30:00") == ["remind"]


def test_a_deferred_instruction_is_not_watched_and_its_resumed_deadline_is(
    memory_center: CommandCenter,
) -> None:
    iid = issue(memory_center)
    office = Actor("office", "HW-DH", "handler")
    with freeze_time(at("03T10:30:00")):
        memory_center.sign_for(Context(office), iid)
        memory_center.request_deferral(Context(office), iid, "the court has not ruled")
    with freeze_time(at("03T11:00:00")):
        # 7 working hours left: 11:00-12:00 and 14:00-17:30 today, 08:30-11:00 Tuesday.
        memory_center.decide_deferral(Context(DISTRICT), iid, granted=True)
    watch = DeadlineWatch(memory_center, POLICY)
    assert tick(watch, "08T12:00:00") == []  # past the old deadline: the clock is stopped
    with freeze_time(at("09T09:00:00")):
        memory_center.resume(Context(DISTRICT), iid)
    # Thursday 09:00 + 7 working hours: Friday 10 April at 09:00; reminded 2 working
    # hours before (Thursday 16:00-17:30 and Friday 08:30-09:00).
    assert memory_center.instruction(iid).deadline == at("10T09:00:00")
    assert tick(watch, "09T15:59:00") == []
    assert tick(watch, "09T16:00:00") == ["remind"]


def test_the_watchs_reminder_lateness_and_supervision_name_who_is_on_duty_there(
    memory_center: CommandCenter,
) -> None:
    """The lead unit's duty officer is named on the reminder and the lateness, the
    supervising unit's on the supervision; a unit with nobody on its roster names nobody."""
    iid = issue(memory_center)
    keeper = Context(Actor("roster-keeper", "SYSTEM", "system"))
    with freeze_time(at("03T10:00:00")):
        RosterCases(memory_center).arrange_shifts(
            keeper,
            "HW-DH",
            [
                ShiftPlan(
                    "duty_officer", "东湖值班员", "东湖副班", at("07T08:00:00"), at("08T08:00:00")
                )
            ],
        )
    watch = DeadlineWatch(memory_center, POLICY)

    assert tick(watch, "07T09:00:00") == ["remind"]
    assert tick(watch, "07T11:30:00") == ["overdue"]
    assert tick(watch, "08T09:30:00") == ["supervise"]  # HC has no roster: nobody named

    reminded, overdue, supervised = (
        e
        for e in memory_center.history(iid)
        if type(e).__name__ in ("Reminded", "MarkedOverdue", "Supervised")
    )
    assert (reminded.on_duty, reminded.on_roster) == ("东湖值班员", True)
    assert (overdue.on_duty, overdue.on_roster) == ("东湖值班员", True)
    assert (supervised.on_duty, supervised.on_roster) == (None, False)
    zh = [describe(type(e).__qualname__, vars(e), "zh", ZONE) for e in (reminded, overdue)]
    en = [describe(type(e).__qualname__, vars(e), "en", ZONE) for e in (reminded, overdue)]
    assert all("值班人东湖值班员" in line for line in zh)
    assert all("on duty: 东湖值班员" in line for line in en)
    assert describe("Instruction.Supervised", vars(supervised), "zh", ZONE).startswith("HC督办")

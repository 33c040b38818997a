"""The duty desk's countdown on the working calendar and the durations it reads
(ADR 0056): amber under two working hours or a quarter of the instruction's own time,
red past the deadline, standing still outside office hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from api.screens.desk import Countdown, countdown, due_in_of
from domain.calendar import WorkingCalendar, WorkingDuration

BEIJING = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time of March 2026 in Beijing (the 16th is a Monday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=BEIJING)


def clock(
    calendar: WorkingCalendar, status: str = "dispatched", priority: str = "normal"
) -> Countdown:
    return countdown(
        status=status,
        priority=priority,
        issued_at=at(16, 8, 30),
        deadline=at(18, 17, 30),
        now=datetime.now(UTC),
        calendar=calendar,
    )


@freeze_time("2026-03-16 02:00:00")  # Monday 10:00 in Beijing
def test_with_most_of_its_time_left_the_clock_is_plain_and_counts_working_time(
    calendar: WorkingCalendar,
) -> None:
    cd = clock(calendar)
    assert cd.state == "ok"
    assert cd.left == calendar.time_left(at(18, 17, 30), at(16, 10))
    assert cd.working
    assert cd.running


@freeze_time("2026-03-18 07:00:00")  # Wednesday 15:00: two and a half hours left
def test_under_a_quarter_of_its_own_time_left_the_clock_turns_amber(
    calendar: WorkingCalendar,
) -> None:
    cd = clock(calendar)
    assert cd.left == timedelta(hours=2, minutes=30)
    assert cd.state == "near"


@freeze_time("2026-03-18 08:00:00")  # Wednesday 16:00: ninety minutes left
def test_under_two_working_hours_left_the_clock_turns_amber(calendar: WorkingCalendar) -> None:
    deadline = at(18, 17, 30)
    cd = countdown(
        status="in_progress",
        priority="normal",
        issued_at=at(18, 15, 0),
        deadline=deadline,
        now=datetime.now(UTC),
        calendar=calendar,
    )
    assert cd.left == timedelta(minutes=90)
    assert cd.state == "near"


@freeze_time("2026-03-18 11:00:00")  # Wednesday 19:00: missed, no working time since
def test_past_the_deadline_the_clock_is_red_and_stands_after_office_hours(
    calendar: WorkingCalendar,
) -> None:
    cd = clock(calendar)
    assert cd.state == "late"
    assert cd.late == timedelta(0)
    assert not cd.running


@freeze_time("2026-03-18 11:00:00")
def test_an_urgent_instruction_counts_clock_time_day_and_night(
    calendar: WorkingCalendar,
) -> None:
    cd = clock(calendar, priority="urgent")
    assert cd.state == "late"
    assert cd.late == timedelta(hours=1, minutes=30)
    assert not cd.working
    assert cd.running


@freeze_time("2026-03-18 11:00:00")
def test_a_finished_instruction_has_no_clock(calendar: WorkingCalendar) -> None:
    assert clock(calendar, status="closed").state == "done"


@pytest.mark.parametrize(
    ("typed", "iso"),
    [
        ("4h", "PT4H"),
        ("2d", "P2D"),
        ("1d 4h 30m", "P1DT4H30M"),
        ("2天4小时", "P2DT4H"),
        ("90分钟", "PT90M"),
        ("P1DT2H", "P1DT2H"),
        ("soon", "soon"),
    ],
)
def test_a_duration_typed_short_is_read_as_iso_8601(typed: str, iso: str) -> None:
    assert due_in_of(typed) == iso
    if iso != "soon":
        assert WorkingDuration.parse(iso)

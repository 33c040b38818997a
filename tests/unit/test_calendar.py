"""Working durations and the working calendar on which deadlines are counted (ADR 0005)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import CalendarError, WorkingCalendar, WorkingDuration

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR_FILE = Path(__file__).parents[2] / "closedloop" / "calendars" / "china.toml"


def load_shipped_data() -> dict[str, Any]:
    with CALENDAR_FILE.open("rb") as stream:
        return tomllib.load(stream)


CHINA = WorkingCalendar.from_mapping(load_shipped_data())


def beijing(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


# --- WorkingDuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "seconds"),
    [
        ("P2W", 14, 0),
        ("P3D", 3, 0),
        ("PT4H", 0, 4 * 3600),
        ("PT30M", 0, 1800),
        ("PT45S", 0, 45),
        ("PT1H30M", 0, 5400),
        ("PT1H2M3S", 0, 3723),
        ("P1DT6H", 1, 21600),
        ("PT30H", 0, 108000),
        ("p1dt2h", 1, 7200),
        (" P1D ", 1, 0),
    ],
)
def test_parse_reads_each_iso_8601_form_without_normalising(
    text: str, days: int, seconds: int
) -> None:
    assert WorkingDuration.parse(text) == WorkingDuration(days=days, seconds=seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P1Y", "years and months"),
        ("P2M", "years and months"),
        ("P1Y2D", "years and months"),
        ("P", "no amount"),
        ("PT", "no amount"),
        ("P1DT", "no amount"),
        ("P0D", "zero"),
        ("PT0S", "zero"),
        ("P0W", "zero"),
        ("-P1D", "negative"),
        ("P1.5D", "fractions"),
        ("PT0.5S", "fractions"),
        ("P1W2D", "weeks cannot be combined"),
        ("1D", "not an ISO 8601 duration"),
        ("", "not an ISO 8601 duration"),
        ("P1H", "not an ISO 8601 duration"),
        ("PT1D", "not an ISO 8601 duration"),
        ("P99999D", "longer than ten years"),
    ],
)
def test_parse_refuses_durations_that_cannot_be_a_deadline(text: str, reason: str) -> None:
    with pytest.raises(CalendarError, match=reason):
        WorkingDuration.parse(text)


def test_a_calendar_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="years and months"):
        WorkingDuration.parse("P1M")


@pytest.mark.parametrize(("days", "seconds"), [(-1, 0), (0, -1)])
def test_a_negative_duration_is_refused(days: int, seconds: int) -> None:
    with pytest.raises(CalendarError, match="negative"):
        WorkingDuration(days=days, seconds=seconds)


def test_a_duration_must_be_made_of_whole_numbers() -> None:
    with pytest.raises(CalendarError, match="whole number"):
        WorkingDuration(days=1.5)  # type: ignore[arg-type]


def test_clock_counts_days_as_24_hours_for_urgent_instructions() -> None:
    assert WorkingDuration.parse("P1DT6H").clock() == hours(30)
    assert WorkingDuration.parse("PT30H").clock() == hours(30)
    assert WorkingDuration.parse("P2W").clock() == timedelta(days=14)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("P3D", "P3D"),
        ("P2W", "P14D"),
        ("PT30H", "PT30H"),
        ("P1DT6H", "P1DT6H"),
        ("PT1H2M3S", "PT1H2M3S"),
        ("PT90M", "PT1H30M"),
    ],
)
def test_str_renders_iso_8601_that_parses_back_to_the_same_duration(
    text: str, rendered: str
) -> None:
    duration = WorkingDuration.parse(text)
    assert str(duration) == rendered
    assert WorkingDuration.parse(str(duration)) == duration


def test_str_of_the_empty_duration_is_pt0s() -> None:
    assert str(WorkingDuration()) == "PT0S"


# --- the shipped calendar ----------------------------------------------------------------


def test_the_shipped_calendar_uses_government_office_hours_in_beijing_time() -> None:
    assert CHINA.zone == "Asia/Shanghai"
    assert CHINA.periods == ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))
    assert CHINA.day_length == hours(7)
    assert CHINA.weekend == frozenset({5, 6})


def test_the_default_calendar_is_the_shipped_one_without_holidays() -> None:
    default = WorkingCalendar()
    assert (default.zone, default.periods, default.weekend) == (
        CHINA.zone,
        CHINA.periods,
        CHINA.weekend,
    )
    assert default.holidays == frozenset()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 10), True),  # an ordinary Tuesday
        (date(2026, 3, 14), False),  # an ordinary Saturday
        (date(2026, 1, 1), False),  # New Year's Day, a Thursday
        (date(2026, 1, 4), True),  # Sunday worked for New Year
        (date(2026, 2, 14), True),  # Saturday worked for the Spring Festival
        (date(2026, 2, 16), False),  # Spring Festival, a Monday
        (date(2026, 2, 23), False),  # last day of the Spring Festival, a Monday
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday worked for the Spring Festival
        (date(2026, 4, 6), False),  # Qingming, a Monday
        (date(2026, 5, 5), False),  # Labour Day, a Tuesday
        (date(2026, 5, 9), True),  # Saturday worked for Labour Day
        (date(2026, 6, 19), False),  # Dragon Boat, a Friday
        (date(2026, 9, 20), True),  # Sunday worked for National Day
        (date(2026, 9, 25), False),  # Mid-Autumn, a Friday
        (date(2026, 10, 7), False),  # National Day, a Wednesday
        (date(2026, 10, 10), True),  # Saturday worked for National Day
    ],
)
def test_working_days_follow_the_2026_state_council_notice(day: date, working: bool) -> None:
    assert CHINA.is_working_day(day) is working


def test_the_2026_notice_lists_33_days_off_and_6_make_up_days() -> None:
    assert len(CHINA.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert len(CHINA.workdays) == 6


# --- add ---------------------------------------------------------------------------------


def test_add_carries_a_deadline_over_the_evening_to_the_next_morning() -> None:
    # Tuesday 16:30 + 2 h: one hour until 17:30, one more from 08:30 on Wednesday.
    due = CHINA.add(beijing(2026, 3, 10, 16, 30), WorkingDuration.parse("PT2H"))
    assert due == beijing(2026, 3, 11, 9, 30)


def test_add_skips_the_lunch_break() -> None:
    due = CHINA.add(beijing(2026, 3, 10, 11, 0), WorkingDuration.parse("PT2H"))
    assert due == beijing(2026, 3, 10, 15, 0)


def test_add_skips_the_weekend() -> None:
    due = CHINA.add(beijing(2026, 3, 13, 16, 30), WorkingDuration.parse("PT2H"))
    assert due == beijing(2026, 3, 16, 9, 30)


def test_add_lands_on_the_saturday_worked_before_the_spring_festival() -> None:
    # Friday 16:00: 1.5 h that day, then 3.5 h + 2 h on Saturday 14 February (worked).
    due = CHINA.add(beijing(2026, 2, 13, 16, 0), WorkingDuration.parse("P1D"))
    assert due == beijing(2026, 2, 14, 16, 0)


def test_add_skips_the_nine_days_of_the_spring_festival() -> None:
    # Same start, two working days: 1.5 h Friday, 7 h Saturday, 5.5 h on Tuesday 24 February.
    due = CHINA.add(beijing(2026, 2, 13, 16, 0), WorkingDuration.parse("P2D"))
    assert due == beijing(2026, 2, 24, 16, 0)


def test_add_skips_the_national_day_week() -> None:
    # Wednesday 30 September 16:00: 1.5 h, then 1-7 October off, 2.5 h on Thursday 8 October.
    due = CHINA.add(beijing(2026, 9, 30, 16, 0), WorkingDuration.parse("PT4H"))
    assert due == beijing(2026, 10, 8, 11, 0)


def test_add_counts_the_sunday_worked_before_national_day() -> None:
    due = CHINA.add(beijing(2026, 9, 18, 17, 0), WorkingDuration.parse("PT1H"))
    assert due == beijing(2026, 9, 20, 9, 0)


def test_add_starts_counting_at_the_next_working_period_when_dispatched_on_a_sunday() -> None:
    due = CHINA.add(beijing(2026, 3, 15, 10, 0), WorkingDuration.parse("PT1H"))
    assert due == beijing(2026, 3, 16, 9, 30)


def test_add_starts_counting_after_lunch_when_dispatched_during_lunch() -> None:
    due = CHINA.add(beijing(2026, 3, 10, 12, 45), WorkingDuration.parse("PT30M"))
    assert due == beijing(2026, 3, 10, 14, 30)


def test_add_answers_the_end_of_the_day_when_the_time_runs_out_exactly_at_1730() -> None:
    assert CHINA.add(beijing(2026, 3, 10, 14, 0), WorkingDuration.parse("PT3H30M")) == beijing(
        2026, 3, 10, 17, 30
    )
    assert CHINA.add(beijing(2026, 3, 10, 8, 30), WorkingDuration.parse("P1D")) == beijing(
        2026, 3, 10, 17, 30
    )


def test_add_answers_the_start_of_lunch_when_the_morning_runs_out_exactly() -> None:
    due = CHINA.add(beijing(2026, 3, 10, 8, 30), WorkingDuration.parse("PT3H30M"))
    assert due == beijing(2026, 3, 10, 12, 0)


def test_add_reads_p1d_as_one_working_day_and_pt30h_as_thirty_working_hours() -> None:
    start = beijing(2026, 3, 9, 8, 30)  # Monday morning
    assert CHINA.add(start, WorkingDuration.parse("P1D")) == beijing(2026, 3, 9, 17, 30)
    # 30 h = four days of 7 h (to Thursday 17:30) and 2 h on Friday.
    assert CHINA.add(start, WorkingDuration.parse("PT30H")) == beijing(2026, 3, 13, 10, 30)
    # One working day and 6 h = Monday, then 6 h on Tuesday.
    assert CHINA.add(start, WorkingDuration.parse("P1DT6H")) == beijing(2026, 3, 10, 16, 30)


def test_add_answers_in_utc_whatever_the_offset_of_the_start() -> None:
    start = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)  # 16:30 in Beijing
    due = CHINA.add(start, WorkingDuration.parse("PT2H"))
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 11, 1, 30, tzinfo=UTC)


def test_add_with_an_empty_duration_answers_the_start() -> None:
    start = beijing(2026, 3, 15, 10, 0)
    assert CHINA.add(start, WorkingDuration()) == start


def test_add_refuses_a_start_without_an_offset() -> None:
    with pytest.raises(CalendarError, match="time-zone offset"):
        CHINA.add(datetime(2026, 3, 10, 9, 0), WorkingDuration.parse("P1D"))


def test_add_counts_hundreds_of_working_days() -> None:
    # From the first working morning of 2026, 250 working days ends on the last one.
    start = beijing(2026, 1, 4, 8, 30)
    working_days = sum(
        CHINA.is_working_day(date(2026, 1, 4) + timedelta(days=n)) for n in range(362)
    )
    due = CHINA.add(start, WorkingDuration(days=working_days))
    assert due == beijing(2026, 12, 31, 17, 30)


def test_add_refuses_a_calendar_without_working_days() -> None:
    never = WorkingCalendar(weekend=frozenset(range(7)))
    with pytest.raises(CalendarError, match="no working day in the three years"):
        never.add(beijing(2026, 3, 10, 9, 0), WorkingDuration.parse("PT1H"))


# --- working time between two instants ---------------------------------------------------


def test_working_time_between_counts_only_office_hours() -> None:
    assert CHINA.working_time_between(beijing(2026, 3, 10), beijing(2026, 3, 11)) == hours(7)
    assert CHINA.working_time_between(
        beijing(2026, 3, 10, 11, 0), beijing(2026, 3, 10, 15, 0)
    ) == hours(2)
    assert CHINA.working_time_between(beijing(2026, 2, 13), beijing(2026, 2, 25)) == hours(21)


def test_working_time_between_is_antisymmetric() -> None:
    a, b = beijing(2026, 3, 13, 16, 0), beijing(2026, 3, 16, 10, 0)
    assert CHINA.working_time_between(a, b) == hours(3)
    assert CHINA.working_time_between(b, a) == -hours(3)
    assert CHINA.working_time_between(a, a) == timedelta(0)


def test_working_time_between_refuses_times_without_an_offset() -> None:
    with pytest.raises(CalendarError, match="time-zone offset"):
        CHINA.working_time_between(datetime(2026, 3, 10, 9, 0), beijing(2026, 3, 11))


# --- overdue and time left ---------------------------------------------------------------


def test_overdue_by_counts_working_time_over_the_weekend() -> None:
    # Friday 17:00 to 17:30 is 30 min, Monday 08:30 to 10:00 is 90 min.
    deadline = beijing(2026, 3, 13, 17, 0)
    assert CHINA.overdue_by(deadline, beijing(2026, 3, 16, 10, 0)) == hours(2)


@freeze_time("2026-03-16 02:00:00")  # Monday 10:00 in Beijing
def test_overdue_by_at_the_frozen_present() -> None:
    deadline = beijing(2026, 3, 13, 17, 0)
    now = datetime.now(UTC)
    assert CHINA.overdue_by(deadline, now) == hours(2)
    assert CHINA.time_left(deadline, now) == timedelta(0)


@freeze_time("2026-03-13 06:00:00")  # Friday 14:00 in Beijing
def test_time_left_before_the_deadline_is_working_time_and_nothing_is_overdue() -> None:
    deadline = beijing(2026, 3, 16, 10, 0)
    now = datetime.now(UTC)
    assert CHINA.time_left(deadline, now) == hours(3.5 + 1.5)
    assert CHINA.overdue_by(deadline, now) == timedelta(0)


def test_a_deadline_missed_after_hours_is_overdue_by_no_working_time_yet() -> None:
    deadline = beijing(2026, 3, 10, 17, 30)
    assert CHINA.overdue_by(deadline, beijing(2026, 3, 10, 19, 0)) == timedelta(0)
    assert CHINA.time_left(deadline, beijing(2026, 3, 10, 19, 0)) == timedelta(0)


def test_to_local_shows_an_instant_in_beijing_time() -> None:
    local = CHINA.to_local(datetime(2026, 3, 10, 1, 30, tzinfo=UTC))
    assert (local.hour, local.minute, local.utcoffset()) == (9, 30, hours(8))


# --- calendar data -----------------------------------------------------------------------


def test_from_mapping_reads_bare_toml_dates_as_well_as_quoted_ones() -> None:
    data = tomllib.loads("[[years]]\nyear = 2026\nholidays = [2026-01-01]\n")
    assert WorkingCalendar.from_mapping(data).holidays == frozenset({date(2026, 1, 1)})


def test_from_mapping_uses_the_defaults_for_missing_settings() -> None:
    assert WorkingCalendar.from_mapping({}) == WorkingCalendar()


def with_year(**entry: Any) -> dict[str, Any]:
    return {"years": [{"year": 2026, **entry}]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"zone": "Asia/Beijing"}, "unknown time zone 'Asia/Beijing'"),
        ({"zone": 8}, "zone = 8"),
        ({"periods": ["8:30 to 12:00"]}, r"periods\[0\] = '8:30 to 12:00'"),
        ({"periods": ["08:30-12:00", "25:00-26:00"]}, r"periods\[1\] = '25:00-26:00'"),
        ({"periods": []}, "at least one working period"),
        ({"periods": ["14:00-12:00"]}, "ends before it starts"),
        ({"periods": ["08:30-12:00", "11:00-17:30"]}, "overlaps"),
        ({"periods": ["14:00-17:30", "08:30-12:00"]}, "overlaps or precedes"),
        ({"periods": "08:30-12:00"}, "periods must be a list"),
        ({"weekend": ["samedi"]}, r"weekend\[0\] = 'samedi'"),
        ({"holiday": []}, "unknown setting.*holiday"),
        ({"years": [{"holidays": ["2026-01-01"]}]}, r"years\[0\] needs 'year"),
        ({"years": [{"year": 2026}, {"year": 2026}]}, "year 2026 is listed twice"),
        ({"years": [{"year": 2026, "workday": []}]}, "unknown setting.*workday"),
        (with_year(holidays=["2026-02-30"]), r"year 2026 holidays\[0\] = '2026-02-30'"),
        (with_year(holidays=["2025-10-01"]), "2025-10-01 does not fall in 2026"),
        (with_year(holidays=[20260101]), r"holidays\[0\] = 20260101"),
        (
            with_year(holidays=["2026-02-14"], workdays=["2026-02-14"]),
            "2026-02-14 listed both as a public holiday and as a make-up working day",
        ),
        (with_year(workdays=["2026-01-05"]), "2026-01-05 .monday. is not a weekend day"),
    ],
)
def test_from_mapping_names_the_bad_entry(data: dict[str, Any], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        WorkingCalendar.from_mapping(data)


def test_a_calendar_refuses_an_unknown_zone_when_built_directly() -> None:
    with pytest.raises(CalendarError, match="unknown time zone"):
        WorkingCalendar(zone="Mars/Olympus_Mons")


def test_equal_calendars_are_equal_and_hashable() -> None:
    again = WorkingCalendar.from_mapping(load_shipped_data())
    assert again == CHINA
    assert hash(again) == hash(CHINA)


# --- properties --------------------------------------------------------------------------

OFFSETS = st.sampled_from([UTC, SHANGHAI, timezone(timedelta(hours=-5)), ZoneInfo("Europe/Paris")])
STARTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59), timezones=OFFSETS
)
DURATIONS = st.builds(
    WorkingDuration,
    days=st.integers(min_value=0, max_value=300),
    seconds=st.integers(min_value=0, max_value=60 * 3600),
)


def working_time(duration: WorkingDuration) -> timedelta:
    return duration.days * CHINA.day_length + timedelta(seconds=duration.seconds)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, duration=DURATIONS)
def test_add_spends_exactly_the_working_time_asked_for(
    start: datetime, duration: WorkingDuration
) -> None:
    due = CHINA.add(start, duration)
    assert due >= start
    assert CHINA.working_time_between(start, due) == working_time(duration)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, duration=DURATIONS.filter(lambda d: d != WorkingDuration()))
def test_a_deadline_falls_within_office_hours_of_a_working_day(
    start: datetime, duration: WorkingDuration
) -> None:
    local = CHINA.to_local(CHINA.add(start, duration))
    assert CHINA.is_working_day(local.date())
    assert any(begin < local.time() <= end for begin, end in CHINA.periods)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, first=DURATIONS, second=DURATIONS)
def test_add_is_monotonic_in_the_duration(
    start: datetime, first: WorkingDuration, second: WorkingDuration
) -> None:
    shorter, longer = sorted((first, second), key=working_time)
    assert CHINA.add(start, shorter) <= CHINA.add(start, longer)

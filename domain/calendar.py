"""Working time: the calendar on which normal and high-priority deadlines are counted.

A dispatcher says "within one working day" or "within 4 working hours". Those deadlines run
only during office hours on working days, so a case dispatched on Friday afternoon is not late
on Monday morning, and the Spring Festival does not count against anyone. Urgent instructions
are counted in clock time instead (``WorkingDuration.clock``).

Public holidays and make-up working days (调休) are announced by the State Council every year,
so the calendar is data (``closedloop/calendars/china.toml``), loaded with ``from_mapping``;
nothing here knows about any particular year. Instants go in and come out as aware datetimes
(answers in UTC, as they are stored); all time-of-day reasoning happens in the wall time of the
calendar's zone. See ADR 0005.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidValue

__all__ = ["CalendarError", "WorkingCalendar", "WorkingDuration"]


class CalendarError(InvalidValue, ValueError):
    """Calendar data or a duration that cannot be used to count a deadline.

    An :class:`~domain.errors.InvalidValue`, so that a bad duration given with a
    command is refused like any other bad value (422 over HTTP).
    """


# Beyond this a "deadline" is almost certainly a typo (P1000D for P10D), and counting it
# would tie up a worker walking thousands of days.
_LONGEST = timedelta(days=3660)

# Years (Y) and months (M before T) are captured only so they can be refused by name.
_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


@dataclass(frozen=True)
class WorkingDuration:
    """A duration as a dispatcher states it: whole working days plus hours, minutes, seconds.

    The two parts are kept apart on purpose and never normalised: on a working calendar one
    day is one working day (7 h of office time), not 24 h, so ``PT30H`` (30 working hours)
    and ``P1DT6H`` (one working day and 6 hours) are different deadlines.
    """

    days: int = 0
    seconds: int = 0

    def __post_init__(self) -> None:
        for name in ("days", "seconds"):
            value = getattr(self, name)
            # bool is an int subclass; True days is a bug, not a duration.
            if not isinstance(value, int) or isinstance(value, bool):
                raise CalendarError(f"a duration's {name} must be a whole number, not {value!r}")
            if value < 0:
                raise CalendarError(f"a duration cannot be negative ({name} = {value})")
        try:
            longest = self.clock() > _LONGEST
        except OverflowError:  # days or seconds beyond what a timedelta holds
            longest = True
        if longest:
            raise CalendarError(
                f"{self} is longer than ten years; a deadline that far out is probably a typo"
            )

    @classmethod
    def parse(cls, text: str) -> WorkingDuration:
        """Read an ISO 8601 duration: ``P2W``, ``P3D``, ``PT4H30M``, ``P1DT6H``."""
        if not isinstance(text, str):
            raise CalendarError(f"a duration must be text such as 'P1D', not {text!r}")
        raw = text.strip().upper()
        if raw.startswith("-"):
            raise CalendarError(f"{text!r}: a deadline duration cannot be negative")
        match = _DURATION.fullmatch(raw)
        if match is None:
            if re.search(r"\d[.,]\d", raw):
                raise CalendarError(
                    f"{text!r}: fractions are not supported; "
                    "use smaller units (PT1H30M, not PT1.5H)"
                )
            raise CalendarError(
                f"{text!r} is not an ISO 8601 duration; write e.g. 'P1D' (one working day), "
                "'PT4H' (four hours) or 'P1DT2H'"
            )
        parts = match.groupdict()
        if parts["years"] is not None or parts["months"] is not None:
            raise CalendarError(
                f"{text!r}: years and months are not a fixed length; "
                "state the deadline in weeks, days or hours (e.g. 'P30D')"
            )
        if raw.endswith("T") or all(value is None for value in parts.values()):
            raise CalendarError(f"{text!r} names no amount of time; write e.g. 'P1D' or 'PT4H'")
        if parts["weeks"] is not None and any(
            parts[name] is not None for name in ("days", "hours", "minutes", "seconds")
        ):
            raise CalendarError(f"{text!r}: weeks cannot be combined with other units (ISO 8601)")

        def number(name: str) -> int:
            value = parts[name]
            return int(value) if value is not None else 0

        days = 7 * number("weeks") + number("days")
        seconds = 3600 * number("hours") + 60 * number("minutes") + number("seconds")
        if days == 0 and seconds == 0:
            raise CalendarError(f"{text!r} is a zero duration; a deadline must lie in the future")
        return cls(days=days, seconds=seconds)

    def clock(self) -> timedelta:
        """The same duration in clock time (24 h days), as counted for urgent instructions."""
        return timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        date_part = f"{self.days}D" if self.days else ""
        time_part = "".join(
            f"{amount}{unit}"
            for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
            if amount
        )
        if not date_part and not time_part:
            return "PT0S"
        return f"P{date_part}" + (f"T{time_part}" if time_part else "")


_DEFAULT_PERIODS = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A calendar with no working day for this long cannot be meant; it would loop for ever.
_MAX_IDLE_DAYS = 3 * 366
_PERIOD = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_MAPPING_KEYS = frozenset({"zone", "periods", "weekend", "years"})
_YEAR_KEYS = frozenset({"year", "holidays", "workdays"})


@dataclass(frozen=True)
class WorkingCalendar:
    """Office hours, weekly rest days, public holidays and make-up working days in one zone.

    A day is a working day if it is a make-up working day, or if it is neither a weekend day
    nor a public holiday. Working time is the union of ``periods`` on working days, read in
    the wall time of ``zone``.
    """

    zone: str = "Asia/Shanghai"
    # Chinese government office hours: 08:30-12:00 and 14:00-17:30, 7 h a day.
    periods: tuple[tuple[time, time], ...] = _DEFAULT_PERIODS
    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.zone, str):
            raise CalendarError(f"the time zone must be an IANA name, not {self.zone!r}")
        try:
            tz = ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(
                f"unknown time zone {self.zone!r}; use an IANA name such as 'Asia/Shanghai'"
            ) from exc
        object.__setattr__(self, "_tz", tz)
        # Accept any iterable of the right things but keep the instance hashable.
        object.__setattr__(self, "periods", tuple(tuple(p) for p in self.periods))
        object.__setattr__(self, "weekend", frozenset(self.weekend))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        self._check_periods()
        self._check_days()

    def _check_periods(self) -> None:
        if not self.periods:
            raise CalendarError("a working calendar needs at least one working period a day")
        previous_end: time | None = None
        for period in self.periods:
            if len(period) != 2 or not all(isinstance(t, time) for t in period):
                raise CalendarError(f"a working period is a (start, end) pair of times: {period!r}")
            start, end = period
            if start.tzinfo is not None or end.tzinfo is not None:
                raise CalendarError(
                    f"working period {_show(period)} must be a wall time without an offset; "
                    "the calendar's zone gives the offset"
                )
            if start >= end:
                raise CalendarError(f"working period {_show(period)} ends before it starts")
            if previous_end is not None and start < previous_end:
                raise CalendarError(
                    f"working period {_show(period)} overlaps or precedes the one before it; "
                    "list the periods of a day in order, without overlaps"
                )
            previous_end = end

    def _check_days(self) -> None:
        for number in self.weekend:
            if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 6:
                raise CalendarError(
                    f"weekend day {number!r} is not a weekday number (0 = Monday ... 6 = Sunday)"
                )
        for day in self.holidays | self.workdays:
            # datetime is a date subclass; a timestamp here is a data error.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(f"holidays and workdays must be dates, not {day!r}")
        both = sorted(self.holidays & self.workdays)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise CalendarError(
                f"{listed} listed both as a public holiday and as a make-up working day"
            )
        # A make-up day on an ordinary weekday changes nothing: it is a typo for another date.
        stray = sorted(d for d in self.workdays if d.weekday() not in self.weekend)
        if stray:
            listed = ", ".join(f"{d.isoformat()} ({_WEEKDAYS[d.weekday()]})" for d in stray)
            raise CalendarError(
                f"make-up working day {listed} is not a weekend day, so it is already worked; "
                "check the date against the State Council notice"
            )

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day: the sum of the working periods."""
        anchor = date(2000, 1, 1)
        return sum(
            (
                datetime.combine(anchor, end) - datetime.combine(anchor, start)
                for start, end in self.periods
            ),
            timedelta(0),
        )

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` (a local date in the calendar's zone) has office hours."""
        if d in self.workdays:
            return True
        return d.weekday() not in self.weekend and d not in self.holidays

    def to_local(self, dt: datetime) -> datetime:
        """The same instant in the calendar's zone."""
        _require_aware(dt, "the time")
        return dt.astimezone(self._tz)

    def add(self, start: datetime, duration: WorkingDuration) -> datetime:
        """The instant, in UTC, when ``duration`` of working time has elapsed from ``start``.

        ``duration.days`` counts whole working days of ``day_length`` each. Outside office
        hours counting begins at the next working period. A deadline that is used up exactly
        at the end of a period is that end (17:30), not the next morning.
        """
        _require_aware(start, "the start of a deadline")
        if not isinstance(duration, WorkingDuration):
            raise CalendarError(f"expected a WorkingDuration such as P1D, not {duration!r}")
        remaining = duration.days * self.day_length + timedelta(seconds=duration.seconds)
        cursor = start.astimezone(UTC)
        if remaining == timedelta(0):
            return cursor
        day = self.to_local(start).date()
        idle = 0
        while True:
            if self.is_working_day(day):
                idle = 0
                # A whole day after the cursor is skipped in one step; only the first and
                # last days of the count are walked period by period.
                for begin, end in self._intervals(day):
                    if end <= cursor:
                        continue
                    begin = max(begin, cursor)
                    available = end - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            else:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise CalendarError(
                        "the calendar has no working day in the three years from "
                        f"{(day - timedelta(days=idle - 1)).isoformat()}; "
                        "a deadline cannot be counted on it"
                    )
            day += timedelta(days=1)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in ``[a, b)``; negative when ``b`` comes before ``a``."""
        _require_aware(a, "the start")
        _require_aware(b, "the end")
        if b < a:
            return -self.working_time_between(b, a)
        a_utc, b_utc = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta(0)
        for day in _days(self.to_local(a).date(), self.to_local(b).date()):
            if not self.is_working_day(day):
                continue
            for begin, end in self._intervals(day):
                overlap = min(end, b_utc) - max(begin, a_utc)
                if overlap > timedelta(0):
                    total += overlap
        return total

    def overdue_by(self, deadline: datetime, now: datetime) -> timedelta:
        """Working time past the deadline, or zero if it has not passed.

        Zero does not mean "on time": a deadline of 17:30 is missed at 19:00 although no
        working time has passed since. Compare the instants to know whether it is missed.
        """
        if now > deadline:
            return self.working_time_between(deadline, now)
        return timedelta(0)

    def time_left(self, deadline: datetime, now: datetime) -> timedelta:
        """Working time from ``now`` until the deadline, or zero if it has passed."""
        if deadline > now:
            return self.working_time_between(now, deadline)
        return timedelta(0)

    def _intervals(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        # Build each period as local wall time in the zone, then convert: this stays right
        # in zones with daylight saving, which Asia/Shanghai has not had since 1991.
        for start, end in self.periods:
            yield (
                datetime.combine(day, start, tzinfo=self._tz).astimezone(UTC),
                datetime.combine(day, end, tzinfo=self._tz).astimezone(UTC),
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkingCalendar:
        """Build a calendar from its data file as ``tomllib`` reads it.

        Keys: ``zone`` (IANA name), ``periods`` (``"08:30-12:00"`` strings), ``weekend``
        (English day names) and ``years``, a list of tables with ``year``, ``holidays`` and
        ``workdays`` (ISO dates, quoted or bare). Every key is optional but ``year``.
        """
        if not isinstance(data, Mapping):
            raise CalendarError(f"calendar data must be a table of settings, not {data!r}")
        _refuse_unknown(data, _MAPPING_KEYS, "the calendar")
        zone = data.get("zone", "Asia/Shanghai")
        if not isinstance(zone, str):
            raise CalendarError(f"zone = {zone!r}: expected an IANA name such as 'Asia/Shanghai'")
        periods = (
            tuple(
                _parse_period(entry, index)
                for index, entry in enumerate(_list(data["periods"], "periods"))
            )
            if "periods" in data
            else _DEFAULT_PERIODS
        )
        weekend = (
            frozenset(
                _parse_weekday(entry, index)
                for index, entry in enumerate(_list(data["weekend"], "weekend"))
            )
            if "weekend" in data
            else frozenset({5, 6})
        )
        holidays: set[date] = set()
        workdays: set[date] = set()
        seen_years: set[int] = set()
        for index, entry in enumerate(_list(data.get("years", []), "years")):
            where = f"years[{index}]"
            if not isinstance(entry, Mapping):
                raise CalendarError(f"{where} must be a table ([[years]]), not {entry!r}")
            _refuse_unknown(entry, _YEAR_KEYS, where)
            year = entry.get("year")
            if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 9999:
                raise CalendarError(f"{where} needs 'year = <a year such as 2026>', got {year!r}")
            if year in seen_years:
                raise CalendarError(f"year {year} is listed twice; merge its holidays into one")
            seen_years.add(year)
            for key, target in (("holidays", holidays), ("workdays", workdays)):
                for position, value in enumerate(_list(entry.get(key, []), f"year {year} {key}")):
                    target.add(_parse_date(value, year, f"year {year} {key}[{position}]"))
        return cls(
            zone=zone,
            periods=periods,
            weekend=weekend,
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
        )


def _require_aware(dt: datetime, what: str) -> None:
    if not isinstance(dt, datetime):
        raise CalendarError(f"{what} must be a date and time, not {dt!r}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        # A naive time could be read as UTC or as Beijing time: 8 hours apart.
        raise CalendarError(f"{what} ({dt.isoformat()}) must carry a time-zone offset")


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _show(period: tuple[time, ...]) -> str:
    return "-".join(t.strftime("%H:%M") if isinstance(t, time) else repr(t) for t in period)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise CalendarError(f"{where} must be a list, not {value!r}")
    return list(value)


def _refuse_unknown(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    # A misspelt key ("holiday") would otherwise be ignored and a festival silently worked.
    unknown = sorted(str(key) for key in table if key not in known)
    if unknown:
        raise CalendarError(
            f"{where} has unknown setting(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(known))}"
        )


def _parse_period(entry: Any, index: int) -> tuple[time, time]:
    where = f"periods[{index}] = {entry!r}"
    match = _PERIOD.fullmatch(entry) if isinstance(entry, str) else None
    if match is None:
        raise CalendarError(f"{where}: expected a working period such as '08:30-12:00'")
    hour1, minute1, hour2, minute2 = (int(group) for group in match.groups())
    try:
        return time(hour1, minute1), time(hour2, minute2)
    except ValueError as exc:
        raise CalendarError(f"{where}: {exc}; times run from 00:00 to 23:59") from exc


def _parse_weekday(entry: Any, index: int) -> int:
    name = entry.strip().lower() if isinstance(entry, str) else ""
    if name not in _WEEKDAYS:
        raise CalendarError(
            f"weekend[{index}] = {entry!r}: expected an English day name such as 'saturday'"
        )
    return _WEEKDAYS.index(name)


def _parse_date(value: Any, year: int, where: str) -> date:
    if isinstance(value, datetime):
        raise CalendarError(f"{where} = {value!r}: expected a date (YYYY-MM-DD), not a time")
    if isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise CalendarError(f"{where} = {value!r} is not a date (expected YYYY-MM-DD)") from exc
    else:
        raise CalendarError(f"{where} = {value!r}: expected a date (YYYY-MM-DD)")
    if day.year != year:
        # The commonest slip when copying a new notice: last year's date left in place.
        raise CalendarError(f"{where} = {day.isoformat()} does not fall in {year}")
    return day

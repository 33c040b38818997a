"""The period a report covers, read from a request's ``from``/``to`` or ``period``/``date``."""

from __future__ import annotations

import calendar as calendar_module
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from projections.indicators import epoch


class PeriodError(ValueError):
    """A period that cannot be reported on; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        #: The problem type of a refusal no schema can state (``api.contract.BEYOND_SCHEMA``).
        self.code = code


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC at whole seconds, with the zone it was read in."""

    start: datetime
    end: datetime
    zone: str
    label: str

    @property
    def start_s(self) -> int:
        return epoch(self.start)

    @property
    def end_s(self) -> int:
        return epoch(self.end)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERIODS = ("day", "week", "month")


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def parse_instant(text: str, field: str, tz: ZoneInfo) -> datetime:
    """A date (local midnight in ``tz``) or an RFC 3339 time with its offset, in UTC."""
    text = text.strip()
    try:
        if _DATE.match(text):
            return _local_midnight(date.fromisoformat(text), tz)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise PeriodError(
            field, f"{field} must be a date (2026-03-01) or an RFC 3339 time, not {text!r}"
        ) from None
    except OverflowError:
        raise _out_of_range(field) from None
    if value.tzinfo is None:
        raise PeriodError(field, f"{field} must carry a time-zone offset (+08:00 or Z)")
    try:
        # Seen in UTC and in the report's zone: either may fall outside years 1 to 9999
        # (9999-12-31T23:59:59Z is year 10000 at +08:00).
        value.astimezone(tz)
        return value.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(field) from None


def _out_of_range(field: str) -> PeriodError:
    return PeriodError(
        field, f"{field} lies outside the years a report can count (1 to 9999)", "outside-years"
    )


def _whole_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


def resolve_period(
    *,
    zone: str,
    today: date,
    from_: str | None = None,
    to: str | None = None,
    period: str | None = None,
    on: str | None = None,
) -> Period:
    """The period a request names: ``from``/``to``, or ``period`` with a ``date`` in it
    (``today`` by default), or, with nothing, the current month. Bounds are taken at
    whole seconds; ``to`` is excluded."""
    tz = ZoneInfo(zone)
    if period is not None or (from_ is None and to is None):
        if from_ is not None or to is not None:
            raise PeriodError("period", "give either period (with date) or from and to, not both")
        kind = period or "month"
        if kind not in PERIODS:
            raise PeriodError("period", f"period must be one of {', '.join(PERIODS)}, not {kind!r}")
        day = today
        if on is not None:
            if not _DATE.match(on.strip()):
                raise PeriodError("date", f"date must look like 2026-03-01, not {on!r}")
            try:
                day = date.fromisoformat(on.strip())
            except ValueError:
                raise PeriodError("date", f"{on!r} is not a date") from None
        try:
            return _calendar_period(kind, day, tz, zone)
        except OverflowError:
            # The period's end (or its start, in UTC) runs past year 9999 or before year 1.
            raise _out_of_range("date" if on is not None else "period") from None
    if on is not None:
        raise PeriodError("date", "date goes with period=day|week|month, not with from and to")
    if from_ is None or to is None:
        missing = "from" if from_ is None else "to"
        raise PeriodError(missing, "give both from and to (to is excluded)")
    start = _whole_second(parse_instant(from_, "from", tz))
    end = _whole_second(parse_instant(to, "to", tz))
    if end <= start:
        raise PeriodError(
            "to", "to must come after from (the period is [from, to))", "period-reversed"
        )
    label = f"{start.astimezone(tz).isoformat()} – {end.astimezone(tz).isoformat()}"
    return Period(start, end, zone, label)


def _calendar_period(kind: str, day: date, tz: ZoneInfo, zone: str) -> Period:
    """The day, week (Monday to Monday) or month holding ``day``, in ``zone``."""
    if kind == "day":
        first, last, label = day, day + timedelta(days=1), day.isoformat()
    elif kind == "week":
        first = day - timedelta(days=day.weekday())
        year, week, _ = first.isocalendar()
        last, label = first + timedelta(days=7), f"{year}-W{week:02d}"
    else:
        first = day.replace(day=1)
        days = calendar_module.monthrange(day.year, day.month)[1]
        last, label = first + timedelta(days=days), f"{day.year}-{day.month:02d}"
    return Period(_local_midnight(first, tz), _local_midnight(last, tz), zone, label)

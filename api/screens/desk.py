"""What the duty desk's instruction pages share: the countdown on the working calendar,
units by name, and deadlines read as a duty officer types them (ADR 0056).

The countdown is the domain's figure: working time left before the deadline, or past
it, on the center's calendar (clock time for an urgent instruction), as
:meth:`~domain.instruction.Instruction.time_left` counts it. It turns amber when less
than a quarter of the instruction's own time is left or less than two working hours,
and red once the deadline has passed. The page's script only ticks it down between
reloads, and only while the clock it counts is running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.screens.errors import FormRefused
from api.screens.pages import Page
from domain.calendar import WorkingCalendar
from domain.instruction import FINISHED, Priority
from projections.store import ViewStore

#: Amber below this share of the instruction's own time, or below :data:`NEAR`.
NEAR_SHARE = 0.25
NEAR = timedelta(hours=2)
#: "4h", "2d", "1d 4h 30m", "2天4小时": the short forms a duty officer types, besides
#: ISO 8601 (``P2D``, ``PT4H``), which the calendar reads as it is.
_SHORT = re.compile(
    r"^\s*(?:(?P<d>\d{1,4})\s*(?:d|天|日))?\s*(?:(?P<h>\d{1,5})\s*(?:h|小时|时))?"
    r"\s*(?:(?P<m>\d{1,6})\s*(?:m|min|分钟|分))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Countdown:
    """The time an instruction has left, or how late it is, as the page shows it."""

    #: ``ok``, ``near`` (amber), ``late`` (red) or ``done`` (finished: no clock).
    state: str
    left: timedelta
    late: timedelta
    #: Whether the clock counts working time (else clock time: an urgent instruction).
    working: bool
    #: Whether that clock runs right now (outside office hours working time stands).
    running: bool

    @property
    def seconds(self) -> int:
        """The figure shown: seconds left, or seconds late."""
        return int((self.late if self.state == "late" else self.left).total_seconds())

    def amount(self, page: Page) -> str:
        minutes = self.seconds // 60
        if minutes < 60:
            return page.t("page.idesk.countdown.m", minutes=minutes)
        return page.t("page.idesk.countdown.hm", hours=minutes // 60, minutes=minutes % 60)

    def parts(self, page: Page) -> tuple[str, str, str]:
        """The sentence around the amount, and the amount (the script redraws it alone)."""
        if self.state == "done":
            return page.t("page.idesk.countdown.done"), "", ""
        kind = "working" if self.working else "clock"
        which = "late" if self.state == "late" else "left"
        before, _, after = page.t(f"page.idesk.countdown.{which}.{kind}", amount="\x00").partition(
            "\x00"
        )
        return before, self.amount(page), after

    def text(self, page: Page) -> str:
        return "".join(self.parts(page))


def countdown(
    *,
    status: str,
    priority: str,
    issued_at: datetime,
    deadline: datetime,
    now: datetime,
    calendar: WorkingCalendar,
    stopped_left: timedelta | None = None,
) -> Countdown:
    """The countdown of an instruction in this state, by the domain's measure
    (``stopped_left``: a deferral stopped the clock with that much left, ADR 0071)."""
    working = priority != Priority.URGENT
    if status in FINISHED:
        return Countdown("done", timedelta(0), timedelta(0), working, False)
    if stopped_left is not None:
        return Countdown("ok", stopped_left, timedelta(0), working, False)

    def between(a: datetime, b: datetime) -> timedelta:
        return calendar.working_time_between(a, b) if working else b - a

    running = not working or between(now, now + timedelta(minutes=1)) > timedelta(0)
    if now > deadline:
        return Countdown("late", timedelta(0), between(deadline, now), working, running)
    left = between(now, deadline)
    whole = between(issued_at, deadline)
    near = left < NEAR or (whole > timedelta(0) and left < whole * NEAR_SHARE)
    return Countdown("near" if near else "ok", left, timedelta(0), working, running)


def unit_names(store: ViewStore, language: str) -> dict[str, str]:
    """Each unit's name in the page's language (the Chinese one where no other is kept),
    from the units view: one query, where the network's aggregates are a read each."""
    with store.read() as tx:
        rows = tx.execute("SELECT code, name, name_en FROM units")
    return {str(c): str((language == "en" and e) or n) for c, n, e in rows}


def due_in_of(text: str) -> str:
    """A duration typed on the form as the ISO 8601 text the API's body takes: the short
    forms read here, anything else passed on for the calendar to read (or refuse)."""
    match = _SHORT.fullmatch(text)
    if match is None or not any(match.groupdict().values()):
        return text.strip()
    d, h, m = (int(match.group(k) or 0) for k in ("d", "h", "m"))
    time = (f"{h}H" if h else "") + (f"{m}M" if m else "")
    return "P" + (f"{d}D" if d else "") + (f"T{time}" if time else "")


def local_input(value: datetime, zone: ZoneInfo | str) -> str:
    """A time as a ``datetime-local`` field shows it: wall time in the calendar's zone."""
    zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def time_of(fields: dict[str, Any], name: str, zone: str, page: Page) -> str | None:
    """A ``datetime-local`` field read as wall time in the calendar's zone, as the RFC
    3339 text the API's body takes; a time that is no time is refused at its field."""
    values = [v for v in fields.get(name, []) if isinstance(v, str) and v.strip()]
    if not values:
        return None
    try:
        wall = datetime.fromisoformat(values[0].strip())
    except ValueError:
        raise FormRefused({name: page.t("page.idesk.error.time")}) from None
    if wall.tzinfo is None:
        wall = wall.replace(tzinfo=ZoneInfo(zone))
    return wall.isoformat()


def require(fields: dict[str, Any], page: Page, *names: str) -> None:
    """Refuse at its field a required text left empty, in words (before the body)."""
    for name in names:
        if not any(isinstance(v, str) and v.strip() for v in fields.get(name, [])):
            raise FormRefused({name: page.t("page.idesk.error.required")})

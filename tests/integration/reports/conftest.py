"""A month of cases in the demo district (April 2026), built through the real
:class:`CommandCenter` with the clock moved by ``freezegun``, and projected into the
indicators view on the same store kind (SQLite and PostgreSQL).

April 2026 in Asia/Shanghai: the 1st is a Wednesday; Qingming is a holiday from Saturday
4 to Monday 6 April; Labour Day runs from 1 to 5 May. Office hours are 08:30-12:00 and
14:00-17:30. Every deadline below is counted by hand in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR, Settings
from domain.application import CommandCenter
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.meta import Actor, Context
from projections.indicators import IndicatorsView
from projections.runner import Runner
from projections.store import ViewStore
from projections.units import UnitsView
from tests.unit.builders import FrozenClockCenter

CST = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    """``2026-04-02 16:00`` read as China Standard Time."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def as_unit(unit: str, role: str = "dispatcher") -> Context:
    return Context(Actor(person=f"{unit.lower()}-person", unit=unit, role=role))


def project(center: CommandCenter, store: ViewStore) -> int:
    """Bring the units and indicators views up to the log's head; answers the position."""
    views = [UnitsView(store), IndicatorsView(store, center.calendar)]
    return Runner(center, store, views, listen=False).catch_up()


@pytest.fixture
def center(database_url: str) -> Iterator[CommandCenter]:
    """The application on a fresh store that can save events under ``freeze_time``."""
    settings = Settings(database_url=database_url)
    app = FrozenClockCenter(env=settings.store_env(), calendar=load_calendar(DEFAULT_CALENDAR))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def view_store(center: CommandCenter, database_url: str) -> Iterator[ViewStore]:
    store = ViewStore.for_url(database_url)
    try:
        yield store
    finally:
        store.close()


@dataclass
class Month:
    center: CommandCenter
    store: ViewStore
    ids: dict[str, UUID]


class Clock:
    """Commands given at a local time: ``clock("2026-04-02 16:00", center.sign_for, ...)``."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center

    def __call__(self, when: str, command: Any, actor: str, *args: Any, **kwargs: Any) -> UUID:
        with freeze_time(local(when)):
            outcome = command(as_unit(actor), *args, **kwargs)
        result: UUID = outcome.id
        return result


def build_april(center: CommandCenter) -> dict[str, UUID]:
    """The fixture month; answers the ids of its cases (A…J) and warnings (W1…W6)."""
    with freeze_time(local("2026-03-01 09:00")):
        load_demo(center)
    at = Clock(center)
    c = center
    ids: dict[str, UUID] = {}

    def warning(name: str, when: str, unit: str, theme: str, level: int) -> None:
        ids[name] = at(
            when,
            c.raise_warning,
            "HW",
            source="fixture",
            rule=f"{theme}.rule",
            theme=theme,
            level=level,
            title=f"warning {name}",
            unit=unit,
            dedup_key=name,
        )

    def issue(name: str, when: str, lead: str, due_in: str, **kwargs: Any) -> None:
        issuer = kwargs.pop("issuer", "HW")
        ids[name] = at(
            when,
            c.issue_instruction,
            issuer,
            lead_unit=lead,
            title=f"case {name}",
            due_in=WorkingDuration.parse(due_in),
            **kwargs,
        )

    # W4, raised in March under Hupan, acknowledged in April after 46 h.
    warning("W4", "2026-03-30 10:00", "HW-DH-HP", "ecology", 4)
    at("2026-04-01 08:00", c.acknowledge_warning, "HW", ids["W4"])

    # I: filed in March, due Wednesday 1 April 17:00 (0.5 h on 31 March, then 6.5 h),
    # signed after 40 working minutes, closed exactly at the deadline: on time.
    issue("I", "2026-03-31 17:00", "HW-NG-GK", "P1D")
    at("2026-04-01 08:40", c.sign_for, "HW-NG-GK", ids["I"])
    at("2026-04-01 16:30", c.submit, "HW-NG-GK", ids["I"], "done")
    at("2026-04-01 17:00", c.verify, "HW", ids["I"], accepted=True)

    # G: due Thursday 2 April 09:00, extended to Thursday 30 April 17:00, never closed.
    issue("G", "2026-04-01 09:00", "HW-DH", "P1D")
    at("2026-04-01 09:10", c.sign_for, "HW-DH", ids["G"])
    at(
        "2026-04-01 09:20",
        c.request_extension,
        "HW-DH",
        ids["G"],
        deadline=local("2026-04-30 17:00"),
        reason="the pump arrives late",
    )
    at("2026-04-01 10:00", c.decide_extension, "HW", ids["G"], granted=True)

    # A: answers W1 (reservoir, II); due Friday 3 April 11:00 (1.5 h, then 2.5 h).
    warning("W1", "2026-04-02 09:00", "HW-DH-QS", "reservoir", 2)
    at("2026-04-02 09:20", c.acknowledge_warning, "HW", ids["W1"])
    issue("A", "2026-04-02 16:00", "HW-DH", "PT4H", warning_ids=[ids["W1"]])
    at("2026-04-02 16:30", c.sign_for, "HW-DH", ids["A"])
    at("2026-04-03 10:00", c.submit, "HW-DH", ids["A"], "done")
    at("2026-04-03 10:30", c.verify, "HW", ids["A"], accepted=True)
    # G answers W1 too, linked afterwards: reported under reservoir, II.
    at("2026-04-03 11:00", c.link_instruction, "HW", ids["W1"], ids["G"])

    # B: Friday 16:00 over the Qingming holiday: due Tuesday 7 April 16:00. Signed on
    # Tuesday 09:00: 89 h of clock time but 2 working hours, on time. Rejected once,
    # closed on Wednesday 8 April: late, reworked.
    issue("B", "2026-04-03 16:00", "HW-DH-QS", "P1D")
    at("2026-04-07 09:00", c.sign_for, "HW-DH-QS", ids["B"])
    at("2026-04-07 15:00", c.submit, "HW-DH-QS", ids["B"], "done")
    at("2026-04-07 15:30", c.verify, "HW", ids["B"], accepted=False, note="photos missing")
    at("2026-04-08 10:00", c.submit, "HW-DH-QS", ids["B"], "done, with photos")
    at("2026-04-08 11:00", c.verify, "HW", ids["B"], accepted=True)

    # D: answers W6 (safety production, I); due Monday 13 April 09:00. Its forwarded part
    # Dc (to Hupan) is due Thursday 9 April 11:00 and inherits D's theme and level; Hupan
    # signs after 6 working hours (late) and closes on time.
    warning("W6", "2026-04-08 08:00", "HW-DH", "safety_production", 1)
    issue("D", "2026-04-08 09:00", "HW-DH", "P3D", warning_ids=[ids["W6"]])
    at("2026-04-08 10:00", c.sign_for, "HW-DH", ids["D"])
    with freeze_time(local("2026-04-08 11:00")):
        ids["Dc"] = c.forward(
            as_unit("HW-DH", "handler"), ids["D"], to_unit="HW-DH-HP", due_in=WorkingDuration(1)
        ).id
    at("2026-04-09 10:00", c.sign_for, "HW-DH-HP", ids["Dc"])
    at("2026-04-09 10:30", c.submit, "HW-DH-HP", ids["Dc"], "done")
    at("2026-04-09 10:45", c.verify, "HW-DH", ids["Dc"], accepted=True)
    at("2026-04-10 16:00", c.submit, "HW-DH", ids["D"], "done")
    at("2026-04-10 16:30", c.verify, "HW", ids["D"], accepted=True)

    # H: cancelled before its deadline: filed, never due.
    issue("H", "2026-04-14 09:00", "HW-NG", "P1D")
    at("2026-04-14 15:00", c.cancel_instruction, "HW", ids["H"], "raised twice")

    # E: urgent, answers W2 (meteorological, III); due at 12:00 in clock time; signed
    # after 40 minutes (the urgent limit is 30); never closed: overdue.
    warning("W2", "2026-04-20 09:00", "HW-XL", "meteorological", 3)
    at("2026-04-20 09:45", c.acknowledge_warning, "HW", ids["W2"])
    issue("E", "2026-04-20 10:00", "HW-XL", "PT2H", priority="urgent", warning_ids=[ids["W2"]])
    at("2026-04-20 10:40", c.sign_for, "HW-XL", ids["E"])

    # F: due Wednesday 6 May 09:00, across Labour Day: filed in April, not due in it.
    issue("F", "2026-04-28 09:00", "HW-XL-SQ", "P3D")

    # J: due Thursday 30 April 09:00, closed on 6 May: due, not closed by the month's end,
    # and overdue as of 1 May.
    issue("J", "2026-04-29 09:00", "HW-DH-QS", "PT7H")
    at("2026-04-29 09:30", c.sign_for, "HW-DH-QS", ids["J"])

    # W3: raised late on 30 April (15:00 UTC), never acknowledged.
    warning("W3", "2026-04-30 23:00", "HW-NG-GK", "environment", 4)

    at("2026-05-06 09:00", c.submit, "HW-DH-QS", ids["J"], "done")
    at("2026-05-06 10:00", c.verify, "HW", ids["J"], accepted=True)
    return ids


@pytest.fixture
def april(center: CommandCenter, view_store: ViewStore) -> Month:
    ids = build_april(center)
    project(center, view_store)
    return Month(center, view_store, ids)

"""Whistle and check-in (吹哨报到, ADR 0078): an office or community summons departments,
they check in once each within the limit, the absent are reminded and escalated once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import (
    AlreadyCheckedIn,
    NotPermitted,
    NotSummoned,
    WhistleClosed,
    WhistleIncomplete,
    WhistleRefused,
)
from domain.meta import now
from domain.whistle_watch import CheckInWatch
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    TRANSPORT,
    WATER,
    ctx,
    event_names,
    frozen_clock_center,
    nothing_stored,
)
from texts.timeline import describe

BLOWN = "2026-03-13 02:00:00"
URBAN = "HW-URBAN"


def blow(app: CommandCenter, by: str = OFFICE, departments: list[str] | None = None) -> UUID:
    return app.blow_whistle(
        ctx(by),
        unit=by,
        matter="a blocked drain floods Hupan road",
        place="Hupan road 12",
        departments=departments if departments is not None else [WATER, URBAN],
        latitude=30.1,
        longitude=120.2,
    ).id


Frozen = tuple[CommandCenter, Any]


@pytest.fixture
def frozen(calendar: WorkingCalendar) -> Iterator[Frozen]:
    with freeze_time(BLOWN) as clock:
        app = frozen_clock_center(calendar)
        load_demo(app)
        yield app, clock


def test_a_department_checking_in_within_the_limit_is_on_time_and_after_it_late(
    frozen: Frozen,
) -> None:
    app, clock = frozen
    wid = blow(app)
    clock.tick(timedelta(minutes=12))
    app.check_in(ctx(WATER), wid, "Li Wei")
    clock.tick(timedelta(minutes=25))
    app.check_in(ctx(URBAN), wid, "Zhao Min")
    figures = app.whistle(wid).figures()
    assert figures[WATER] == {"on_time": True, "late": False, "absent": False, "seconds": 720.0}
    assert figures[URBAN]["late"]
    assert figures[URBAN]["seconds"] == 37 * 60


def test_a_community_may_blow_and_closing_counts_the_absent(frozen: Frozen) -> None:
    app, _ = frozen
    wid = blow(app, by=COMMUNITY, departments=[WATER, URBAN, TRANSPORT])
    app.check_in(ctx(WATER), wid, "Li Wei")
    app.close_whistle(ctx(COMMUNITY), wid, "drain cleared")
    w = app.whistle(wid)
    assert w.absent == [URBAN, TRANSPORT]
    assert [f["absent"] for f in w.figures().values()] == [False, True, True]


@pytest.mark.parametrize(
    ("by", "departments", "error"),
    [
        (OFFICE, [], WhistleIncomplete),
        (DISTRICT, [WATER], WhistleRefused),  # a district does not whistle
        (WATER, [URBAN], WhistleRefused),  # nor does a department
        (OFFICE, [OFFICE], WhistleRefused),  # only departments are summoned
        (OFFICE, ["HC-EM", "NOPE"], Exception),
    ],
)
def test_a_whistle_refused_stores_nothing(
    app: CommandCenter, by: str, departments: list[str], error: type[Exception]
) -> None:
    with nothing_stored(app), pytest.raises(error):
        blow(app, by=by, departments=departments)


def test_a_whistle_with_no_place_is_refused_with_words(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(WhistleIncomplete, match="place"):
        app.blow_whistle(ctx(OFFICE), unit=OFFICE, matter="m", place="  ", departments=[WATER])


def test_check_ins_refused_store_nothing(app: CommandCenter) -> None:
    wid = blow(app)
    app.check_in(ctx(WATER), wid, "Li Wei")
    with nothing_stored(app):
        with pytest.raises(NotSummoned, match="not summoned"):
            app.check_in(ctx(TRANSPORT), wid, "Wang")
        with pytest.raises(AlreadyCheckedIn):
            app.check_in(ctx(WATER), wid, "Li Wei again")
        with pytest.raises(NotPermitted):
            app.close_whistle(ctx(WATER), wid)
    app.close_whistle(ctx(OFFICE), wid)
    with nothing_stored(app):
        with pytest.raises(WhistleClosed):
            app.check_in(ctx(URBAN), wid, "Zhao")
        with pytest.raises(WhistleClosed):
            app.close_whistle(ctx(OFFICE), wid)


def test_the_same_check_in_retried_is_one_check_in(app: CommandCenter) -> None:
    wid = blow(app)
    c = ctx(WATER)
    app.check_in(c, wid, "Li Wei")
    assert not app.check_in(c, wid, "Li Wei").recorded
    assert event_names(app, wid).count("CheckedIn") == 1


def test_the_watch_reminds_at_the_limit_and_escalates_at_twice_it_each_once(frozen: Frozen) -> None:
    app, clock = frozen
    wid = blow(app)
    watch = CheckInWatch(app)
    clock.tick(timedelta(minutes=29))
    assert watch.tick() == []
    clock.tick(timedelta(minutes=1))
    app.check_in(ctx(WATER), wid, "Li Wei")  # exactly at the limit: on time
    assert [(a["act"], a["department"]) for a in watch.tick()] == [("remind", URBAN)]
    assert watch.tick() == []
    clock.tick(timedelta(minutes=30))
    done = watch.tick()
    assert [(a["act"], a["department"], a["to"]) for a in done] == [("escalate", URBAN, DISTRICT)]
    # A restarted watch (a new one reading the log from the start) does nothing again.
    assert CheckInWatch(app).tick() == []
    assert event_names(app, wid).count("Reminded") == 1
    assert event_names(app, wid).count("Escalated") == 1
    assert app.whistle(wid).figures()[WATER]["on_time"]


def test_two_watchers_at_once_act_once(frozen: Frozen) -> None:
    app, clock = frozen
    wid = blow(app)
    first, second = CheckInWatch(app), CheckInWatch(app)
    clock.tick(timedelta(minutes=61))
    first.tick()
    second.tick()
    names = event_names(app, wid)
    # Two departments absent: each reminded once and escalated once.
    assert names.count("Reminded") == 2
    assert names.count("Escalated") == 2


def test_the_limit_is_the_centers_setting(frozen: Frozen) -> None:
    app, clock = frozen
    app.check_in_limit = timedelta(minutes=5)
    wid = blow(app)
    clock.tick(timedelta(minutes=6))
    app.check_in(ctx(WATER), wid, "Li Wei")
    assert app.whistle(wid).figures()[WATER]["late"]


def test_every_whistle_event_has_a_timeline_line_in_both_languages(frozen: Frozen) -> None:
    app, clock = frozen
    wid = blow(app)
    clock.tick(timedelta(minutes=31))
    app.check_in(ctx(WATER), wid, "Li Wei")
    CheckInWatch(app).tick(now() + timedelta(minutes=30))
    app.close_whistle(ctx(OFFICE), wid, "cleared")
    names = set()
    for e in app.history(wid):
        name = type(e).__qualname__
        names.add(name)
        for language in ("zh", "en"):
            line = describe(name, vars(e), language, "Asia/Shanghai")
            assert line != name, (name, language)
            assert "%(" not in line
    assert names == {
        "Whistle.Blown",
        "Whistle.CheckedIn",
        "Whistle.Reminded",
        "Whistle.Escalated",
        "Whistle.Closed",
    }
    late = next(e for e in app.history(wid) if type(e).__name__ == "CheckedIn")
    assert "late" in describe("Whistle.CheckedIn", vars(late), "en", "Asia/Shanghai")

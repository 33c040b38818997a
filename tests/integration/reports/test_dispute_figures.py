"""The report's dispute figures (ADR 0076) on five cases counted by hand: disputes filed,
arbitrated and upheld per unit; dispute rate = disputes ÷ cases received (those counted
to the unit now plus those an upheld dispute took away); upheld rate = upheld ÷
arbitrated. An upheld case is counted to the unit it went to, not the disputing one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from freezegun import freeze_time

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.demo import load_demo
from projections.reports import Period, unit_report
from projections.reports.figures import Indicators
from projections.store import SQLiteViewStore
from tests.integration.reports.conftest import as_unit, local, project
from tests.unit.builders import FrozenClockCenter

APRIL = Period(local("2026-04-01 00:00"), local("2026-05-01 00:00"), "Asia/Shanghai", "2026-04")


@pytest.fixture
def store() -> Iterator[SQLiteViewStore]:
    center = FrozenClockCenter(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=load_calendar(DEFAULT_CALENDAR)
    )
    views = SQLiteViewStore.temporary()
    try:
        with freeze_time(local("2026-03-31 09:00")):
            load_demo(center)

        def issue(lead: str) -> object:
            with freeze_time(local("2026-04-01 09:00")):
                return center.issue_instruction(
                    as_unit("HW"), lead_unit=lead, title="case", deadline=local("2026-04-08 17:00")
                ).id

        def step(at: str, command: object, unit: str, *args: object, **kw: object) -> None:
            with freeze_time(local(at)):
                command(as_unit(unit), *args, **kw)  # type: ignore[operator]

        a, b, c, d, e = (issue(u) for u in ("HW-DH", "HW-DH", "HW-DH", "HW-DH", "HW-XL"))
        # A: disputed by HW-DH and upheld: it goes to HW-XL.
        step("2026-04-01 10:00", center.file_dispute, "HW-DH", a, "the water bureau's")
        step("2026-04-01 11:00", center.arbitrate_dispute, "HW", a, upheld=True, to_unit="HW-XL")
        # B: disputed by HW-DH and refused.
        step("2026-04-01 10:00", center.file_dispute, "HW-DH", b, "not ours")
        step("2026-04-01 11:00", center.arbitrate_dispute, "HW", b, upheld=False, note="yours")
        # C: disputed by HW-DH, not arbitrated yet. D: never disputed.
        step("2026-04-01 10:00", center.file_dispute, "HW-DH", c, "not ours")
        del d
        # E: HW-XL's own, disputed and refused.
        step("2026-04-01 10:00", center.file_dispute, "HW-XL", e, "not ours")
        step("2026-04-01 11:00", center.arbitrate_dispute, "HW", e, upheld=False, note="yours")
        project(center, views)
        yield views
    finally:
        views.discard()
        center.close()


def _child(store: SQLiteViewStore, code: str) -> Indicators:
    report = unit_report(store, "HW", APRIL, as_of=local("2026-04-02 12:00"))
    assert report is not None
    return next(r.indicators for r in report.children if r.unit.code == code)


def _rate(rate: object) -> tuple[int, int]:
    return rate.numerator, rate.denominator  # type: ignore[attr-defined]


def test_the_disputing_unit_counts_its_disputes_but_not_the_case_upheld_away(
    store: SQLiteViewStore,
) -> None:
    dh = _child(store, "HW-DH")
    # B, C and D are still HW-DH's; A went to HW-XL.
    assert dh.filed == 3
    assert (dh.disputes, dh.disputes_arbitrated, dh.disputes_upheld) == (3, 2, 1)
    assert _rate(dh.dispute_rate) == (3, 4)  # 3 disputes ÷ (3 counted + 1 upheld away)
    assert _rate(dh.upheld_rate) == (1, 2)


def test_the_unit_an_upheld_dispute_named_counts_the_case_and_none_of_the_dispute(
    store: SQLiteViewStore,
) -> None:
    xl = _child(store, "HW-XL")
    assert xl.filed == 2  # A and E
    assert (xl.disputes, xl.disputes_arbitrated, xl.disputes_upheld) == (1, 1, 0)
    assert _rate(xl.dispute_rate) == (1, 2)
    assert _rate(xl.upheld_rate) == (0, 1)


def test_the_district_adds_its_units_up(store: SQLiteViewStore) -> None:
    report = unit_report(store, "HW", APRIL, as_of=local("2026-04-02 12:00"))
    assert report is not None
    t = report.total
    assert (t.filed, t.disputes, t.disputes_arbitrated, t.disputes_upheld) == (5, 4, 3, 1)
    # A was received twice (by HW-DH, then by HW-XL): 4 disputes ÷ 6 receptions.
    assert _rate(t.dispute_rate) == (4, 6)
    assert _rate(t.upheld_rate) == (1, 3)

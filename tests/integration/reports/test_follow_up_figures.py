"""The report's follow-up figures (回访, ADR 0083) on five cases counted by hand, per lead
unit and rolled up: followed up, contacted, resolved, satisfied, basically satisfied,
reopened; response rate = contacted ÷ followed up; resolution rate = resolved ÷
followed up; satisfaction rate = (100 × satisfied + 80 × basically satisfied) ÷
(100 × followed up); reopen rate = reopened ÷ followed up."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

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
AS_OF = local("2026-04-02 12:00")


@pytest.fixture
def store() -> Iterator[SQLiteViewStore]:
    center = FrozenClockCenter(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=load_calendar(DEFAULT_CALENDAR)
    )
    views = SQLiteViewStore.temporary()
    try:
        with freeze_time(local("2026-03-31 09:00")):
            load_demo(center)

        def closed(lead: str, source: str = "12345") -> UUID:
            with freeze_time(local("2026-04-01 09:00")):
                wid = center.raise_warning(
                    as_unit("HW"),
                    source=source,
                    rule="hotline.drain",
                    theme="other",
                    level=4,
                    title="A caller reports a blocked drain",
                    unit=lead,
                    dedup_key=uuid4().hex,
                ).id
                center.acknowledge_warning(as_unit("HW"), wid)
                center.assess_warning(as_unit("HW"), wid, confirmed=True)
                iid = center.issue_instruction(
                    as_unit("HW"),
                    lead_unit=lead,
                    title="case",
                    deadline=local("2026-04-08 17:00"),
                    warning_ids=[wid],
                ).id
                center.sign_for(as_unit(lead), iid)
                center.submit(as_unit(lead), iid, "done")
                center.verify(as_unit("HW"), iid, accepted=True)
                return iid

        def follow_up(iid: UUID, contacted: bool, resolved: bool, satisfaction: str) -> None:
            with freeze_time(local("2026-04-01 15:00")):
                center.follow_up(
                    as_unit("HW"),
                    iid,
                    contacted=contacted,
                    resolved=resolved,
                    satisfaction=satisfaction,
                )

        a, b, c = (closed("HW-DH") for _ in range(3))
        d = closed("HW-XL")
        closed("HW-DH", source="level-gauge")  # not the public's: never followed up
        follow_up(a, True, True, "satisfied")
        follow_up(b, True, True, "basically_satisfied")
        follow_up(c, False, False, "dissatisfied")  # reopened to HW-DH
        follow_up(d, True, True, "satisfied")
        project(center, views)
        yield views
    finally:
        views.discard()
        center.close()


def _child(store: SQLiteViewStore, code: str) -> Indicators:
    report = unit_report(store, "HW", APRIL, as_of=AS_OF)
    assert report is not None
    return next(r.indicators for r in report.children if r.unit.code == code)


def _rate(rate: object) -> tuple[int, int]:
    return rate.numerator, rate.denominator  # type: ignore[attr-defined]


def test_each_lead_unit_counts_its_follow_ups_and_rates(store: SQLiteViewStore) -> None:
    dh = _child(store, "HW-DH")
    assert (dh.followed_up, dh.contacted, dh.resolved) == (3, 2, 2)
    assert (dh.satisfied, dh.basically_satisfied, dh.reopened) == (1, 1, 1)
    assert _rate(dh.response_rate) == (2, 3)
    assert _rate(dh.resolution_rate) == (2, 3)
    assert _rate(dh.satisfaction_rate) == (180, 300)
    assert str(dh.satisfaction_rate.percent) == "60.00"
    assert _rate(dh.reopen_rate) == (1, 3)
    xl = _child(store, "HW-XL")
    assert (xl.followed_up, xl.reopened) == (1, 0)
    assert _rate(xl.satisfaction_rate) == (100, 100)


def test_the_district_adds_its_units_up(store: SQLiteViewStore) -> None:
    report = unit_report(store, "HW", APRIL, as_of=AS_OF)
    assert report is not None
    t = report.total
    assert (t.followed_up, t.contacted, t.resolved, t.reopened) == (4, 3, 3, 1)
    assert _rate(t.response_rate) == (3, 4)
    assert _rate(t.satisfaction_rate) == (280, 400)
    assert str(t.satisfaction_rate.percent) == "70.00"
    assert _rate(t.reopen_rate) == (1, 4)

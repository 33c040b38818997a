"""The report's deferred count, its on-time denominator (due - approved deferred), its
emergency and urgent sections, and what is due in the month so far (ADR 0071), on four
cases counted by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from uuid import UUID

import pytest
from freezegun import freeze_time

from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.demo import load_demo
from projections.reports import Period, unit_report
from projections.store import SQLiteViewStore
from tests.integration.reports.conftest import as_unit, local, project
from tests.unit.builders import FrozenClockCenter

APRIL = Period(local("2026-04-01 00:00"), local("2026-05-01 00:00"), "Asia/Shanghai", "2026-04")
AS_OF = local("2026-04-15 12:00").astimezone(UTC)


@pytest.fixture
def month() -> Iterator[tuple[FrozenClockCenter, SQLiteViewStore, UUID]]:
    center = FrozenClockCenter(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=load_calendar(DEFAULT_CALENDAR)
    )
    store = SQLiteViewStore.temporary()
    try:
        with freeze_time(local("2026-03-31 09:00")):
            load_demo(center)

        def issue(at: str, deadline: str, **kw: object) -> UUID:
            with freeze_time(local(at)):
                return center.issue_instruction(
                    as_unit("HW"),
                    lead_unit="HW-DH",
                    title="case",
                    deadline=local(deadline),
                    **kw,  # type: ignore[arg-type]
                ).id

        def step(at: str, command: object, unit: str, *args: object, **kw: object) -> None:
            with freeze_time(local(at)):
                command(as_unit(unit), *args, **kw)  # type: ignore[operator]

        # A: due 2 April, closed on time.
        a = issue("2026-04-01 09:00", "2026-04-02 17:00")
        step("2026-04-01 10:00", center.sign_for, "HW-DH", a)
        step("2026-04-02 09:00", center.submit, "HW-DH", a, "done")
        step("2026-04-02 10:00", center.verify, "HW", a, accepted=True)
        # B: due 10 April, deferred on the 9th (a court case), still deferred.
        b = issue("2026-04-07 09:00", "2026-04-10 17:00")
        step("2026-04-07 10:00", center.sign_for, "HW-DH", b)
        step("2026-04-08 10:00", center.request_deferral, "HW-DH", b, "the court has not ruled")
        step("2026-04-09 10:00", center.decide_deferral, "HW", b, granted=True)
        # C: urgent, issued under emergency mode, due 3 April, never closed.
        issue("2026-04-03 08:00", "2026-04-03 12:00", priority="urgent", emergency=True)
        # D: due 25 April, after the moment asked: not due so far.
        issue("2026-04-13 09:00", "2026-04-25 17:00")
        project(center, store)
        yield center, store, b
    finally:
        store.discard()
        center.close()


def test_the_on_time_rate_leaves_approved_deferrals_and_future_deadlines_out(
    month: tuple[FrozenClockCenter, SQLiteViewStore, UUID],
) -> None:
    _, store, _ = month
    report = unit_report(store, "HW", APRIL, as_of=AS_OF)
    assert report is not None
    t = report.total
    assert (t.filed, t.due, t.deferred, t.closed, t.closed_on_time) == (4, 3, 1, 1, 1)
    assert (t.closure_rate.numerator, t.closure_rate.denominator) == (1, 3)
    # closed on time / (due - approved deferred) = 1 / (3 - 1)
    assert (t.on_time_closure_rate.numerator, t.on_time_closure_rate.denominator) == (1, 2)
    assert str(t.on_time_closure_rate.percent) == "50.00"
    # The deferred case is past its deadline at approval's clock, yet never overdue.
    assert t.overdue_now == 1


def test_emergency_and_urgent_cases_are_rated_on_their_own_and_in_the_totals(
    month: tuple[FrozenClockCenter, SQLiteViewStore, UUID],
) -> None:
    _, store, _ = month
    report = unit_report(store, "HW", APRIL, as_of=AS_OF)
    assert report is not None
    for section in (report.emergency, report.urgent):
        assert (section.filed, section.due, section.closed, section.overdue_now) == (1, 1, 0, 1)
        assert (
            section.on_time_closure_rate.numerator,
            section.on_time_closure_rate.denominator,
        ) == (
            0,
            1,
        )
    assert report.total.filed == 4


def test_a_past_month_counts_every_deadline_in_it_and_resuming_moves_the_case(
    month: tuple[FrozenClockCenter, SQLiteViewStore, UUID],
) -> None:
    center, store, b = month
    after = local("2026-05-06 09:00").astimezone(UTC)
    assert unit_report(store, "HW", APRIL, as_of=after).total.due == 4  # type: ignore[union-attr]
    # Approved on 9 April at 10:00 with 12 working hours left (10:00-12:00 and
    # 14:00-17:30 that day, 08:30-12:00 and 14:00-17:00 the next); resumed on 6 May at
    # 09:00, after the Labour Day holiday: 6.5 h that day, then 08:30-12:00 and
    # 14:00-16:00 on 7 May.
    with freeze_time(local("2026-05-06 09:00")):
        center.resume(as_unit("HW"), b)
    project(center, store)
    report = unit_report(store, "HW", APRIL, as_of=after)
    assert report is not None
    assert (report.total.due, report.total.deferred) == (3, 0)
    assert center.instruction(b).deadline == local("2026-05-07 16:00")

"""The evaluation's facts on the working calendar (ADR 0086): what falls due when, over
the Qingming holiday, decides which cases cost points; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from projections.evaluation import evaluation_facts
from projections.indicators import IndicatorsView
from projections.notices import NoticesView
from projections.reports import resolve_period
from projections.runner import Runner
from projections.store import ViewStore
from projections.units import UnitsView
from projections.whistles import WhistlesView
from tests.integration.reports.conftest import as_unit, local

ZONE = "Asia/Shanghai"


def project(center: CommandCenter, store: ViewStore) -> None:
    views = [
        UnitsView(store),
        IndicatorsView(store, center.calendar),
        WhistlesView(store),
        NoticesView(store),
    ]
    Runner(center, store, views, listen=False).catch_up()


def test_a_case_due_after_the_holiday_costs_points_only_once_due(
    center: CommandCenter, view_store: ViewStore
) -> None:
    with freeze_time(local("2026-03-01 09:00")):
        load_demo(center)
    # Friday 3 April 16:00; Qingming runs Saturday 4 to Monday 6: one working day later
    # is Tuesday 7 April 16:00.
    with freeze_time(local("2026-04-03 16:00")):
        late = center.issue_instruction(
            as_unit("HW"), lead_unit="HW-DH-QS", title="Dyke", due_in=WorkingDuration(days=1)
        )
    with freeze_time(local("2026-04-03 16:05")):
        center.sign_for(as_unit("HW-DH-QS"), late.id)
    project(center, view_store)
    today = datetime(2026, 4, 20).date()
    before = resolve_period(zone=ZONE, today=today, from_="2026-04-01", to="2026-04-07")
    after = resolve_period(zone=ZONE, today=today, from_="2026-04-01", to="2026-04-08")
    asked = datetime(2026, 4, 20, tzinfo=UTC)

    early = evaluation_facts(view_store, "HW-DH", before, as_of=asked)
    due = evaluation_facts(view_store, "HW-DH", after, as_of=asked)

    assert early is not None
    assert due is not None
    assert early.facts["HW-DH-QS"].rates["on_time_closure"].denominator == 0
    closure = due.facts["HW-DH-QS"].rates["on_time_closure"]
    assert (closure.numerator, closure.denominator, closure.failed) == (0, 1, [str(late.id)])
    # Rolled up: the office answers for its community; signed within 5 minutes.
    assert due.facts["HW-DH"].rates["on_time_closure"].failed == [str(late.id)]
    sign = due.facts["HW-DH"].rates["on_time_sign_for"]
    assert (sign.numerator, sign.denominator) == (1, 1)
    assert [s.code for s in due.subjects][:1] == ["HW-DH"]
    assert evaluation_facts(view_store, "NOWHERE", after, as_of=asked) is None

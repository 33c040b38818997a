"""The fixture month read from the month rollup and from the facts, on SQLite and on
PostgreSQL: the same report for every unit, at moments before, within and after the
month (ADR 0097); and the rollup the projection kept is the one made anew from the facts."""

from __future__ import annotations

import pytest

from projections.indicator_months import MONTHS
from projections.indicators import rebuild_month_rollup
from projections.reports import SignForLimits, reading, unit_report
from tests.integration.reports.conftest import Month, local
from tests.integration.reports.test_fixture_month import april_period

UNITS = ("HC", "HW", "HW-DH", "HW-DH-QS", "HW-XL", "HW-XL-SQ")
MOMENTS = ("2026-03-31 12:00", "2026-04-10 09:00", "2026-04-30 23:59", "2026-05-01 12:00")


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_month_from_the_rollup_is_the_month_from_the_facts(april: Month, moment: str) -> None:
    as_of = local(moment)
    for code in UNITS:
        from_rollup = unit_report(april.store, code, april_period(), as_of=as_of)
        from_facts = unit_report(april.store, code, april_period(), as_of=as_of, months=False)
        assert from_rollup is not None
        assert from_rollup == from_facts, code
    read = reading._read_month(april.store, "HW", april_period(), as_of, SignForLimits())
    assert read is not None
    assert not isinstance(read, reading._NotAMonth)


def test_the_rollup_kept_batch_after_batch_is_the_rollup_made_from_the_facts(
    april: Month,
) -> None:
    kept = april.store.table_rows(MONTHS)
    assert kept, "the fixture month left no rollup"
    with april.store.transaction() as tx:
        rebuild_month_rollup(tx, april.center.calendar.zone)
    assert april.store.table_rows(MONTHS) == kept


def test_a_period_that_is_not_a_whole_month_is_read_from_the_facts(april: Month) -> None:
    period = april_period()
    shorter = type(period)(period.start, local("2026-04-30 00:00"), period.zone, "part")
    read = reading._read_month(
        april.store, "HW", shorter, local("2026-05-01 12:00"), SignForLimits()
    )
    assert isinstance(read, reading._NotAMonth)

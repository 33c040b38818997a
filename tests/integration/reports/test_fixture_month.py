"""April 2026 in the demo district, counted by hand (see conftest.py), at every level of
the tree: community → office → district → city."""

from __future__ import annotations

import threading
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.calendar import WorkingDuration
from projections.reports import Indicators, Period, Report, resolve_period, unit_report
from projections.reports import reading as reports
from projections.store import ViewStore
from tests.integration.reports.conftest import Clock, Month, local, project

AS_OF = local("2026-05-01 12:00")

COUNTS = (
    "filed",
    "forwarded",
    "due",
    "closed",
    "closed_on_time",
    "verified",
    "reworked",
    "signed",
    "signed_on_time",
    "warnings_raised",
    "warnings_acknowledged",
    "overdue_now",
)

# unit: filed, forwarded, due, closed, on time, verified, reworked, signed, signed on
# time, warnings raised, warnings acknowledged, overdue at 1 May 12:00.
EXPECTED: dict[str, tuple[int, ...]] = {
    # B and J; W1.
    "HW-DH-QS": (2, 0, 2, 1, 0, 1, 1, 2, 2, 1, 1, 1),
    # Dc (forwarded); W4 acknowledged.
    "HW-DH-HP": (1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0),
    # A, D, G, plus Qingshan and Hupan; W6.
    "HW-DH": (6, 1, 6, 4, 3, 4, 1, 6, 5, 2, 2, 2),
    # E, plus F at Songquan; W2.
    "HW-XL": (2, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1),
    "HW-XL-SQ": (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    # H (cancelled), plus I and W3 at Gangkou.
    "HW-NG": (1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0),
    "HW-NG-GK": (0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0),
    "HW": (9, 1, 8, 5, 4, 5, 1, 8, 6, 4, 3, 3),
    "HC": (9, 1, 8, 5, 4, 5, 1, 8, 6, 4, 3, 3),
}


def april_period() -> Period:
    return resolve_period(zone="Asia/Shanghai", today=date(2026, 4, 15), period="month")


def report(month: Month, code: str, *, months: bool = True) -> Report:
    found = unit_report(month.store, code, april_period(), as_of=AS_OF, months=months)
    assert found is not None
    return found


def counts(indicators: Indicators) -> tuple[int, ...]:
    return tuple(getattr(indicators, name) for name in COUNTS)


def added(*many: Indicators) -> tuple[int, ...]:
    return tuple(sum(values) for values in zip(*(counts(i) for i in many), strict=True))


@pytest.mark.parametrize("code", list(EXPECTED))
def test_each_level_of_the_tree_reports_the_counts_worked_out_by_hand(
    april: Month, code: str
) -> None:
    assert dict(zip(COUNTS, counts(report(april, code).total), strict=True)) == dict(
        zip(COUNTS, EXPECTED[code], strict=True)
    )


def test_the_district_rates_are_exact_with_their_numerators_and_denominators(
    april: Month,
) -> None:
    total = report(april, "HW").total

    assert (total.closure_rate.numerator, total.closure_rate.denominator) == (5, 8)
    assert total.closure_rate.percent == Decimal("62.50")
    assert total.on_time_closure_rate.percent == Decimal("50.00")
    assert total.rework_rate.percent == Decimal("20.00")
    assert total.on_time_sign_for_rate.percent == Decimal("75.00")


def test_the_district_durations_have_their_exact_mean_and_nearest_rank_p90(
    april: Month,
) -> None:
    total = report(april, "HW").total

    # From the signing unit's receipt: G 600, A 1800, J 1800, I 56400 (over a night),
    # E 2400, D 3600, Dc 82800, B 320400 (over Qingming).
    assert total.time_to_sign_for.count == 8
    assert total.time_to_sign_for.total_seconds == 469_800
    assert total.time_to_sign_for.mean_seconds == Decimal("58725.0")
    assert total.time_to_sign_for.p90_seconds == 320_400
    # Closed in April, from dispatch: A 66600, B 414000, Dc 85500, D 199800, I 86400.
    assert total.time_to_close.total_seconds == 852_300
    assert total.time_to_close.mean_seconds == Decimal("170460.0")
    assert total.time_to_close.p90_seconds == 414_000
    # Acknowledged in April: W1 1200, W2 2700, W4 165600 (raised in March).
    assert total.time_to_acknowledge.mean_seconds == Decimal("56500.0")
    assert total.time_to_acknowledge.p90_seconds == 165_600


def test_a_parent_counts_its_own_cases_plus_each_childs_at_every_node(april: Month) -> None:
    for code in ("HC", "HW", "HW-DH", "HW-XL", "HW-NG", "HW-DH-QS", "HW-DH-HP"):
        parent = report(april, code)
        children = [report(april, row.unit.code).total for row in parent.children]

        assert counts(parent.total) == added(parent.own, *children), code
        for row, child in zip(parent.children, children, strict=True):
            assert asdict(row.indicators) == asdict(child), (code, row.unit.code)


def test_an_instruction_takes_the_theme_and_level_of_its_first_warning_or_its_parents(
    april: Month,
) -> None:
    district = report(april, "HW")
    filed = {k: v.filed for k, v in district.by_theme.items() if v.filed}
    by_level = {k: v.filed for k, v in district.by_level.items() if v.filed}

    # A and G (linked later) answer W1; E answers W2; D answers W6 and Dc inherits it.
    assert filed == {"meteorological": 1, "reservoir": 2, "safety_production": 2, "none": 4}
    assert by_level == {"1": 2, "2": 2, "3": 1, "none": 4}
    assert sum(v.due for v in district.by_theme.values()) == district.total.due
    assert district.by_theme["reservoir"].closed == 1  # A closed, G open


def test_the_breakdowns_by_theme_and_by_level_add_up_to_the_total(april: Month) -> None:
    district = report(april, "HW")

    assert added(*district.by_theme.values()) == counts(district.total)
    assert added(*district.by_level.values()) == counts(district.total)


def test_overdue_now_counts_what_was_open_and_late_at_the_moment_asked(april: Month) -> None:
    before_j_closed = report(april, "HW").total.overdue_now
    after = unit_report(april.store, "HW", april_period(), as_of=local("2026-05-07 09:00"))
    assert after is not None

    # At 1 May: E, G and J. On 7 May J is closed and F (due 6 May 09:00) is late.
    assert before_j_closed == 3
    assert after.total.overdue_now == 3


def test_a_unit_missing_from_the_tree_has_no_report(april: Month) -> None:
    assert unit_report(april.store, "NOPE", april_period(), as_of=AS_OF) is None


def test_an_empty_period_answers_zero_counts_and_null_rates(april: Month) -> None:
    quiet = resolve_period(zone="Asia/Shanghai", today=date(2026, 1, 15), period="month")
    found = unit_report(april.store, "HW", quiet, as_of=AS_OF)
    assert found is not None
    figures: dict[str, Any] = asdict(found.total)

    assert all(figures[name] == 0 for name in COUNTS if name != "overdue_now")
    assert found.total.closure_rate.percent is None
    assert found.total.time_to_close.mean_seconds is None


def test_a_report_read_in_two_halves_equals_the_report_read_at_once(
    april: Month, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The halves are the facts' reading (a whole month reads the rollup at once).
    in_halves = report(april, "HW", months=False)
    monkeypatch.setattr(april.store, "concurrent_reads", False)
    assert report(april, "HW", months=False) == in_halves


def test_halves_that_saw_the_views_move_on_between_them_are_read_again_at_once(
    april: Month, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A case filed on 20 April, recorded but not yet in the views.
    Clock(april.center)(
        "2026-04-20 10:00",
        april.center.issue_instruction,
        "HW",
        lead_unit="HW-DH",
        title="filed while a report is read",
        due_in=WorkingDuration.parse("P1D"),
    )
    assert report(april, "HW").total.filed == 9

    # The first time, the second half reads, then the views take the new case in, and
    # only then the first half reads: the two halves saw two states of the views.
    real_read = reports._read
    moved_on = threading.Event()
    calls: list[tuple[int, ...]] = []

    def read(store: ViewStore, code: str, which: Any, *args: Any, **kwargs: Any) -> Any:
        first_time = tuple(which) not in calls
        calls.append(tuple(which))
        if first_time and tuple(which) == reports.HALVES[0]:
            assert moved_on.wait(10), "the second half never ran"
        found = real_read(store, code, which, *args, **kwargs)
        if first_time and tuple(which) == reports.HALVES[1]:
            project(april.center, april.store)
            moved_on.set()
        return found

    monkeypatch.setattr(reports, "_read", read)
    found = report(april, "HW", months=False)

    assert len(calls) == 3, calls
    whole = tuple(range(len(reports.HALVES[0]) + len(reports.HALVES[1])))
    assert calls[-1] == whole, "the report was not read again, in one read"
    assert found.total.filed == 10
    assert found.position == april.center.head_position()


def test_a_report_after_a_unit_moved_counts_its_cases_under_its_new_parent(
    april: Month,
) -> None:
    # Reports of both parents first, so that what a report keeps of the network is warm.
    before_dh, before_xl = report(april, "HW-DH"), report(april, "HW-XL")
    assert (before_dh.total.filed, before_xl.total.filed) == (6, 2)

    Clock(april.center)("2026-04-30 18:00", april.center.move_unit, "HC", "HW-XL-SQ", "HW-DH")
    Clock(april.center)(
        "2026-04-30 18:01", april.center.rename_unit, "HC", "HW-DH", "东湖街道办", "Donghu"
    )
    project(april.center, april.store)

    after_dh, after_xl = report(april, "HW-DH"), report(april, "HW-XL")
    assert (after_dh.total.filed, after_xl.total.filed) == (7, 1)
    assert "HW-XL-SQ" in [row.unit.code for row in after_dh.children]
    assert "HW-XL-SQ" not in [row.unit.code for row in after_xl.children]
    assert after_dh.unit.name_en == "Donghu"

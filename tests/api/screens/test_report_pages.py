"""The reports pages over the test client: the API's scope exactly, the period picker's
bad values at their field, the CSV scoped as the API's, and the charts' geometry."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient

from api.screens.charts import Group, bar_chart, line_chart
from domain.application import CommandCenter
from tests.api.conftest import PEOPLE, As, issue
from tests.api.screens.conftest import desk_of

UNITS = ("HC", "HW", "HW-DH", "HW-DH-QS", "HW-XL", "NOPE")


def test_each_person_opens_the_reports_of_exactly_the_units_the_api_reports_to_them(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    for who in sorted(PEOPLE):
        desk = desk_of(client, tokens, who)
        home = desk.get("/reports")
        assert home.status_code == 303
        assert home.headers["location"] == f"/reports/{PEOPLE[who][0]}"
        for code in UNITS:
            api = client.get(f"/v1/reports/units/{code}", headers=as_(who))
            page = desk.get(f"/reports/{code}")
            assert page.status_code == api.status_code, (who, code)
            csv = desk.get(f"/reports/{code}/csv")
            assert csv.status_code == api.status_code, (who, code)
            if api.status_code == 404:
                assert 'class="card narrow error-page"' in page.text


def test_the_report_shows_the_apis_figures_charts_and_links_one_level_down(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    issue(client, as_, title="<script>alert(1)</script>")
    page = desk_of(client, tokens, "district").get("/reports/HW?month=2026-12")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") >= 3  # over time, per child, by theme or level
    assert 'href="/reports/HW-DH?month=2026-12"' in html
    assert "<script>alert" not in html
    api = client.get("/v1/reports/units/HW?period=month&date=2026-12-01", headers=as_("district"))
    filed = api.json()["total"]["filed"]
    assert f'<span class="tile-value">{filed}</span>' in html
    assert "@media print" in client.get("/screens/static/reports.css").text


def test_the_csv_is_the_apis_for_the_same_period(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    issue(client, as_)
    desk = desk_of(client, tokens, "office")
    page = desk.get("/reports/HW-DH/csv?from=2026-12-01&to=2026-12-15")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/csv")
    assert "attachment" in page.headers["content-disposition"]
    api = client.get(
        "/v1/reports/units/HW-DH?from=2026-12-01&to=2026-12-15&format=csv", headers=as_("office")
    )
    assert page.text == api.text


BAD_PERIODS = [
    ("month=2026-13", "month"),
    ("month=12-2026", "month"),
    ("month=0000-01", "month"),
    ("month=2026-12&from=2026-12-01&to=2026-12-02", "month"),
    ("from=2026-12-01", "to"),
    ("to=2026-12-01", "from"),
    ("from=yesterday&to=2026-12-01", "from"),
    ("from=2026-12-09&to=2026-12-01", "to"),
    ("from=2026-02-30&to=2026-03-01", "from"),
    ("from=9999-12-31T23:59:59-12:00&to=9999-12-31T23:59:59-11:00", "from"),
]


def test_a_period_that_cannot_be_reported_on_is_said_at_its_field_and_stores_nothing(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    desk = desk_of(client, tokens, "district")
    head = center.head_position()
    for query, field in BAD_PERIODS:
        page = desk.get(f"/reports/HW?{query.replace('+', '%2B')}")
        assert page.status_code == 422, query
        assert f'id="{field}-error"' in page.text, query
        assert f'aria-describedby="{field}-error"' in page.text, query
        csv = desk.get(f"/reports/HW/csv?{query.replace('+', '%2B')}")
        assert csv.status_code == 303, query  # back to the page that says what is wrong
    assert center.head_position() == head
    # A bad period does not open a unit outside the person's scope either.
    assert desk.get("/reports/HC?month=2026-13").status_code == 404


def test_the_charts_draw_a_rate_to_scale_and_nothing_for_no_cases() -> None:
    chart = bar_chart(
        [
            Group("a", "A", {"closure_rate": Decimal("50"), "on_time": None}, "1 of 2"),
            Group("b", "B", {"closure_rate": Decimal("100"), "on_time": Decimal("0")}, ""),
        ]
    )
    a, b = chart.rows
    assert a.bars[0].width == chart.bar_width / 2
    assert a.bars[1].width == 0
    assert a.bars[1].text == "—"
    assert b.bars[0].width == chart.bar_width
    assert b.y > a.bars[-1].y
    line = line_chart(["7", "8", "9"], {"closure_rate": [Decimal("0"), None, Decimal("100")]})
    (series,) = line.lines
    assert series.marks[1] is None
    assert series.segments == []  # no two consecutive periods with a value: no line
    assert series.marks[0] is not None
    assert series.marks[2] is not None
    assert series.marks[0].y > series.marks[2].y  # 0 % lies below 100 %


def test_an_address_no_unit_can_have_is_not_found_never_a_server_error(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = desk_of(client, tokens, "auditor")  # reads everything: no scope stops it first
    for path in ("/reports/%00", "/reports/" + "x" * 5000, "/reports/%00/csv", "/reports/a%20b"):
        # A NUL is refused by the page guard before any page reads it (400), as by the API's.
        assert desk.get(path).status_code == (400 if "%00" in path else 404), path
    for query in ("month=%00", "from=%00&to=2026-12-01", "to=%00&from=2026-12-01"):
        assert desk.get(f"/reports/HW?{query}").status_code == 400, query
        assert desk.get(f"/reports/HW/csv?{query}").status_code == 400, query


percents = st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=2, allow_nan=False))


@given(st.lists(st.tuples(percents, percents), min_size=1, max_size=12))
def test_a_bar_is_as_long_as_its_rate_and_the_rows_never_overlap(
    rows: list[tuple[Decimal | None, Decimal | None]],
) -> None:
    chart = bar_chart(
        [Group(str(i), str(i), {"a": a, "b": b}, "") for i, (a, b) in enumerate(rows)]
    )
    bottom = -1.0
    for row, rates in zip(chart.rows, rows, strict=True):
        assert row.y > bottom
        for bar, rate in zip(row.bars, rates, strict=True):
            expected = 0 if rate is None else float(rate) / 100 * chart.bar_width
            assert bar.width == pytest.approx(expected)
            assert 0 <= bar.width <= chart.bar_width
            bottom = bar.y
    assert chart.height > bottom

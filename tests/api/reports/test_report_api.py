"""The report over HTTP: JSON, the printable HTML page, CSV; scoped like every read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from tests.integration.reports.conftest import as_unit

PEOPLE = {
    "district": ("HW", ("dispatcher",)),
    "community": ("HW-DH-QS", ("handler",)),
    "auditor": ("HC", ("auditor",)),
}


@pytest.fixture
def client(center: CommandCenter) -> Iterator[tuple[TestClient[Any], dict[str, dict[str, str]]]]:
    load_demo(center)
    book = TokenBook(center)
    headers = {
        name: {
            "Authorization": "Bearer "
            + book.issue(user=name, unit=unit, roles=list(roles), label="test").secret
        }
        for name, (unit, roles) in PEOPLE.items()
    }
    # Two instructions this month from the district to Donghu, one closed at once.
    day = WorkingDuration(days=1)
    first = center.issue_instruction(
        as_unit("HW"), lead_unit="HW-DH", title="Inspect the dam", due_in=day
    )
    center.issue_instruction(as_unit("HW"), lead_unit="HW-DH", title="Clear the drain", due_in=day)
    center.sign_for(as_unit("HW-DH"), first.id)
    center.submit(as_unit("HW-DH"), first.id, "inspected")
    center.verify(as_unit("HW"), first.id, accepted=True)
    with TestClient(create_app(center, reads=build_read_models(center))) as c:
        yield c, headers


def url(center: CommandCenter, code: str, **query: str) -> str:
    # Waits for the views to have read every command above.
    params = {"min_position": str(center.head_position()), **query}
    return f"/v1/reports/units/{code}?" + "&".join(f"{k}={v}" for k, v in params.items())


def test_the_json_report_counts_the_subtree_with_rates_and_their_parts(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    r = c.get(url(center, "HW"), headers=who["district"])

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit"]["code"] == "HW"
    assert body["period"]["zone"] == "Asia/Shanghai"
    assert body["total"]["filed"] == 2
    assert body["total"]["signed"] == 1
    assert body["total"]["time_to_close"]["count"] == 1
    donghu = next(row for row in body["children"] if row["unit"]["code"] == "HW-DH")
    assert donghu["indicators"]["filed"] == 2
    assert body["own"]["filed"] == 0
    assert body["total"]["rework_rate"] == {"numerator": 0, "denominator": 1, "percent": "0.00"}


def test_an_empty_denominator_answers_null_not_zero_percent(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    r = c.get(url(center, "HW-XL"), headers=who["district"])

    assert r.status_code == 200, r.text
    assert r.json()["total"]["closure_rate"] == {"numerator": 0, "denominator": 0, "percent": None}


def test_the_html_page_shows_the_figures_with_chinese_and_english_labels(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    r = c.get(url(center, "HW"), headers={**who["district"], "Accept": "text/html"})

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    for label in (
        "办结率",
        "Closure rate",
        "按时签收率",
        "On-time sign-for rate",
        "海湾区人民政府",
    ):
        assert label in page
    assert "0.00 % (0/1)" in page  # the rework rate, with its parts
    assert "东湖街道办事处" in page


def test_the_csv_has_a_header_and_a_row_per_unit_theme_and_level(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    r = c.get(url(center, "HW", format="csv"), headers=who["district"])

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    total = next(row for row in rows if row["section"] == "total")
    assert total["key"] == "HW"
    assert total["filed"] == "2"
    assert (total["closure_rate_numerator"], total["closure_rate_denominator"]) == (
        total["closed"],
        total["due"],
    )
    assert total["rework_rate_denominator"] == "1"
    assert {row["section"] for row in rows} == {
        "total",
        "own",
        "emergency",
        "urgent",
        "child",
        "theme",
        "level",
    }


def test_a_unit_sees_reports_on_its_own_subtree_only(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    mine = c.get(url(center, "HW-DH-QS"), headers=who["community"])
    above = c.get(url(center, "HW-DH"), headers=who["community"])
    auditor = c.get(url(center, "HW-XL"), headers=who["auditor"])

    assert mine.status_code == 200
    assert above.status_code == 404
    assert above.headers["content-type"].startswith("application/problem+json")
    assert auditor.status_code == 200


def test_an_unknown_unit_answers_404(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    assert c.get(url(center, "NOPE"), headers=who["auditor"]).status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday", "to": "2026-05-01"}, "from"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "to"),
        ({"from": "2026-04-01T00:00:00", "to": "2026-05-01"}, "from"),
        ({"from": "2026-04-01"}, "to"),
        ({"period": "year"}, "period"),
        ({"period": "month", "date": "2026-13-01"}, "date"),
        ({"format": "pdf"}, "format"),
    ],
)
def test_a_bad_period_or_format_answers_422_naming_the_parameter(
    center: CommandCenter,
    client: tuple[TestClient[Any], dict[str, dict[str, str]]],
    query: dict[str, str],
    field: str,
) -> None:
    c, who = client

    r = c.get(url(center, "HW", **query), headers=who["district"])

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_a_period_given_by_dates_covers_from_midnight_to_midnight_in_the_zone(
    center: CommandCenter, client: tuple[TestClient[Any], dict[str, dict[str, str]]]
) -> None:
    c, who = client

    r = c.get(
        url(center, "HW", **{"from": "2026-04-01", "to": "2026-05-01"}), headers=who["auditor"]
    )

    assert r.status_code == 200, r.text
    assert r.json()["period"]["from"] == "2026-04-01T00:00:00+08:00"
    assert r.json()["period"]["to"] == "2026-05-01T00:00:00+08:00"

"""``GET /v1/evaluations/{code}`` over HTTP (ADR 0086): a month of the demo district on
the working calendar, scored, ranked, explained down to the cases; CSV and the printed
page; bad periods, unknown units and other subtrees refused by name."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from tests.integration.reports.conftest import as_unit, local

PEOPLE = {
    "district": ("HW", ("dispatcher",)),
    "office": ("HW-DH", ("handler",)),
    "auditor": ("HC", ("auditor",)),
}
#: The evaluation is asked on 20 April 2026 (a Monday), of April.
ASKED = local("2026-04-20 10:00")

Client = tuple[TestClient[Any], dict[str, dict[str, str]], dict[str, str]]


def _april(center: CommandCenter) -> dict[str, str]:
    """Wednesday 1 April 2026, 09:00 CST, office hours 08:30-12:00 and 14:00-17:30:
    A to Donghu, signed at once, sent back once then accepted the same morning;
    B to Xiling, due one working day later (Thursday 2 April 09:00), never signed."""
    day = WorkingDuration(days=1)
    with freeze_time(local("2026-03-01 09:00")):
        load_demo(center)
    with freeze_time(local("2026-04-01 09:00")):
        a = center.issue_instruction(as_unit("HW"), lead_unit="HW-DH", title="Dam", due_in=day)
        b = center.issue_instruction(as_unit("HW"), lead_unit="HW-XL", title="Drain", due_in=day)
    with freeze_time(local("2026-04-01 09:10")):
        center.sign_for(as_unit("HW-DH"), a.id)
        center.submit(as_unit("HW-DH"), a.id, "inspected")
    with freeze_time(local("2026-04-01 10:00")):
        center.verify(as_unit("HW"), a.id, accepted=False, note="photos missing")
    with freeze_time(local("2026-04-01 10:10")):
        center.submit(as_unit("HW-DH"), a.id, "photos added")
    with freeze_time(local("2026-04-01 10:30")):
        center.verify(as_unit("HW"), a.id, accepted=True)
    return {"A": str(a.id), "B": str(b.id)}


@pytest.fixture
def client(center: CommandCenter) -> Iterator[Client]:
    ids = _april(center)
    book = TokenBook(center)
    with freeze_time(ASKED, tick=True):
        headers = {
            name: {
                "Authorization": "Bearer "
                + book.issue(user=name, unit=unit, roles=list(roles), label="test").secret
            }
            for name, (unit, roles) in PEOPLE.items()
        }
        with TestClient(create_app(center, reads=build_read_models(center))) as c:
            yield c, headers, ids


def url(center: CommandCenter, code: str, **query: str) -> str:
    params = {"min_position": str(center.head_position()), **query}
    return f"/v1/evaluations/{code}?" + "&".join(f"{k}={v}" for k, v in params.items())


def _score(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(s for s in body["scores"] if s["unit"]["code"] == code)


def _line(score: dict[str, Any], indicator: str) -> dict[str, Any]:
    return next(line for line in score["lines"] if line["indicator"] == indicator)


def test_the_month_scores_ranks_and_explains_each_office(
    center: CommandCenter, client: Client
) -> None:
    c, who, ids = client

    r = c.get(url(center, "HW", month="2026-04"), headers=who["district"])

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"]["label"] == "2026-04"
    assert body["position"] > 0
    assert body["period"]["from"] == "2026-04-01T00:00:00+08:00"
    assert body["scores"][0]["unit"]["code"] == "HW"
    assert body["scores"][0]["rank"] is None
    donghu, xiling, nangang = (_score(body, u) for u in ("HW-DH", "HW-XL", "HW-NG"))
    # Donghu: everything on time, one rework (2 points).
    assert donghu["score"] == "98.00"
    assert donghu["colour"] == "green"
    rework = _line(donghu, "rework")
    assert rework["points"] == "-2.00"
    assert rework["cases"] == [ids["A"]]
    assert _line(donghu, "on_time_closure")["numerator"] == 1
    # Xiling: B due on 2 April and still open: the 35 points of on-time closure lost.
    closure = _line(xiling, "on_time_closure")
    assert (closure["numerator"], closure["denominator"]) == (0, 1)
    assert closure["points"] == "0.00"
    assert closure["lost"] == "35.00"
    assert closure["cases"] == [ids["B"]]
    assert closure["refers_to"] == "instruction"
    assert xiling["score"] == "65.00"
    assert xiling["colour"] == "red"
    # Nangang had nothing to judge: full marks. Peers: the three offices under HW.
    assert nangang["score"] == "100.00"
    assert [(s["unit"]["code"], s["rank"], s["peers"]) for s in (nangang, donghu, xiling)] == [
        ("HW-NG", 1, 3),
        ("HW-DH", 2, 3),
        ("HW-XL", 3, 3),
    ]
    assert donghu["peer_group"] == "HW/office/government"
    # The district answers for its subtree: both cases' faults are its own too.
    district = body["scores"][0]
    assert _line(district, "on_time_closure")["cases"] == [ids["B"]]
    # 15 (signed on time) + 35 × 1/2 (closed on time) + 20 + 15 + 15 − 2 (the rework).
    assert district["score"] == "80.50"
    # Each score is its lines, within the bounds.
    for s in body["scores"]:
        total = sum(float(line["points"]) for line in s["lines"])
        assert float(s["score"]) == pytest.approx(max(0.0, min(100.0, total)))


def test_a_period_given_by_from_and_to_and_the_default_month(
    center: CommandCenter, client: Client
) -> None:
    c, who, _ = client

    narrow = c.get(
        url(center, "HW-XL", **{"from": "2026-04-03", "to": "2026-04-10"}), headers=who["district"]
    )
    default = c.get(url(center, "HW-XL"), headers=who["district"])

    assert narrow.status_code == 200, narrow.text
    # B fell due on the 2nd: not in this week.
    assert _line(narrow.json()["scores"][0], "on_time_closure")["denominator"] == 0
    assert default.status_code == 200
    assert default.json()["period"]["label"] == "2026-04"


def test_the_csv_has_a_row_per_line_and_neutralises_cells(
    center: CommandCenter, client: Client
) -> None:
    c, who, ids = client

    r = c.get(url(center, "HW-DH", format="csv"), headers=who["office"])

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    rework = next(row for row in rows if row["code"] == "HW-DH" and row["indicator"] == "rework")
    assert rework["cases"] == ids["A"]
    # Negative points would read as a formula: quoted as text.
    assert rework["points"] == "'-2.00"
    assert {row["code"] for row in rows} >= {"HW-DH", "HW-DH-HP", "HW-DH-QS"}


def test_the_printed_page_charts_the_ranking_in_the_calendar_zone(
    center: CommandCenter, client: Client
) -> None:
    c, who, ids = client

    r = c.get(url(center, "HW", format="html"), headers=who["auditor"])

    assert r.status_code == 200, r.text
    page = r.text
    assert "综合评价" in page
    assert "Comprehensive evaluation" in page
    assert "<svg" in page
    assert 'class="series-red"' in page
    assert "2026-04-01T00:00:00+08:00" in page
    assert ids["B"] in page
    assert "按期办结率" in page
    assert "On-time closure rate" in page


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "April"}, "month"),
        ({"month": "2026-04", "from": "2026-04-01", "to": "2026-05-01"}, "month"),
        ({"from": "2026-04-10", "to": "2026-04-01"}, "to"),
        ({"from": "2026-04-01"}, "to"),
        ({"from": "yesterday", "to": "2026-04-01"}, "from"),
        ({"format": "pdf"}, "format"),
    ],
)
def test_a_bad_period_is_a_422_naming_its_field(
    center: CommandCenter, client: Client, query: dict[str, str], field: str
) -> None:
    c, who, _ = client

    r = c.get(url(center, "HW", **query), headers=who["district"])

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_an_unknown_unit_and_another_subtree_are_not_found(
    center: CommandCenter, client: Client
) -> None:
    c, who, _ = client

    unknown = c.get(url(center, "NOWHERE"), headers=who["district"])
    across = c.get(url(center, "HW-XL"), headers=who["office"])
    above = c.get(url(center, "HW"), headers=who["office"])

    for r in (unknown, across, above):
        assert r.status_code == 404, r.text
        assert r.json()["type"].endswith("not-found")

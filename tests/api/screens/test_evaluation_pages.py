"""The evaluation page over the test client (ADR 0086): the API's scope exactly,
the ranking with each grade written as a word, the lines down to the case that cost
points (a link to its page), the CSV the API's, bad periods at their field, hostile unit
names as text."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import PEOPLE, As
from tests.api.screens.conftest import desk_of

UNITS = ("HC", "HW", "HW-DH", "HW-DH-QS", "HW-XL", "NOPE")
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


def _reworked(client: TestClient[Any], as_: As) -> str:
    """A case of Donghu sent back once at its verification: 2 points off."""
    order = _ok(
        client.post(
            "/v1/instructions",
            json={"lead_unit": "HW-DH", "title": IMG, "due_in": "P2D"},
            headers=as_("district"),
        )
    )
    url = f"/v1/instructions/{order['id']}"
    _ok(client.post(f"{url}/sign", json={}, headers=as_("office")))
    _ok(client.post(f"{url}/submit", json={"result": "done"}, headers=as_("office")))
    _ok(
        client.post(
            f"{url}/verify", json={"accepted": False, "note": "no"}, headers=as_("district")
        )
    )
    return str(order["id"])


def test_each_person_opens_the_evaluations_of_exactly_the_units_the_api_scores_for_them(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    for who in sorted(PEOPLE):
        desk = desk_of(client, tokens, who)
        home = desk.get("/evaluations")
        assert home.status_code == 303
        assert home.headers["location"] == f"/evaluations/{PEOPLE[who][0]}"
        for code in UNITS:
            api = client.get(f"/v1/evaluations/{code}", headers=as_(who))
            page = desk.get(f"/evaluations/{code}")
            assert page.status_code == api.status_code, (who, code)
            csv = desk.get(f"/evaluations/{code}/csv")
            assert csv.status_code == api.status_code, (who, code)
            if api.status_code == 404:
                assert 'class="card narrow error-page"' in page.text


def test_the_page_ranks_grades_in_words_and_links_the_case_that_cost_points(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    case = _reworked(client, as_)
    desk = desk_of(client, tokens, "district")
    html = desk.get("/evaluations/HW").text
    assert "<svg" in html
    assert f'href="/instructions/{case}"' in html  # the drill-down reaches the case
    assert "98.00 绿" in html  # the grade is a word as well as a colour
    assert 'href="/evaluations/HW-DH"' in html
    assert "<img src=x" not in html
    client.cookies.set("cl_lang", "en")
    english = desk.get("/evaluations/HW").text
    assert "98.00 Green" in english
    assert "Comprehensive evaluation" in english
    reports = desk.get("/reports/HW").text
    assert 'href="/evaluations/HW"' in reports  # reached where the reports are
    assert "@media print" in client.get("/screens/static/evaluation.css").text


def test_hostile_unit_names_stay_text(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    for code, name in (("HW-DH-X1", SCRIPT), ("HW-DH-X2", IMG)):
        body = {"code": code, "name": name, "name_en": name, "parent": "HW-DH",
                "level": "community", "kind": "government"}  # fmt: skip
        _ok(client.post("/v1/units", json=body, headers=as_("admin")))
    desk = desk_of(client, tokens, "office")
    for path in (
        "/evaluations/HW-DH",
        "/evaluations/HW-DH-X1",
        "/evaluations/HW-DH-X1?month=2026-13",
    ):
        html = desk.get(path).text
        assert SCRIPT not in html, path
        assert "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path


def test_the_csv_is_the_apis_and_a_bad_period_is_said_at_its_field(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    desk = desk_of(client, tokens, "office")
    page = desk.get("/evaluations/HW-DH/csv?from=2026-12-01&to=2026-12-15")
    assert page.status_code == 200
    assert "attachment" in page.headers["content-disposition"]
    api = client.get(
        "/v1/evaluations/HW-DH?from=2026-12-01&to=2026-12-15&format=csv", headers=as_("office")
    )
    assert page.text == api.text
    head = center.head_position()
    for query, field in (("month=2026-13", "month"), ("from=2026-12-01", "to")):
        bad = desk.get(f"/evaluations/HW-DH?{query}")
        assert bad.status_code == 422, query
        assert f'id="{field}-error"' in bad.text, query
        assert desk.get(f"/evaluations/HW-DH/csv?{query}").status_code == 303
    assert center.head_position() == head
    assert desk.get("/evaluations/HC?month=2026-13").status_code == 404

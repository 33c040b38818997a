"""Bad input answers a 4xx problem, never a 500 (issue 19, "Bad input that still answers
500"): bodies that are not UTF-8, positions too long to be read, webhook ports out of
range, report periods past the calendar's years."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient

from api.tokens import ROLES, TokenBook
from closedloop.bootstrap import build_app
from domain.application import CommandCenter
from projections.reports import PeriodError, parse_instant, resolve_period
from tests.api.conftest import As

NOT_UTF8 = b'{"title": "\xff\xfe bad", "name": "\xc3\x28"}'


@pytest.fixture
def served(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    """The whole server, with a token of every role at the city's root unit, so that
    requests get past the guard and reach the code that reads their input."""
    secret = TokenBook(center).issue(user="prober", unit="HC", roles=list(ROLES)).secret
    with TestClient(build_app(center)) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client


def _path(template: str, parameters: list[dict[str, Any]]) -> str:
    for p in parameters:
        if p["in"] == "path":
            fmt = p.get("schema", {}).get("format")
            value = str(uuid.uuid4()) if fmt == "uuid" else "HW"
            template = template.replace("{" + p["name"] + "}", value)
    return template


def _json_bodied(client: TestClient[Any]) -> list[tuple[str, str]]:
    document = client.get("/schema/openapi.json").json()
    found = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                found.append((method, _path(template, operation.get("parameters", []))))
    return found


def _is_problem(response: Any, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_json_body_that_is_not_utf8_answers_400_on_every_json_endpoint(
    served: TestClient[Any],
) -> None:
    endpoints = _json_bodied(served)
    assert len(endpoints) >= 9  # the nine the black-box test tried, and any added since
    for method, path in endpoints:
        r = served.request(
            method.upper(), path, content=NOT_UTF8, headers={"Content-Type": "application/json"}
        )
        _is_problem(r, 400)
        assert "UTF-8" in r.json()["detail"], (method, path, r.text)


@pytest.mark.parametrize("header", ["9" * 5000, "1" * 20, "²", "١", "-1", "1e3", " "])
def test_an_x_min_position_that_is_no_position_answers_422_naming_it(
    served: TestClient[Any], header: str
) -> None:
    r = served.get("/v1/units", headers={"X-Min-Position": header.encode()})
    _is_problem(r, 422)
    assert r.json()["errors"][0]["field"] == "X-Min-Position"


def test_a_min_position_query_of_5000_digits_answers_a_4xx(served: TestClient[Any]) -> None:
    r = served.get("/v1/units", params={"min_position": "9" * 5000})
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com:99999/in",
        "https://hooks.example.com:0/in",
        "https://hooks.example.com:http/in",
        "https://[::1/in",
    ],
)
def test_a_webhook_url_with_no_usable_port_or_host_answers_422_naming_url(
    served: TestClient[Any], url: str
) -> None:
    r = served.post("/v1/subscriptions", json={"url": url, "event_types": []})
    _is_problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == ["url"]
    assert served.get("/v1/subscriptions").json() == []  # nothing stored


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=0001-01-01&to=9999-12-31", "from"),
        ("from=2026-01-01&to=9999-12-31T23:59:59Z", "to"),
        ("period=week&date=9999-12-31", "date"),
        ("period=month&date=9999-12-31", "date"),
        ("period=day&date=9999-12-31", "date"),
        ("period=week&date=0001-01-01", "date"),
        ("as_of=9999-12-31T23:59:59Z", "as_of"),
        ("as_of=0001-01-01T00:00:00%2B14:00", "as_of"),
    ],
)
def test_a_report_range_past_the_calendar_answers_422_naming_the_parameter(
    served: TestClient[Any], as_: As, query: str, field: str
) -> None:
    # A community handler reaches it: the report of its own unit.
    r = served.get(f"/v1/reports/units/HW-DH-QS?{query}", headers=as_("community"))
    _is_problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == [field], r.text


def test_the_period_reader_names_the_field_on_overflow() -> None:
    with pytest.raises(PeriodError) as e:
        parse_instant("9999-12-31T23:59:59Z", "as_of", ZoneInfo("Asia/Shanghai"))
    assert e.value.field == "as_of"
    with pytest.raises(PeriodError) as e:
        resolve_period(
            zone="Asia/Shanghai",
            today=date(2026, 3, 1),
            period="week",
            on="9999-12-31",
        )
    assert e.value.field == "date"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/warnings?raised_from=9999-12-31T23:59:59-12:00", "raised_from"),
        ("/v1/warnings?raised_to=0001-01-01T00:00:00%2B14:00", "raised_to"),
        ("/v1/audit/export?since=9999-12-31T23:59:59-12:00", "since"),
    ],
)
def test_a_time_filter_outside_the_years_of_utc_answers_422_naming_it(
    served: TestClient[Any], path: str, field: str
) -> None:
    r = served.get(path)
    _is_problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deadline", "9999-12-31T23:59:59-12:00"),
        ("deadline", "9999-12-31T23:59:59Z"),  # year 10000 in the calendar's zone
        ("occurred_at", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_a_time_in_a_body_that_some_zone_cannot_show_answers_422_naming_it(
    client: TestClient[Any], as_: As, field: str, value: str
) -> None:
    before = client.get("/v1/instructions", headers=as_("district")).json()["items"]
    body = {"lead_unit": "HW-DH", "title": "Inspect the dam", "due_in": "P2D", field: value}
    if field == "deadline":
        del body["due_in"]
    r = client.post("/v1/instructions", json=body, headers=as_("district"))
    _is_problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert client.get("/v1/instructions", headers=as_("district")).json()["items"] == before

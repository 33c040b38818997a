"""Whistle and check-in over HTTP (ADR 0078), on SQLite and PostgreSQL: blown by an
office, seen by its subtree and the summoned departments, checked in once each, closed;
bad input refused with a named problem and nothing stored; the figures counted by hand."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from tests.api.conftest import As

Client = TestClient[Any]

# name: (unit, role), beside the shared PEOPLE
WHISTLERS = {
    "water": ("HW-WATER", "handler"),
    "urban": ("HW-URBAN", "handler"),
    "trans": ("HW-TRANS", "handler"),
    "district_handler": ("HW", "handler"),
    "water_dispatcher": ("HW-WATER", "dispatcher"),
}


@pytest.fixture
def who(center: CommandCenter, as_: As) -> As:
    book = TokenBook(center)
    for name, (unit, role) in WHISTLERS.items():
        as_.tokens[name] = book.issue(user=f"{name}-person", unit=unit, roles=[role]).secret
    return as_


def blow(client: Client, who: As, **fields: Any) -> dict[str, Any]:
    body = {
        "unit": "HW-DH",
        "matter": "a blocked drain floods Hupan road",
        "place": "Hupan road 12",
        "departments": ["HW-WATER", "HW-URBAN", "HW-TRANS"],
        "latitude": 30.25,
        "longitude": 120.16,
        **fields,
    }
    r = client.post("/v1/whistles", json=body, headers=who("office"))
    assert r.status_code == 201, r.text
    return r.json()


def refused(
    center: CommandCenter, client: Client, status: int, code: str, *request: Any, **kw: Any
) -> dict[str, Any]:
    head = center.head_position()
    r = client.post(*request, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()
    assert center.head_position() == head, "a refused command stored something"
    return dict(r.json())


def test_a_whistle_is_seen_by_its_subtree_and_the_summoned_not_by_others(
    client: Client, who: As
) -> None:
    w = blow(client, who)
    for name in ("office", "district", "water", "auditor"):
        listed = client.get("/v1/whistles", headers=who(name)).json()["items"]
        assert [x["id"] for x in listed] == [w["id"]], name
    for name in ("office_xl", "community"):
        assert client.get("/v1/whistles", headers=who(name)).json()["items"] == [], name
        assert client.get(f"/v1/whistles/{w['id']}", headers=who(name)).status_code == 404
    detail = client.get(f"/v1/whistles/{w['id']}", headers=who("water")).json()
    assert detail["place"] == "Hupan road 12"
    assert detail["limit_minutes"] == 30
    assert [s["department"] for s in detail["summons"]] == ["HW-TRANS", "HW-URBAN", "HW-WATER"]


def test_check_in_then_close_counts_on_time_and_absent_in_json_and_csv(
    center: CommandCenter, client: Client, who: As
) -> None:
    w = blow(client, who)
    url = f"/v1/whistles/{w['id']}"
    r = client.post(f"{url}/check-in", json={"person": "Li Wei"}, headers=who("water"))
    assert r.status_code == 200, r.text
    second = blow(client, who, departments=["HW-WATER"])
    client.post(
        f"/v1/whistles/{second['id']}/check-in", json={"person": "Li"}, headers=who("water")
    )
    assert client.post(f"{url}/close", json={"note": "cleared"}, headers=who("office")).json()[
        "status"
    ] == ("closed")
    detail = client.get(url, headers=who("office")).json()
    by = {s["department"]: s for s in detail["summons"]}
    assert by["HW-WATER"]["person"] == "Li Wei"
    assert not by["HW-WATER"]["late"]
    assert by["HW-URBAN"]["absent"]
    assert by["HW-TRANS"]["absent"]

    # By hand: HW-WATER summoned twice, on time twice; HW-URBAN and HW-TRANS once, absent.
    figures = client.get("/v1/reports/whistles/HW-DH", headers=who("office")).json()
    rows = {d["department"]: d for d in figures["departments"]}
    assert rows["HW-WATER"]["summoned"] == 2
    assert rows["HW-WATER"]["on_time"] == 2
    assert rows["HW-WATER"]["late"] == 0
    assert rows["HW-WATER"]["absent"] == 0
    assert rows["HW-WATER"]["mean_seconds_to_check_in"] is not None
    assert {k: rows["HW-URBAN"][k] for k in ("summoned", "on_time", "late", "absent")} == {
        "summoned": 1,
        "on_time": 0,
        "late": 0,
        "absent": 1,
    }
    assert rows["HW-URBAN"]["mean_seconds_to_check_in"] is None
    text = client.get("/v1/reports/whistles/HW-DH?format=csv", headers=who("office")).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(t["department"], t["summoned"], t["absent"]) for t in table] == [
        ("HW-TRANS", "1", "1"),
        ("HW-URBAN", "1", "1"),
        ("HW-WATER", "2", "0"),
    ]
    # Another office sees none of it; an unknown unit is not found.
    assert client.get("/v1/reports/whistles/HW-DH", headers=who("office_xl")).status_code == 404
    assert client.get("/v1/reports/whistles/NOPE", headers=who("office")).status_code == 404


def test_bad_whistles_are_refused_with_a_named_problem_and_store_nothing(
    center: CommandCenter, client: Client, who: As
) -> None:
    base = {"unit": "HW-DH", "matter": "m", "place": "p", "departments": ["HW-WATER"]}
    office = who("office")
    refused(
        center,
        client,
        422,
        "whistle-incomplete",
        "/v1/whistles",
        json={**base, "departments": []},
        headers=office,
    )
    problem = refused(
        center,
        client,
        422,
        "whistle-incomplete",
        "/v1/whistles",
        json={**base, "place": "   "},
        headers=office,
    )
    assert "place" in problem["detail"]
    refused(
        center,
        client,
        403,
        "whistle-refused",
        "/v1/whistles",
        json={**base, "departments": ["HW-DH-QS"]},
        headers=office,
    )
    # Another office's dispatcher does not blow for HW-DH; a handler does not blow at all.
    refused(
        center, client, 403, "not-permitted", "/v1/whistles", json=base, headers=who("office_xl")
    )
    refused(center, client, 403, "role-required", "/v1/whistles", json=base, headers=who("water"))


def test_bad_check_ins_are_refused_with_a_named_problem_and_store_nothing(
    center: CommandCenter, client: Client, who: As
) -> None:
    w = blow(client, who, departments=["HW-WATER", "HW-URBAN"])
    url = f"/v1/whistles/{w['id']}"
    body = {"person": "Li Wei"}
    problem = refused(
        center,
        client,
        403,
        "not-summoned",
        f"{url}/check-in",
        json=body,
        headers=who("district_handler"),
    )
    assert "not summoned" in problem["detail"]
    # Not summoned and not able to see it: as for a whistle that is not there.
    refused(center, client, 404, "not-found", f"{url}/check-in", json=body, headers=who("trans"))
    # The wrong role: a department's dispatcher does not check in.
    refused(
        center,
        client,
        403,
        "role-required",
        f"{url}/check-in",
        json=body,
        headers=who("water_dispatcher"),
    )
    client.post(f"{url}/check-in", json=body, headers=who("water"))
    refused(
        center,
        client,
        409,
        "already-checked-in",
        f"{url}/check-in",
        json=body,
        headers=who("water"),
    )
    refused(
        center,
        client,
        422,
        "invalid-value",
        f"{url}/check-in",
        json={"person": ""},
        headers=who("urban"),
    )
    # Only the whistling unit (or one above it) closes it.
    refused(center, client, 404, "not-found", f"{url}/close", headers=who("office_xl"))
    refused(center, client, 403, "not-permitted", f"{url}/close", headers=who("water_dispatcher"))
    client.post(f"{url}/close", headers=who("office"))
    refused(
        center, client, 409, "whistle-closed", f"{url}/check-in", json=body, headers=who("urban")
    )
    refused(center, client, 409, "whistle-closed", f"{url}/close", headers=who("office"))

"""The rules the server checks beyond a field's own bounds are stated in the published
document too (ADR 0046, issue 18 item 2), and the server keeps them: a list item's
bounds, a unit's kind and level, "a deadline or ``due_in``", a CAP binding to someone,
a report's media types. Whatever it refuses for these, it refuses with a problem that
stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, later

Client = TestClient[Any]


def _document(client: Client) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/schema/openapi.json").json()
    return document


def _schema(client: Client, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = _document(client)["components"]["schemas"][name]
    return schema


def _refused(r: Any, center: CommandCenter, head: int, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert center.head_position() == head
    problem: dict[str, Any] = r.json()
    return problem


def test_a_list_items_bounds_are_published(client: Client) -> None:
    roles = _schema(client, "TokenCreate")["properties"]["roles"]["items"]
    subtrees = _schema(client, "SubscriptionCreate")["properties"]["subtrees"]["items"]
    tokens = _schema(client, "CapSenderBinding")["properties"]["tokens"]["items"]

    assert roles["minLength"] == 1
    assert set(roles["enum"]) == {
        "admin",
        "monitor",
        "duty_officer",
        "dispatcher",
        "handler",
        "auditor",
        "screen",
    }
    assert subtrees["minLength"] == 1
    assert "pattern" in subtrees
    assert tokens == {"type": "string", "minLength": 1, "maxLength": 40}


@pytest.mark.parametrize("roles", [[""], ["wizard"]], ids=["empty", "unknown"])
def test_a_token_with_a_role_outside_the_published_ones_is_refused(
    client: Client, center: CommandCenter, as_: As, roles: list[str]
) -> None:
    head = center.head_position()

    r = client.post(
        "/v1/tokens", json={"user": "u", "unit": "HW", "roles": roles}, headers=as_("admin")
    )

    problem = _refused(r, center, head)
    assert problem["errors"][0]["field"].startswith("roles")


def test_a_units_kind_and_level_pairing_is_published(client: Client) -> None:
    branches = _schema(client, "UnitCreate")["oneOf"]

    pairs = {
        (kind, level)
        for b in branches
        for kind in b["properties"]["kind"]["enum"]
        for level in b["properties"]["level"]["enum"]
    }
    assert ("enterprise", "enterprise") in pairs
    assert ("government", "city") in pairs
    assert not any(k == "enterprise" and lv != "enterprise" for k, lv in pairs)
    assert not any(lv == "enterprise" and k != "enterprise" for k, lv in pairs)


@pytest.mark.parametrize(
    "body",
    [
        # Refused by the published schema already:
        {"level": "office", "kind": "enterprise", "parent": "HW-DH"},
        {"level": "enterprise", "kind": "government", "parent": "HW-DH"},
        # Refused by what the parent is, which only the record knows:
        {"level": "community", "kind": "government", "parent": "HW"},
        {"level": "office", "kind": "department", "parent": "HW"},
    ],
    ids=["enterprise-office", "government-enterprise", "skips-a-level", "beside"],
)
def test_a_unit_placed_where_it_may_not_sit_is_refused_with_its_reason(
    client: Client, center: CommandCenter, as_: As, body: dict[str, Any]
) -> None:
    head = center.head_position()

    r = client.post("/v1/units", json={"code": "X9", "name": "x", **body}, headers=as_("admin"))

    assert _refused(r, center, head)["type"] == "urn:closedloop:problem:placement-refused"


def test_a_placement_refusal_is_listed_in_the_apis_description(client: Client) -> None:
    assert "urn:closedloop:problem:placement-refused" in _document(client)["info"]["description"]


def test_a_deadline_or_due_in_is_published(client: Client) -> None:
    create = _schema(client, "InstructionCreate")
    forward = _schema(client, "Forward")

    assert [b["required"] for b in create["oneOf"]] == [["deadline"], ["due_in"]]
    assert [b["required"] for b in forward["not"]["allOf"]] == [["deadline"], ["due_in"]]


@pytest.mark.parametrize(
    "when",
    [{}, {"deadline": None, "due_in": None}, {"deadline": later(), "due_in": "P1D"}],
    ids=["neither", "both-null", "both"],
)
def test_an_instruction_needs_a_deadline_or_due_in_but_not_both(
    client: Client, center: CommandCenter, as_: As, when: dict[str, Any]
) -> None:
    head = center.head_position()

    r = client.post(
        "/v1/instructions",
        json={"lead_unit": "HW-DH", "title": "t", **when},
        headers=as_("district"),
    )

    _refused(r, center, head)


def test_a_due_in_of_the_published_form_is_refused_only_by_its_length(
    client: Client, center: CommandCenter, as_: As
) -> None:
    pattern = _schema(client, "InstructionCreate")["properties"]["due_in"]["pattern"]
    head = center.head_position()

    answers = {
        due_in: client.post(
            "/v1/instructions",
            json={"lead_unit": "HW-DH", "title": "t", "due_in": due_in},
            headers=as_("district"),
        )
        for due_in in ("P0D", "P99999999999W", "P1M", "soon")
    }

    assert "[Ww]" in pattern
    assert {d: _refused(r, center, head)["type"].rsplit(":", 1)[1] for d, r in answers.items()} == {
        "P0D": "duration-refused",
        "P99999999999W": "duration-refused",
        "P1M": "invalid-value",
        "soon": "invalid-value",
    }


def test_a_cap_binding_to_nobody_is_refused_and_the_schema_says_so(
    client: Client, center: CommandCenter, as_: As
) -> None:
    rules = _schema(client, "CapSenderBinding")["allOf"]
    head = center.head_position()

    r = client.post(
        "/v1/cap-senders", json={"sender": "nobody@haiwan", "units": []}, headers=as_("admin")
    )

    _refused(r, center, head)
    assert [b["required"] for b in rules[1]["anyOf"]] == [["units"], ["tokens"]]
    assert rules[0]["properties"]["sender"]["pattern"]


def test_a_reports_csv_and_html_are_published_media_types(client: Client, as_: As) -> None:
    ok = _document(client)["paths"]["/v1/reports/units/{code}"]["get"]["responses"]["200"]

    assert {"application/json", "text/csv", "text/html"} <= set(ok["content"])
    for kind in ("csv", "html"):
        r = client.get(f"/v1/reports/units/HW?format={kind}", headers=as_("admin"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].split(";")[0] in ok["content"]

"""The HTTP contract: ETags and If-Match, idempotency keys, problems for every mistake."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue, raise_warning

Client = TestClient[Any]

WARNING = {"rule": "r", "theme": "other", "level": 3, "title": "t", "unit": "HW-DH"}


def _is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_every_response_for_a_resource_carries_its_version_as_etag(client: Client, as_: As) -> None:
    w = raise_warning(client, as_)
    ack = client.post(f"/v1/warnings/{w['id']}/acknowledge", headers=as_("duty"))
    assert ack.headers["etag"] == f'"{ack.json()["version"]}"'
    got = client.get(f"/v1/warnings/{w['id']}", headers=as_("duty"))
    assert got.headers["etag"] == ack.headers["etag"]
    assert got.json()["version"] == ack.json()["version"] == 2
    assert ack.json()["position"] > w["position"]


def test_if_match_on_a_stale_version_is_412_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter
) -> None:
    w = raise_warning(client, as_)
    url = f"/v1/warnings/{w['id']}"
    seen = client.get(url, headers=as_("duty")).headers["etag"]
    client.post(f"{url}/acknowledge", headers=as_("duty", **{"If-Match": seen}))
    head = center.head_position()

    r = client.post(
        f"{url}/assess", json={"confirmed": True}, headers=as_("duty", **{"If-Match": seen})
    )

    _is_problem(r, 412)
    assert center.head_position() == head


def test_if_match_on_the_current_version_goes_through(client: Client, as_: As) -> None:
    i = issue(client, as_)
    r = client.post(
        f"/v1/instructions/{i['id']}/sign", headers=as_("office", **{"If-Match": '"1"'})
    )
    assert r.status_code == 200
    stale = client.post(
        f"/v1/instructions/{i['id']}/forward",
        json={"to_unit": "HW-DH-QS"},
        headers=as_("office", **{"If-Match": '"1"'}),
    )
    _is_problem(stale, 412)


def test_a_forward_retried_with_its_now_stale_if_match_answers_as_the_first_time(
    client: Client, as_: As, center: CommandCenter
) -> None:
    i = issue(client, as_)
    client.post(f"/v1/instructions/{i['id']}/sign", headers=as_("office"))
    seen = client.get(f"/v1/instructions/{i['id']}", headers=as_("office")).headers["etag"]
    body = {"to_unit": "HW-DH-QS", "command_id": "fwd-qs-1"}
    url = f"/v1/instructions/{i['id']}/forward"

    first = client.post(url, json=body, headers=as_("office", **{"If-Match": seen}))
    head = center.head_position()
    # The answer was lost; the client sends the same forward again, If-Match and all.
    again = client.post(url, json=body, headers=as_("office", **{"If-Match": seen}))

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert center.head_position() == head


def test_the_same_idempotency_key_and_body_answers_the_first_response_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter
) -> None:
    body = {"lead_unit": "HW-DH", "title": "Inspect", "due_in": "P1D"}
    headers = as_("district", **{"Idempotency-Key": "order-77"})
    first = client.post("/v1/instructions", json=body, headers=headers)
    head = center.head_position()

    again = client.post("/v1/instructions", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert center.head_position() == head


def test_the_same_idempotency_key_with_another_body_is_422(
    client: Client, as_: As, center: CommandCenter
) -> None:
    headers = as_("district", **{"Idempotency-Key": "order-78"})
    client.post(
        "/v1/instructions",
        json={"lead_unit": "HW-DH", "title": "A", "due_in": "P1D"},
        headers=headers,
    )
    head = center.head_position()

    r = client.post(
        "/v1/instructions",
        json={"lead_unit": "HW-DH", "title": "B", "due_in": "P1D"},
        headers=headers,
    )

    body = _is_problem(r, 422)
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert center.head_position() == head


def test_a_command_retried_with_its_command_id_is_a_no_op(
    client: Client, as_: As, center: CommandCenter
) -> None:
    body = {"lead_unit": "HW-DH", "title": "Inspect", "due_in": "P1D", "command_id": "c-1"}
    first = client.post("/v1/instructions", json=body, headers=as_("district"))
    head = center.head_position()
    again = client.post("/v1/instructions", json=body, headers=as_("district"))
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["position"] is None
    assert center.head_position() == head


def test_a_command_id_reused_for_another_instruction_is_422_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter
) -> None:
    body = {"lead_unit": "HW-DH", "title": "Inspect", "due_in": "P1D", "command_id": "c-2"}
    first = client.post("/v1/instructions", json=body, headers=as_("district"))
    head = center.head_position()

    r = client.post("/v1/instructions", json={**body, "title": "Evacuate"}, headers=as_("district"))

    problem = _is_problem(r, 422)
    assert problem["type"].endswith(":command-id-reused")
    assert problem["errors"][0]["field"] == "command_id"
    assert first.json()["id"] not in problem["detail"]  # the client may not be its issuer
    assert center.head_position() == head


def test_a_command_id_reused_for_another_step_is_422_and_the_warning_stays_as_it_was(
    client: Client, as_: As, center: CommandCenter
) -> None:
    w = raise_warning(client, as_)
    url = f"/v1/warnings/{w['id']}"
    client.post(f"{url}/acknowledge", json={"command_id": "d-1"}, headers=as_("duty"))
    head = center.head_position()

    r = client.post(
        f"{url}/cancel", json={"command_id": "d-1", "reason": "false alarm"}, headers=as_("duty")
    )

    problem = _is_problem(r, 422)
    assert problem["type"].endswith(":command-id-reused")
    assert problem["errors"][0]["field"] == "command_id"
    assert center.head_position() == head
    assert client.get(url, headers=as_("duty")).json()["status"] == "acknowledged"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**WARNING, "colour": "red"}, "colour"),
        ({**WARNING, "theme": "volcano"}, "theme"),
        ({**WARNING, "level": 7}, "level"),
        ({**WARNING, "title": "x" * 201}, "title"),
        ({k: v for k, v in WARNING.items() if k != "rule"}, "rule"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter, body: dict[str, Any], field: str
) -> None:
    head = center.head_position()
    r = client.post("/v1/warnings", json=body, headers=as_("monitor"))
    problem = _is_problem(r, 422)
    assert field in [e["field"] for e in problem["errors"]]
    assert center.head_position() == head


def test_malformed_json_is_400(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/warnings",
        content=b'{"rule": ',
        headers=as_("monitor", **{"Content-Type": "application/json"}),
    )
    _is_problem(r, 400)


def test_a_body_nested_thousands_deep_is_400_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter
) -> None:
    head = center.head_position()
    r = client.post(
        "/v1/warnings",
        content=b"[" * 5000 + b"]" * 5000,
        headers=as_("monitor", **{"Content-Type": "application/json"}),
    )
    _is_problem(r, 400)
    assert center.head_position() == head


def test_a_nul_character_in_a_filter_is_400_not_a_database_error(client: Client, as_: As) -> None:
    r = client.get("/v1/warnings", params={"unit": "HW\x00"}, headers=as_("duty"))
    _is_problem(r, 400)


def test_a_body_over_one_mebibyte_is_413(client: Client, as_: As) -> None:
    big = {**WARNING, "description": "x" * (1024 * 1024 + 10)}
    r = client.post("/v1/warnings", json=big, headers=as_("monitor"))
    _is_problem(r, 413)


def test_a_body_that_is_not_json_is_415(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/warnings", content=b"rule=r", headers=as_("monitor", **{"Content-Type": "text/plain"})
    )
    _is_problem(r, 415)


def test_an_unknown_route_and_a_wrong_method_are_problems(client: Client, as_: As) -> None:
    _is_problem(client.get("/v1/nothing-here", headers=as_("auditor")), 404)
    _is_problem(client.delete("/v1/units", headers=as_("admin")), 405)
    _is_problem(
        client.get(f"/v1/warnings/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=as_("auditor")), 404
    )


def test_a_business_time_without_an_offset_is_422(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/warnings",
        json={**WARNING, "occurred_at": "2026-01-01T08:00:00"},
        headers=as_("monitor"),
    )
    _is_problem(r, 422)


def test_health_answers_that_the_store_is_reachable(client: Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["store"] == "reachable"


def test_the_openapi_schema_and_its_page_are_served(client: Client) -> None:
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert "/v1/instructions/{iid}/forward" in schema.json()["paths"]
    assert client.get("/schema").status_code == 200

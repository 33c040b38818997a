"""Warnings over HTTP: raised by a monitor, worked by a duty officer, listed with filters."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from tests.api.conftest import As, raise_warning

Client = TestClient[Any]


def test_a_new_warning_is_created_and_a_repeat_of_the_open_one_answers_200(
    client: Client, as_: As
) -> None:
    first = raise_warning(client, as_, dedup_key="res-qs-1")
    assert first["status"] == "raised"
    assert first["created"] is True

    again = client.post(
        "/v1/warnings",
        json={
            "rule": "reservoir.level",
            "theme": "reservoir",
            "level": 1,
            "title": "Qingshan reservoir still rising",
            "unit": "HW-DH-QS",
            "dedup_key": "res-qs-1",
        },
        headers=as_("monitor"),
    )

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    detail = client.get(f"/v1/warnings/{first['id']}", headers=as_("duty")).json()
    assert detail["repeats"] == 1
    assert detail["level"] == 1  # a worse reading escalates the open warning


def test_a_duty_officer_takes_a_false_alarm_from_raised_to_closed(client: Client, as_: As) -> None:
    w = raise_warning(client, as_)
    url = f"/v1/warnings/{w['id']}"

    assert client.post(f"{url}/acknowledge", headers=as_("duty")).status_code == 200
    r = client.post(
        f"{url}/assess", json={"confirmed": False, "note": "sensor fault"}, headers=as_("duty")
    )
    assert r.json()["status"] == "false_alarm"
    r = client.post(f"{url}/close", json={"note": "checked on site"}, headers=as_("duty"))

    assert r.status_code == 200
    assert r.json()["status"] == "closed"
    detail = client.get(url, headers=as_("auditor"))
    assert detail.json()["status"] == "closed"
    assert detail.headers["etag"] == f'"{detail.json()["version"]}"'


def test_a_confirmed_warning_can_be_resolved_and_another_cancelled(client: Client, as_: As) -> None:
    one = raise_warning(client, as_)
    two = raise_warning(client, as_, dedup_key="other")
    for w in (one, two):
        client.post(f"/v1/warnings/{w['id']}/acknowledge", headers=as_("duty"))
        client.post(f"/v1/warnings/{w['id']}/assess", json={"confirmed": True}, headers=as_("duty"))

    resolved = client.post(f"/v1/warnings/{one['id']}/resolve", json={}, headers=as_("duty"))
    cancelled = client.post(
        f"/v1/warnings/{two['id']}/cancel",
        json={"reason": "source withdrew it"},
        headers=as_("duty"),
    )

    assert resolved.json()["status"] == "resolved"
    assert cancelled.json()["status"] == "cancelled"


def test_closing_an_unassessed_warning_is_a_conflict_with_the_domains_reason(
    client: Client, as_: As, center: CommandCenter
) -> None:
    w = raise_warning(client, as_)
    head = center.head_position()

    r = client.post(f"/v1/warnings/{w['id']}/close", headers=as_("duty"))

    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "assess" in r.json()["detail"]
    assert center.head_position() == head


def test_the_list_filters_by_status_level_theme_unit_and_time(client: Client, as_: As) -> None:
    qs = raise_warning(client, as_, level=1, dedup_key="a")
    raise_warning(client, as_, level=3, unit="HW-XL-SQ", theme="environment", dedup_key="b")
    client.post(f"/v1/warnings/{qs['id']}/acknowledge", headers=as_("duty"))

    def ids(**query: Any) -> list[str]:
        r = client.get("/v1/warnings", params=query, headers=as_("auditor"))
        assert r.status_code == 200, r.text
        return [w["id"] for w in r.json()["items"]]

    assert ids(status="acknowledged") == [qs["id"]]
    assert ids(level=1) == [qs["id"]]
    assert len(ids(theme="environment")) == 1
    assert ids(unit="HW-DH") == [qs["id"]]
    assert len(ids(unit="HW")) == 2
    assert ids(raised_from="2000-01-01T00:00:00+08:00", raised_to="2000-01-02T00:00:00+08:00") == []
    assert len(ids(raised_from="2000-01-01T00:00:00+08:00")) == 2


def test_the_list_is_paginated_with_an_opaque_cursor(client: Client, as_: As) -> None:
    raised = [raise_warning(client, as_, dedup_key=f"k{n}")["id"] for n in range(5)]

    first = client.get("/v1/warnings", params={"limit": 2}, headers=as_("duty")).json()
    second = client.get(
        "/v1/warnings", params={"limit": 2, "cursor": first["next_cursor"]}, headers=as_("duty")
    ).json()
    third = client.get(
        "/v1/warnings", params={"limit": 2, "cursor": second["next_cursor"]}, headers=as_("duty")
    ).json()

    seen = [w["id"] for page in (first, second, third) for w in page["items"]]
    assert seen == list(reversed(raised))
    assert third["next_cursor"] is None
    bad = client.get("/v1/warnings", params={"cursor": "nonsense!"}, headers=as_("duty"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


def test_answers_are_in_rfc3339_with_the_zones_offset(client: Client, as_: As) -> None:
    w = raise_warning(client, as_)
    detail = client.get(f"/v1/warnings/{w['id']}", headers=as_("duty")).json()
    assert detail["raised_at"].endswith("+08:00")


def test_a_raise_retried_by_another_instance_of_the_monitoring_system_answers_the_first(
    client: Client, as_: As, center: CommandCenter
) -> None:
    """Two instances of one adapter, each with a monitor token of the unit, and no
    ``source`` in the body: the server names the source after each token, and the retry
    is still the same raise."""
    other = TokenBook(center).issue(user="adapter-b", unit="HW", roles=["monitor"]).secret
    body = {
        "rule": "reservoir.level",
        "theme": "reservoir",
        "level": 2,
        "title": "Qingshan above the limit",
        "unit": "HW-DH-QS",
        "command_id": "adapter-17",
    }
    first = client.post("/v1/warnings", json=body, headers=as_("monitor"))
    head = center.head_position()
    again = client.post("/v1/warnings", json=body, headers={"Authorization": f"Bearer {other}"})
    assert first.status_code == 201
    assert again.status_code in (200, 201), again.text
    assert again.json()["id"] == first.json()["id"]
    assert center.head_position() == head

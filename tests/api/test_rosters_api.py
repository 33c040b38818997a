"""Duty rosters over HTTP (ADR 0084): shifts arranged by a duty officer of the unit or
above it, overlaps refused with words and nothing stored, a handover by the person on
duty only, who is on duty answered in the calendar's zone; role and subtree refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import As

Client = TestClient[Any]

KEEPERS = {
    "dh_li": ("HW-DH", "duty_officer"),
    "dh_stranger": ("HW-DH", "duty_officer"),
    "qs_duty": ("HW-DH-QS", "duty_officer"),
}


@pytest.fixture
def who(center: CommandCenter, as_: As) -> As:
    book = TokenBook(center)
    for name, (unit, role) in KEEPERS.items():
        as_.tokens[name] = book.issue(user=name, unit=unit, roles=[role]).secret
    return as_


def shifts(start_hours: float = -1, hours: float = 8, person: str = "dh_li") -> dict[str, Any]:
    start = now() + timedelta(hours=start_hours)
    return {
        "shifts": [
            {
                "post": "duty_officer",
                "person": person,
                "deputy": "dh_wang",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=hours)).isoformat(),
            },
            {
                "post": "duty_leader",
                "person": "dh_chen",
                "deputy": "dh_zhou",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=hours)).isoformat(),
            },
        ]
    }


def refused(center: CommandCenter, r: Any, status: int, code: str, head: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()
    assert center.head_position() == head, "a refused request stored events"
    return dict(r.json())


def test_a_district_duty_officer_arranges_an_offices_shifts_and_anyone_near_asks_who_is_on(
    client: Client, who: As, center: CommandCenter
) -> None:
    r = client.post("/v1/units/HW-DH/roster/shifts", json=shifts(), headers=who("duty"))
    assert r.status_code == 201, r.text
    on = client.get("/v1/units/HW-DH/on-duty", headers=who("community"))
    assert on.status_code == 200, on.text
    body = on.json()
    assert body["duty_officer"]["person"] == "dh_li"
    assert body["duty_leader"]["deputy"] == "dh_zhou"
    assert body["at"].endswith("+08:00")
    assert body["duty_officer"]["ends_at"].endswith("+08:00")
    roster = client.get("/v1/units/HW-DH/roster", headers=who("office")).json()
    assert len(roster["shifts"]) == 2
    later = (now() + timedelta(days=2)).isoformat()
    none = client.get("/v1/units/HW-DH/on-duty", params={"at": later}, headers=who("duty"))
    assert none.json()["duty_officer"] is None


def test_overlapping_shifts_for_one_post_are_refused_with_words_and_nothing_stored(
    client: Client, who: As, center: CommandCenter
) -> None:
    client.post("/v1/units/HW-DH/roster/shifts", json=shifts(), headers=who("duty"))
    head = center.head_position()
    r = client.post(
        "/v1/units/HW-DH/roster/shifts", json=shifts(start_hours=2, person="x"), headers=who("duty")
    )
    problem = refused(center, r, 422, "shift-refused", head)
    assert "overlaps" in problem["detail"]


def test_shifts_outside_the_subtree_or_in_another_role_are_403(
    client: Client, who: As, center: CommandCenter
) -> None:
    head = center.head_position()
    refused(
        center,
        client.post("/v1/units/HW/roster/shifts", json=shifts(), headers=who("qs_duty")),
        403,
        "not-permitted",
        head,
    )
    r = client.post("/v1/units/HW-DH/roster/shifts", json=shifts(), headers=who("office"))
    assert r.status_code == 403, r.text
    assert center.head_position() == head


def test_a_handover_by_the_person_on_duty_passes_the_post_and_by_another_is_refused(
    client: Client, who: As, center: CommandCenter
) -> None:
    client.post("/v1/units/HW-DH/roster/shifts", json=shifts(), headers=who("duty"))
    head = center.head_position()
    body = {"post": "duty_officer", "to_person": "dh_zhao", "note": "两件未结"}
    problem = refused(
        center,
        client.post("/v1/units/HW-DH/roster/handovers", json=body, headers=who("dh_stranger")),
        403,
        "handover-refused",
        head,
    )
    assert "dh_li is" in problem["detail"]
    r = client.post("/v1/units/HW-DH/roster/handovers", json=body, headers=who("dh_li"))
    assert r.status_code == 200, r.text
    on = client.get("/v1/units/HW-DH/on-duty", headers=who("duty")).json()
    assert on["duty_officer"]["person"] == "dh_zhao"
    assert on["duty_officer"]["handed_over"]


def test_a_unit_out_of_reach_is_404_and_a_time_without_offset_is_refused(
    client: Client, who: As
) -> None:
    assert client.get("/v1/units/HW-XL/on-duty", headers=who("community")).status_code == 404
    r = client.get(
        "/v1/units/HW-DH/on-duty", params={"at": "2026-03-13T10:00:00"}, headers=who("duty")
    )
    assert r.status_code in (400, 422), r.text

"""Approved deferral (缓办) over HTTP (ADR 0071): asked by the lead unit, decided by the
issuer, resumed by the issuer; every refusal a named problem, with nothing stored."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue

Client = TestClient[Any]


def _signed(client: Client, as_: As) -> str:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    assert client.post(f"{url}/sign", headers=as_("office")).status_code == 200
    return url


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()


def test_a_deferral_is_asked_approved_and_resumed_and_the_detail_shows_each(
    client: Client, as_: As
) -> None:
    url = _signed(client, as_)
    r = client.post(
        f"{url}/deferral-requests",
        json={"reason": "the court has not ruled"},
        headers=as_("office"),
    )
    assert r.status_code == 200, r.text
    detail = client.get(url, headers=as_("district")).json()
    assert detail["pending_deferral"]["unit"] == "HW-DH"
    assert detail["pending_deferral"]["reason"] == "the court has not ruled"

    r = client.post(f"{url}/deferral-decisions", json={"granted": True}, headers=as_("district"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "deferred"
    detail = client.get(url, headers=as_("district")).json()
    assert detail["status"] == "deferred"
    assert detail["pending_deferral"] is None
    assert detail["overdue"] is False
    assert detail["deferred_remaining_seconds"] > 0
    # The inbox shows the clock stopped: the time left at approval, nothing late.
    box = client.get("/v1/units/HW-DH/inbox", headers=as_("office")).json()
    item = next(x for x in box["assigned"] if x["id"] == detail["id"])
    assert item["status"] == "deferred"
    assert item["overdue"] is False
    assert item["time_left_seconds"] == detail["deferred_remaining_seconds"]

    r = client.post(f"{url}/resume", json={"note": "ruled"}, headers=as_("district"))
    assert r.status_code == 200, r.text
    detail = client.get(url, headers=as_("district")).json()
    assert detail["status"] == "in_progress"
    assert detail["deferred_remaining_seconds"] is None


def test_a_refused_deferral_leaves_the_case_as_it_was(client: Client, as_: As) -> None:
    url = _signed(client, as_)
    before = client.get(url, headers=as_("district")).json()
    client.post(f"{url}/deferral-requests", json={"reason": "funds"}, headers=as_("office"))
    r = client.post(
        f"{url}/deferral-decisions",
        json={"granted": False, "note": "the funds are there"},
        headers=as_("district"),
    )
    assert r.status_code == 200, r.text
    after = client.get(url, headers=as_("district")).json()
    assert (after["status"], after["deadline"]) == (before["status"], before["deadline"])


# -- bad input: a named problem each, and nothing stored --------------------------------


def test_a_deferral_without_a_reason_is_refused_at_its_field(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _signed(client, as_)
    head = center.head_position()
    r = client.post(f"{url}/deferral-requests", json={"reason": "  "}, headers=as_("office"))
    assert r.status_code == 422, r.text
    r = client.post(f"{url}/deferral-requests", json={}, headers=as_("office"))
    assert r.status_code == 422, r.text
    assert center.head_position() == head


def test_a_deferral_asked_by_the_wrong_unit_or_in_the_wrong_state_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    head = center.head_position()
    # Not signed for yet: the unit does not hold it.
    r = client.post(f"{url}/deferral-requests", json={"reason": "x"}, headers=as_("office"))
    _problem(r, 409, "invalid-transition")
    # A dispatcher's token cannot take a handler's step.
    r = client.post(f"{url}/deferral-requests", json={"reason": "x"}, headers=as_("district"))
    assert r.status_code == 403, r.text
    # Nothing asked: nothing to decide.
    r = client.post(f"{url}/deferral-decisions", json={"granted": True}, headers=as_("district"))
    _problem(r, 409, "invalid-transition")
    assert center.head_position() == head


def test_only_the_issuer_decides_and_a_refusal_must_say_why(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _signed(client, as_)
    client.post(f"{url}/deferral-requests", json={"reason": "a court case"}, headers=as_("office"))
    head = center.head_position()
    # The lead unit's own dispatcher is not the issuer.
    r = client.post(f"{url}/deferral-decisions", json={"granted": True}, headers=as_("office"))
    _problem(r, 403, "not-permitted")
    r = client.post(f"{url}/deferral-decisions", json={"granted": False}, headers=as_("district"))
    assert r.status_code == 422, r.text
    r = client.post(f"{url}/deferral-requests", json={"reason": "again"}, headers=as_("office"))
    _problem(r, 409, "invalid-transition")
    assert center.head_position() == head


def test_a_deferred_case_takes_no_handling_step(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _signed(client, as_)
    client.post(f"{url}/deferral-requests", json={"reason": "a court case"}, headers=as_("office"))
    client.post(f"{url}/deferral-decisions", json={"granted": True}, headers=as_("district"))
    head = center.head_position()
    r = client.post(f"{url}/submit", json={"result": "done"}, headers=as_("office"))
    _problem(r, 409, "invalid-transition")
    assert "deferred" in r.json()["detail"]
    assert center.head_position() == head

"""Dispatch disputes (派单异议) over HTTP (ADR 0076): filed by the lead unit, arbitrated by
the issuer; every refusal a named problem, with nothing stored. Run on SQLite and on
PostgreSQL (the ``center`` fixture). The limits in time are tested with a frozen clock
in tests/unit/test_disputes.py."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue

Client = TestClient[Any]


def _disputed(client: Client, as_: As) -> str:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    r = client.post(
        f"{url}/disputes", json={"reason": "the water bureau's main"}, headers=as_("office")
    )
    assert r.status_code == 200, r.text
    return url


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()


def test_an_upheld_dispute_sends_the_case_to_the_named_unit(client: Client, as_: As) -> None:
    url = _disputed(client, as_)
    detail = client.get(url, headers=as_("district")).json()
    assert detail["pending_dispute"]["unit"] == "HW-DH"
    assert detail["pending_dispute"]["reason"] == "the water bureau's main"
    r = client.post(
        f"{url}/dispute-arbitrations",
        json={"upheld": True, "lead_unit": "HW-XL", "note": "agreed"},
        headers=as_("district"),
    )
    assert r.status_code == 200, r.text
    detail = client.get(url, headers=as_("district")).json()
    assert detail["lead_unit"] == "HW-XL"
    assert detail["status"] == "dispatched"
    assert detail["pending_dispute"] is None
    assert [a["unit"] for a in detail["assignees"]] == ["HW-XL"]
    # The new lead takes it as any dispatched case.
    r = client.post(f"{url}/sign", headers=as_("office_xl"))
    assert r.status_code == 200, r.text


def test_a_refused_dispute_leaves_the_case_and_its_deadline(client: Client, as_: As) -> None:
    url = _disputed(client, as_)
    before = client.get(url, headers=as_("district")).json()
    r = client.post(
        f"{url}/dispute-arbitrations",
        json={"upheld": False, "note": "the drain is yours"},
        headers=as_("district"),
    )
    assert r.status_code == 200, r.text
    after = client.get(url, headers=as_("district")).json()
    assert (after["lead_unit"], after["deadline"]) == ("HW-DH", before["deadline"])
    assert after["pending_dispute"] is None


# -- bad input: a named problem each, and nothing stored --------------------------------


def test_a_dispute_without_a_reason_by_the_wrong_unit_or_role_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    head = center.head_position()
    r = client.post(f"{url}/disputes", json={"reason": "  "}, headers=as_("office"))
    _problem(r, 422, "invalid-value")
    r = client.post(f"{url}/disputes", json={}, headers=as_("office"))
    assert r.status_code == 422, r.text
    # A unit outside the case does not even see it.
    r = client.post(f"{url}/disputes", json={"reason": "x"}, headers=as_("office_xl"))
    _problem(r, 404, "not-found")
    r = client.post(f"{url}/disputes", json={"reason": "x"}, headers=as_("district"))
    assert r.status_code == 403, r.text
    r = client.post(
        f"{url}/dispute-arbitrations", json={"upheld": False, "note": "no"}, headers=as_("district")
    )
    _problem(r, 409, "invalid-transition")
    assert center.head_position() == head


def test_a_dispute_on_a_submitted_case_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    client.post(f"{url}/sign", headers=as_("office"))
    client.post(f"{url}/submit", json={"result": "done"}, headers=as_("office"))
    head = center.head_position()
    r = client.post(f"{url}/disputes", json={"reason": "not ours"}, headers=as_("office"))
    _problem(r, 409, "invalid-transition")
    assert center.head_position() == head


def test_arbitration_by_the_wrong_unit_or_naming_a_wrong_unit_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _disputed(client, as_)
    head = center.head_position()
    arbitrate = f"{url}/dispute-arbitrations"
    r = client.post(arbitrate, json={"upheld": True, "lead_unit": "HW-XL"}, headers=as_("office"))
    _problem(r, 403, "not-permitted")
    r = client.post(arbitrate, json={"upheld": True, "lead_unit": "HW-DH"}, headers=as_("district"))
    _problem(r, 422, "invalid-value")
    r = client.post(arbitrate, json={"upheld": True}, headers=as_("district"))
    _problem(r, 422, "invalid-value")
    r = client.post(arbitrate, json={"upheld": False}, headers=as_("district"))
    _problem(r, 422, "invalid-value")
    r = client.post(arbitrate, json={"upheld": True, "lead_unit": "HC"}, headers=as_("district"))
    assert r.status_code in (403, 409, 422), r.text
    r = client.post(f"{url}/disputes", json={"reason": "again"}, headers=as_("office"))
    _problem(r, 409, "invalid-transition")
    assert center.head_position() == head

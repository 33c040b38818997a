"""Instructions over HTTP: every step of the loop, and the lists."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue, later, raise_warning

Client = TestClient[Any]


def _post(client: Client, as_: As, who: str, url: str, body: Any = None) -> dict[str, Any]:
    r = (
        client.post(url, json=body, headers=as_(who))
        if body is not None
        else client.post(url, headers=as_(who))
    )
    assert r.status_code in (200, 201), r.text
    result: dict[str, Any] = r.json()
    return result


def test_a_forwarded_instruction_goes_round_the_whole_loop(client: Client, as_: As) -> None:
    w = raise_warning(client, as_)
    for step, body in (("acknowledge", None), ("assess", {"confirmed": True})):
        _post(client, as_, "duty", f"/v1/warnings/{w['id']}/{step}", body)
    parent = issue(client, as_, warning_ids=[w["id"]], content="check the spillway")
    p = f"/v1/instructions/{parent['id']}"

    assert _post(client, as_, "office", f"{p}/sign")["status"] == "in_progress"
    fwd = client.post(
        f"{p}/forward", json={"to_unit": "HW-DH-QS", "due_in": "P1D"}, headers=as_("office")
    )
    assert fwd.status_code == 201
    child = f"/v1/instructions/{fwd.json()['id']}"
    _post(client, as_, "community", f"{child}/sign")
    _post(client, as_, "community", f"{child}/progress", {"note": "on site"})
    _post(client, as_, "community", f"{child}/submit", {"result": "sandbags placed"})
    rework = _post(
        client, as_, "office", f"{child}/verify", {"accepted": False, "note": "photos missing"}
    )
    assert rework["status"] == "rework"
    _post(client, as_, "community", f"{child}/submit", {"result": "sandbags placed, photos"})
    assert _post(client, as_, "office", f"{child}/verify", {"accepted": True})["status"] == "closed"
    _post(client, as_, "office", f"{p}/submit", {"result": "done"})
    assert _post(client, as_, "district", f"{p}/verify", {"accepted": True})["status"] == "closed"
    _post(client, as_, "duty", f"/v1/warnings/{w['id']}/resolve", {})
    assert _post(client, as_, "duty", f"/v1/warnings/{w['id']}/close")["status"] == "closed"

    detail = client.get(p, headers=as_("district")).json()
    assert detail["status"] == "closed"
    assert detail["assignees"][0]["disposition"]["status"] == "accepted"


def test_the_detail_shows_each_assignees_state_and_disposition(client: Client, as_: As) -> None:
    i = issue(client, as_, cooperating_units=["HW-XL"])
    url = f"/v1/instructions/{i['id']}"
    _post(client, as_, "office", f"{url}/sign")
    _post(client, as_, "office", f"{url}/progress", {"note": "team sent"})

    detail = client.get(url, headers=as_("district")).json()

    lead, coop = detail["assignees"]
    assert (lead["unit"], lead["lead"], lead["state"]) == ("HW-DH", True, "signed")
    assert lead["disposition"]["actions"][0]["text"] == "team sent"
    assert (coop["unit"], coop["state"], coop["disposition"]) == ("HW-XL", "dispatched", None)


def test_a_disposition_action_is_recorded_by_its_unit(client: Client, as_: As) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    _post(client, as_, "office", f"{url}/sign")
    did = client.get(url, headers=as_("office")).json()["assignees"][0]["disposition"]["id"]

    r = client.post(
        f"/v1/dispositions/{did}/actions",
        json={"text": "closed the road", "evidence": ["photo-1"]},
        headers=as_("office"),
    )

    assert r.status_code == 200
    d = client.get(f"/v1/dispositions/{did}", headers=as_("office")).json()
    assert d["actions"][0]["evidence"] == ["photo-1"]


def test_return_and_redirect_hand_the_instruction_to_another_office(
    client: Client, as_: As
) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"

    assert _post(client, as_, "office", f"{url}/return", {"reason": "not ours"})["status"] == (
        "returned"
    )
    r = _post(client, as_, "district", f"{url}/redirect", {"lead_unit": "HW-XL"})

    assert r["status"] == "dispatched"
    assert client.get(url, headers=as_("office_xl")).json()["lead_unit"] == "HW-XL"


def test_extension_requested_and_granted_moves_the_deadline(client: Client, as_: As) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"
    _post(client, as_, "office", f"{url}/sign")

    _post(
        client,
        as_,
        "office",
        f"{url}/extension-requests",
        {"deadline": later(30), "reason": "rain"},
    )
    _post(client, as_, "district", f"{url}/extension-decisions", {"granted": True})

    detail = client.get(url, headers=as_("district")).json()
    assert detail["deadline"] != detail["original_deadline"]
    assert detail["pending_extension"] is None


def test_the_issuer_reminds_supervises_parks_resumes_and_cancels(client: Client, as_: As) -> None:
    i = issue(client, as_)
    url = f"/v1/instructions/{i['id']}"

    _post(client, as_, "district", f"{url}/remind", {"note": "due soon"})
    _post(client, as_, "district", f"{url}/supervise")
    assert _post(client, as_, "district", f"{url}/park", {"reason": "winter"})["status"] == "parked"
    assert _post(client, as_, "district", f"{url}/resume")["status"] == "dispatched"
    assert _post(client, as_, "district", f"{url}/cancel", {"reason": "duplicate"})["status"] == (
        "cancelled"
    )
    detail = client.get(url, headers=as_("district")).json()
    assert (detail["reminders"], detail["supervised_by"]) == (1, "HW")


def test_the_list_filters_by_assignee_issuer_status_and_overdue(client: Client, as_: As) -> None:
    a = issue(client, as_)
    b = issue(client, as_, lead_unit="HW-XL")
    _post(client, as_, "office", f"/v1/instructions/{a['id']}/sign")

    def ids(**query: Any) -> list[str]:
        r = client.get("/v1/instructions", params=query, headers=as_("auditor"))
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids(assignee="HW-XL") == [b["id"]]
    assert ids(issuer="HW") == [b["id"], a["id"]]
    assert ids(status="in_progress") == [a["id"]]
    assert ids(overdue=True) == []
    assert len(ids(overdue=False)) == 2


def test_an_instruction_with_a_deadline_in_the_past_is_refused_naming_the_field(
    client: Client, as_: As, center: CommandCenter
) -> None:
    head = center.head_position()
    r = client.post(
        "/v1/instructions",
        json={"lead_unit": "HW-DH", "title": "late", "deadline": "2020-01-01T00:00:00+08:00"},
        headers=as_("district"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "deadline"
    assert center.head_position() == head


def test_a_bad_duration_is_refused_naming_the_field(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/instructions",
        json={"lead_unit": "HW-DH", "title": "x", "due_in": "P1M"},
        headers=as_("district"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "due_in"


def test_an_instruction_up_the_network_is_refused_with_403(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/instructions",
        json={"lead_unit": "HW", "title": "up", "due_in": "P1D"},
        headers=as_("office"),
    )
    assert r.status_code == 403
    assert "never up" in r.json()["detail"]

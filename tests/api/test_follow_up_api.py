"""Follow-up and reopening (回访, 重办) over HTTP (ADR 0083): the issuer's dispatcher
records the caller's answers on a closed case from the public; unresolved and
dissatisfied reopens it to the same lead. Every refusal a named problem, with nothing
stored. Run on SQLite and on PostgreSQL (the ``center`` fixture). The limit in time is
tested with a frozen clock in tests/unit/test_follow_ups.py."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue, raise_warning

Client = TestClient[Any]

ANSWERS = {"contacted": True, "resolved": True, "satisfaction": "satisfied"}


def _closed(client: Client, as_: As, source: str = "12345", **fields: Any) -> str:
    w = raise_warning(client, as_, source=source, **fields)
    wurl = f"/v1/warnings/{w['id']}"
    assert client.post(f"{wurl}/acknowledge", headers=as_("duty")).status_code == 200
    r = client.post(f"{wurl}/assess", json={"confirmed": True}, headers=as_("duty"))
    assert r.status_code == 200, r.text
    i = issue(client, as_, warning_ids=[w["id"]])
    url = f"/v1/instructions/{i['id']}"
    assert client.post(f"{url}/sign", headers=as_("office")).status_code == 200
    r = client.post(f"{url}/submit", json={"result": "cleared"}, headers=as_("office"))
    assert r.status_code == 200, r.text
    r = client.post(f"{url}/verify", json={"accepted": True}, headers=as_("district"))
    assert r.status_code == 200, r.text
    return url


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()


def test_a_satisfied_caller_leaves_the_case_closed_with_the_answers_on_it(
    client: Client, as_: As
) -> None:
    url = _closed(client, as_)
    body = {**ANSWERS, "satisfaction": "basically_satisfied", "note": "thanks"}
    r = client.post(f"{url}/follow-ups", json=body, headers=as_("district"))
    assert r.status_code == 200, r.text
    detail = client.get(url, headers=as_("district")).json()
    assert detail["status"] == "closed"
    assert detail["reopen_count"] == 0
    last = detail["last_follow_up"]
    assert (last["satisfaction"], last["reopened"], last["unit"]) == (
        "basically_satisfied",
        False,
        "HW-DH",
    )
    assert last["at"].endswith("+08:00")


def test_unresolved_and_dissatisfied_reopens_the_case_to_the_same_unit(
    client: Client, as_: As
) -> None:
    url = _closed(client, as_)
    body = {"contacted": False, "resolved": False, "satisfaction": "dissatisfied"}
    r = client.post(f"{url}/follow-ups", json=body, headers=as_("district"))
    assert r.status_code == 200, r.text
    detail = client.get(url, headers=as_("office")).json()
    assert (detail["status"], detail["lead_unit"], detail["reopen_count"]) == (
        "in_progress",
        "HW-DH",
        1,
    )
    assert detail["closed_at"] is None
    assert detail["assignees"][0]["state"] == "signed"
    # The same unit does it again; the issuer closes it again.
    r = client.post(f"{url}/submit", json={"result": "the main too"}, headers=as_("office"))
    assert r.status_code == 200, r.text
    r = client.post(f"{url}/verify", json={"accepted": True}, headers=as_("district"))
    assert r.status_code == 200, r.text
    assert client.get(url, headers=as_("district")).json()["status"] == "closed"


# -- bad input: a named problem each, and nothing stored --------------------------------


def test_a_follow_up_of_a_case_not_from_the_public_or_not_closed_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _closed(client, as_, source="level-gauge")
    open_case = f"/v1/instructions/{issue(client, as_)['id']}"
    head = center.head_position()
    r = client.post(f"{url}/follow-ups", json=ANSWERS, headers=as_("district"))
    _problem(r, 409, "not-from-the-public")
    r = client.post(f"{open_case}/follow-ups", json=ANSWERS, headers=as_("district"))
    _problem(r, 409, "follow-up-refused")
    assert center.head_position() == head


def test_a_reporter_named_on_the_warning_makes_it_the_publics(client: Client, as_: As) -> None:
    url = _closed(client, as_, source="inspector", attributes={"reporter": "Ms Li"})
    r = client.post(f"{url}/follow-ups", json=ANSWERS, headers=as_("district"))
    assert r.status_code == 200, r.text


def test_a_follow_up_by_the_wrong_unit_or_role_without_answers_or_twice_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _closed(client, as_)
    follow = f"{url}/follow-ups"
    head = center.head_position()
    # The lead unit's own dispatcher is not the issuer.
    _problem(client.post(follow, json=ANSWERS, headers=as_("office")), 403, "not-permitted")
    # A duty officer of the issuer is not its dispatcher.
    assert client.post(follow, json=ANSWERS, headers=as_("duty")).status_code == 403
    for missing in ("contacted", "resolved", "satisfaction"):
        body = {k: v for k, v in ANSWERS.items() if k != missing}
        r = client.post(follow, json=body, headers=as_("district"))
        assert r.status_code == 422, r.text
        assert missing in r.text
    r = client.post(follow, json={**ANSWERS, "satisfaction": "meh"}, headers=as_("district"))
    assert r.status_code == 422, r.text
    assert center.head_position() == head
    assert client.post(follow, json=ANSWERS, headers=as_("district")).status_code == 200
    head = center.head_position()
    _problem(client.post(follow, json=ANSWERS, headers=as_("district")), 409, "follow-up-refused")
    assert center.head_position() == head

"""Who may do what, and who sees what: tokens, roles, and the subtree of a unit."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import DEFAULT_CACHE_SECONDS, TokenBook
from domain.application import CommandCenter
from tests.api.conftest import As, issue, raise_warning

Client = TestClient[Any]


def test_no_token_is_401_with_a_bearer_challenge(client: Client) -> None:
    r = client.get("/v1/units")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["status"] == 401


def test_an_unknown_token_is_401(client: Client) -> None:
    r = client.get("/v1/units", headers={"Authorization": "Bearer cl_not-a-real-token"})
    assert r.status_code == 401


def test_a_token_revoked_by_the_server_is_refused_on_its_very_next_request(
    client: Client, center: CommandCenter
) -> None:
    served: TokenBook = client.app.state.services.tokens
    token = served.issue(user="leaver", unit="HW", roles=["dispatcher"])
    headers = {"Authorization": f"Bearer {token.secret}"}
    assert client.get("/v1/units", headers=headers).status_code == 200

    served.revoke(token.token_id)

    assert client.get("/v1/units", headers=headers).status_code == 401
    assert [e["revoked"] for e in served.list() if e["token_id"] == token.token_id] == [True]


def test_a_token_revoked_by_another_process_is_refused_once_the_trust_period_ends(
    client: Client, center: CommandCenter
) -> None:
    # `closedloop token revoke` runs in a process of its own, with a book of its own.
    elsewhere = TokenBook(center)
    token = elsewhere.issue(user="leaver", unit="HW", roles=["dispatcher"])
    headers = {"Authorization": f"Bearer {token.secret}"}
    # The server's clock, stepped by hand: the lookups run on threads of their own,
    # where freezegun's frozen clock does not reliably reach.
    seconds = [1000.0]
    client.app.state.services.tokens.clock = lambda: seconds[0]
    assert client.get("/v1/units", headers=headers).status_code == 200

    elsewhere.revoke(token.token_id)

    # Within the trust period the server has not read the revocation yet...
    seconds[0] += DEFAULT_CACHE_SECONDS - 0.5
    assert client.get("/v1/units", headers=headers).status_code == 200
    # ...and past it, it has.
    seconds[0] += 1.0
    assert client.get("/v1/units", headers=headers).status_code == 401


def test_with_no_trust_period_a_revocation_from_elsewhere_holds_at_the_next_request(
    client: Client, center: CommandCenter
) -> None:
    server = TokenBook(center, cache_seconds=0)
    elsewhere = TokenBook(center)
    token = elsewhere.issue(user="leaver", unit="HW", roles=["dispatcher"])
    assert server.authenticate(token.secret) is not None

    elsewhere.revoke(token.token_id)

    assert server.remembered(token.secret) is None
    assert server.authenticate(token.secret) is None


def test_only_a_hash_of_the_token_is_stored(client: Client, center: CommandCenter) -> None:
    token = TokenBook(center).issue(user="x", unit="HW", roles=["auditor"])
    stored = b"".join(n.state for n in center.recorder.select_notifications(1, 100_000))
    assert token.secret.encode() not in stored


# (who, method, path kind, body) for acts each role may not do
FORBIDDEN = [
    ("auditor", "/v1/instructions", {"lead_unit": "HW-DH", "title": "t", "due_in": "P1D"}),
    ("handler_only", "/v1/instructions", {"lead_unit": "HW-DH-QS", "title": "t", "due_in": "P1D"}),
    (
        "duty",
        "/v1/warnings",
        {"rule": "r", "theme": "other", "level": 3, "title": "t", "unit": "HW"},
    ),
    (
        "district",
        "/v1/units",
        {"code": "X1", "name": "x", "level": "office", "kind": "government", "parent": "HW"},
    ),
    (
        "monitor",
        "/v1/units",
        {"code": "X2", "name": "x", "level": "office", "kind": "government", "parent": "HW"},
    ),
]


@pytest.mark.parametrize(("who", "path", "body"), FORBIDDEN)
def test_a_role_that_may_not_act_gets_403_with_a_reason_and_nothing_is_stored(
    client: Client, as_: As, center: CommandCenter, who: str, path: str, body: dict[str, Any]
) -> None:
    who = "community" if who == "handler_only" else who
    head = center.head_position()

    r = client.post(path, json=body, headers=as_(who))

    assert r.status_code == 403
    assert "role" in r.json()["detail"]
    assert center.head_position() == head


def test_the_duty_officers_and_dispatchers_steps_need_their_roles(
    client: Client, as_: As, center: CommandCenter
) -> None:
    w = raise_warning(client, as_)
    i = issue(client, as_)
    head = center.head_position()

    for who, url, body in [
        ("district", f"/v1/warnings/{w['id']}/acknowledge", None),
        ("auditor", f"/v1/warnings/{w['id']}/acknowledge", None),
        ("office_handler_only", f"/v1/instructions/{i['id']}/remind", None),
        ("district", f"/v1/instructions/{i['id']}/sign", None),
        ("auditor", f"/v1/instructions/{i['id']}/cancel", {"reason": "x"}),
    ]:
        who = "community" if who == "office_handler_only" else who
        r = client.post(url, json=body, headers=as_(who))
        assert r.status_code == 403, (who, url, r.text)
    assert center.head_position() == head


def test_a_unit_rule_refused_by_the_domain_is_403_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter
) -> None:
    i = issue(client, as_)
    client.post(f"/v1/instructions/{i['id']}/sign", headers=as_("office"))
    client.post(
        f"/v1/instructions/{i['id']}/submit", json={"result": "done"}, headers=as_("office")
    )
    head = center.head_position()

    # The office has the dispatcher role, but it did not issue this instruction.
    r = client.post(
        f"/v1/instructions/{i['id']}/verify", json={"accepted": True}, headers=as_("office")
    )

    assert r.status_code == 403
    assert "issuing unit" in r.json()["detail"]
    assert center.head_position() == head


def test_a_monitor_raises_only_for_units_under_it(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/warnings",
        json={"rule": "r", "theme": "other", "level": 3, "title": "t", "unit": "HC"},
        headers=as_("monitor"),
    )
    assert r.status_code == 403


def test_an_office_sees_the_districts_instruction_to_it_but_not_the_districts_other_cases(
    client: Client, as_: As
) -> None:
    to_office = issue(client, as_)
    to_other_office = issue(client, as_, lead_unit="HW-XL")

    listed = client.get("/v1/instructions", headers=as_("office")).json()["items"]

    assert [i["id"] for i in listed] == [to_office["id"]]
    assert (
        client.get(f"/v1/instructions/{to_office['id']}", headers=as_("office")).status_code == 200
    )
    hidden = client.get(f"/v1/instructions/{to_other_office['id']}", headers=as_("office"))
    assert hidden.status_code == 404


def test_a_community_never_sees_another_communitys_cases(client: Client, as_: As) -> None:
    parent = issue(client, as_)
    p = f"/v1/instructions/{parent['id']}"
    client.post(f"{p}/sign", headers=as_("office"))
    mine = client.post(f"{p}/forward", json={"to_unit": "HW-DH-QS"}, headers=as_("office")).json()
    theirs = client.post(f"{p}/forward", json={"to_unit": "HW-DH-HP"}, headers=as_("office")).json()
    w = raise_warning(client, as_, unit="HW-DH-HP")

    mine_listed = client.get("/v1/instructions", headers=as_("community")).json()["items"]
    assert [i["id"] for i in mine_listed] == [mine["id"]]
    assert (
        client.get(f"/v1/instructions/{theirs['id']}", headers=as_("community")).status_code == 404
    )
    assert (
        client.get(f"/v1/instructions/{parent['id']}", headers=as_("community")).status_code == 404
    )
    assert client.get(f"/v1/warnings/{w['id']}", headers=as_("community")).status_code == 404
    assert client.get("/v1/warnings", headers=as_("community")).json()["items"] == []
    # A district sees its whole subtree.
    assert len(client.get("/v1/instructions", headers=as_("district")).json()["items"]) == 3


def test_a_duty_officer_acts_only_on_warnings_in_its_subtree(
    client: Client, as_: As, center: CommandCenter
) -> None:
    w = raise_warning(client, as_, unit="HW-DH-QS")
    head = center.head_position()

    r = client.post(f"/v1/warnings/{w['id']}/acknowledge", headers=as_("duty_xl"))

    assert r.status_code == 404
    assert center.head_position() == head


def test_the_auditor_reads_everything_and_changes_nothing(client: Client, as_: As) -> None:
    i = issue(client, as_, lead_unit="HW-XL")
    w = raise_warning(client, as_)
    assert client.get(f"/v1/instructions/{i['id']}", headers=as_("auditor")).status_code == 200
    assert client.get(f"/v1/warnings/{w['id']}", headers=as_("auditor")).status_code == 200
    assert (
        client.post(f"/v1/warnings/{w['id']}/acknowledge", headers=as_("auditor")).status_code
        == 403
    )


def test_an_admin_registers_renames_moves_and_deactivates_a_unit(client: Client, as_: As) -> None:
    r = client.post(
        "/v1/units",
        json={
            "code": "HW-DH-NEW",
            "name": "新社区",
            "level": "community",
            "kind": "government",
            "parent": "HW-DH",
        },
        headers=as_("admin"),
    )
    assert r.status_code == 201, r.text
    r = client.patch(
        "/v1/units/HW-DH-NEW", json={"name": "新村社区", "parent": "HW-XL"}, headers=as_("admin")
    )
    assert r.status_code == 200, r.text
    unit = client.get("/v1/units/HW-DH-NEW", headers=as_("district")).json()
    assert (unit["name"], unit["parent"]) == ("新村社区", "HW-XL")
    r = client.patch(
        "/v1/units/HW-DH-NEW", json={"active": False, "reason": "merged"}, headers=as_("admin")
    )
    assert r.json()["status"] == "inactive"
    assert (
        client.post(
            "/v1/units",
            json={
                "code": "HW-DH-NEW",
                "name": "x",
                "level": "community",
                "kind": "government",
                "parent": "HW-DH",
            },
            headers=as_("admin"),
        ).status_code
        == 409
    )


def test_every_token_reads_the_network(client: Client, as_: As) -> None:
    r = client.get("/v1/units", headers=as_("community"))
    assert r.status_code == 200
    assert {"code", "name", "level", "kind", "parent", "active"} <= set(r.json()[0])
    assert client.get("/v1/units/NOPE", headers=as_("community")).status_code == 404


def test_a_unit_update_refused_in_part_changes_nothing_and_honours_if_match(
    client: Client, as_: As, center: CommandCenter
) -> None:
    head = center.head_position()
    # A rename with a move under the unit's own community: the whole update is refused.
    r = client.patch(
        "/v1/units/HW-DH", json={"name": "改名", "parent": "HW-DH-QS"}, headers=as_("admin")
    )
    assert r.status_code == 422, r.text
    stale = client.patch(
        "/v1/units/HW-DH", json={"name": "改名"}, headers=as_("admin", **{"If-Match": '"99"'})
    )
    assert stale.status_code == 412, stale.text
    assert center.head_position() == head
    assert center.unit("HW-DH").name == "东湖街道办事处"


def test_a_lookup_overtaken_by_a_revocation_does_not_put_the_token_back_in_memory(
    client: Client, center: CommandCenter
) -> None:
    book = TokenBook(center)
    token = book.issue(user="leaver", unit="HW", roles=["dispatcher"])
    read = book._get

    def read_then_see_a_revocation_land(aggregate_id: Any) -> Any:
        found = read(aggregate_id)  # still valid as read...
        book.forget()  # ...but a revocation completes before the lookup answers
        return found

    book._get = read_then_see_a_revocation_land  # type: ignore[method-assign]
    assert book.authenticate(token.secret) is not None

    assert book.remembered(token.secret) is None

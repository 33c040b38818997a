"""An admin issues, lists and revokes tokens over HTTP, within its own subtree."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from tests.api.conftest import As

Client = TestClient[Any]

NEW = {"user": "wang.fang", "unit": "HW-DH", "roles": ["handler"], "label": "flood season"}


@pytest.fixture
def office_admin(center: CommandCenter, client: Client) -> dict[str, str]:
    secret = TokenBook(center).issue(user="office-admin", unit="HW-DH", roles=["admin"]).secret
    return {"Authorization": f"Bearer {secret}"}


def test_an_admin_issues_a_token_that_works_at_once_and_whose_secret_is_shown_once(
    client: Client, as_: As, center: CommandCenter
) -> None:
    r = client.post("/v1/tokens", json=NEW, headers=as_("admin"))

    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    issued = r.json()
    assert issued["token"].startswith("cl_")
    assert {k: issued[k] for k in ("user", "unit", "roles", "label")} == NEW
    me = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/v1/units/HW-DH/inbox", headers=me).status_code == 200
    # Listed without its secret, and the secret is nowhere on the record.
    listed = client.get("/v1/tokens", headers=as_("admin")).json()
    mine = [t for t in listed if t["token_id"] == issued["token_id"]]
    assert mine == [
        {
            **NEW,
            "token_id": issued["token_id"],
            "issued_at": mine[0]["issued_at"],
            "expires_at": None,
            "revoked": False,
        }
    ]
    assert issued["token"] not in client.get("/v1/tokens", headers=as_("admin")).text
    stored = b"".join(n.state for n in center.recorder.select_notifications(1, 100_000))
    assert issued["token"].encode() not in stored


def test_a_token_revoked_over_http_is_refused_at_its_very_next_request(
    client: Client, as_: As
) -> None:
    issued = client.post("/v1/tokens", json=NEW, headers=as_("admin")).json()
    me = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/v1/units", headers=me).status_code == 200

    r = client.post(
        f"/v1/tokens/{issued['token_id']}/revoke",
        json={"reason": "phone lost"},
        headers=as_("admin"),
    )

    assert r.status_code == 200, r.text
    assert r.json()["revoked"] is True
    assert client.get("/v1/units", headers=me).status_code == 401
    listed = client.get("/v1/tokens", headers=as_("admin")).json()
    assert [t["revoked"] for t in listed if t["token_id"] == issued["token_id"]] == [True]


def test_an_office_admin_manages_only_the_tokens_of_its_own_subtree(
    client: Client, as_: As, office_admin: dict[str, str]
) -> None:
    district = client.post("/v1/tokens", json={**NEW, "unit": "HW"}, headers=as_("admin")).json()

    listed = client.get("/v1/tokens", headers=office_admin).json()
    refused = client.post("/v1/tokens", json={**NEW, "unit": "HW-XL"}, headers=office_admin)
    hidden = client.post(f"/v1/tokens/{district['token_id']}/revoke", headers=office_admin)
    allowed = client.post("/v1/tokens", json={**NEW, "unit": "HW-DH-QS"}, headers=office_admin)

    assert {t["unit"] for t in listed} <= {"HW-DH", "HW-DH-QS", "HW-DH-HP"}
    assert district["token_id"] not in {t["token_id"] for t in listed}
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert hidden.status_code == 404
    assert allowed.status_code == 201
    still = {"Authorization": f"Bearer {district['token']}"}
    assert client.get("/v1/units", headers=still).status_code == 200


@pytest.mark.parametrize("who", ["district", "auditor", "community"])
def test_only_an_admin_manages_tokens(client: Client, as_: As, who: str) -> None:
    assert client.get("/v1/tokens", headers=as_(who)).status_code == 403
    assert client.post("/v1/tokens", json=NEW, headers=as_(who)).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**NEW, "roles": ["superuser"]}, 422, "roles"),
        ({**NEW, "roles": []}, 422, "roles"),
        ({**NEW, "unit": "NOWHERE"}, 404, None),
        ({**NEW, "user": "x\x00y"}, 422, "user"),
        ({**NEW, "label": "l" * 201}, 422, "label"),
        ({**NEW, "colour": "red"}, 422, "colour"),
        ({"unit": "HW-DH", "roles": ["handler"]}, 422, "user"),
    ],
    ids=[
        "unknown role",
        "no role",
        "unknown unit",
        "NUL",
        "long label",
        "unknown field",
        "no user",
    ],
)
def test_a_bad_token_request_is_refused_with_a_problem_and_stores_nothing(
    client: Client,
    as_: As,
    center: CommandCenter,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    head = center.head_position()

    r = client.post("/v1/tokens", json=body, headers=as_("admin"))

    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert field in r.text
    assert center.head_position() == head


def test_a_creation_with_an_idempotency_key_is_refused_because_the_secret_is_kept_nowhere(
    client: Client, as_: As, center: CommandCenter
) -> None:
    head = center.head_position()

    r = client.post("/v1/tokens", json=NEW, headers=as_("admin", **{"Idempotency-Key": "k1"}))

    assert r.status_code == 422
    assert "Idempotency-Key" in r.text
    assert center.head_position() == head


def test_revoking_a_token_that_does_not_exist_is_404(client: Client, as_: As) -> None:
    r = client.post("/v1/tokens/tok_0000000000000000/revoke", headers=as_("admin"))
    assert r.status_code == 404


def test_a_revocation_reason_with_a_nul_is_refused_and_the_token_still_works(
    client: Client, as_: As
) -> None:
    issued = client.post("/v1/tokens", json=NEW, headers=as_("admin")).json()

    r = client.post(
        f"/v1/tokens/{issued['token_id']}/revoke",
        json={"reason": "lost\x00"},
        headers=as_("admin"),
    )

    assert r.status_code == 422
    assert "reason" in r.text
    me = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/v1/units", headers=me).status_code == 200

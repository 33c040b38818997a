"""An admin opens, lists, reads, re-passwords and closes people's accounts over HTTP,
within its own subtree (ADR 0052); what the body gets wrong is a 422 naming the field,
and a screen's token reads the board and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from tests.api.conftest import As

Client = TestClient[Any]

NEW = {"username": "wang.fang", "name": "王芳", "unit": "HW-DH", "roles": ["handler"]}


@pytest.fixture
def office_admin(center: CommandCenter, client: Client) -> dict[str, str]:
    secret = TokenBook(center).issue(user="office-admin", unit="HW-DH", roles=["admin"]).secret
    return {"Authorization": f"Bearer {secret}"}


def test_an_account_opened_without_a_password_gets_one_shown_once_that_signs_in(
    client: Client, as_: As, center: CommandCenter
) -> None:
    r = client.post("/v1/accounts", json=NEW, headers=as_("admin"))

    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    answer = r.json()
    password = answer["password"]
    assert {k: answer["account"][k] for k in NEW} == NEW
    assert client.app.state.services.accounts.verify("wang.fang", password) is not None
    listed = client.get("/v1/accounts", headers=as_("admin"))
    assert [a["username"] for a in listed.json()["items"]] == ["wang.fang"]
    assert "argon2" not in listed.text
    assert password not in listed.text
    stored = b"".join(n.state for n in center.recorder.select_notifications(1, 100_000))
    assert password.encode() not in stored


def test_a_changed_password_signs_in_and_the_old_one_no_more(client: Client, as_: As) -> None:
    client.post(
        "/v1/accounts", json={**NEW, "password": "the first password"}, headers=as_("admin")
    )

    r = client.post(
        "/v1/accounts/wang.fang/password",
        json={"password": "the second one!"},
        headers=as_("admin"),
    )

    assert r.status_code == 200, r.text
    assert r.json()["password"] is None
    accounts = client.app.state.services.accounts
    assert accounts.verify("wang.fang", "the first password") is None
    assert accounts.verify("wang.fang", "the second one!") is not None


def test_a_closed_account_is_shown_closed_and_signs_in_no_more(client: Client, as_: As) -> None:
    client.post(
        "/v1/accounts", json={**NEW, "password": "the first password"}, headers=as_("admin")
    )

    r = client.post("/v1/accounts/Wang.Fang/close", json={"reason": "left"}, headers=as_("admin"))

    assert r.status_code == 200, r.text
    assert r.json()["closed"] is True
    assert (
        client.get("/v1/accounts/wang.fang", headers=as_("admin")).json()["closed_reason"] == "left"
    )
    assert client.app.state.services.accounts.verify("wang.fang", "the first password") is None
    again = client.post("/v1/accounts/wang.fang/close", json={"reason": "x"}, headers=as_("admin"))
    assert again.status_code == 409, again.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "username": "a b"}, "username"),
        ({**NEW, "username": "张"}, "username"),
        ({**NEW, "password": "short"}, "password"),
        ({**NEW, "password": "wang.fang!"[:9] + "x", "username": "wang.fangx"}, "password"),
        ({**NEW, "roles": ["mayor"]}, "roles"),
        ({**NEW, "name": "   "}, "name"),
        ({**NEW, "extra": 1}, "extra"),
    ],
)
def test_a_bad_account_is_a_422_naming_its_field_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter, body: dict[str, Any], field: str
) -> None:
    head = center.head_position()

    r = client.post("/v1/accounts", json=body, headers=as_("admin"))

    assert r.status_code == 422, r.text
    assert field in r.text
    assert center.head_position() == head


def test_a_taken_username_is_a_conflict(client: Client, as_: As) -> None:
    client.post("/v1/accounts", json=NEW, headers=as_("admin"))

    r = client.post("/v1/accounts", json={**NEW, "username": "WANG.FANG"}, headers=as_("admin"))

    assert r.status_code == 409, r.text


def test_an_office_admin_sees_and_opens_accounts_only_under_its_office(
    client: Client, as_: As, office_admin: dict[str, str]
) -> None:
    client.post("/v1/accounts", json={**NEW, "unit": "HW-XL"}, headers=as_("admin"))

    assert client.get("/v1/accounts/wang.fang", headers=office_admin).status_code == 404
    assert client.get("/v1/accounts", headers=office_admin).json()["items"] == []
    r = client.post(
        "/v1/accounts", json={**NEW, "username": "li.na", "unit": "HW-XL"}, headers=office_admin
    )
    assert r.status_code == 403, r.text


def test_the_list_comes_in_pages(client: Client, as_: As) -> None:
    for n in range(3):
        client.post("/v1/accounts", json={**NEW, "username": f"person.{n}"}, headers=as_("admin"))

    first = client.get("/v1/accounts?limit=2", headers=as_("admin")).json()
    second = client.get(
        f"/v1/accounts?limit=2&cursor={first['next_cursor']}", headers=as_("admin")
    ).json()

    assert [a["username"] for a in first["items"] + second["items"]] == [
        "person.0",
        "person.1",
        "person.2",
    ]
    assert second["next_cursor"] is None


def test_a_screen_reads_its_board_and_nothing_else(client: Client, center: CommandCenter) -> None:
    secret = TokenBook(center).issue(user="hall screen", unit="HW", roles=["screen"]).secret
    me = {"Authorization": f"Bearer {secret}"}

    assert client.get("/v1/board/warnings", headers=me).status_code == 200
    for path in ("/v1/units", "/v1/warnings", "/v1/instructions", "/v1/accounts"):
        r = client.get(path, headers=me)
        assert r.status_code == 403, r.text
        assert r.json()["type"].endswith("screen-reads-only-the-board")

"""Signing in as oneself: an account's password, a one-time address, a hall screen."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from api.accounts import AccountBook
from tests.api.screens.conftest import Desk

PASSWORD = "night-shift-2026"


@pytest.fixture
def accounts(client: TestClient[Any]) -> AccountBook:
    book: AccountBook = client.app.state.services.accounts
    book.open(username="li.ming", name="李明", unit="HW-DH", roles=["handler"], password=PASSWORD)
    book.open(username="hall.hw", name="大厅", unit="HW", roles=["screen"], password=PASSWORD)
    return book


def test_a_person_signs_in_with_their_password_and_lands_on_their_page(
    client: TestClient[Any], accounts: AccountBook
) -> None:
    desk = Desk(client)
    response = desk.sign_in(username="li.ming", password=PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"
    me = desk.get("/me")
    assert "li.ming" in me.text
    assert "承办人" in me.text


def test_a_wrong_password_is_said_beside_the_password_and_opens_nothing(
    client: TestClient[Any], accounts: AccountBook
) -> None:
    desk = Desk(client)
    for username, password in (("li.ming", "wrong-password"), ("nobody.here", PASSWORD)):
        response = desk.sign_in(username=username, password=password)
        assert response.status_code == 401
        assert 'id="password-error"' in response.text
        assert 'value="' + username + '"' in response.text  # the name stays, the password not
        assert PASSWORD not in response.text
    assert desk.get("/me").status_code == 303


def test_a_one_time_address_signs_in_once(client: TestClient[Any], accounts: AccountBook) -> None:
    secret = accounts.issue_ticket("li.ming")
    first = client.get(f"/sign-in/once/{secret}", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/inbox"
    client.cookies.clear()
    again = client.get(f"/sign-in/once/{secret}", follow_redirects=False)
    assert again.status_code == 404
    assert "cl_session" not in again.headers.get("set-cookie", "")


def test_a_hall_screen_opens_its_board_and_nothing_else(
    client: TestClient[Any], accounts: AccountBook
) -> None:
    desk = Desk(client)
    response = desk.sign_in(username="hall.hw", password=PASSWORD)
    assert response.headers["location"] == "/board"
    assert desk.get("/me").status_code == 200
    for path in ("/inbox", "/warnings", "/admin", "/audit"):
        assert desk.get(path, headers={"Accept": "text/html"}).status_code == 404, path


def test_closing_an_account_ends_its_sessions(
    client: TestClient[Any], accounts: AccountBook
) -> None:
    desk = Desk(client)
    desk.sign_in(username="li.ming", password=PASSWORD)
    assert desk.get("/me").status_code == 200
    accounts.close("li.ming", "left the office")
    assert desk.get("/me").headers["location"].startswith("/sign-in")

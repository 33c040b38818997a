"""Signing in and out of the screens: the session, its cookie, CSRF and the limits."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.api.screens.conftest import Desk, csrf_of


def test_a_pasted_token_signs_its_person_in_behind_a_strict_http_only_cookie(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = Desk(client)
    response = desk.sign_in(token=tokens["community"])
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("cl_session="))
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert tokens["community"] not in cookie
    home = desk.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/inbox"


def test_without_a_session_a_page_sends_to_sign_in_and_back(client: TestClient[Any]) -> None:
    response = client.get("/me?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/me%3Fx%3D1"
    page = client.get(response.headers["location"])
    assert 'name="next" value="/me?x=1"' in page.text


def test_sign_in_goes_back_to_the_page_asked_for_never_to_another_host(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = Desk(client)
    assert desk.sign_in(token=tokens["duty"], next="/warnings?x=1").headers["location"] == (
        "/warnings?x=1"
    )
    other = Desk(client)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        assert other.sign_in(token=tokens["duty"], next=target).headers["location"] == "/warnings"


def test_a_wrong_token_is_said_at_its_field_and_opens_no_session(
    client: TestClient[Any],
) -> None:
    desk = Desk(client)
    response = desk.sign_in(token="cl_" + "x" * 43)
    assert response.status_code == 401
    assert 'id="token-error"' in response.text
    assert "cl_session" not in response.headers.get("set-cookie", "")


def test_a_sign_in_without_its_form_token_is_refused(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    client.get("/sign-in")
    response = client.post(
        "/sign-in", data={"token": tokens["duty"], "csrf": "forged"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "cl_session" not in response.headers.get("set-cookie", "")


def test_five_wrong_sign_ins_a_minute_from_one_address_are_slowed(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = Desk(client)
    for _ in range(5):
        assert desk.sign_in(token="cl_wrong").status_code == 401
    refused = desk.sign_in(token=tokens["duty"])
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1


def test_sign_out_needs_the_sessions_csrf_token_and_ends_the_session(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = Desk(client)
    desk.sign_in(token=tokens["duty"])
    refused = client.post("/sign-out", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert desk.get("/").headers["location"] == "/warnings"  # still signed in
    assert desk.post("/sign-out").status_code == 303
    assert desk.get("/").headers["location"] == "/sign-in"


def test_a_revoked_token_ends_its_sessions(
    client: TestClient[Any], tokens: dict[str, str], as_: Any
) -> None:
    desk = Desk(client)
    desk.sign_in(token=tokens["community"])
    listed = client.get("/v1/tokens", headers=as_("admin")).json()
    mine = next(t for t in listed if t["user"] == "community-person")
    client.post(f"/v1/tokens/{mine['token_id']}/revoke", headers=as_("admin"), json={})
    client.app.state.services.tokens.forget()
    assert desk.get("/").headers["location"] == "/sign-in"


def test_the_language_is_a_click_away_and_chinese_by_default(client: TestClient[Any]) -> None:
    page = client.get("/sign-in")
    assert "<title>登录" in page.text
    assert 'lang="zh-CN"' in page.text
    client.get("/language/en?next=/sign-in", follow_redirects=True)
    page = client.get("/sign-in")
    assert "<title>Sign in" in page.text
    assert csrf_of(page.text)


def test_an_address_nobody_serves_is_the_not_found_page_for_a_browser_and_json_for_the_api(
    client: TestClient[Any],
) -> None:
    page = client.get("/no-such-page", headers={"Accept": "text/html,*/*"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "找不到该页面" in page.text
    api = client.get("/v1/no-such-thing", headers={"Accept": "text/html,*/*"})
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")

"""``/admin`` over the test client: only admins, only within their subtree, refusals at
the field with nothing stored, and a token's secret shown once (issue 20, ADR 0058)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from tests.api.screens.conftest import Desk

XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def admin_of(client: TestClient[Any], center: CommandCenter, unit: str = "HW") -> Desk:
    """A browser signed in as an admin of ``unit``."""
    secret = TokenBook(center).issue(user=f"admin-{unit}", unit=unit, roles=["admin"]).secret
    desk = Desk(client)
    assert desk.sign_in(token=secret).status_code == 303
    return desk


def command_id() -> str:
    import secrets

    return secrets.token_hex(8)


@pytest.mark.parametrize("who", ["duty", "office", "auditor", "monitor"])
def test_every_other_role_gets_the_403_page(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter, who: str
) -> None:
    desk = Desk(client)
    desk.sign_in(token=tokens[who])
    for path in (
        "/admin",
        "/admin/units/HW-DH",
        "/admin/tokens",
        "/admin/accounts",
        "/admin/webhooks",
    ):
        response = desk.get(path)
        assert response.status_code == 403, path
        assert "<form" not in response.text.split("</header>", 1)[1]
    head = center.head_position()
    refused = desk.post("/admin/units/HW-DH/rename", {"name": "改", "command_id": command_id()})
    assert refused.status_code == 403
    assert center.head_position() == head


def test_a_district_admin_sees_its_subtree_and_nothing_above_or_beside(
    client: TestClient[Any], center: CommandCenter
) -> None:
    desk = admin_of(client, center, "HW-DH")
    tree = desk.get("/admin")
    assert tree.status_code == 200
    for inside in ("HW-DH-QS", "HW-DH-HP", "E-DHSCENIC"):
        assert f'href="/admin/units/{inside}"' in tree.text
    for outside in ("HW-XL", "HW", "HC", "HW-WATER"):
        assert f'href="/admin/units/{outside}"' not in tree.text
        assert desk.get(f"/admin/units/{outside}").status_code == 404
    head = center.head_position()
    moved = desk.post("/admin/units/HW-XL-SQ/rename", {"name": "改", "command_id": command_id()})
    assert moved.status_code == 404
    assert center.head_position() == head
    assert "HW-XL" not in re.sub(r"<header.*?</header>", "", desk.get("/admin").text, flags=re.S)


def test_an_admin_registers_renames_moves_deactivates_and_reactivates_a_unit(
    client: TestClient[Any], center: CommandCenter
) -> None:
    desk = admin_of(client, center, "HW")
    form = {
        "parent": "HW-DH-QS",
        "level": "enterprise",
        "kind": "enterprise",
        "code": "E-QSTEA",
        "name": "青山茶园",
        "name_en": "Qingshan Tea Garden",
        "command_id": command_id(),
    }
    registered = desk.post("/admin/units", form)
    assert registered.status_code == 303
    assert registered.headers["location"] == "/admin/units/E-QSTEA"
    again = desk.post("/admin/units", form)  # a double click: one unit, no error
    assert again.status_code == 303
    page = desk.get("/admin/units/E-QSTEA")
    assert page.status_code == 200
    assert "青山茶园" in page.text
    # An enterprise goes under a community or a department, never under an office.
    options = re.search(r'action="/admin/units/E-QSTEA/move".*?</select>', page.text, re.S)
    assert options is not None
    offered = set(re.findall(r'<option value="([^"]+)"', options.group(0)))
    assert "HW-DH-HP" in offered
    assert "HW-WATER" in offered
    assert not offered & {"HW-DH", "HW", "HW-DH-QS", "HC", "HC-EM"}
    assert 'action="/admin/units/E-QSTEA/reactivate"' not in page.text
    steps = [
        ("rename", {"name": "青山生态茶园", "name_en": "Qingshan Eco Tea Garden"}),
        ("move", {"parent": "HW-DH-HP"}),
        ("deactivate", {"reason": "停业"}),
    ]
    for step, fields in steps:
        done = desk.post(f"/admin/units/E-QSTEA/{step}", {**fields, "command_id": command_id()})
        assert done.status_code == 303, done.text
    unit = center.unit("E-QSTEA")
    assert (unit.name, unit.parent, unit.active) == ("青山生态茶园", "HW-DH-HP", False)
    page = desk.get("/admin/units/E-QSTEA")
    assert "青山生态茶园" in page.text
    assert 'action="/admin/units/E-QSTEA/deactivate"' not in page.text
    assert 'action="/admin/units/E-QSTEA/reactivate"' in page.text
    done = desk.post("/admin/units/E-QSTEA/reactivate", {"command_id": command_id()})
    assert done.status_code == 303
    assert center.unit("E-QSTEA").active


def test_a_unit_with_active_units_under_it_offers_no_deactivation(
    client: TestClient[Any], center: CommandCenter
) -> None:
    desk = admin_of(client, center, "HW")
    page = desk.get("/admin/units/HW-DH")
    assert 'action="/admin/units/HW-DH/rename"' in page.text
    assert 'action="/admin/units/HW-DH/deactivate"' not in page.text
    head = center.head_position()
    refused = desk.post("/admin/units/HW-DH/deactivate", {"reason": "合并", "command_id": "c1"})
    assert refused.status_code == 422
    assert 'id="deactivate-error"' in refused.text
    assert center.head_position() == head
    assert center.unit("HW-DH").active


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "bad code!"}, "code"),
        ({"code": "HW-DH"}, "code"),  # registered already
        ({"name": ""}, "name"),
        ({"level": "planet"}, "level"),
        ({"parent": "HW-DH", "level": "enterprise", "kind": "enterprise"}, "parent"),
        ({"parent": "HW-XL-SQ"}, "parent"),  # outside the admin's subtree
    ],
)
def test_a_bad_registration_comes_back_at_its_field_and_stores_nothing(
    client: TestClient[Any], center: CommandCenter, fields: dict[str, str], field: str
) -> None:
    desk = admin_of(client, center, "HW-DH")
    form = {
        "parent": "HW-DH-QS",
        "level": "enterprise",
        "kind": "enterprise",
        "code": "E-NEW",
        "name": "新企业",
        "command_id": command_id(),
        **fields,
    }
    head = center.head_position()
    response = desk.post("/admin/units", form)
    assert response.status_code in (403, 409, 422), response.text
    assert f'id="{field}-error"' in response.text
    assert f'aria-describedby="{field}-error"' in response.text
    assert center.head_position() == head


def test_a_move_under_its_own_subtree_is_refused_at_the_field(
    client: TestClient[Any], center: CommandCenter
) -> None:
    desk = admin_of(client, center, "HW")
    head = center.head_position()
    response = desk.post("/admin/units/HW-DH-HP/move", {"parent": "E-DHSCENIC", "command_id": "m"})
    assert response.status_code == 422
    assert 'id="parent-error"' in response.text
    assert center.head_position() == head


def test_a_post_without_the_csrf_token_is_403_and_stores_nothing(
    client: TestClient[Any], center: CommandCenter
) -> None:
    admin_of(client, center, "HW")
    head, issued = center.head_position(), len(TokenBook(center).list())
    posts = [
        ("/admin/units", {"parent": "HW-DH", "level": "community", "kind": "government"}),
        ("/admin/units/HW-DH/rename", {"name": "改名"}),
        ("/admin/tokens", {"user": "x", "unit": "HW", "roles": "handler"}),
    ]
    for path, fields in posts:
        response = client.post(path, data={**fields, "code": "HW-DH-NEW", "name": "新"})
        assert response.status_code == 403, path
        forged = client.post(path, data={**fields, "csrf": "forged"})
        assert forged.status_code == 403, path
    assert center.head_position() == head
    assert len(TokenBook(center).list()) == issued


@pytest.mark.parametrize("name", XSS)
def test_a_unit_name_that_looks_like_markup_stays_text(
    client: TestClient[Any], center: CommandCenter, name: str
) -> None:
    desk = admin_of(client, center, "HW")
    done = desk.post("/admin/units/HW-DH-QS/rename", {"name": name, "command_id": command_id()})
    assert done.status_code == 303, done.text
    for path in ("/admin", "/admin/units/HW-DH-QS", "/admin/units/HW-DH", "/admin/tokens"):
        html = desk.get(path).text
        assert name not in html, path
        assert "&lt;script&gt;" in html or "&#34;&gt;&lt;img" in html, path


def test_a_token_is_issued_its_secret_shown_once_and_revoked_with_a_reason(
    client: TestClient[Any], center: CommandCenter
) -> None:
    desk = admin_of(client, center, "HW")
    form = {
        "user": "李四",
        "unit": "HW-DH",
        "roles": ["handler", "dispatcher"],
        "label": "值班台",
        "expires_at": "2099-01-02T08:30",
        "command_id": command_id(),
    }
    answer = desk.post("/admin/tokens", form)
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    secret = re.search(r'<output id="secret"[^>]*>(cl_[^<]+)</output>', answer.text)
    assert secret is not None
    principal = TokenBook(center).authenticate(secret.group(1))
    assert principal is not None
    assert principal.roles == ("handler", "dispatcher")
    # 08:30 on the form is 08:30 in the calendar's zone (Shanghai), 00:30 in UTC.
    assert principal.expires_at == datetime(2099, 1, 2, 0, 30, tzinfo=UTC)
    # A reload sends the same form again: no second token, and the secret is not shown.
    issued = len(TokenBook(center).list())
    reload = desk.post("/admin/tokens", form)
    assert reload.status_code == 200
    assert secret.group(1) not in reload.text
    assert principal.token_id in reload.text
    assert len(TokenBook(center).list()) == issued
    listed = desk.get("/admin/tokens")
    assert secret.group(1) not in listed.text
    assert "2099-01-02 08:30" in listed.text
    assert desk.get("/me").text.count(secret.group(1)) == 0
    head = center.head_position()
    no_reason = desk.post(f"/admin/tokens/{principal.token_id}/revoke", {"command_id": "r"})
    assert no_reason.status_code == 422
    assert f'id="reason-{principal.token_id}-error"' in no_reason.text
    assert center.head_position() == head
    revoked = desk.post(
        f"/admin/tokens/{principal.token_id}/revoke", {"reason": "离职", "command_id": "r2"}
    )
    assert revoked.status_code == 303
    assert TokenBook(center).authenticate(secret.group(1)) is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user": ""}, "user"),
        ({"roles": []}, "roles"),
        ({"roles": ["emperor"]}, "roles"),
        ({"unit": "HW-XL"}, "unit"),  # outside the admin's subtree
        ({"unit": "NOPE"}, "unit"),
        ({"expires_at": "2001-01-01T00:00"}, "expires_at"),
        ({"expires_at": "tomorrow"}, "expires_at"),
    ],
)
def test_a_bad_token_form_comes_back_at_its_field_and_issues_nothing(
    client: TestClient[Any], center: CommandCenter, fields: dict[str, Any], field: str
) -> None:
    desk = admin_of(client, center, "HW-DH")
    before = len(TokenBook(center).list())
    form = {"user": "王五", "unit": "HW-DH-QS", "roles": ["handler"], "command_id": "t", **fields}
    response = desk.post("/admin/tokens", form)
    assert response.status_code in (403, 404, 422), response.text
    assert f'id="{field}-error"' in response.text
    assert 'id="secret"' not in response.text
    assert len(TokenBook(center).list()) == before


def test_an_admin_lists_and_revokes_only_the_tokens_of_its_subtree(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str]
) -> None:
    desk = admin_of(client, center, "HW-DH")
    page = desk.get("/admin/tokens").text
    book = TokenBook(center)
    entries = {e["user"]: e for e in book.list()}
    assert entries["community-person"]["token_id"] in page  # HW-DH-QS
    assert entries["office_xl-person"]["token_id"] not in page  # HW-XL
    assert entries["admin-person"]["token_id"] not in page  # HC
    outside = entries["office_xl-person"]["token_id"]
    response = desk.post(f"/admin/tokens/{outside}/revoke", {"reason": "x", "command_id": "o"})
    assert response.status_code == 404
    assert book.authenticate(tokens["office_xl"]) is not None


def accounts_of(client: TestClient[Any]) -> Any:
    return client.app.state.services.accounts


def test_an_account_is_opened_with_a_password_shown_once_reset_and_closed(
    client: TestClient[Any], center: CommandCenter
) -> None:
    desk = admin_of(client, center, "HW")
    form = {
        "username": "zhou.duty",
        "name": "周值班",
        "unit": "HW-DH",
        "roles": ["duty_officer"],
        "password": "chosen-by-the-form",  # not read: the page always generates one
        "command_id": command_id(),
    }
    opened = desk.post("/admin/accounts", form)
    assert opened.status_code == 201
    assert opened.headers["cache-control"] == "no-store"
    first = re.search(r'<output id="secret">([^<]+)</output>', opened.text)
    assert first is not None
    book = accounts_of(client)
    assert book.verify("zhou.duty", first.group(1)) is not None
    assert book.verify("zhou.duty", "chosen-by-the-form") is None
    again = desk.post("/admin/accounts", form)  # a reload: no second account, no password
    assert again.status_code == 422
    assert 'id="username-error"' in again.text
    assert 'id="secret"' not in again.text
    listed = desk.get("/admin/accounts").text
    assert "周值班" in listed
    assert first.group(1) not in listed
    assert 'action="/admin/accounts/zhou.duty/password"' in listed

    reset = desk.post("/admin/accounts/zhou.duty/password", {"command_id": command_id()})
    assert reset.status_code == 200
    second = re.search(r'<output id="secret">([^<]+)</output>', reset.text)
    assert second is not None
    assert book.verify("zhou.duty", first.group(1)) is None
    assert book.verify("zhou.duty", second.group(1)) is not None

    head = center.head_position()
    no_reason = desk.post("/admin/accounts/zhou.duty/close", {"command_id": command_id()})
    assert no_reason.status_code == 422
    assert 'id="account-zhou.duty-error"' in no_reason.text
    assert center.head_position() == head
    closed = desk.post(
        "/admin/accounts/zhou.duty/close", {"reason": "调岗", "command_id": command_id()}
    )
    assert closed.status_code == 303
    listed = desk.get("/admin/accounts").text
    assert "调岗" in listed
    assert 'action="/admin/accounts/zhou.duty/password"' not in listed
    assert 'action="/admin/accounts/zhou.duty/close"' not in listed
    head = center.head_position()
    refused = desk.post("/admin/accounts/zhou.duty/password", {"command_id": command_id()})
    assert refused.status_code == 422
    assert 'id="secret"' not in refused.text
    assert center.head_position() == head
    assert book.verify("zhou.duty", second.group(1)) is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "has space"}, "username"),
        ({"username": ""}, "username"),
        ({"name": ""}, "name"),
        ({"roles": []}, "roles"),
        ({"unit": "HW-XL"}, "unit"),
        ({"unit": "NOPE"}, "unit"),
    ],
)
def test_a_bad_account_form_comes_back_at_its_field_and_opens_nothing(
    client: TestClient[Any], center: CommandCenter, fields: dict[str, Any], field: str
) -> None:
    desk = admin_of(client, center, "HW-DH")
    head = center.head_position()
    form = {
        "username": "wu.handler",
        "name": "吴",
        "unit": "HW-DH-QS",
        "roles": ["handler"],
        **fields,
    }
    response = desk.post("/admin/accounts", {**form, "command_id": command_id()})
    assert response.status_code in (403, 404, 422), response.text
    assert f'id="{field}-error"' in response.text
    assert 'id="secret"' not in response.text
    assert center.head_position() == head


def test_an_account_of_another_subtree_is_not_found(
    client: TestClient[Any], center: CommandCenter
) -> None:
    book = accounts_of(client)
    book.open(username="xl.person", name="西岭人", unit="HW-XL", roles=["handler"])
    desk = admin_of(client, center, "HW-DH")
    assert "xl.person" not in desk.get("/admin/accounts").text
    head = center.head_position()
    for step, fields in (("password", {}), ("close", {"reason": "x"})):
        response = desk.post(f"/admin/accounts/xl.person/{step}", {**fields, "command_id": "c"})
        assert response.status_code == 404
    assert center.head_position() == head
    assert client.post("/admin/accounts", data={"username": "a", "csrf": "x"}).status_code == 403
    assert center.head_position() == head


@pytest.mark.parametrize("name", XSS)
def test_an_account_or_token_name_that_looks_like_markup_stays_text(
    client: TestClient[Any], center: CommandCenter, name: str
) -> None:
    accounts_of(client).open(username="odd", name=name, unit="HW-DH", roles=["handler"])
    TokenBook(center).issue(user="odd", unit="HW-DH", roles=["handler"], label=name)
    desk = admin_of(client, center, "HW")
    for path in ("/admin/accounts", "/admin/tokens"):
        html = desk.get(path).text
        assert name not in html, path


def test_a_token_form_sent_again_to_another_server_issues_no_second_token(
    client: TestClient[Any], center: CommandCenter
) -> None:
    """A reload that reaches another worker or server (its own process memory) finds the
    first issue in the store, as the first server does."""
    from api.app import create_app
    from closedloop.bootstrap import build_read_models

    desk = admin_of(client, center, "HW")
    form = {"user": "周七", "unit": "HW-DH", "roles": ["handler"], "command_id": command_id()}
    first = desk.post("/admin/tokens", form)
    assert first.status_code == 201
    issued = len(TokenBook(center).list())
    with TestClient(create_app(center, reads=build_read_models(center))) as other:
        other.cookies.update(client.cookies)  # the same browser, the same session
        again = Desk(other)
        again.csrf = desk.csrf
        reload = again.post("/admin/tokens", form)
    assert reload.status_code == 200
    assert "cl_" not in re.sub(r"cl_(session|lang|signin)", "", reload.text)
    assert len(TokenBook(center).list()) == issued

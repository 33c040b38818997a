"""How long a token is honoured (issue 19, item 6; ADR 0042): until the expiry it was
issued with, never past the server's longest lifetime, and only in the term of its unit
it was issued in: a unit deactivated and reactivated does not bring its old tokens back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import ROLES, TokenBook, TokenRefused, secret_hash
from domain.access_token import AccessToken, access_token_id
from domain.application import CommandCenter
from domain.meta import now
from domain.token_roster import ROSTER_ID
from tests.api.conftest import As
from tests.integration.test_event_shapes import store_under_topic

Client = TestClient[Any]
CST = "+08:00"


def _in_cst(at: datetime) -> str:
    return at.astimezone(datetime.fromisoformat(f"2026-01-01T00:00:00{CST}").tzinfo).isoformat()


def _services(client: Client) -> Any:
    return client.app.state.services


# -- an expiry, asked for and honoured ---------------------------------------------------


def test_an_admin_issues_a_token_with_an_expiry_shown_in_the_calendars_zone(
    client: Client, as_: As
) -> None:
    expires = (now() + timedelta(days=7)).replace(microsecond=0)
    body = {"user": "wang.fang", "unit": "HW-DH", "roles": ["handler"]}
    r = client.post(
        "/v1/tokens", json={**body, "expires_at": _in_cst(expires)}, headers=as_("admin")
    )
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["expires_at"] == _in_cst(expires)
    me = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/v1/units", headers=me).status_code == 200
    (listed,) = [
        t
        for t in client.get("/v1/tokens", headers=as_("admin")).json()
        if t["token_id"] == issued["token_id"]
    ]
    assert listed["expires_at"] == _in_cst(expires)


def _clock_moved_to(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    """The token book's clock (the domain's ``now``) moved ahead; the store's untouched."""
    monkeypatch.setattr("api.tokens.now", lambda: at)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("unit", ["HC", "HW", "HW-DH-QS"])
def test_a_token_past_its_expiry_is_refused_saying_so_whatever_its_role_and_unit(
    client: Client, center: CommandCenter, monkeypatch: pytest.MonkeyPatch, role: str, unit: str
) -> None:
    expires = (now() + timedelta(hours=1)).replace(microsecond=0)
    token = TokenBook(center).issue(user="night shift", unit=unit, roles=[role], expires_at=expires)
    headers = {"Authorization": f"Bearer {token.secret}"}
    # A hall's screen reads the board and nothing else (ADR 0052).
    path = "/v1/board/warnings" if role == "screen" else "/v1/units"
    assert client.get(path, headers=headers).status_code == 200
    _services(client).tokens.forget()  # looked up afresh, not trusted from memory
    _clock_moved_to(monkeypatch, expires)

    r = client.get(path, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    problem = r.json()
    assert problem["type"].endswith(":token-expired")
    assert "expired" in problem["detail"]
    assert _in_cst(expires) in problem["detail"]


def test_a_token_remembered_as_valid_is_refused_once_its_expiry_passes(
    demo: CommandCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trusted from memory for five minutes, on a memory clock that does not move.
    book = TokenBook(demo, cache_seconds=300, clock=lambda: 0.0)
    expires = now() + timedelta(minutes=1)
    token = book.issue(user="li.ming", unit="HW", roles=["dispatcher"], expires_at=expires)
    assert book.authenticate(token.secret) is not None
    assert book.remembered(token.secret) is not None

    _clock_moved_to(monkeypatch, expires)
    assert book.remembered(token.secret) is None
    with pytest.raises(TokenRefused) as refused:
        book.authenticate(token.secret)
    assert refused.value.code == "token-expired"


@pytest.mark.parametrize(
    ("expires_at", "why"),
    [
        ("2020-01-01T00:00:00+08:00", "future"),
        ("2030-01-01T00:00:00", "offset"),
        ("9999-12-31T23:59:59-12:00", "years 1 to 9999"),
        ("tomorrow", "datetime"),
        (17, "future"),  # seconds after 1970, as msgspec reads a number
    ],
)
def test_an_expiry_that_cannot_be_one_is_refused_naming_it_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter, expires_at: Any, why: str
) -> None:
    head = center.head_position()
    body = {"user": "wang.fang", "unit": "HW-DH", "roles": ["handler"], "expires_at": expires_at}
    r = client.post("/v1/tokens", json=body, headers=as_("admin"))
    assert r.status_code == 422, r.text
    assert "expires_at" in r.text
    assert why in r.text.lower() or why in r.text
    assert center.head_position() == head


# -- the server's longest lifetime -------------------------------------------------------


def test_with_a_longest_lifetime_a_later_expiry_is_refused_and_none_means_the_longest(
    client: Client, as_: As, center: CommandCenter
) -> None:
    _services(client).tokens.max_lifetime = timedelta(days=90)
    body = {"user": "wang.fang", "unit": "HW-DH", "roles": ["handler"]}
    too_late = _in_cst(now() + timedelta(days=91))
    head = center.head_position()
    r = client.post("/v1/tokens", json={**body, "expires_at": too_late}, headers=as_("admin"))
    assert r.status_code == 422
    assert "90 days" in r.json()["errors"][0]["message"]
    assert center.head_position() == head

    before = now()
    r = client.post("/v1/tokens", json=body, headers=as_("admin"))
    assert r.status_code == 201, r.text
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert before + timedelta(days=90) <= expires <= now() + timedelta(days=90)


def test_a_longest_lifetime_binds_the_command_line_too(demo: CommandCenter) -> None:
    book = TokenBook(demo, max_lifetime=timedelta(days=30))
    issued = book.issue(user="li.ming", unit="HW", roles=["dispatcher"])
    assert issued.expires_at is not None
    assert issued.expires_at - now() <= timedelta(days=30)


# -- a unit's term -----------------------------------------------------------------------


def test_a_reactivated_unit_does_not_bring_back_the_tokens_of_its_last_term(
    client: Client, as_: As, center: CommandCenter
) -> None:
    book = TokenBook(center)
    old = book.issue(user="wang.fang", unit="HW-DH-QS", roles=["handler"]).secret
    neighbour = book.issue(user="zhao.lei", unit="HW-DH-LY", roles=["handler"]).secret
    url = "/v1/units/HW-DH-QS"
    off = client.patch(url, json={"active": False, "reason": "merged"}, headers=as_("admin"))
    assert off.status_code == 200, off.text
    assert client.get("/v1/units", headers={"Authorization": f"Bearer {old}"}).status_code == 401

    on = client.patch(url, json={"active": True}, headers=as_("admin"))
    assert on.status_code == 200, on.text

    r = client.get("/v1/units", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    assert r.json()["type"].endswith(":token-of-a-past-term")
    assert "new tokens" in r.json()["detail"]
    new = book.issue(user="wang.fang", unit="HW-DH-QS", roles=["handler"]).secret
    assert client.get("/v1/units", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    # The neighbour's unit was never deactivated: its token never stopped.
    assert (
        client.get("/v1/units", headers={"Authorization": f"Bearer {neighbour}"}).status_code == 200
    )


# -- tokens from before ------------------------------------------------------------------


def test_a_token_stored_before_expiries_existed_loads_and_works_without_one(
    client: Client, center: CommandCenter
) -> None:
    secret = "cl_" + "o" * 43
    digest = secret_hash(secret)
    aggregate = access_token_id(digest)
    at = {"_type_": "datetime_iso", "_data_": now().isoformat()}
    store_under_topic(
        center,
        aggregate,
        1,
        "domain.access_token:AccessToken.Issued",
        {
            "timestamp": at,
            "originator_topic": "domain.access_token:AccessToken",
            "token_hash": digest,
            "token_id": "tok_0000000000000001",
            "user": "li.wei",
            "unit": "HW",
            "roles": ["dispatcher"],
            "label": "from before",
            "issued_by": "cli",
        },
    )
    token: Any = center.repository.get(aggregate)
    assert isinstance(token, AccessToken)
    assert token.expires_at is None
    assert token.unit_deactivations == 0
    r = client.get("/v1/units", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200, r.text


def test_a_token_listed_before_expiries_existed_is_listed_without_one(
    client: Client, as_: As, center: CommandCenter
) -> None:
    roster: Any = center.repository.get(ROSTER_ID)
    at = {"_type_": "datetime_iso", "_data_": now().isoformat()}
    store_under_topic(
        center,
        ROSTER_ID,
        roster.version + 1,
        "domain.token_roster:TokenRoster.Listed",
        {
            "timestamp": at,
            "token_id": "tok_0000000000000002",
            "aggregate_id": {"_type_": "uuid_hex", "_data_": "0" * 32},
            "user": "li.wei",
            "unit": "HW",
            "roles": ["dispatcher"],
            "label": "from before",
            "issued_at": at,
        },
    )
    listed = client.get("/v1/tokens", headers=as_("admin")).json()
    (old,) = [t for t in listed if t["token_id"] == "tok_0000000000000002"]
    assert old["expires_at"] is None

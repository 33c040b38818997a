"""``GET /v1/units/{code}/inbox`` is paged like every list (issue 19): ``cursor`` and
``limit`` (1 to 200, 50 by default), ``next_cursor`` null on the last page, a cursor this
server did not hand out refused with 422 naming it. Both lists of an inbox, what the
unit must act on and what it issued, are paged together, soonest deadline first."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import As
from tests.unit.builders import issue

Client = TestClient[Any]


def walk(client: Client, headers: dict[str, str], code: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of an inbox, following ``next_cursor`` to its end."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"/v1/units/{code}/inbox", params=query, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the pages never end"


def ids(pages: list[dict[str, Any]], which: str) -> list[str]:
    return [item["id"] for page in pages for item in page[which]]


@pytest.fixture
def sent(center: CommandCenter, client: Client) -> list[UUID]:
    """Seven instructions from the district to the Donghu office, three of them due at
    the same moment (the order between those is the order they were issued in)."""
    soon = now() + timedelta(days=3)
    deadlines = [soon + timedelta(hours=h) for h in (5, 1, 3, 3, 3, 2, 4)]
    return [issue(center, "HW", "HW-DH", deadline=d) for d in deadlines]


def test_every_instruction_is_on_exactly_one_page_in_deadline_order(
    client: Client, as_: As, sent: list[UUID]
) -> None:
    whole = client.get("/v1/units/HW-DH/inbox", params={"limit": 200}, headers=as_("office"))
    assert whole.json()["next_cursor"] is None
    everything = [i["id"] for i in whole.json()["assigned"]]
    assert sorted(everything) == sorted(str(s) for s in sent)
    deadlines = [i["deadline"] for i in whole.json()["assigned"]]
    assert deadlines == sorted(deadlines)

    pages = walk(client, as_("office"), "HW-DH", limit=2)

    assert [len(p["assigned"]) for p in pages] == [2, 2, 2, 1]
    assert ids(pages, "assigned") == everything


def test_the_issuers_list_is_paged_beside_the_assignees(
    client: Client, as_: As, center: CommandCenter, sent: list[UUID]
) -> None:
    # The office passes one instruction on: it has six to act on and one it issued.
    child = issue(center, "HW-DH", "HW-DH-QS")
    pages = walk(client, as_("office"), "HW-DH", limit=3)
    assert [len(p["assigned"]) for p in pages] == [3, 3, 1]
    assert [len(p["issued"]) for p in pages] == [1, 0, 0]
    assert ids(pages, "issued") == [str(child)]
    district = walk(client, as_("district"), "HW", limit=4)
    assert ids(district, "issued") == ids(walk(client, as_("district"), "HW", limit=200), "issued")
    assert len(ids(district, "issued")) == len(sent)


def test_an_inbox_answers_fifty_of_each_list_unless_asked_for_more(
    client: Client, as_: As, center: CommandCenter
) -> None:
    for _ in range(51):
        issue(center, "HW", "HW-XL")
    first = client.get("/v1/units/HW-XL/inbox", headers=as_("office_xl")).json()
    assert len(first["assigned"]) == 50
    assert first["next_cursor"] is not None
    rest = client.get(
        "/v1/units/HW-XL/inbox", params={"cursor": first["next_cursor"]}, headers=as_("office_xl")
    ).json()
    assert len(rest["assigned"]) == 1
    assert rest["next_cursor"] is None


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _cursor("p:12"),  # a list's cursor, not an inbox's
        _cursor("i:-"),
        _cursor("i:yesterday,3|-"),
        _cursor("i:2026-12-07T00:00:00.000000+00:00,x|-"),
        _cursor(f"i:2026-12-07T00:00:00.000000+00:00,{2**63}|-"),
        _cursor("i:2026-12-07T00:00:00,3|-"),  # no offset
        _cursor("i:9999-12-31T23:59:59-12:00,3|-"),  # year 10000 in UTC
        _cursor("i:2026-12-07T00:00:00+00:00,\u00b2|-"),
        "\u00e9" * 10,
    ],
)
def test_a_cursor_this_server_did_not_hand_out_is_refused_naming_it(
    client: Client, as_: As, cursor: str
) -> None:
    r = client.get("/v1/units/HW-DH/inbox", params={"cursor": cursor}, headers=as_("office"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", [0, 201, -1])
def test_a_limit_outside_one_to_two_hundred_is_refused(client: Client, as_: As, limit: int) -> None:
    r = client.get("/v1/units/HW-DH/inbox", params={"limit": limit}, headers=as_("office"))
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("who", "code", "seen"),
    [
        ("office", "HW-DH", True),
        ("district", "HW-DH", True),
        ("admin", "HW-DH", True),
        ("auditor", "HW-DH", True),
        ("office_xl", "HW-DH", False),
        ("community", "HW-DH", False),
    ],
)
def test_every_page_is_scoped_like_the_inbox(
    client: Client, as_: As, sent: list[UUID], who: str, code: str, seen: bool
) -> None:
    first = client.get(f"/v1/units/{code}/inbox", params={"limit": 2}, headers=as_("office"))
    cursor = first.json()["next_cursor"]
    r = client.get(
        f"/v1/units/{code}/inbox", params={"limit": 2, "cursor": cursor}, headers=as_(who)
    )
    assert r.status_code == (200 if seen else 404)

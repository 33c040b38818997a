"""Whistle and check-in on pages (吹哨报到; ADR 0078, 0090): an office's dispatcher blows
the whistle from the form (only summonable departments offered; a form left short said
at its field, nothing stored), a summoned department's handler checks in with who came,
the whistling unit closes it and who never came shows absent."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from tests.api.conftest import As
from tests.api.screens.conftest import Desk, desk_of

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def water(center: CommandCenter, tokens: dict[str, str]) -> str:
    """A handler of the water bureau, a department the office may summon."""
    return (
        TokenBook(center)
        .issue(user="水务李工", unit="HW-WATER", roles=["handler"], label="test")
        .secret
    )


def blow(office: Desk, **fields: Any) -> Any:
    body = {"matter": "湖畔路积水", "place": "湖畔路12号", "departments": ["HW-WATER", "HW-URBAN"]}
    return office.post("/whistles", {**body, **fields})


def test_a_whistle_is_blown_checked_in_and_closed_from_the_pages(
    client: TestClient[Any], tokens: dict[str, str], as_: As, water: str, center: CommandCenter
) -> None:
    office = desk_of(client, tokens, "office")
    form = office.get("/whistles").text
    assert 'action="/whistles"' in form
    assert 'value="HW-WATER"' in form
    assert 'value="HW-DH-QS"' not in form  # a community is no department to summon
    blown = blow(office, matter=SCRIPT)
    assert blown.status_code == 303, blown.text
    at = blown.headers["location"]
    assert re.fullmatch(r"/whistles/[0-9a-f-]{36}", at)
    page = office.get(at).text
    assert SCRIPT not in page
    assert "&lt;script&gt;" in page
    assert "未到" in page
    assert 'action="' + at + '/check-in"' not in page  # the office is not summoned
    assert 'action="' + at + '/close"' in page

    dept = Desk(TestClient(client.app))
    assert dept.sign_in(token=water).status_code == 303
    page = dept.get(at).text
    assert 'action="' + at + '/check-in"' in page
    head = center.head_position()
    empty = dept.post(f"{at}/check-in", {"person": " "})
    assert empty.status_code == 422
    assert 'id="check-in-person-error"' in empty.text
    assert center.head_position() == head
    came = dept.post(f"{at}/check-in", {"person": "李工、王工"})
    assert came.status_code == 303, came.text
    page = dept.get(at).text
    assert "按时报到" in page
    assert 'action="' + at + '/check-in"' not in page

    closed = office.post(f"{at}/close", {"note": "积水已排"})
    assert closed.status_code == 303, closed.text
    page = office.get(at).text
    assert "缺席" in page  # the urban bureau never came
    assert 'action="' + at + '/close"' not in page
    api = client.get("/v1" + at, headers=as_("office")).json()
    assert api["status"] == "closed"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"matter": " "}, "blow-matter"),
        ({"place": ""}, "blow-place"),
        ({"departments": []}, "blow-departments"),
        ({"departments": ["HW-DH-QS"]}, "blow-form"),
    ],
)
def test_a_short_whistle_form_is_said_at_its_field_and_nothing_is_stored(
    client: TestClient[Any],
    tokens: dict[str, str],
    center: CommandCenter,
    fields: dict[str, Any],
    field: str,
) -> None:
    office = desk_of(client, tokens, "office")
    head = center.head_position()
    refused = blow(office, **fields)
    assert refused.status_code in (403, 422), refused.text
    assert f'id="{field}-error"' in refused.text
    assert center.head_position() == head


def test_only_an_offices_or_communitys_dispatcher_is_offered_the_whistle(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    # The district's dispatcher is above the level that whistles; a handler blows nothing.
    for who in ("district", "community"):
        page = desk_of(client, tokens, who).get("/whistles")
        assert page.status_code == 200
        assert 'action="/whistles"' not in page.text, who
    head = center.head_position()
    assert blow(desk_of(client, tokens, "district")).status_code == 403
    assert blow(desk_of(client, tokens, "community")).status_code == 403
    assert center.head_position() == head


def test_a_whistle_is_seen_as_the_api_sees_it_and_speaks_english(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    office = desk_of(client, tokens, "office")
    at = blow(office).headers["location"]
    for who in ("office_xl", "community_b", "auditor"):
        api = client.get("/v1" + at, headers=as_(who)).status_code
        page = desk_of(client, tokens, who).get(at).status_code
        assert page == api, who
    office = desk_of(client, tokens, "office")
    client.cookies.set("cl_lang", "en")
    html = office.get(at).text
    assert "Not there yet" in html
    assert "Close the whistle" in html

"""A unit's duty roster on a page (值班, 交接班; ADR 0084, 0090): who is on duty now and
the deputy, the week's shifts, a shift added from the form (an overlap refused at its
field, nothing stored) and the watch handed over by the person on duty."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.screens.desk import local_input
from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import As
from tests.api.screens.conftest import desk_of

ZONE = "Asia/Shanghai"
SCRIPT = "<script>alert(1)</script>"
COMMAND = re.compile(r'name="command_id" value="([0-9a-f]+)"')


def at(hours: float) -> str:
    return local_input(now() + timedelta(hours=hours), ZONE)


def shift(**fields: str) -> dict[str, str]:
    return {
        "post": "duty_officer",
        "person": "duty-person",
        "deputy": "李四",
        "starts_at": at(-1),
        "ends_at": at(8),
        **fields,
    }


def test_a_duty_officer_adds_a_shift_and_hands_the_watch_over(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    d = desk_of(client, tokens, "duty")
    page = d.get("/units/HW/roster")
    assert page.status_code == 200, page.text
    assert "无人值班" in page.text
    assert 'action="/units/HW/roster/handovers"' not in page.text
    command = COMMAND.search(page.text)
    assert command
    added = d.post("/units/HW/roster/shifts", {"command_id": command.group(1), **shift()})
    assert added.status_code == 303, added.text
    assert added.headers["location"] == "/units/HW/roster"
    page = d.get("/units/HW/roster")
    assert "duty-person" in page.text
    assert "替班：李四" in page.text
    assert 'action="/units/HW/roster/handovers"' in page.text
    on_duty = client.get("/v1/units/HW/on-duty", headers=as_("duty")).json()
    assert on_duty["duty_officer"]["person"] == "duty-person"
    handed = d.post(
        "/units/HW/roster/handovers",
        {"post": "duty_officer", "to_person": "王五", "note": "两件未结"},
    )
    assert handed.status_code == 303, handed.text
    page = d.get("/units/HW/roster").text
    assert "已交接" in page
    assert "duty-person → 王五" in page
    # No longer on duty (nor deputy): the handover form is gone.
    assert 'action="/units/HW/roster/handovers"' not in page
    assert (
        client.get("/v1/units/HW/on-duty", headers=as_("duty")).json()["duty_officer"]["person"]
        == "王五"
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"starts_at": at(2), "ends_at": at(6)}, "shift-starts_at"),  # overlaps the first
        ({"post": "duty_leader", "deputy": "duty-person"}, "shift-deputy"),
        ({"post": "duty_leader", "starts_at": at(30), "ends_at": at(29)}, "shift-ends_at"),
        ({"post": "duty_leader", "starts_at": at(1), "ends_at": at(24 * 9)}, "shift-ends_at"),
        ({"post": "duty_leader", "starts_at": at(-9), "ends_at": at(-8)}, "shift-ends_at"),
        ({"post": "duty_leader", "starts_at": "tomorrow"}, "shift-starts_at"),
        ({"post": "duty_leader", "person": " "}, "shift-person"),
        ({"post": "janitor"}, "shift-post"),
    ],
)
def test_a_refused_shift_is_said_at_its_field_and_nothing_is_stored(
    client: TestClient[Any],
    tokens: dict[str, str],
    center: CommandCenter,
    fields: dict[str, str],
    field: str,
) -> None:
    d = desk_of(client, tokens, "duty")
    assert d.post("/units/HW/roster/shifts", shift()).status_code == 303
    head = center.head_position()
    refused = d.post("/units/HW/roster/shifts", shift(**fields))
    assert refused.status_code == 422, refused.text
    assert f'id="{field}-error"' in refused.text
    assert center.head_position() == head
    if field == "shift-starts_at" and "tomorrow" not in fields.values():
        assert "重叠" in refused.text
        assert "duty-person" in refused.text


def test_the_roster_is_seen_as_the_api_sees_it_and_kept_by_duty_officers_only(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    # A community's handler sees its office's roster; a neighbour office's does not.
    for who, code in (("community", "HW-DH"), ("duty_xl", "HW-DH"), ("office", "HW-DH-QS")):
        api = client.get(f"/v1/units/{code}/roster", headers=as_(who)).status_code
        page = desk_of(client, tokens, who).get(f"/units/{code}/roster").status_code
        assert page == api, (who, code)
    community = desk_of(client, tokens, "community")
    html = community.get("/units/HW-DH/roster").text
    assert 'action="/units/HW-DH/roster/shifts"' not in html
    head = center.head_position()
    assert community.post("/units/HW-DH/roster/shifts", shift()).status_code == 403
    assert desk_of(client, tokens, "duty_xl").post(
        "/units/HW-DH/roster/shifts", shift()
    ).status_code in (403, 404)
    forged = client.post("/units/HW/roster/shifts", data=shift(), follow_redirects=False)
    assert forged.status_code == 403
    assert center.head_position() == head
    assert desk_of(client, tokens, "duty").get("/units/NOPE/roster").status_code == 404


def test_my_roster_goes_to_my_units(client: TestClient[Any], tokens: dict[str, str]) -> None:
    answer = desk_of(client, tokens, "office").get("/roster")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/units/HW-DH/roster"


def test_hostile_names_stay_text_and_english_is_a_click_away(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    d = desk_of(client, tokens, "duty")
    assert (
        d.post("/units/HW/roster/shifts", shift(person=SCRIPT, deputy='"><img src=x>')).status_code
        == 303
    )
    html = d.get("/units/HW/roster").text
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html
    client.cookies.set("cl_lang", "en")
    html = d.get("/units/HW/roster").text
    assert "Duty officer" in html
    assert "Add a shift" in html


def test_a_double_click_adds_one_shift(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    d = desk_of(client, tokens, "duty")
    fields = {"command_id": "c" * 32, **shift()}
    assert d.post("/units/HW/roster/shifts", fields).status_code == 303
    head = center.head_position()
    assert d.post("/units/HW/roster/shifts", fields).status_code == 303
    assert center.head_position() == head

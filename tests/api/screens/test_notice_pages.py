"""Notices and their receipts on pages (通知, 签收回执; ADR 0077, 0090): a dispatcher
sends from the form (a form left short said at its field, nothing stored), an addressed
unit's duty officer confirms receipt with one button, and the receipt report shows on
time, late and missing per level, each level drillable."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.screens.desk import local_input
from api.tokens import TokenBook
from domain.application import CommandCenter
from domain.meta import Actor, Context, now
from domain.notice_watch import NoticeWatch
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases
from tests.api.conftest import As
from tests.api.screens.conftest import Desk, desk_of

SCRIPT = "<script>alert(1)</script>"


def later(hours: float) -> str:
    return local_input(now() + timedelta(hours=hours), "Asia/Shanghai")


@pytest.fixture
def qs_duty(center: CommandCenter, tokens: dict[str, str]) -> str:
    return (
        TokenBook(center)
        .issue(user="青山值班员", unit="HW-DH-QS", roles=["duty_officer"], label="test")
        .secret
    )


def send(office: Desk, **fields: Any) -> Any:
    body = {"title": "台风“海葵”逼近", "body": "各社区做好防御准备", "kind": "warning"}
    return office.post("/notices", {**body, "confirm_by": later(2), **fields})


def test_a_notice_is_sent_confirmed_and_reported_per_level(
    client: TestClient[Any], tokens: dict[str, str], as_: As, qs_duty: str
) -> None:
    office = desk_of(client, tokens, "office")
    assert 'action="/notices"' in office.get("/notices").text
    sent = send(office, body=SCRIPT)
    assert sent.status_code == 303, sent.text
    at = sent.headers["location"]
    assert re.fullmatch(r"/notices/[0-9a-f-]{36}", at)
    page = office.get(at).text
    assert SCRIPT not in page
    assert "&lt;script&gt;" in page
    assert "未签收" in page
    assert 'action="' + at + '/receipt"' not in page  # the sender confirms nothing

    duty = Desk(TestClient(client.app))
    assert duty.sign_in(token=qs_duty).status_code == 303
    page = duty.get(at).text
    assert 'action="' + at + '/receipt"' in page
    assert duty.post(f"{at}/receipt").status_code == 303
    page = duty.get(at).text
    assert 'action="' + at + '/receipt"' not in page
    assert "青山值班员" in page
    report = client.get(f"/v1{at}/receipts", headers=as_("office")).json()
    assert report["totals"]["on_time"] == 1
    drilled = office.get(f"{at}?level=community").text
    assert "按时签收" in drilled
    # The report's levels are words of the catalogue, never their codes.
    assert "社区（村）级" in drilled
    assert ">community<" not in drilled


def test_a_reminded_unit_shows_who_was_on_duty_there_when_it_was_reminded(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    RosterCases(center).arrange_shifts(
        Context(Actor(person="roster", unit="SYSTEM", role="system")),
        "HW-DH-QS",
        [ShiftPlan("duty_officer", "青山值班员吴十", "副班", now(), now() + timedelta(hours=4))],
    )
    office = desk_of(client, tokens, "office")
    at = send(office, to="chosen", addressees=["HW-DH-QS", "HW-DH-HP"]).headers["location"]
    NoticeWatch(center).tick(now() + timedelta(hours=3))
    page = office.get(at).text
    assert "已催办（值班人青山值班员吴十）" in page
    assert page.count("已催办") == 2  # the other community: reminded, nobody named
    office.get("/language/en")
    assert "reminded (on duty: 青山值班员吴十)" in office.get(at).text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": " "}, "send-title"),
        ({"body": ""}, "send-body"),
        ({"kind": "gossip"}, "send-kind"),
        ({"confirm_by": "soon"}, "send-confirm_by"),
        ({"confirm_by": later(-1)}, "send-confirm_by"),
        ({"to": "chosen"}, "send-addressees"),
    ],
)
def test_a_short_notice_form_is_said_at_its_field_and_nothing_is_stored(
    client: TestClient[Any],
    tokens: dict[str, str],
    center: CommandCenter,
    fields: dict[str, str],
    field: str,
) -> None:
    office = desk_of(client, tokens, "office")
    head = center.head_position()
    refused = send(office, **fields)
    assert refused.status_code == 422, refused.text
    assert f'id="{field}-error"' in refused.text
    assert center.head_position() == head


def test_a_notice_to_chosen_units_reaches_only_them_and_others_see_it_as_the_api(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    office = desk_of(client, tokens, "office")
    at = send(office, to="chosen", addressees="HW-DH-HP").headers["location"]
    n = client.get(f"/v1{at}", headers=as_("office")).json()
    assert n["addressees"] == ["HW-DH-HP"]
    for who in ("community", "community_b", "office_xl", "auditor"):
        api = client.get(f"/v1{at}", headers=as_(who)).status_code
        page = desk_of(client, tokens, who).get(at).status_code
        assert page == api, who
    head = center.head_position()
    forged = client.post("/notices", data={"title": "x"}, follow_redirects=False)
    assert forged.status_code == 403
    assert desk_of(client, tokens, "community").post(f"{at}/receipt").status_code == 403
    assert center.head_position() == head
    office = desk_of(client, tokens, "office")
    client.cookies.set("cl_lang", "en")
    assert "Receipt report" in office.get(at).text

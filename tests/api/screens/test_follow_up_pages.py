"""Follow-up (回访) on the instruction page (ADR 0083, 0090): the issuer's dispatcher is
offered the caller's three answers on a closed case from the public within the limit;
unresolved and dissatisfied shows the reopen (重办); an answer left out is said at its
field with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from litestar.testing import TestClient

from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import As
from tests.api.screens.test_instruction_desk import desk_of, steps_on
from tests.api.test_follow_up_api import _closed

SCRIPT = "<script>alert(1)</script>"


def test_the_issuer_follows_up_a_satisfied_caller_and_the_case_stays_closed(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    url = _closed(client, as_, attributes={"reporter": "李女士"})
    iid = url.rsplit("/", 1)[1]
    district = desk_of(client, tokens["district"])
    page = district.get(f"/instructions/{iid}")
    assert steps_on(page.text, iid) == {"follow-ups", "follow-up-attempts"}
    assert "回访期限" in page.text
    answer = district.post(
        f"/instructions/{iid}/follow-ups",
        {
            "command_id": "f-1",
            "contacted": "true",
            "resolved": "true",
            "satisfaction": "basically_satisfied",
            "note": SCRIPT,
        },
    )
    assert answer.status_code == 303, answer.text
    after = district.get(f"/instructions/{iid}").text
    assert "follow-ups" not in steps_on(after, iid)
    assert "基本满意" in after
    assert "案件保持办结" in after
    assert SCRIPT not in after
    assert "&lt;script&gt;" in after
    state = client.get(url, headers=as_("district")).json()
    assert state["status"] == "closed"
    assert state["last_follow_up"]["satisfaction"] == "basically_satisfied"


def test_unresolved_and_dissatisfied_reopens_and_the_page_says_so(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    url = _closed(client, as_)
    iid = url.rsplit("/", 1)[1]
    district = desk_of(client, tokens["district"])
    answer = district.post(
        f"/instructions/{iid}/follow-ups",
        {
            "command_id": "f-2",
            "contacted": "false",
            "resolved": "false",
            "satisfaction": "dissatisfied",
        },
    )
    assert answer.status_code == 303, answer.text
    after = district.get(f"/instructions/{iid}").text
    assert "已重办" in after
    assert "重办 1 次" in after
    assert client.get(url, headers=as_("district")).json()["status"] == "in_progress"
    office = desk_of(TestClient(client.app), tokens["office"])
    assert "submit" in steps_on(office.get(f"/instructions/{iid}").text, iid)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"resolved": "true", "satisfaction": "satisfied"}, "contacted"),
        ({"contacted": "true", "resolved": "maybe", "satisfaction": "satisfied"}, "resolved"),
        ({"contacted": "true", "resolved": "true", "satisfaction": "happy"}, "satisfaction"),
        ({}, "satisfaction"),
    ],
)
def test_an_answer_left_out_is_said_at_its_field_and_nothing_is_stored(
    client: TestClient[Any],
    tokens: dict[str, str],
    as_: As,
    center: CommandCenter,
    fields: dict[str, str],
    missing: str,
) -> None:
    url = _closed(client, as_)
    iid = url.rsplit("/", 1)[1]
    district = desk_of(client, tokens["district"])
    head = center.head_position()
    refused = district.post(f"/instructions/{iid}/follow-ups", {"command_id": "f-3", **fields})
    assert refused.status_code == 422
    assert f'id="follow-ups-{missing}-error"' in refused.text
    assert center.head_position() == head


def test_only_the_issuers_dispatcher_of_a_public_case_is_offered_the_follow_up(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    url = _closed(client, as_)
    iid = url.rsplit("/", 1)[1]
    for who in ("office", "duty", "auditor"):
        page = desk_of(TestClient(client.app), tokens[who]).get(f"/instructions/{iid}")
        assert "follow-ups" not in steps_on(page.text, iid), who
    head = center.head_position()
    refused = desk_of(TestClient(client.app), tokens["office"]).post(
        f"/instructions/{iid}/follow-ups",
        {"contacted": "true", "resolved": "true", "satisfaction": "satisfied"},
    )
    assert refused.status_code in (403, 422)
    assert center.head_position() == head
    # A case that did not come from the public has no caller to follow up.
    internal = _closed(client, as_, source="reservoir-telemetry")
    jid = internal.rsplit("/", 1)[1]
    page = desk_of(TestClient(client.app), tokens["district"]).get(f"/instructions/{jid}")
    assert "follow-ups" not in steps_on(page.text, jid)


def test_past_the_limit_the_follow_up_is_no_longer_offered(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    url = _closed(client, as_)
    iid = url.rsplit("/", 1)[1]
    with freeze_time(now() + timedelta(days=30)):
        page = desk_of(client, tokens["district"]).get(f"/instructions/{iid}")
        assert page.status_code == 200
        assert "follow-ups" not in steps_on(page.text, iid)


def test_the_follow_up_form_speaks_english(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    url = _closed(client, as_)
    iid = url.rsplit("/", 1)[1]
    client.cookies.set("cl_lang", "en")
    district = desk_of(client, tokens["district"])
    client.cookies.set("cl_lang", "en")
    html = district.get(f"/instructions/{iid}").text
    assert "Basically satisfied" in html
    assert "Follow up by" in html


def test_a_caller_not_reached_is_recorded_from_the_page_and_the_case_stays_closed(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    """ADR 0093: 未联系上 is an attempt with what was tried; the answers stay offered."""
    url = _closed(client, as_)
    iid = url.rsplit("/", 1)[1]
    district = desk_of(client, tokens["district"])
    head = center.head_position()
    refused = district.post(
        f"/instructions/{iid}/follow-up-attempts", {"command_id": "u-0", "note": " "}
    )
    assert refused.status_code == 422, refused.text
    assert 'id="follow-up-attempts-note"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert center.head_position() == head
    answer = district.post(
        f"/instructions/{iid}/follow-up-attempts", {"command_id": "u-1", "note": SCRIPT}
    )
    assert answer.status_code == 303, answer.text
    after = district.get(f"/instructions/{iid}").text
    assert "未联系上 1 次" in after
    assert steps_on(after, iid) == {"follow-ups", "follow-up-attempts"}
    assert SCRIPT not in after
    state = client.get(url, headers=as_("district")).json()
    assert (state["status"], state["unreached_follow_ups"]) == ("closed", 1)
    client.cookies.set("cl_lang", "en")
    en = district.get(f"/instructions/{iid}").text
    assert "Caller not reached" in en

"""The auditor's room over the test client: what each role may open, exactly as the
API's audit routes answer it; bad values at their field; hostile titles stay text."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

import audit
from api.audit import AuditService
from domain.application import CommandCenter
from tests.api.conftest import PEOPLE, As, issue, raise_warning
from tests.api.screens.conftest import Desk, desk_of

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def loop(client: TestClient[Any], as_: As) -> dict[str, Any]:
    """A warning in HW-DH-QS with an instruction for it, both titled to break a page."""
    warning = raise_warning(client, as_, title=SCRIPT)
    order = issue(client, as_, title=IMG, warning_ids=[warning["id"]])
    client.post(f"/v1/instructions/{order['id']}/sign", json={}, headers=as_("office"))
    return {"warning": warning["id"], "instruction": order["id"]}


@pytest.fixture
def signed(client: TestClient[Any], audit_settings: audit.AuditSettings) -> TestClient[Any]:
    client.app.state.audit = AuditService.from_settings(audit_settings)
    # The export reads the chain's tables, which the chain's follower makes when it runs.
    audit.ensure_tables(client.app.state.services.reads.store)
    return client


def test_a_loop_opens_for_exactly_those_the_api_shows_its_timeline(
    client: TestClient[Any], tokens: dict[str, str], as_: As, loop: dict[str, Any]
) -> None:
    seen = set()
    for who in sorted(PEOPLE):
        api = client.get(f"/v1/loops/{loop['warning']}/timeline", headers=as_(who))
        page = desk_of(client, tokens, who).get(f"/loops/{loop['warning']}")
        assert page.status_code == api.status_code, who
        if api.status_code == 200:
            seen.add(who)
            rows = page.text.count('<tr class="kind-')
            assert rows == len(api.json()["entries"]), who  # the same members left out
        else:
            assert page.status_code == 404, who
            assert "&lt;script&gt;" not in page.text, who
    assert {"auditor", "admin", "district", "office", "community"} <= seen
    assert not {"office_xl", "duty_xl", "community_b"} & seen


def test_another_districts_handler_gets_the_not_found_page(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any]
) -> None:
    page = desk_of(client, tokens, "office_xl").get(f"/loops/{loop['warning']}")
    assert page.status_code == 404
    assert 'class="card narrow error-page"' in page.text
    assert desk_of(client, tokens, "auditor").get("/loops/not-a-loop").status_code == 404


def test_the_timeline_says_who_acted_in_which_unit_and_role_and_keeps_titles_as_text(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any]
) -> None:
    page = desk_of(client, tokens, "auditor").get(f"/loops/{loop['warning']}")
    assert page.status_code == 200
    html = page.text
    for hostile in (SCRIPT, IMG, "<img src=x"):
        assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    for person in ("monitor-person", "district-person", "office-person"):
        assert person in html
    assert "签收" in html  # the step, as a word
    assert "承办人" in html  # the role, as a word
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", html)  # times in the zone


def test_a_record_is_shown_as_it_stood_at_a_version(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any]
) -> None:
    desk = desk_of(client, tokens, "district")
    url = f"/loops/{loop['warning']}?record={loop['instruction']}&version=1"
    page = desk.get(url)
    assert page.status_code == 200
    state = page.text.split('class="state"', 1)[1]
    assert "待签收" in state.split("</table>", 1)[0]  # dispatched, not yet signed for
    at = quote(datetime.now(UTC).isoformat())
    now = desk.get(f"/loops/{loop['warning']}?record={loop['instruction']}&as_of={at}")
    assert now.status_code == 200
    assert "办理中" in now.text.split('class="state"', 1)[1].split("</table>", 1)[0]


PAST_REFUSED = [
    ("version=999", "version"),
    ("version=0", "version"),
    ("version=x", "version"),
    ("version=99999999999999999999999", "version"),
    ("as_of=yesterday", "as_of"),
    ("as_of=2001-01-01T00:00", "as_of"),  # before the record existed
    ("version=1&as_of=2026-12-07T10:00", "version"),
    ("", "version"),
]


def test_a_past_state_that_cannot_be_shown_is_said_at_its_field(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any], center: CommandCenter
) -> None:
    desk = desk_of(client, tokens, "auditor")
    head = center.head_position()
    for query, field in PAST_REFUSED:
        page = desk.get(f"/loops/{loop['warning']}?record={loop['warning']}&{query}")
        assert page.status_code == 422, query
        assert f'id="{field}-error"' in page.text, query
        assert f'aria-describedby="{field}-error"' in page.text, query
    assert center.head_position() == head


def test_a_record_outside_the_loop_is_refused_at_its_field(
    client: TestClient[Any], tokens: dict[str, str], as_: As, loop: dict[str, Any]
) -> None:
    other = raise_warning(client, as_, title="another")
    page = desk_of(client, tokens, "auditor").get(
        f"/loops/{loop['warning']}?record={other['id']}&version=1"
    )
    assert page.status_code == 422
    assert 'id="record-error"' in page.text


def test_the_chain_is_verified_for_exactly_those_the_api_verifies_it_for(
    signed: TestClient[Any], tokens: dict[str, str], as_: As, loop: dict[str, Any]
) -> None:
    for who in sorted(PEOPLE):
        api = signed.get("/v1/audit/verification", headers=as_(who))
        desk = desk_of(signed, tokens, who)
        room = desk.get("/audit")
        assert room.status_code == 200, who
        offered = 'name="verify"' in room.text
        verified = desk.get("/audit?verify=1")
        assert verified.status_code == api.status_code, who
        assert offered == (api.status_code == 200) == (who in ("admin", "auditor")), who
        if api.status_code == 200:
            assert 'class="verdict ok"' in verified.text


def test_the_export_follows_the_apis_scope_and_redaction(
    signed: TestClient[Any], tokens: dict[str, str], as_: As, loop: dict[str, Any]
) -> None:
    for who in sorted(PEOPLE):
        api = signed.get("/v1/audit/export", headers=as_(who))
        page = desk_of(signed, tokens, who).get("/audit/export")
        assert page.status_code == api.status_code, who
        if api.status_code == 200:
            assert page.headers["content-type"].startswith("application/x-ndjson")
            assert "attachment" in page.headers["content-disposition"]
            mine = [json.loads(line) for line in page.text.splitlines()]
            theirs = [json.loads(line) for line in api.text.splitlines()]
            assert [m["position"] for m in mine] == [t["position"] for t in theirs]
            assert [m.get("redacted") for m in mine] == [t.get("redacted") for t in theirs]
        else:
            assert page.status_code == 403, who


def test_an_admin_exports_its_own_subtree_only(
    signed: TestClient[Any], tokens: dict[str, str], as_: As, loop: dict[str, Any]
) -> None:
    book = signed.app.state.services.tokens
    district_admin = book.issue(user="hw-admin", unit="HW-XL", roles=["admin"]).secret
    signed.cookies.clear()
    desk = Desk(signed)
    desk.sign_in(token=district_admin)
    lines = desk.get("/audit/export").text.splitlines()
    everything = signed.get("/v1/audit/export", headers=as_("auditor")).text.splitlines()
    assert 0 < len(lines) < len(everything)
    assert loop["warning"] not in "\n".join(lines)
    assert "token_hash" not in "\n".join(lines) or "redacted" in "\n".join(lines)


EXPORT_REFUSED = [
    ("since=tomorrow", "since"),
    ("until=2026-13-01T00:00", "until"),
    ("since=2026-12-07T10:00&until=2026-12-07T09:00", "until"),
    ("from_position=0", "from_position"),
    ("to_position=-3", "to_position"),
    ("since=9999-12-31T23:59:59-12:00", "since"),
]


def test_an_export_period_that_cannot_be_read_is_said_at_its_field(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = desk_of(client, tokens, "auditor")
    for query, field in EXPORT_REFUSED:
        page = desk.get(f"/audit/export?{query.replace('+', '%2B')}")
        assert page.status_code == 422, query
        assert f'id="{field}-error"' in page.text, query


def test_a_loop_id_that_is_no_id_is_said_at_its_field(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any]
) -> None:
    desk = desk_of(client, tokens, "auditor")
    bad = desk.get("/audit?loop=%3Cscript%3E")
    assert bad.status_code == 422
    assert 'id="loop-error"' in bad.text
    assert "<script>" not in bad.text.split("<main", 1)[1]
    good = desk.get(f"/audit?loop={loop['warning']}")
    assert good.status_code == 303
    assert good.headers["location"] == f"/loops/{loop['warning']}"


def test_the_room_lists_the_loops_in_scope_only(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any]
) -> None:
    room = desk_of(client, tokens, "community").get("/audit").text
    assert room.count(f'href="/loops/{loop["warning"]}"') == 1  # the loop once, not per record
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in room  # by its root's title
    assert (
        f"/loops/{loop['warning']}" not in desk_of(client, tokens, "office_xl").get("/audit").text
    )


def test_odd_values_from_a_browser_are_refused_in_words_never_a_server_error(
    client: TestClient[Any], tokens: dict[str, str], loop: dict[str, Any]
) -> None:
    desk = desk_of(client, tokens, "auditor")
    wid = loop["warning"]
    answers = {
        "/audit?loop=%00": 400,
        "/audit/export?since=%00": 400,
        "/audit/export?from_position=%C2%B2": 422,  # a superscript two is no digit here
        f"/loops/{wid}?record=%00&version=1": 400,
        f"/loops/{wid}?record={wid}&as_of=%00": 400,
        "/loops/00000000-0000-0000-0000-000000000000": 404,
    }
    for path, status in answers.items():
        assert desk.get(path).status_code == status, path

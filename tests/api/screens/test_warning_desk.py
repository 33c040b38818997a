"""The warning desk over the test client: what each role sees and may do, on its own
subtree only; refusals at their field with nothing stored (issue 20, ADR 0055)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from tests.api.conftest import As, issue, raise_warning
from tests.api.screens.conftest import desk_of as desk

STEP_FORM = re.compile(r'action="/warnings/[0-9a-f-]+/([a-z]+)"')


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    """The application with its intake (the scenarios' emergency switch)."""

    def sees_everything_written(request: httpx.Request) -> None:
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    def no_server_error(response: httpx.Response) -> None:
        if response.status_code >= 500:
            response.read()
            raise AssertionError(f"server error {response.status_code}: {response.text}")

    app = create_app(center, reads=build_read_models(center), intake=build_intake(center))
    with TestClient(app) as c:
        c.event_hooks["request"] = [sees_everything_written]
        c.event_hooks["response"] = [no_server_error]
        yield c


def steps_on(html: str) -> set[str]:
    """The steps a warning's page offers as forms, and the issue link."""
    found = set(STEP_FORM.findall(html))
    if "/instructions/new?warning_id=" in html:
        found.add("instruct")
    return found


def command_id(html: str, step: str) -> str:
    form = html[html.index(f'/{step}"') :]
    found = re.search(r'name="command_id" value="([0-9a-f]+)"', form)
    assert found
    return found.group(1)


def test_the_desk_lists_what_the_api_lists_for_each_unit(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    qs = raise_warning(client, as_, title="Qingshan reservoir above the flood limit")
    xl = raise_warning(client, as_, unit="HW-XL-SQ", title="Songquan creek rising", level=1)
    duty = desk(client, tokens, "duty").get("/warnings")
    assert duty.status_code == 200
    assert qs["id"] in duty.text
    assert xl["id"] in duty.text
    assert 'class="badge level level-1"' in duty.text
    community = desk(client, tokens, "community").get("/warnings")
    assert qs["id"] in community.text
    assert xl["id"] not in community.text


def test_filters_and_search_narrow_the_list_and_a_bad_filter_is_said_at_it(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    a = raise_warning(client, as_, title="Qingshan reservoir high", location="Qingshan Dam")
    b = raise_warning(
        client, as_, title="Coach over speed", theme="transportation", rule="coach.speed", level=3
    )
    d = desk(client, tokens, "duty")
    by_theme = d.get("/warnings?theme=transportation").text
    assert b["id"] in by_theme
    assert a["id"] not in by_theme
    by_level = d.get("/warnings?level=2").text
    assert a["id"] in by_level
    assert b["id"] not in by_level
    searched = d.get("/warnings?q=qingshan%20DAM").text
    assert a["id"] in searched
    assert b["id"] not in searched
    by_unit = d.get("/warnings?unit=HW-XL").text
    assert a["id"] not in by_unit
    assert b["id"] not in by_unit
    bad = d.get("/warnings?level=9")
    assert bad.status_code == 422
    assert 'aria-describedby="f-level-error"' in bad.text


def test_the_open_warnings_by_default_the_closed_ones_by_filter_and_pages_by_cursor(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    first = raise_warning(client, as_, title="First")
    second = raise_warning(client, as_, title="Second")
    cancelled = client.post(
        f"/v1/warnings/{first['id']}/cancel", json={"reason": "sensor fault"}, headers=as_("duty")
    )
    assert cancelled.status_code == 200
    d = desk(client, tokens, "duty")
    default = d.get("/warnings").text
    assert second["id"] in default
    assert first["id"] not in default
    assert first["id"] in d.get("/warnings?status=cancelled").text
    one = d.get("/warnings?status=all&limit=1").text
    assert second["id"] in one
    assert first["id"] not in one
    following = re.search(r'href="(/warnings\?[^"]*cursor=[^"]+)"', one)
    assert following
    rest = d.get(following.group(1).replace("&amp;", "&")).text
    assert first["id"] in rest
    assert second["id"] not in rest
    assert d.get("/warnings?cursor=nonsense").status_code == 422


def test_a_warning_of_another_office_is_the_not_found_page_for_a_community_handler(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    xl = raise_warning(client, as_, unit="HW-XL-SQ")
    community = desk(client, tokens, "community")
    assert community.get(f"/warnings/{xl['id']}").status_code == 404
    assert community.get("/warnings/00000000-0000-0000-0000-000000000000").status_code == 404
    assert desk(client, tokens, "duty_xl").get(f"/warnings/{xl['id']}").status_code == 200


@pytest.mark.parametrize(
    ("who", "offered"),
    [
        ("duty", {"acknowledge", "level", "resolve", "cancel"}),
        ("monitor", set()),
        ("auditor", set()),
        ("community", set()),
        ("office", {"instruct"}),
    ],
)
def test_each_role_is_offered_the_steps_its_role_and_unit_allow(
    client: TestClient[Any], tokens: dict[str, str], as_: As, who: str, offered: set[str]
) -> None:
    w = raise_warning(client, as_)
    page = desk(client, tokens, who).get(f"/warnings/{w['id']}")
    assert page.status_code == 200
    assert steps_on(page.text) == offered


def test_a_duty_officer_works_a_warning_through_to_closed(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    w = raise_warning(client, as_)
    d = desk(client, tokens, "duty")
    at = f"/warnings/{w['id']}"

    def step(name: str, **fields: str) -> str:
        answer = d.post(f"{at}/{name}", {"command_id": command_id(d.get(at).text, name), **fields})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == at
        return d.get(at).text

    assert "已确认收到" in step("acknowledge")
    assessed = step("assess", confirmed="true", note="gauge checked")
    assert "gauge checked" in assessed
    assert steps_on(assessed) == {"level", "resolve", "cancel", "close"}
    raised_level = step("level", level="1", reason="rain doubled")
    assert 'class="badge level level-1"' in raised_level
    resolved = step("resolve", note="water receded")
    assert steps_on(resolved) == {"close", "cancel"}
    closed = step("close")
    assert steps_on(closed) == set()
    assert "办结" in closed
    state = client.get(f"/v1/warnings/{w['id']}", headers=as_("duty")).json()
    assert state["status"] == "closed"
    assert state["level"] == 1


@pytest.mark.parametrize(
    ("step", "fields", "field"),
    [
        ("assess", {"confirmed": "false", "note": " "}, "assess-note"),
        ("cancel", {"reason": ""}, "cancel-reason"),
        ("level", {"level": "2", "reason": "same"}, "level-form"),
        ("level", {"level": "7", "reason": "worse"}, "level-level"),
        ("level", {"level": "1"}, "level-reason"),
    ],
)
def test_a_refused_step_is_said_at_its_field_and_stores_nothing(
    client: TestClient[Any],
    center: CommandCenter,
    tokens: dict[str, str],
    as_: As,
    step: str,
    fields: dict[str, str],
    field: str,
) -> None:
    w = raise_warning(client, as_)
    d = desk(client, tokens, "duty")
    at = f"/warnings/{w['id']}"
    assert d.post(f"{at}/acknowledge").status_code == 303
    head = center.head_position()
    refused = d.post(f"{at}/{step}", fields)
    assert refused.status_code in (409, 422)
    assert f'id="{field}-error"' in refused.text
    assert center.head_position() == head


def test_a_step_posted_without_the_csrf_token_is_refused_and_stores_nothing(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    w = raise_warning(client, as_)
    desk(client, tokens, "duty")
    head = center.head_position()
    forged = client.post(f"/warnings/{w['id']}/acknowledge", data={}, follow_redirects=False)
    assert forged.status_code == 403
    assert center.head_position() == head


def test_a_double_click_records_one_step(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    w = raise_warning(client, as_)
    d = desk(client, tokens, "duty")
    at = f"/warnings/{w['id']}"
    cid = command_id(d.get(at).text, "acknowledge")
    assert d.post(f"{at}/acknowledge", {"command_id": cid}).status_code == 303
    head = center.head_position()
    assert d.post(f"{at}/acknowledge", {"command_id": cid}).status_code == 303
    assert center.head_position() == head


def test_steps_are_refused_to_other_roles_and_units(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    w = raise_warning(client, as_)
    at = f"/warnings/{w['id']}/acknowledge"
    head = center.head_position()
    assert desk(client, tokens, "community").post(at).status_code == 403
    assert desk(client, tokens, "monitor").post(at).status_code == 403
    assert desk(client, tokens, "duty_xl").post(at).status_code == 404
    assert desk(client, tokens, "duty").post(f"/warnings/{w['id']}/explode").status_code == 404
    assert center.head_position() == head


@pytest.mark.parametrize("title", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'])
def test_a_title_is_shown_as_text(
    client: TestClient[Any], tokens: dict[str, str], as_: As, title: str
) -> None:
    w = raise_warning(client, as_, title=title, location=title)
    d = desk(client, tokens, "duty")
    for path in ("/warnings", f"/warnings/{w['id']}"):
        html = d.get(path).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;" in html


def test_a_duty_officer_switches_a_scenario_into_emergency_mode_and_out(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    d = desk(client, tokens, "duty")
    page = d.get("/warnings").text
    assert 'action="/warnings/scenarios/typhoon"' in page
    head = center.head_position()
    empty = d.post("/warnings/scenarios/typhoon", {"on": "true", "reason": ""})
    assert empty.status_code == 422
    assert 'aria-invalid="true"' in empty.text
    assert center.head_position() == head
    on = d.post("/warnings/scenarios/typhoon", {"on": "true", "reason": "landfall tonight"})
    assert on.status_code == 303
    assert on.headers["location"] == "/warnings"
    assert "应急状态" in d.get("/warnings").text
    assert client.get("/v1/scenarios/typhoon", headers=as_("duty")).json()["emergency"] is True
    off = d.post("/warnings/scenarios/typhoon", {"on": "false", "reason": "all clear"})
    assert off.status_code == 303
    monitor = desk(client, tokens, "monitor")
    assert 'action="/warnings/scenarios/typhoon"' not in monitor.get("/warnings").text
    head = center.head_position()
    assert (
        monitor.post("/warnings/scenarios/typhoon", {"on": "true", "reason": "x"}).status_code
        == 403
    )
    assert (
        desk(client, tokens, "duty_xl")
        .post("/warnings/scenarios/typhoon", {"on": "true", "reason": "x"})
        .status_code
        == 403
    )
    assert center.head_position() == head


def test_a_warning_shows_its_instructions_its_cap_message_and_its_timeline_in_words(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    cap = {
        "identifier": "HW-2026-0042",
        "sender": "weather@haiwan",
        "sent": "2026-07-01T02:00:00+00:00",
        "msg_type": "Alert",
        "infos": [
            {
                "event": "暴雨",
                "headline": "暴雨橙色预警",
                "severity": "Severe",
                "urgency": "Immediate",
                "certainty": "Likely",
                "expires": "2026-07-01T12:00:00+00:00",
                "instruction": "",
                "areas": [{"description": "海湾区"}],
            }
        ],
    }
    w = raise_warning(client, as_, unit="HW-DH", attributes={"cap": cap})
    duty = desk(client, tokens, "duty")
    assert duty.post(f"/warnings/{w['id']}/acknowledge").status_code == 303
    assert duty.post(f"/warnings/{w['id']}/assess", {"confirmed": "true"}).status_code == 303
    issued = issue(client, as_, warning_ids=[w["id"]], title="Open the spillway")
    page = duty.get(f"/warnings/{w['id']}").text
    assert f'href="/instructions/{issued["id"]}"' in page
    assert "Open the spillway" in page
    assert "close" not in steps_on(page)  # an instruction for it is still open
    assert "严重" in page  # the CAP severity, in words
    assert "2026-07-01 10:00" in page  # sent at 02:00 UTC, shown in the calendar's zone
    assert "确认收到预警" in page  # the timeline's line, in the page's language
    # Another office's handler sees neither the warning nor its instruction.
    assert desk(client, tokens, "office_xl").get(f"/warnings/{w['id']}").status_code == 404


def test_an_inhibited_warning_says_so_and_links_its_inhibitor(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    # ADR 0087: a district's red rainstorm warning inhibits a community's yellow one.
    red = raise_warning(
        client,
        as_,
        rule="cap:暴雨",
        theme="meteorological",
        level=1,
        unit="HW-DH",
        title="暴雨红色预警",
    )
    yellow = raise_warning(
        client,
        as_,
        rule="cap:暴雨",
        theme="meteorological",
        level=3,
        unit="HW-DH-QS",
        title="暴雨黄色预警 <b>",
    )
    page = desk(client, tokens, "duty").get(f"/warnings/{yellow['id']}")
    assert page.status_code == 200
    assert f'href="/warnings/{red["id"]}"' in page.text
    assert "rainstorm-red-over-lesser" in page.text
    assert "已抑制" in page.text
    assert "<b>" not in page.text  # the title is escaped
    listed = desk(client, tokens, "duty").get("/warnings").text
    row = listed[listed.index(f'href="/warnings/{yellow["id"]}"') :]
    assert "state-inhibited" in row[: row.index("</tr>")]


def test_a_groups_warning_lists_its_members(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    from datetime import timedelta

    from domain.meta import now

    def gauge(station: str, value: float, minutes: int) -> dict[str, Any]:
        return {
            "source": "hydrology-net",
            "subject": station,
            "metric": "water_level",
            "value": value,
            "unit_of_measure": "m",
            "unit": "E-QSRES",
            "observed_at": (now() + timedelta(minutes=minutes)).isoformat(),
        }

    ids = []
    for n, station in enumerate(["qingshan-reservoir", "qingshan-reservoir-spillway"]):
        r = client.post(
            "/v1/observations",
            json={"batch_id": f"p{n}", "readings": [gauge(station, 52.9, -10 + n)]},
            headers=as_("monitor"),
        )
        assert r.status_code in (200, 201), r.text
        ids.append(r.json()["results"][0]["warning_id"])
    assert ids[0] == ids[1]
    page = desk(client, tokens, "duty").get(f"/warnings/{ids[0]}")
    assert page.status_code == 200
    assert "成员 2 个，仍超限 2 个" in page.text
    assert "qingshan-reservoir-spillway" in page.text
    assert "组预警，成员 2 个" in desk(client, tokens, "duty").get("/warnings").text

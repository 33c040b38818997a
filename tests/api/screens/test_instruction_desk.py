"""The duty desk's instruction pages over the test client (issue 20, ADR 0056): the
inbox, the issue form, the instruction and its steps, for each role and subtree."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue
from tests.api.screens.conftest import Desk

COMMAND = re.compile(r'name="command_id" value="([0-9a-f]+)"')


def desk_of(client: TestClient[Any], token: str) -> Desk:
    desk = Desk(client)
    assert desk.sign_in(token=token).status_code == 303
    return desk


def steps_on(html: str, iid: str) -> set[str]:
    """The steps the page offers: the forms that post to the instruction's steps."""
    return set(re.findall(rf'action="/instructions/{iid}/([a-z\-]+)"', html))


def issue_form(desk: Desk, **fields: Any) -> Any:
    page = desk.get("/instructions/new")
    assert page.status_code == 200
    command = COMMAND.search(page.text)
    assert command
    body = {"command_id": command.group(1), "title": "Clear the drain", **fields}
    return desk.post("/instructions", body), command.group(1)


# -- the inbox -----------------------------------------------------------------------


def test_the_inbox_shows_each_instruction_with_its_working_time_countdown(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    done = issue(client, as_, title="Inspect the dam", lead_unit="HW-DH", due_in="P2D")
    issue(client, as_, title="Urgent sandbags", lead_unit="HW-DH", due_in="PT1H", priority="urgent")
    page = desk_of(client, tokens["office"]).get("/inbox")
    assert page.status_code == 200
    assert f'href="/instructions/{done["id"]}"' in page.text
    assert "Inspect the dam" in page.text
    assert "Urgent sandbags" in page.text
    assert "（工作时间）" in page.text  # a normal one counts working time
    assert 'class="countdown near"' in page.text  # an hour left: amber
    assert "特急" in page.text  # the priority in words, never the code alone


def test_the_inbox_filters_by_status_priority_and_title(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    issue(client, as_, title="Inspect the dam", lead_unit="HW-DH")
    issue(client, as_, title="Urgent sandbags", lead_unit="HW-DH", priority="urgent")
    desk = desk_of(client, tokens["office"])
    found = desk.get("/inbox?q=sandbag")
    assert "Urgent sandbags" in found.text
    assert "Inspect the dam" not in found.text
    urgent = desk.get("/inbox?priority=normal")
    assert "Inspect the dam" in urgent.text
    assert "Urgent sandbags" not in urgent.text
    none = desk.get("/inbox?status=submitted")
    assert "Inspect the dam" not in none.text
    late = desk.get("/inbox?overdue=1")
    assert "Inspect the dam" not in late.text
    bad = desk.get("/inbox?status=nonsense")
    assert bad.status_code == 422
    assert 'id="status-error"' in bad.text
    assert desk.get("/inbox?cursor=not-ours").status_code == 422


def test_another_districts_inbox_is_not_found(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    desk = desk_of(client, tokens["community"])
    assert desk.get("/inbox?unit=HW-XL").status_code == 404
    assert desk.get("/inbox?unit=HW-DH-QS").status_code == 200
    office = desk_of(TestClient(client.app), tokens["office"]).get("/inbox").text
    openable = set(re.findall(r'<option value="([A-Z][A-Z0-9\-]*)"', office))
    assert openable == {"HW-DH", "HW-DH-HP", "HW-DH-LY", "HW-DH-QS", "E-DHSCENIC"}


# -- the issue form ------------------------------------------------------------------


def test_the_issue_form_offers_only_the_units_this_unit_may_instruct(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    page = desk_of(client, tokens["office"]).get("/instructions/new")
    assert page.status_code == 200
    offered = set(re.findall(r'<option value="([A-Z][A-Z0-9\-]*)"', page.text))
    assert offered == {"HW-DH-HP", "HW-DH-LY", "HW-DH-QS", "E-DHSCENIC"}


def test_a_handler_without_the_dispatcher_role_cannot_open_the_issue_form(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    assert desk_of(client, tokens["community"]).get("/instructions/new").status_code == 403


def test_an_issued_instruction_is_shown_at_once(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    desk = desk_of(client, tokens["office"])
    response, _command = issue_form(
        desk, lead_unit="HW-DH-QS", cooperating_units=["HW-DH-HP"], due_in="4h"
    )
    assert response.status_code == 303, response.text
    iid = response.headers["location"].removeprefix("/instructions/")
    page = desk.get(response.headers["location"])
    assert page.status_code == 200, page.text
    assert "Clear the drain" in page.text
    assert "青山社区" in page.text
    instruction = center.instruction(UUID(iid))
    assert instruction.cooperating == ["HW-DH-HP"]
    working = center.calendar.time_left(instruction.deadline, instruction.issued_at)
    assert round(working.total_seconds()) == 4 * 3600


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lead_unit": "HW-XL-SQ", "due_in": "4h"}, "lead_unit"),  # another office's
        ({"lead_unit": "HW", "due_in": "4h"}, "lead_unit"),  # up the network
        (
            {"lead_unit": "HW-DH-QS", "cooperating_units": ["HW-XL"], "due_in": "4h"},
            "cooperating_units",
        ),
        ({"lead_unit": "HW-DH-QS"}, "due_in"),  # no deadline at all
        ({"lead_unit": "HW-DH-QS", "due_in": "4h", "deadline": "2030-01-01T10:00"}, "due_in"),
        ({"lead_unit": "HW-DH-QS", "due_in": "soon"}, "due_in"),
        ({"lead_unit": "HW-DH-QS", "deadline": "2001-01-01T10:00"}, "deadline"),
        ({"lead_unit": "HW-DH-QS", "deadline": "not a time"}, "deadline"),
        ({"lead_unit": "HW-DH-QS", "due_in": "4h", "title": ""}, "title"),
        ({"lead_unit": "HW-DH-QS", "due_in": "4h", "priority": "extreme"}, "priority"),
        ({"lead_unit": "HW-DH-QS", "due_in": "4h", "warning_ids": "nonsense"}, "warning_ids"),
    ],
)
def test_a_refused_issue_is_said_at_its_field_and_stores_nothing(
    client: TestClient[Any],
    tokens: dict[str, str],
    center: CommandCenter,
    fields: dict[str, Any],
    field: str,
) -> None:
    desk = desk_of(client, tokens["office"])
    head = center.head_position()
    response, _ = issue_form(desk, **fields)
    assert response.status_code in (400, 403, 404, 409, 422), response.text
    assert f'id="{field}-error"' in response.text
    assert 'aria-invalid="true"' in response.text or field == "cooperating_units"
    assert center.head_position() == head


def test_a_post_without_its_csrf_token_is_refused_and_stores_nothing(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    desk = desk_of(client, tokens["office"])
    head = center.head_position()
    desk.csrf = "forged"
    response, _ = issue_form(desk, lead_unit="HW-DH-QS", due_in="4h")
    assert response.status_code == 403
    assert center.head_position() == head


def test_one_form_sent_twice_is_one_instruction(
    client: TestClient[Any], tokens: dict[str, str], center: CommandCenter
) -> None:
    desk = desk_of(client, tokens["office"])
    page = desk.get("/instructions/new")
    command = COMMAND.search(page.text)
    assert command
    body = {"command_id": command.group(1), "title": "Once", "lead_unit": "HW-DH-QS"}
    first = desk.post("/instructions", {**body, "due_in": "4h"})
    head = center.head_position()
    again = desk.post("/instructions", {**body, "due_in": "4h"})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert center.head_position() == head


# -- the instruction and its steps ---------------------------------------------------


def test_another_districts_instruction_is_the_not_found_page(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    theirs = issue(client, as_, who="office_xl", lead_unit="HW-XL-SQ", title="Xiling's own")
    desk = desk_of(client, tokens["community"])
    page = desk.get(f"/instructions/{theirs['id']}")
    assert page.status_code == 404
    assert "Xiling&#39;s own" not in page.text
    head_before = desk.post(f"/instructions/{theirs['id']}/sign", {"command_id": "x1"})
    assert head_before.status_code == 404
    assert desk.get("/instructions/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_handler_is_offered_sign_for_then_submit_as_the_domain_allows(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    page = community.get(f"/instructions/{iid}")
    # A new case may also be disputed within its limit (ADR 0076).
    assert steps_on(page.text, iid) == {"sign", "return", "disputes"}
    # A neighbour under the same office sees the instruction? No: not its unit's.
    neighbour = desk_of(TestClient(client.app), tokens["community_b"])
    assert neighbour.get(f"/instructions/{iid}").status_code == 404
    signed = community.post(f"/instructions/{iid}/sign", {"command_id": "sign-1"})
    assert signed.status_code == 303
    page = community.get(f"/instructions/{iid}")
    offered = steps_on(page.text, iid)
    assert {"submit", "progress", "actions", "extension-requests"} <= offered
    assert "sign" not in offered
    assert "已签收" in page.text
    head = center.head_position()
    empty = community.post(f"/instructions/{iid}/submit", {"command_id": "s-0", "result": " "})
    assert empty.status_code == 422
    assert 'id="submit-result-error"' in empty.text
    assert center.head_position() == head
    done = community.post(f"/instructions/{iid}/submit", {"command_id": "s-1", "result": "Done"})
    assert done.status_code == 303
    page = community.get(f"/instructions/{iid}")
    assert "submit" not in steps_on(page.text, iid)
    office = desk_of(TestClient(client.app), tokens["office"])
    assert "verify" in steps_on(office.get(f"/instructions/{iid}").text, iid)


def test_a_handler_may_not_post_a_dispatchers_step(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    head = center.head_position()
    refused = community.post(f"/instructions/{iid}/cancel", {"command_id": "c1", "reason": "x"})
    assert refused.status_code == 403
    assert center.head_position() == head


def test_a_refused_step_is_said_beside_its_form_in_words(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    head = center.head_position()
    # Submitting before signing for it: the domain refuses; the page says so in Chinese.
    refused = community.post(f"/instructions/{iid}/submit", {"command_id": "s1", "result": "x"})
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert "当前状态下不能做这一步" in refused.text
    assert center.head_position() == head


@pytest.mark.parametrize("title", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'])
def test_a_title_of_markup_stays_text_on_every_page(
    client: TestClient[Any], tokens: dict[str, str], as_: As, title: str
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office", title=title)["id"]
    desk = desk_of(client, tokens["office"])
    for path in ("/inbox", f"/instructions/{iid}", f"/inbox?q={title[:5]}"):
        html = desk.get(path).text
        assert title not in html
        assert "<script>alert" not in html
        assert "<img src=x" not in html
    refused, _ = issue_form(desk, lead_unit="HW-XL", due_in="4h", title=title)
    assert title not in refused.text


def test_a_step_sent_twice_with_one_command_id_is_one_event(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    assert community.post(f"/instructions/{iid}/sign", {"command_id": "once"}).status_code == 303
    head = center.head_position()
    again = community.post(f"/instructions/{iid}/sign", {"command_id": "once"})
    assert again.status_code == 303
    assert center.head_position() == head


def test_an_extension_asked_for_the_past_is_said_at_its_field(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    community.post(f"/instructions/{iid}/sign", {"command_id": "sign"})
    head = center.head_position()
    asked = community.post(
        f"/instructions/{iid}/extension-requests",
        {"command_id": "ext", "deadline": "2001-01-01T09:00", "reason": "rain"},
    )
    assert asked.status_code == 422
    assert 'id="extension-requests-deadline-error"' in asked.text
    assert "这个时间已经过去" in asked.text
    assert '<details class="step" open>' in asked.text
    assert center.head_position() == head


def test_each_page_step_takes_the_role_of_the_apis_own() -> None:
    from api.instructions import INSTRUCTION_STEPS
    from api.screens.instruction_steps import LINES
    from api.screens.offered import ROLE_OF, STEPS

    assert set(LINES) == set(STEPS) == set(ROLE_OF)
    for line in INSTRUCTION_STEPS:
        assert ROLE_OF[line.path] == line.role

"""Merging (并单) on the warning desk: the form is offered only when the domain would take
the merge, refusals are said at their field with nothing stored, and un-merging is a
recorded step (ADR 0082, 0090)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from tests.api.conftest import As, issue, raise_warning
from tests.api.screens.conftest import desk_of as desk

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    def sees_everything_written(request: httpx.Request) -> None:
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    def no_server_error(response: httpx.Response) -> None:
        if response.status_code >= 500:
            response.read()
            raise AssertionError(f"server error {response.status_code}: {response.text}")

    with TestClient(create_app(center, reads=build_read_models(center))) as c:
        c.event_hooks["request"] = [sees_everything_written]
        c.event_hooks["response"] = [no_server_error]
        yield c


def pair(client: TestClient[Any], as_: As, **other: Any) -> tuple[str, str]:
    """Two warnings about one gauge (the second to be merged into the first), once the
    district's dispatcher sees both: they were raised by another principal, whose writes
    that dispatcher's reads do not wait for, and a loaded machine's views can lag."""
    main = raise_warning(client, as_, location="Qingshan dam")
    merged = raise_warning(client, as_, location="Qingshan dam", **other)
    deadline = time.monotonic() + 30  # a bound, not a pause
    for wid in (main["id"], merged["id"]):
        while client.get(f"/v1/warnings/{wid}", headers=as_("district")).status_code == 404:
            assert time.monotonic() < deadline, f"warning {wid} never reached the view"
            time.sleep(0.02)
    return main["id"], merged["id"]


def merge_form(html: str) -> str:
    start = html.index('action="/warnings/')
    found = re.search(
        r'<form method="post" action="/warnings/[0-9a-f-]+/merge".*?</form>', html, re.S
    )
    assert found, html[start : start + 200]
    return found.group(0)


def cid(html: str, step: str) -> str:
    form = html[html.index(f'/{step}"') :]
    found = re.search(r'name="command_id" value="([0-9a-f]+)"', form)
    assert found
    return found.group(1)


def test_a_dispatcher_merges_a_warning_into_its_main_case_and_unmerges_it(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    main, merged = pair(client, as_)
    d = desk(client, tokens, "district")
    at = f"/warnings/{merged}"
    page = d.get(at).text
    form = merge_form(page)
    assert f'value="{main}"' in form
    assert "同一事项" in form  # the same rule, place and time: no override needed
    answer = d.post(
        f"{at}/merge", {"command_id": cid(page, "merge"), "into": main, "reason": "一处水位计"}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == at
    after = d.get(at).text
    assert "已并入" in after
    assert f'href="/warnings/{main}"' in after
    assert 'action="/warnings/' + merged + '/merge"' not in after
    # Closed as merged: neither cancelled nor given instructions here (ADR 0093).
    assert f'action="/warnings/{merged}/cancel"' not in after
    assert f"/instructions/new?warning_id={merged}" not in after
    assert f'action="/warnings/{merged}/unmerge"' in after
    state = client.get(at.replace("/warnings", "/v1/warnings"), headers=as_("district")).json()
    assert state["status"] == "merged"
    assert state["merged_into"] == main
    main_page = d.get(f"/warnings/{main}").text
    assert "并入本案的预警" in main_page
    assert f'href="/warnings/{merged}"' in main_page
    # The main case of another is merged into nothing: no form on it.
    assert f'action="/warnings/{main}/merge"' not in main_page
    undone = d.post(f"{at}/unmerge", {"command_id": cid(after, "unmerge"), "reason": "两座坝"})
    assert undone.status_code == 303, undone.text
    back = client.get(f"/v1/warnings/{merged}", headers=as_("district")).json()
    assert back["status"] == "raised"
    assert back["merged_into"] is None
    again = d.get(at).text
    assert f'action="/warnings/{merged}/merge"' in again
    timeline = client.get(f"/v1/loops/{merged}/timeline", headers=as_("auditor"))
    assert timeline.status_code in (200, 404)


def test_the_form_names_what_differs_and_a_mismatch_needs_the_override(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    main = raise_warning(client, as_, location="Qingshan dam")["id"]
    other = raise_warning(client, as_, location="Hupan road 12", rule="drain.blocked")["id"]
    d = desk(client, tokens, "district")
    at = f"/warnings/{other}"
    page = d.get(at).text
    form = merge_form(page)
    assert "地点不同" in form
    assert "规则（隐患）不同" in form
    head = center.head_position()
    refused = d.post(f"{at}/merge", {"command_id": cid(page, "merge"), "into": main, "reason": "x"})
    assert refused.status_code == 422
    assert 'id="merge-override-error"' in refused.text
    assert center.head_position() == head
    taken = d.post(
        f"{at}/merge",
        {"command_id": cid(page, "merge"), "into": main, "reason": "一件事", "override": "true"},
    )
    assert taken.status_code == 303, taken.text
    assert client.get(f"/v1/warnings/{other}", headers=as_("district")).json()["status"] == "merged"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reason": "x"}, "merge-into"),
        ({"into": "not-a-warning", "reason": "x"}, "merge-into"),
        ({"into": "00000000-0000-0000-0000-000000000000", "reason": "x"}, "merge-into"),
        ({"into": "SELF", "reason": "x"}, "merge-into"),
        ({"into": "MAIN", "reason": "  "}, "merge-reason"),
        ({"into": "MAIN"}, "merge-reason"),
        ({"into": "MAIN", "reason": "x", "override": "maybe"}, "merge-override"),
    ],
)
def test_a_bad_merge_is_said_at_its_field_and_stores_nothing(
    client: TestClient[Any],
    center: CommandCenter,
    tokens: dict[str, str],
    as_: As,
    fields: dict[str, str],
    field: str,
) -> None:
    main, merged = pair(client, as_)
    d = desk(client, tokens, "district")
    at = f"/warnings/{merged}"
    sent = {k: {"MAIN": main, "SELF": merged}.get(v, v) for k, v in fields.items()}
    head = center.head_position()
    refused = d.post(f"{at}/merge", sent)
    assert refused.status_code in (409, 422), refused.text
    assert f'id="{field}-error"' in refused.text
    assert center.head_position() == head


def test_a_merge_into_a_closed_or_merged_case_and_a_circle_are_refused_at_the_main_case(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    main, merged = pair(client, as_)
    third = raise_warning(client, as_, location="Qingshan dam")["id"]
    d = desk(client, tokens, "district")
    assert d.post(f"/warnings/{merged}/merge", {"into": main, "reason": "一处"}).status_code == 303
    head = center.head_position()
    # Into a warning merged into another: not offered, and refused at the picker.
    page = d.get(f"/warnings/{third}").text
    assert f'value="{merged}"' not in merge_form(page)
    refused = d.post(f"/warnings/{third}/merge", {"into": merged, "reason": "x"})
    assert refused.status_code in (409, 422)
    assert 'id="merge-into-error"' in refused.text
    # A main case merged into another is a circle: the main case has no merge form.
    refused = d.post(f"/warnings/{main}/merge", {"into": third, "reason": "x"})
    assert refused.status_code in (409, 422)
    assert 'id="form-error"' in refused.text
    assert center.head_position() == head


def test_a_warning_with_an_open_instruction_is_not_offered_a_merge(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    main, merged = pair(client, as_)
    issue(client, as_, warning_ids=[merged])
    d = desk(client, tokens, "district")
    assert f'action="/warnings/{merged}/merge"' not in d.get(f"/warnings/{merged}").text
    # The main case may still be merged into the other? Not: that one has instructions,
    # but merging *into* it is allowed by the domain.
    assert f'value="{merged}"' in merge_form(d.get(f"/warnings/{main}").text)


@pytest.mark.parametrize("who", ["duty", "monitor", "community", "auditor", "office_xl"])
def test_the_merge_is_offered_to_a_dispatcher_of_the_subtree_only(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As, who: str
) -> None:
    main, merged = pair(client, as_)
    d = desk(client, tokens, who)
    page = d.get(f"/warnings/{merged}")
    assert 'action="/warnings/' + merged + '/merge"' not in page.text
    head = center.head_position()
    answer = d.post(f"/warnings/{merged}/merge", {"into": main, "reason": "x"})
    assert answer.status_code in (403, 404)
    assert center.head_position() == head


def test_a_merge_posted_without_csrf_or_twice_stores_nothing_more(
    client: TestClient[Any], center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    main, merged = pair(client, as_)
    d = desk(client, tokens, "district")
    head = center.head_position()
    forged = client.post(
        f"/warnings/{merged}/merge", data={"into": main, "reason": "x"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert center.head_position() == head
    command = cid(d.get(f"/warnings/{merged}").text, "merge")
    fields = {"command_id": command, "into": main, "reason": "一处"}
    assert d.post(f"/warnings/{merged}/merge", fields).status_code == 303
    head = center.head_position()
    assert d.post(f"/warnings/{merged}/merge", fields).status_code == 303
    assert center.head_position() == head


def test_hostile_titles_stay_text_in_the_merge_form_and_facts(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    main = raise_warning(client, as_, title=SCRIPT, location="Qingshan dam")["id"]
    merged = raise_warning(
        client, as_, title='"><img src=x onerror=alert(1)>', location="Qingshan dam"
    )["id"]
    d = desk(client, tokens, "district")
    html = d.get(f"/warnings/{merged}").text
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert d.post(f"/warnings/{merged}/merge", {"into": main, "reason": SCRIPT}).status_code == 303
    for page in (f"/warnings/{merged}", f"/warnings/{main}"):
        html = d.get(page).text
        assert SCRIPT not in html
        assert "<img src=x" not in html


def test_the_merge_form_speaks_english_a_click_away(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    _main, merged = pair(client, as_)
    d = desk(client, tokens, "district")
    client.cookies.set("cl_lang", "en")
    html = d.get(f"/warnings/{merged}").text
    assert "Merge into a main case" in html
    assert "the same matter" in html

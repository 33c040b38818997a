"""Role × page: a session sees exactly what its person's token sees in the API (issue 20).

For every person of the test world (each role, in the city, a district, an office and
communities) and a hall screen, each page answers as the API operation it shows does:
200 where the API answers 200, the not-found page where it answers 404 (a record outside
the subtree), the refusal page where it answers 403. A hall screen is the one exception
by design: what the API refuses it (403), its pages do not have at all (404).
Hostile titles stay text on every page that shows them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import PEOPLE, As, issue, raise_warning
from tests.api.screens.conftest import Desk

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SCREEN = "hall_screen"


@pytest.fixture
def world(
    center: CommandCenter, client: TestClient[Any], tokens: dict[str, str], as_: As
) -> dict[str, str]:
    warning = raise_warning(client, as_, title=SCRIPT, location=IMG)
    order = issue(client, as_, title=IMG, content=SCRIPT, warning_ids=[warning["id"]])
    secret = TokenBook(center).issue(user="大厅", unit="HW", roles=["screen"], label="hall").secret
    tokens[SCREEN] = secret
    as_.tokens[SCREEN] = secret
    blown = client.post(
        "/v1/whistles",
        json={"unit": "HW-DH", "matter": SCRIPT, "place": IMG, "departments": ["HW-WATER"]},
        headers=as_("office"),
    )
    assert blown.status_code == 201, blown.text
    by = (now() + timedelta(hours=2)).isoformat()
    body = {"title": SCRIPT, "body": IMG, "kind": "other", "confirm_by": by}
    notice = client.post("/v1/notices", json=body, headers=as_("office"))
    assert notice.status_code == 201, notice.text
    return {
        "warning": warning["id"],
        "instruction": order["id"],
        "whistle": blown.json()["id"],
        "notice": notice.json()["id"],
    }


def pairs(world: dict[str, str], unit: str) -> list[tuple[str, str]]:
    """(page, the API read it shows) for one person of ``unit``."""
    w, i = world["warning"], world["instruction"]
    return [
        ("/board", "/v1/board/warnings"),
        ("/warnings", "/v1/warnings"),
        (f"/warnings/{w}", f"/v1/warnings/{w}"),
        (f"/instructions/{i}", f"/v1/instructions/{i}"),
        (f"/loops/{w}", f"/v1/loops/{w}/timeline"),
        ("/reports/HW", "/v1/reports/units/HW"),
        ("/reports/HW-DH-QS", "/v1/reports/units/HW-DH-QS"),
        ("/evaluations/HW", "/v1/evaluations/HW"),
        ("/evaluations/HW-DH-QS", "/v1/evaluations/HW-DH-QS"),
        (f"/inbox?unit={unit}", f"/v1/units/{unit}/inbox"),
        ("/admin/tokens", "/v1/tokens"),
        ("/admin/accounts", "/v1/accounts"),
        (f"/units/{unit}/roster", f"/v1/units/{unit}/roster"),
        ("/units/HW-DH/roster", "/v1/units/HW-DH/roster"),
        ("/units/HW-XL/roster", "/v1/units/HW-XL/roster"),
        ("/whistles", "/v1/whistles"),
        (f"/whistles/{world['whistle']}", f"/v1/whistles/{world['whistle']}"),
        ("/notices", "/v1/notices"),
        (f"/notices/{world['notice']}", f"/v1/notices/{world['notice']}"),
    ]


def _expected(who: str, api_status: int) -> int:
    if who == SCREEN and api_status == 403:
        return 404
    return api_status


def test_every_page_answers_each_person_as_the_api_answers_its_token(
    client: TestClient[Any], tokens: dict[str, str], as_: As, world: dict[str, str]
) -> None:
    people = {**{name: unit for name, (unit, _) in PEOPLE.items()}, SCREEN: "HW"}
    mismatches = []
    for who, unit in sorted(people.items()):
        client.cookies.clear()
        desk = Desk(client)
        assert desk.sign_in(token=tokens[who]).status_code == 303, who
        for page, api in pairs(world, unit):
            api_status = client.get(api, headers=as_(who)).status_code
            page_status = desk.get(page, headers={"Accept": "text/html"}).status_code
            if page_status != _expected(who, api_status):
                mismatches.append((who, page, api_status, page_status))
    assert mismatches == []


def test_hostile_titles_stay_text_on_every_page_that_shows_them(
    client: TestClient[Any], tokens: dict[str, str], world: dict[str, str]
) -> None:
    desk = Desk(client)
    desk.sign_in(token=tokens["admin"])
    w, i = world["warning"], world["instruction"]
    pages = ("/board", "/warnings", f"/warnings/{w}", f"/instructions/{i}", f"/loops/{w}")
    more = ("/whistles", f"/whistles/{world['whistle']}", "/notices", f"/notices/{world['notice']}")
    for page in (*pages, *more):
        html = desk.get(page).text
        assert SCRIPT not in html, page
        assert "<img src=x" not in html, page
        assert "&lt;script&gt;" in html or "&lt;img" in html or "&#34;&gt;&lt;img" in html, page

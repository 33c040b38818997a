"""Who may open and act on the duty desk's instruction pages: each role of each unit
(``tests/api/conftest.py`` PEOPLE) against an instruction of the Donghu office to its
Qingshan community. Out of a person's subtree it is the not-found page; a step in a
role the person does not hold is 403; a refused step stores nothing."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import PEOPLE, As, issue
from tests.api.screens.conftest import Desk

#: Who sees the office's instruction to its community: readers of everything, and the
#: units above or at the issuer or the assignee.
SEES = {"admin", "auditor", "monitor", "duty", "district", "office", "community"}
DISPATCHERS = {"district", "office", "office_xl"}


def _desks(client: TestClient[Any], tokens: dict[str, str]) -> dict[str, Desk]:
    desks = {}
    for name in PEOPLE:
        desk = Desk(TestClient(client.app, cookies={}))
        desk.client.event_hooks = client.event_hooks
        assert desk.sign_in(token=tokens[name]).status_code == 303
        desks[name] = desk
    return desks


def test_every_role_and_unit_sees_and_acts_only_as_the_api_lets_it(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, who="office", lead_unit="HW-DH-QS", title="Clear the drain")["id"]
    desks = _desks(client, tokens)
    for name, desk in desks.items():
        page = desk.get(f"/instructions/{iid}")
        assert page.status_code == (200 if name in SEES else 404), name
        assert ("Clear the drain" in page.text) == (name in SEES), name
        assert desk.get("/inbox").status_code == 200, name
        new = desk.get("/instructions/new")
        assert new.status_code == (200 if name in DISPATCHERS else 403), name

    # Signing for it is the community's; everyone else is refused, nothing stored.
    sign = {"office": 403, "office_xl": 404, "community_b": 404, "community": 303}
    for name in [n for n in PEOPLE if n != "community"] + ["community"]:
        head = center.head_position()
        answer = desks[name].post(f"/instructions/{iid}/sign", {"command_id": f"sign-{name}"})
        assert answer.status_code == sign.get(name, 403), name
        if name != "community":
            assert center.head_position() == head, name

    # Cancelling is the issuer's, or a unit's above it, as a dispatcher.
    cancel = {"office_xl": 404, "district": 303}
    other = issue(client, as_, who="office", lead_unit="HW-DH-QS", title="Sweep the square")["id"]
    for name in [n for n in PEOPLE if n != "district"] + ["district"]:
        head = center.head_position()
        body = {"command_id": f"cancel-{name}", "reason": "done elsewhere"}
        target = other if name != "office" else iid
        answer = desks[name].post(f"/instructions/{target}/cancel", body)
        expected = 303 if name == "office" else cancel.get(name, 403)
        assert answer.status_code == expected, name
        if expected != 303:
            assert center.head_position() == head, name

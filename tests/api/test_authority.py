"""Who may act on what (issue 19): each hole refused over HTTP, naming the reason, with
nothing stored (the log's head unchanged). On SQLite and PostgreSQL (``center``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.meta import Actor, Context, now
from tests.api.conftest import As, issue

EMERGENCY = "/v1/scenarios/typhoon/emergency"
ON = {"on": True, "reason": "Typhoon Haikui lands"}
REGISTRAR = Actor(person="registrar", unit="HC", role="admin")


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    def sees_everything_written(request: httpx.Request) -> None:
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    app = create_app(center, reads=build_read_models(center), intake=build_intake(center))
    with TestClient(app) as c:
        c.event_hooks["request"] = [sees_everything_written]
        yield c


def bearer(center: CommandCenter, unit: str, *roles: str) -> dict[str, str]:
    """A token of one more person, at a unit and in roles :data:`PEOPLE` has not."""
    token = TokenBook(center).issue(user=f"{unit}-{'-'.join(roles)}", unit=unit, roles=[*roles])
    return {"Authorization": f"Bearer {token.secret}"}


def refused(
    response: httpx.Response, status: int, code: str, says: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"] == f"urn:closedloop:problem:{code}"
    assert says in problem["detail"]
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field]


# -- 1. emergency mode ------------------------------------------------------------------


def test_a_communitys_dispatcher_cannot_switch_a_scenario(
    client: TestClient[Any], center: CommandCenter
) -> None:
    head = center.head_position()

    r = client.post(EMERGENCY, json=ON, headers=bearer(center, "HW-DH-QS", "dispatcher"))

    refused(r, 403, "role-required", "duty officer")
    assert center.head_position() == head + 2  # the token issued, nothing else


def test_the_owners_own_dispatcher_cannot_switch_it_either(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    head = center.head_position()

    r = client.post(EMERGENCY, json=ON, headers=as_("district"))

    refused(r, 403, "role-required", "duty officer")
    assert center.head_position() == head
    assert client.get("/v1/scenarios/typhoon", headers=as_("district")).json()["emergency"] is False


def test_a_duty_officer_below_or_beside_the_owner_cannot_switch_it(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    """The typhoon playbook's dispatcher is HW: its scenario is HW's. An office's duty
    officer (HW-XL) is neither HW nor above it."""
    head = center.head_position()

    r = client.post(EMERGENCY, json=ON, headers=as_("duty_xl"))

    refused(r, 403, "not-permitted", "belongs to HW")
    assert center.head_position() == head


def test_the_owners_duty_officer_and_one_above_it_switch_it(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    city_duty = bearer(center, "HC", "duty_officer")

    on = client.post(EMERGENCY, json=ON, headers=as_("duty"))
    off = client.post(EMERGENCY, json={"on": False, "reason": "all clear"}, headers=city_duty)

    assert on.status_code == 201, on.text
    assert off.status_code == 201, off.text
    assert off.json()["emergency"] is False


def test_an_offices_duty_officer_declares_the_scenario_for_its_subtree_only(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    donghu_duty = bearer(center, "HW-DH", "duty_officer")
    head = center.head_position()

    whole = client.post(EMERGENCY, json=ON, headers=donghu_duty)
    other = client.post(EMERGENCY, json={**ON, "scope": "HW-XL"}, headers=donghu_duty)

    refused(whole, 403, "not-permitted", "cannot switch its emergency mode for HW")
    refused(other, 403, "not-permitted", "for HW-XL")
    assert center.head_position() == head

    own = client.post(EMERGENCY, json={**ON, "scope": "HW-DH"}, headers=donghu_duty)

    assert own.status_code == 201, own.text
    assert own.json()["emergency"] is False
    assert list(own.json()["subtrees"]) == ["HW-DH"]
    shown = client.get("/v1/scenarios/typhoon", headers=as_("community")).json()
    assert shown["owner"] == "HW"
    assert list(shown["subtrees"]) == ["HW-DH"]


# -- 4. moving units across districts ----------------------------------------------------


def test_an_office_admin_cannot_move_its_community_under_another_office(
    client: TestClient[Any], center: CommandCenter
) -> None:
    donghu_admin = bearer(center, "HW-DH", "admin")
    head = center.head_position()

    r = client.patch("/v1/units/HW-DH-QS", json={"parent": "HW-XL"}, headers=donghu_admin)

    refused(r, 403, "not-permitted", "HW-DH manages only the units under it")
    assert center.head_position() == head
    assert center.unit("HW-DH-QS").parent == "HW-DH"


def test_an_office_admin_cannot_pull_another_offices_community_in(
    client: TestClient[Any], center: CommandCenter
) -> None:
    xiling_admin = bearer(center, "HW-XL", "admin")
    head = center.head_position()

    r = client.patch("/v1/units/HW-DH-QS", json={"parent": "HW-XL"}, headers=xiling_admin)

    refused(r, 403, "not-permitted", "HW-XL manages only the units under it")
    assert center.head_position() == head
    assert center.unit("HW-DH-QS").parent == "HW-DH"


def test_an_admin_over_both_offices_moves_the_community(
    client: TestClient[Any], center: CommandCenter
) -> None:
    district_admin = bearer(center, "HW", "admin")

    r = client.patch("/v1/units/HW-DH-QS", json={"parent": "HW-XL"}, headers=district_admin)

    assert r.status_code == 200, r.text
    assert center.unit("HW-DH-QS").parent == "HW-XL"


# -- business times ------------------------------------------------------------------------


def test_a_step_dated_before_its_instruction_was_issued_is_refused(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    iid = issue(client, as_)["id"]
    head = center.head_position()

    r = client.post(
        f"/v1/instructions/{iid}/sign",
        json={"occurred_at": "2020-01-01T09:00:00+08:00"},
        headers=as_("office"),
    )

    refused(r, 422, "business-time-refused", "occurred_at", field="occurred_at")
    assert center.head_position() == head


def test_a_submission_dated_before_the_sign_for_is_refused(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    iid = issue(client, as_)["id"]
    signed_at = now()
    sign = client.post(
        f"/v1/instructions/{iid}/sign",
        json={"occurred_at": signed_at.isoformat()},
        headers=as_("office"),
    )
    assert sign.status_code == 200, sign.text
    head = center.head_position()

    r = client.post(
        f"/v1/instructions/{iid}/submit",
        json={"result": "done", "occurred_at": (signed_at - timedelta(minutes=1)).isoformat()},
        headers=as_("office"),
    )

    refused(r, 422, "business-time-refused", "before it", field="occurred_at")
    assert center.head_position() == head


def test_a_business_time_ahead_of_the_clock_beyond_the_skew_is_refused(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    iid = issue(client, as_)["id"]
    head = center.head_position()

    r = client.post(
        f"/v1/instructions/{iid}/sign",
        json={"occurred_at": (now() + timedelta(hours=1)).isoformat()},
        headers=as_("office"),
    )

    refused(r, 422, "business-time-refused", "future", field="occurred_at")
    assert center.head_position() == head


# -- 6. a deactivated unit's tokens ---------------------------------------------------------


def test_a_deactivated_units_tokens_stop_at_once(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    monitor = bearer(center, "HW-NG-HX", "monitor", "handler")
    assert client.get("/v1/units", headers=monitor).status_code == 200  # now remembered

    off = client.patch(
        "/v1/units/HW-NG-HX",
        json={"active": False, "reason": "merged into Baisha"},
        headers=as_("admin"),
    )
    assert off.status_code == 200, off.text
    head = center.head_position()

    read = client.get("/v1/units", headers=monitor)
    cap = client.post(
        "/v1/cap",
        content=b"<alert/>",
        headers={**monitor, "Content-Type": "application/cap+xml"},
    )

    refused(read, 401, "unauthenticated", "unknown or was revoked")
    refused(cap, 401, "unauthenticated", "unknown or was revoked")
    assert center.head_position() == head


def test_elsewhere_a_deactivated_units_tokens_stop_within_the_trust_period(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    handler = bearer(center, "HW-NG-HX", "handler")
    seconds = [1000.0]
    book = client.app.state.services.tokens
    book.clock = lambda: seconds[0]
    assert client.get("/v1/units", headers=handler).status_code == 200

    # Another process (the command line, a second worker) deactivates the unit.
    center.deactivate_unit(Context(REGISTRAR), "HW-NG-HX", "merged into Baisha")
    seconds[0] += book.cache_seconds - 0.5
    assert client.get("/v1/units", headers=handler).status_code == 200
    seconds[0] += 1.0

    refused(client.get("/v1/units", headers=handler), 401, "unauthenticated", "revoked")


def test_no_token_is_issued_for_a_deactivated_unit(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    center.deactivate_unit(Context(REGISTRAR), "HW-NG-HX", "merged into Baisha")
    head = center.head_position()

    r = client.post(
        "/v1/tokens",
        json={"user": "late", "unit": "HW-NG-HX", "roles": ["handler"]},
        headers=as_("admin"),
    )

    refused(r, 422, "invalid-value", "deactivated")
    assert center.head_position() == head

"""``/v1/cap-senders``: admins bind CAP senders within their own subtree (ADR 0041), role x
subtree, with nothing stored on a refusal; on SQLite and PostgreSQL (``center``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from tests.api.cap_builders import MET, haiwan_alert, headers
from tests.api.conftest import As
from tests.api.test_authority import bearer, refused

SENDERS = "/v1/cap-senders"


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    app = create_app(center, reads=build_read_models(center), intake=build_intake(center))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def office_admin(center: CommandCenter, tokens: dict[str, str]) -> dict[str, str]:
    return bearer(center, "HW-DH", "admin")


def bind(
    client: TestClient[Any], auth: dict[str, str], sender: str, *units: str, **extra: Any
) -> httpx.Response:
    return client.post(SENDERS, json={"sender": sender, "units": [*units], **extra}, headers=auth)


def test_an_admin_binds_a_sender_and_its_monitors_may_then_speak_for_it(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    before = client.post(
        "/v1/cap", content=haiwan_alert("N-1", sender="new@haiwan"), headers=headers(as_("monitor"))
    )
    refused(before, 403, "cap-sender-refused", "new@haiwan")

    first = bind(client, as_("admin"), "new@haiwan", "HW")
    again = bind(client, as_("admin"), "new@haiwan", "HW")
    after = client.post(
        "/v1/cap", content=haiwan_alert("N-1", sender="new@haiwan"), headers=headers(as_("monitor"))
    )

    assert first.status_code == 201, first.text
    assert first.json()["id"] == "new@haiwan"
    assert again.status_code == 200
    assert again.json()["position"] is None  # bound as it was: nothing recorded
    assert after.status_code == 201, after.text
    listed = client.get(SENDERS, headers=as_("admin")).json()
    assert {"sender": "new@haiwan", "units": ["HW"], "tokens": []} in listed


def test_an_offices_admin_binds_senders_only_to_units_under_it(
    client: TestClient[Any], center: CommandCenter, office_admin: dict[str, str]
) -> None:
    ours = bind(client, office_admin, "qs@donghu", "HW-DH-QS")
    head = center.head_position()

    sideways = bind(client, office_admin, "xl@donghu", "HW-XL")
    upwards = bind(client, office_admin, "hw@donghu", "HW")

    assert ours.status_code == 201, ours.text
    refused(sideways, 403, "not-permitted", "only to units under it")
    refused(upwards, 403, "not-permitted", "only to units under it")
    assert center.head_position() == head


def test_an_offices_admin_cannot_take_or_drop_the_districts_sender(
    client: TestClient[Any], center: CommandCenter, office_admin: dict[str, str]
) -> None:
    head = center.head_position()

    taken = bind(client, office_admin, MET, "HW-DH")
    dropped = client.post(
        f"{SENDERS}/unbind", json={"sender": MET, "reason": "ours now"}, headers=office_admin
    )

    refused(taken, 403, "not-permitted", "outside HW-DH's subtree")
    refused(dropped, 403, "not-permitted", "outside HW-DH's subtree")
    assert center.head_position() == head


def test_an_admin_lists_the_senders_of_its_subtree_only(
    client: TestClient[Any], as_: As, office_admin: dict[str, str]
) -> None:
    everything = {e["sender"] for e in client.get(SENDERS, headers=as_("admin")).json()}
    office = {e["sender"] for e in client.get(SENDERS, headers=office_admin).json()}

    assert MET in everything
    assert office == {"donghu@haiwan.gov.cn"}  # the demo's sender of the office


@pytest.mark.parametrize("who", ["monitor", "district", "duty", "auditor", "office"])
def test_only_an_admin_keeps_the_registry(
    client: TestClient[Any], center: CommandCenter, as_: As, who: str
) -> None:
    head = center.head_position()

    bound = bind(client, as_(who), "mine@haiwan", "HW")
    listed = client.get(SENDERS, headers=as_(who))

    refused(bound, 403, "role-required", "admin")
    refused(listed, 403, "role-required", "admin")
    assert center.head_position() == head


def test_an_unbound_sender_speaks_no_more(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    r = client.post(
        f"{SENDERS}/unbind", json={"sender": MET, "reason": "feed moved"}, headers=as_("admin")
    )
    assert r.status_code == 200, r.text
    head = center.head_position()

    cap = client.post("/v1/cap", content=haiwan_alert("U-1"), headers=headers(as_("monitor")))

    refused(cap, 403, "cap-sender-refused", MET)
    assert center.head_position() == head
    assert MET not in {e["sender"] for e in client.get(SENDERS, headers=as_("admin")).json()}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"sender": "a,b", "units": ["HW"]}, 422, "commas"),
        ({"sender": "a b", "units": ["HW"]}, 422, "spaces"),
        ({"sender": "x" * 256, "units": ["HW"]}, 422, "sender"),
        ({"sender": "none@haiwan"}, 422, "at least one unit or token"),
        ({"sender": "ghost@haiwan", "units": ["NOPE"]}, 404, "NOPE"),
        ({"sender": "t@haiwan", "tokens": ["tok_0000000000000000"]}, 404, "no token"),
        ({"sender": "u@haiwan", "units": ["HW"], "colour": "red"}, 422, "colour"),
        ({"sender": "u@haiwan", "units": ["HW"] * 33}, 422, "units"),
    ],
    ids=["comma", "space", "long", "empty", "unknown-unit", "unknown-token", "extra", "many"],
)
def test_a_malformed_binding_is_a_problem_that_stores_nothing(
    client: TestClient[Any],
    center: CommandCenter,
    as_: As,
    body: dict[str, Any],
    status: int,
    says: str,
) -> None:
    head = center.head_position()

    r = client.post(SENDERS, json=body, headers=as_("admin"))

    assert r.status_code == status, r.text
    assert says in r.text
    assert center.head_position() == head


def test_a_token_outside_the_admins_subtree_is_as_unknown(
    client: TestClient[Any], center: CommandCenter, office_admin: dict[str, str]
) -> None:
    elsewhere = TokenBook(center).issue(user="xl monitor", unit="HW-XL", roles=["monitor"])
    head = center.head_position()

    r = client.post(
        SENDERS, json={"sender": "t@donghu", "tokens": [elsewhere.token_id]}, headers=office_admin
    )

    refused(r, 404, "not-found", "no token")
    assert center.head_position() == head


def test_unbinding_a_sender_that_is_not_bound_is_not_found_and_stores_nothing(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    head = center.head_position()

    r = client.post(
        f"{SENDERS}/unbind",
        json={"sender": "nobody@haiwan", "reason": "gone"},
        headers=as_("admin"),
    )

    refused(r, 404, "not-found", "is not bound")
    assert center.head_position() == head

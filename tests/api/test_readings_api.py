"""Readings as telemetry over HTTP (ADR 0073): a batch with bad readings keeps the good
ones and answers each bad one; the stations and their series read back; on SQLite and
PostgreSQL (``center`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import As


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    intake = build_intake(center)
    with TestClient(create_app(center, reads=build_read_models(center), intake=intake)) as c:
        yield c
    intake.readings.close()


#: An hour ago, once: the times of a test's readings and of its queries agree.
BASE = now().replace(second=0, microsecond=0) - timedelta(hours=1)


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def gauge(value: Any, minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "source": "hydrology-net",
        "subject": "qingshan-reservoir",
        "metric": "water_level",
        "value": value,
        "unit_of_measure": "m",
        "unit": "E-QSRES",
        "observed_at": at(minutes),
        **extra,
    }


def test_a_batch_with_bad_readings_keeps_the_good_ones_and_answers_each_bad_one(
    client: TestClient[Any], as_: As
) -> None:
    batch = {
        "batch_id": "mixed-1",
        "readings": [
            gauge(51.0, 0),
            gauge("high", 1),
            gauge("NaN", 2),
            gauge(51.1, 3, unit_of_measure="ft"),
            gauge(51.2, 4, metric="wind_speed"),
            gauge(51.3, 5, observed_at=(now() + timedelta(hours=2)).isoformat()),
            gauge(51.4, 6),
        ],
    }
    r = client.post("/v1/observations", json=batch, headers=as_("monitor"))
    again = client.post("/v1/observations", json=batch, headers=as_("monitor"))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert [(e["index"], e["field"].rsplit(".", 1)[1]) for e in body["errors"]] == [
        (1, "value"),
        (2, "value"),
        (3, "unit_of_measure"),
        (4, "metric"),
        (5, "observed_at"),
    ]
    assert body["accepted"] == 2
    assert [x["index"] for x in body["results"]] == [0, 6]
    assert again.status_code == 422
    assert again.json()["replayed"] is True
    series = client.get(
        "/v1/stations/qingshan-reservoir/readings",
        params={"metric": "water_level", "from": at(-1), "to": at(10)},
        headers=as_("auditor"),
    )
    assert [p["value"] for p in series.json()["points"]] == [51.0, 51.4]


def test_a_station_answers_its_feeds_last_readings_and_open_conditions(
    client: TestClient[Any], as_: As
) -> None:
    batch = {"batch_id": "s-1", "readings": [gauge(52.0, 0), gauge(53.6, 10)]}
    assert client.post("/v1/observations", json=batch, headers=as_("monitor")).status_code == 201

    r = client.get("/v1/stations/qingshan-reservoir", headers=as_("auditor"))
    listed = client.get("/v1/stations", headers=as_("auditor"))

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit"] == "E-QSRES"
    assert {f["metric"] for f in body["feeds"]} >= {"water_level"}
    [last] = body["last_readings"]
    assert last["value"] == 53.6
    [condition] = body["conditions"]
    assert (condition["rule"], condition["level"]) == ("reservoir.flood_limit", 2)
    assert "qingshan-reservoir" in {s["id"] for s in listed.json()}


def test_a_series_downsamples_to_min_max_and_mean_per_step(
    client: TestClient[Any], as_: As
) -> None:
    readings = [gauge(50.0 + i / 10, i) for i in range(20)]
    client.post(
        "/v1/observations", json={"batch_id": "s-2", "readings": readings}, headers=as_("monitor")
    )

    r = client.get(
        "/v1/stations/qingshan-reservoir/readings",
        params={"metric": "water_level", "from": at(0), "to": at(20), "step": 600},
        headers=as_("auditor"),
    )

    assert r.status_code == 200, r.text
    first, second = r.json()["points"]
    assert (first["min"], first["max"], first["count"]) == (50.0, 50.9, 10)
    assert second["mean"] == pytest.approx(51.45)


@pytest.mark.parametrize(
    "params",
    [
        {"metric": "water_level", "from": "yesterday"},
        {"metric": "water_level", "from": "2026-03-02T10:00:00"},
        {
            "metric": "water_level",
            "from": "2026-03-03T10:00:00+08:00",
            "to": "2026-03-02T10:00:00+08:00",
        },
        {"metric": "water_level", "step": "0"},
        {"metric": "wind_speed"},
        {"metric": "water_level", "from": "0001-01-01T00:00:00+14:00"},
        {"metric": "water_level", "step": "99999999999"},
        # A year in one-second steps: more points than any chart draws.
        {
            "metric": "water_level",
            "from": "2026-01-01T00:00:00+08:00",
            "to": "2026-12-01T00:00:00+08:00",
            "step": "1",
        },
        {},
    ],
)
def test_bad_series_parameters_are_a_422_problem(
    client: TestClient[Any], as_: As, params: dict[str, str]
) -> None:
    r = client.get(
        "/v1/stations/qingshan-reservoir/readings", params=params, headers=as_("auditor")
    )

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_an_unknown_station_is_not_found(client: TestClient[Any], as_: As) -> None:
    assert client.get("/v1/stations/nowhere", headers=as_("auditor")).status_code == 404

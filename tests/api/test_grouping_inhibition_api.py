"""Grouping and inhibition over HTTP (ADR 0087), on SQLite and PostgreSQL: two gauges
of one reservoir breaching through ``POST /v1/observations`` are one warning whose
``group`` lists and counts both; a red rainstorm warning of a district inhibits a
community's yellow one, shown as ``inhibited_by`` and kept apart by
``?inhibited=true``; once the red one is cancelled the inhibition watch releases the
yellow one and its playbooks run; a restarted intake and watch do nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.inhibition_watch import InhibitionWatch
from domain.intake import Intake
from domain.meta import now
from tests.api.conftest import As

Client = TestClient[Any]


@pytest.fixture
def intake(center: CommandCenter, tokens: dict[str, str]) -> Iterator[Intake]:
    made = build_intake(center)
    yield made
    made.readings.close()


@pytest.fixture
def client(center: CommandCenter, intake: Intake) -> Iterator[Client]:
    def sees_everything_written(request: httpx.Request) -> None:
        if request.method == "GET" and "x-min-position" not in request.headers:
            request.headers["X-Min-Position"] = str(center.head_position())

    with TestClient(create_app(center, reads=build_read_models(center), intake=intake)) as c:
        c.event_hooks["request"] = [sees_everything_written]
        yield c


def gauge(station: str, value: float, minutes: float) -> dict[str, Any]:
    return {
        "source": "hydrology-net",
        "subject": station,
        "metric": "water_level",
        "value": value,
        "unit_of_measure": "m",
        "unit": "E-QSRES",
        "observed_at": (now() + timedelta(minutes=minutes)).isoformat(),
    }


def observe(client: Client, who: As, batch: str, *readings: dict[str, Any]) -> list[Any]:
    r = client.post(
        "/v1/observations",
        json={"batch_id": batch, "readings": list(readings)},
        headers=who("monitor"),
    )
    assert r.status_code in (200, 201), r.text
    results: list[Any] = r.json()["results"]
    return results


def test_two_gauges_are_one_warning_whose_group_lists_both(
    client: Client, as_: As, center: CommandCenter, intake: Intake
) -> None:
    [first] = observe(client, as_, "g1", gauge("qingshan-reservoir", 52.8, -10))
    [second] = observe(client, as_, "g2", gauge("qingshan-reservoir-spillway", 53.2, -5))
    assert first["action"] == "raised"
    assert second["action"] == "joined"
    wid = first["warning_id"]
    assert second["warning_id"] == wid
    w = client.get(f"/v1/warnings/{wid}", headers=as_("duty")).json()
    group = w["group"]
    assert group["count"] == 2
    assert group["active"] == 2
    assert group["labels"] == {"reservoir": "qingshan"}
    assert sorted(m["member"] for m in group["members"]) == [
        "qingshan-reservoir",
        "qingshan-reservoir-spillway",
    ]
    assert w["level"] == 3
    listed = client.get("/v1/warnings", headers=as_("duty")).json()["items"]
    [row] = [i for i in listed if i["id"] == wid]
    assert row["members"] == 2
    # A restarted intake (a new process) takes the spillway's recovery as the member's.
    again = build_intake(center)
    try:
        results = [
            again.observe(
                _monitor(f"r{i}"),
                f"r{i}",
                [_reading("qingshan-reservoir-spillway", 52.0, -4 + i)],
            ).results[0]
            for i in range(3)
        ]
    finally:
        again.readings.close()
    assert results[-1]["action"] == "member_resolved"
    w = client.get(f"/v1/warnings/{wid}", headers=as_("duty")).json()
    assert w["group"]["active"] == 1
    assert w["status"] == "raised"
    assert w["level"] == 4


def _monitor(batch: str) -> Any:
    from domain.meta import Actor, Context

    return Context(Actor(person="gw", unit="HW", role="monitor"), command_id=f"o:{batch}")


def _reading(station: str, value: float, minutes: float) -> Any:
    from datetime import datetime

    from domain.rules import Reading

    return Reading(
        source="hydrology-net",
        subject=station,
        metric="water_level",
        value=value,
        unit_of_measure="m",
        location="",
        unit="E-QSRES",
        observed_at=datetime.fromisoformat(gauge(station, value, minutes)["observed_at"]),
    )


def rainstorm(client: Client, as_: As, unit: str, level: int, name: str) -> str:
    r = client.post(
        "/v1/warnings",
        json={
            "command_id": f"rain-{name}",
            "rule": "cap:暴雨",
            "theme": "meteorological",
            "level": level,
            "title": f"暴雨预警 {name}",
            "unit": unit,
            "dedup_key": f"rain-{name}",
        },
        headers=as_("monitor"),
    )
    assert r.status_code == 201, r.text
    wid: str = r.json()["id"]
    return wid


def test_an_inhibited_warning_is_shown_filtered_and_released_with_its_playbooks(
    client: Client, as_: As, intake: Intake, center: CommandCenter
) -> None:
    red = rainstorm(client, as_, "HW-DH", 1, "red")
    yellow = rainstorm(client, as_, "HW-DH-QS", 3, "yellow")
    other = rainstorm(client, as_, "HW-XL", 3, "elsewhere")
    w = client.get(f"/v1/warnings/{yellow}", headers=as_("duty")).json()
    assert w["inhibited_by"] == red
    assert w["inhibition"] == "rainstorm-red-over-lesser"
    assert w["status"] == "raised"
    intake.follow(1)  # the playbook follower's round
    assert center.warning(UUID(red)).instructions
    assert not center.warning(UUID(yellow)).instructions
    inhibited = client.get("/v1/warnings?inhibited=true", headers=as_("duty")).json()["items"]
    assert [i["id"] for i in inhibited] == [yellow]
    assert inhibited[0]["inhibited_by"] == red
    rest = client.get("/v1/warnings?inhibited=false", headers=as_("duty")).json()["items"]
    assert {i["id"] for i in rest} == {red, other}
    r = client.post(
        f"/v1/warnings/{red}/cancel",
        json={"command_id": "cancel-red", "reason": "the met office withdrew it"},
        headers=as_("duty"),
    )
    assert r.status_code in (200, 201), r.text
    [act] = InhibitionWatch(intake).tick()
    assert act["act"] == "released"
    assert center.warning(UUID(yellow)).instructions
    w = client.get(f"/v1/warnings/{yellow}", headers=as_("duty")).json()
    assert w["inhibited_by"] is None
    # A restarted watch (another process) does nothing again.
    restarted = build_intake(center)
    try:
        assert InhibitionWatch(restarted).tick() == []
    finally:
        restarted.readings.close()
    names = [type(e).__name__ for e in center.history(center.warning(UUID(yellow)).id)]
    assert names.count("Uninhibited") == 1
    assert names.count("Inhibited") == 1


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_a_bad_inhibited_filter_is_a_problem(client: Client, as_: As, value: str) -> None:
    r = client.get(f"/v1/warnings?inhibited={value}", headers=as_("duty"))
    assert r.status_code in (400, 422) if value != "" else r.status_code < 500

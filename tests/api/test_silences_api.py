"""Silences over HTTP (ADR 0085), on SQLite and PostgreSQL: set by a duty officer of a
unit above the station, seen by its subtree, extended and ended with who and why; bad
input answers a named problem and stores nothing; a breach during it is shown on the
station as silenced, and the next one after its end raises."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from closedloop.intake_config import build_intake
from domain.application import CommandCenter
from domain.meta import now
from tests.api.conftest import As
from tests.conftest import opened_center

Client = TestClient[Any]


@pytest.fixture
def client(center: CommandCenter, tokens: dict[str, str]) -> Iterator[Client]:
    intake = build_intake(center)
    with TestClient(create_app(center, reads=build_read_models(center), intake=intake)) as c:
        yield c
    intake.readings.close()


@pytest.fixture
def who(center: CommandCenter, as_: As) -> As:
    book = TokenBook(center)
    for name, (unit, role) in {
        "duty_water": ("HW-WATER", "duty_officer"),
        "water_dispatcher": ("HW-WATER", "dispatcher"),
    }.items():
        as_.tokens[name] = book.issue(user=f"{name}-person", unit=unit, roles=[role]).secret
    return as_


def body(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "station",
        "target": "qingshan-reservoir",
        "ends_at": (now() + timedelta(hours=2)).isoformat(),
        "category": "maintenance",
        "reason": "the dam gauge is recalibrated",
        **fields,
    }


def refused(
    center: CommandCenter, client: Client, status: int, code: str, *request: Any, **kw: Any
) -> None:
    head = center.head_position()
    r = client.post(*request, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()
    assert center.head_position() == head, "a refused command stored something"


def gauge(value: float, minutes: float = 0) -> dict[str, Any]:
    return {
        "source": "hydrology-net",
        "subject": "qingshan-reservoir",
        "metric": "water_level",
        "value": value,
        "unit_of_measure": "m",
        "unit": "E-QSRES",
        "observed_at": (now() + timedelta(minutes=minutes)).isoformat(),
    }


def test_a_silence_is_set_seen_extended_and_ended_with_who_and_why(client: Client, who: As) -> None:
    r = client.post("/v1/silences", json=body(), headers=who("duty_water"))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for name in ("duty_water", "duty", "auditor"):
        assert [x["id"] for x in client.get("/v1/silences", headers=who(name)).json()] == [sid]
    assert client.get("/v1/silences", headers=who("duty_xl")).json() == []
    assert client.get(f"/v1/silences/{sid}", headers=who("duty_xl")).status_code == 404
    one = client.get(f"/v1/silences/{sid}", headers=who("duty")).json()
    assert one["status"] == "active"
    assert one["scope"] == "E-QSRES"
    assert one["set_by"] == "duty_water-person"
    later = (now() + timedelta(hours=5)).isoformat()
    r = client.post(
        f"/v1/silences/{sid}/extend",
        json={"ends_at": later, "reason": "works run late"},
        headers=who("duty"),
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/silences/{sid}/end", json={"reason": "done"}, headers=who("duty"))
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/silences/{sid}", headers=who("duty")).json()["status"] == "ended"
    assert client.get("/v1/silences", headers=who("duty")).json() == []


def test_a_breach_during_a_silence_shows_on_the_station_and_raises_after_it(
    client: Client, who: As
) -> None:
    r = client.post("/v1/silences", json=body(), headers=who("duty_water"))
    sid = r.json()["id"]
    sent = client.post(
        "/v1/observations",
        json={"batch_id": "s1", "readings": [gauge(53.2)]},
        headers=who("monitor"),
    )
    assert sent.status_code in (200, 201), sent.text
    [result] = sent.json()["results"]
    assert result["action"] == "silenced"
    station = client.get("/v1/stations/qingshan-reservoir", headers=who("duty")).json()
    assert station["conditions"] == []
    [silenced] = station["silenced"]
    assert silenced["silence_id"] == sid
    assert silenced["rule"] == "reservoir.flood_limit"
    # Ended: still beyond its limit, it raises at once.
    r = client.post(f"/v1/silences/{sid}/end", json={"reason": "done"}, headers=who("duty"))
    assert r.status_code == 200, r.text
    station = client.get("/v1/stations/qingshan-reservoir", headers=who("duty")).json()
    assert station["silenced"] == []
    assert [c["rule"] for c in station["conditions"]] == ["reservoir.flood_limit"]


def test_bad_input_answers_a_named_problem_and_stores_nothing(
    center: CommandCenter, client: Client, who: As
) -> None:
    h = who("duty_water")
    past = (now() - timedelta(hours=3)).isoformat()
    soon = (now() + timedelta(hours=1)).isoformat()
    cases: list[tuple[int, str, dict[str, Any]]] = [
        (422, "silence-period-refused", body(starts_at=soon, ends_at=now().isoformat())),
        (422, "silence-period-refused", body(starts_at=past, ends_at=past)),
        (422, "silence-period-refused", body(ends_at=(now() + timedelta(days=40)).isoformat())),
        (422, "silence-target-unknown", body(target="no-such-station")),
        (422, "silence-target-unknown", body(kind="rule", target="no.such.rule")),
        (422, "silence-target-unknown", body(kind="feed", metric="nope")),
        (422, "silence-target-unknown", body(kind="unit", target="NOPE")),
        (422, "invalid-value", body(reason="")),
        (422, "invalid-value", body(kind="moon")),
    ]
    for status, code, b in cases:
        refused(center, client, status, code, "/v1/silences", json=b, headers=h)
    refused(
        center,
        client,
        403,
        "silence-refused",
        "/v1/silences",
        json=body(),
        headers=who("duty_xl"),
    )
    refused(
        center,
        client,
        403,
        "role-required",
        "/v1/silences",
        json=body(),
        headers=who("water_dispatcher"),
    )
    sid = client.post("/v1/silences", json=body(), headers=h).json()["id"]
    client.post(f"/v1/silences/{sid}/end", json={"reason": "done"}, headers=h)
    refused(
        center,
        client,
        409,
        "silence-over",
        f"/v1/silences/{sid}/extend",
        json={"ends_at": soon, "reason": "again"},
        headers=h,
    )
    refused(
        center,
        client,
        409,
        "silence-over",
        f"/v1/silences/{sid}/end",
        json={"reason": "again"},
        headers=h,
    )


# -- ADR 0091: the silences that are over, and the silenced breaches after a restart --


def test_the_history_pages_the_silences_over_newest_first_within_the_callers_sight(
    client: Client, who: As
) -> None:
    h = who("duty_water")
    ids = [client.post("/v1/silences", json=body(), headers=h).json()["id"] for _ in range(3)]
    for sid in ids[:2]:
        r = client.post(f"/v1/silences/{sid}/end", json={"reason": "done"}, headers=h)
        assert r.status_code == 200, r.text
    # The live list keeps only the one not over; the history has the two that are.
    assert [x["id"] for x in client.get("/v1/silences", headers=h).json()] == [ids[2]]
    page = client.get("/v1/silences/history", headers=who("duty")).json()
    assert [x["id"] for x in page["items"]] == [ids[1], ids[0]]
    assert {x["status"] for x in page["items"]} == {"ended"}
    assert page["next_cursor"] is None
    everything = client.get("/v1/silences/history?state=all", headers=h).json()
    assert [x["id"] for x in everything["items"]] == list(reversed(ids))
    live = client.get("/v1/silences/history?state=live", headers=h).json()
    assert [x["id"] for x in live["items"]] == [ids[2]]
    # Paged: one at a time, each page older than the last, nothing twice.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "/v1/silences/history?state=all&limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=who("auditor")).json()
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    # Outside the station's units, nothing; a cursor the server did not make, a problem.
    assert client.get("/v1/silences/history?state=all", headers=who("duty_xl")).json() == {
        "items": [],
        "next_cursor": None,
    }
    bad = client.get("/v1/silences/history?cursor=nonsense", headers=h)
    assert bad.status_code == 422, bad.text
    assert bad.json()["type"].endswith("cursor-unknown")
    moon = client.get("/v1/silences/history?state=moon", headers=h)
    assert moon.status_code == 422, moon.text


def test_a_silenced_breach_still_shows_on_the_station_after_a_restart(
    center: CommandCenter, database_url: str, tokens: dict[str, str], who: As
) -> None:
    intake = build_intake(center)
    with TestClient(create_app(center, reads=build_read_models(center), intake=intake)) as c:
        sid = c.post("/v1/silences", json=body(), headers=who("duty_water")).json()["id"]
        sent = c.post(
            "/v1/observations",
            json={"batch_id": "r1", "readings": [gauge(53.2)]},
            headers=who("monitor"),
        )
        assert sent.json()["results"][0]["action"] == "silenced", sent.text
        before = c.get("/v1/stations/qingshan-reservoir", headers=who("duty")).json()
    intake.readings.close()
    # A new server process: a center and an intake of its own on the same stores, with
    # nothing in memory of the breach it did not judge.
    with opened_center(database_url) as again:
        fresh = build_intake(again)
        app = create_app(again, reads=build_read_models(again), intake=fresh)
        with TestClient(app) as c:
            station = c.get("/v1/stations/qingshan-reservoir", headers=who("duty")).json()
        fresh.readings.close()
    assert station["silenced"] == before["silenced"]
    [silenced] = station["silenced"]
    assert silenced["silence_id"] == sid
    assert silenced["rule"] == "reservoir.flood_limit"
    assert silenced["level"] == 3
    assert station["conditions"] == []

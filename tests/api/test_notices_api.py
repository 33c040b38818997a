"""Notices and their receipts over HTTP (ADR 0077), on SQLite and PostgreSQL: sent by a
dispatcher down its subtree, confirmed by the addressed units' duty officers, reported
per level and unit as JSON and CSV (counted by hand here); every refusal a named
problem with nothing stored."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from api.tokens import TokenBook
from domain.application import CommandCenter
from domain.meta import Actor, Context, now
from domain.notice_commands import NoticeCases
from domain.notice_watch import NoticeWatch
from domain.roster import ShiftPlan
from domain.roster_commands import RosterCases
from tests.api.conftest import As

Client = TestClient[Any]


@pytest.fixture
def duty(center: CommandCenter, tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """A duty officer's headers per unit of Donghu's subtree (and one of Xiling's)."""
    book = TokenBook(center)
    out = {}
    for unit in ("HW-DH-QS", "HW-DH-HP", "HW-DH-LY", "E-DHSCENIC", "HW-XL-SQ"):
        secret = book.issue(
            user=f"duty-{unit}", unit=unit, roles=["duty_officer"], label="test"
        ).secret
        out[unit] = {"Authorization": f"Bearer {secret}"}
    return out


def _send(client: Client, as_: As, **fields: Any) -> Any:
    body = {
        "title": "台风“海葵”来袭",
        "body": "Check the embankments and confirm.",
        "kind": "warning",
        "confirm_by": (now() + timedelta(hours=2)).isoformat(),
        **fields,
    }
    return client.post("/v1/notices", json=body, headers=as_("office"))


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()


def test_a_notice_is_sent_confirmed_and_reported_per_level_and_unit(
    client: Client, as_: As, duty: dict[str, dict[str, str]], center: CommandCenter
) -> None:
    r = _send(client, as_)
    assert r.status_code == 201, r.text
    nid = r.json()["id"]
    detail = client.get(f"/v1/notices/{nid}", headers=as_("office")).json()
    addressed = detail["addressees"]
    assert "HW-DH-QS" in addressed
    assert "E-DHSCENIC" in addressed
    assert "HW-DH" not in addressed

    assert client.post(f"/v1/notices/{nid}/receipt", headers=duty["HW-DH-QS"]).status_code == 200
    assert client.post(f"/v1/notices/{nid}/receipt", headers=duty["E-DHSCENIC"]).status_code == 200
    # After the limit (the API records its receipts at the moment they come; freezegun's
    # datetimes do not reach the store, so the domain is given the moment here).
    late = Context(Actor("duty-HW-DH-HP", "HW-DH-HP", "duty_officer"))
    NoticeCases(center).confirm_receipt(late, UUID(nid), at=now() + timedelta(hours=3))
    report = client.get(f"/v1/notices/{nid}/receipts", headers=as_("office")).json()
    # By hand: QS on time, the scenic spot on time, HP late, every other unit missing.
    levels = {lv["level"]: lv for lv in report["levels"]}
    communities = [u for u in addressed if center.unit(u).level == "community"]
    enterprises = [u for u in addressed if center.unit(u).level == "enterprise"]
    assert levels["community"] == {
        "level": "community",
        "addressed": len(communities),
        "on_time": 1,
        "late": 1,
        "missing": len(communities) - 2,
    }
    assert levels["enterprise"]["on_time"] == 1
    assert levels["enterprise"]["missing"] == len(enterprises) - 1
    t = report["totals"]
    assert t["on_time"] + t["late"] + t["missing"] == t["addressed"] == len(addressed)
    assert report["limit_passed"] is False
    line = {u["unit"]: u for u in report["units"]}["HW-DH-QS"]
    assert line["status"] == "on_time"
    assert line["confirmed_by"] == "duty-HW-DH-QS"

    # Drilled down to one level, as CSV.
    r = client.get(f"/v1/notices/{nid}/receipts?level=enterprise&format=csv", headers=as_("office"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["unit"] for row in rows} == set(enterprises)
    assert {row["unit"]: row["status"] for row in rows}["E-DHSCENIC"] == "on_time"

    # The inbox of an addressed unit and the sender's list both show it; Xiling's not.
    inbox = client.get("/v1/notices?addressee=HW-DH-QS", headers=duty["HW-DH-QS"]).json()
    assert [i["id"] for i in inbox["items"]] == [nid]
    assert inbox["items"][0]["confirmed"] == 3
    assert inbox["items"][0]["late"] == 1
    assert client.get("/v1/notices", headers=duty["HW-XL-SQ"]).json()["items"] == []
    _problem(client.get(f"/v1/notices/{nid}", headers=duty["HW-XL-SQ"]), 404, "notice-not-found")


def test_a_notice_to_a_chosen_set_and_its_late_units_reminded_once(
    client: Client, as_: As, duty: dict[str, dict[str, str]], center: CommandCenter
) -> None:
    r = _send(client, as_, addressees=["HW-DH-QS", "HW-DH-HP"])
    nid = r.json()["id"]
    client.post(f"/v1/notices/{nid}/receipt", headers=duty["HW-DH-QS"])
    after = now() + timedelta(hours=3)
    RosterCases(center).arrange_shifts(
        Context(Actor(person="roster", unit="SYSTEM", role="system")),
        "HW-DH-HP",
        [ShiftPlan("duty_officer", "值班员周九", "副班", now(), after + timedelta(hours=1))],
    )
    watch = NoticeWatch(center)
    assert watch.tick() == []  # before the limit
    assert [d["reminded"] for d in watch.tick(after)] == [["HW-DH-HP"]]
    assert watch.tick(after) == []
    assert NoticeWatch(center).tick(after) == []  # restarted: nothing twice
    report = client.get(f"/v1/notices/{nid}/receipts", headers=as_("office")).json()
    assert {u["unit"]: u["reminded"] for u in report["units"]} == {
        "HW-DH-QS": False,
        "HW-DH-HP": True,
    }
    # Who was on duty at the late unit when it was reminded (ADR 0098).
    assert {u["unit"]: u["reminded_on_duty"] for u in report["units"]} == {
        "HW-DH-QS": None,
        "HW-DH-HP": "值班员周九",
    }
    r = client.get(f"/v1/notices/{nid}/receipts?format=csv", headers=as_("office"))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["unit"]: row["reminded_on_duty"] for row in rows} == {
        "HW-DH-QS": "",
        "HW-DH-HP": "值班员周九",
    }


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"addressees": []}, 422, "invalid-value"),
        ({"title": ""}, 422, "invalid-value"),
        ({"title": "   "}, 422, "notice-refused"),
        ({"body": "x" * 10_001}, 422, "invalid-value"),
        ({"kind": "gossip"}, 422, "invalid-value"),
        ({"confirm_by": "2020-01-01T00:00:00+08:00"}, 422, "time-past"),
        ({"addressees": ["HW-XL-SQ"]}, 403, "notice-addressee-refused"),
        ({"addressees": ["HW"]}, 403, "notice-addressee-refused"),
        ({"addressees": ["NO-SUCH"]}, 404, "not-found"),
    ],
)
def test_a_notice_refused_is_a_named_problem_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter, fields: dict[str, Any], status: int, code: str
) -> None:
    before = center.head_position()
    _problem(_send(client, as_, **fields), status, code)
    assert center.head_position() == before


def test_receipts_refused_are_named_problems_and_store_nothing(
    client: Client, as_: As, duty: dict[str, dict[str, str]], center: CommandCenter
) -> None:
    nid = _send(client, as_, addressees=["HW-DH-QS"]).json()["id"]
    assert client.post(f"/v1/notices/{nid}/receipt", headers=duty["HW-DH-QS"]).status_code == 200
    before = center.head_position()
    never = "00000000-0000-4000-8000-000000000000"
    r = client.post(f"/v1/notices/{never}/receipt", headers=duty["HW-DH-QS"])
    _problem(r, 404, "notice-not-found")
    assert "never" in r.json()["detail"] or "no notice" in r.json()["detail"]
    # The district's duty officer sees the notice (it lies in its subtree) but is not
    # addressed; a sibling community neither sees it nor is addressed: as never sent.
    _problem(client.post(f"/v1/notices/{nid}/receipt", headers=as_("duty")), 403, "receipt-refused")
    _problem(
        client.post(f"/v1/notices/{nid}/receipt", headers=duty["HW-DH-HP"]), 404, "notice-not-found"
    )
    _problem(
        client.post(f"/v1/notices/{nid}/receipt", headers=duty["HW-DH-QS"]),
        409,
        "receipt-already-confirmed",
    )
    # A handler of the addressed unit is not its duty officer.
    _problem(
        client.post(f"/v1/notices/{nid}/receipt", headers=as_("community")), 403, "role-required"
    )
    assert center.head_position() == before

"""A follow-up call that did not reach the caller (未联系上) over HTTP (ADR 0093): an
attempt recorded with who, when and what was tried; the case stays closed, no rate moves,
and a real follow-up is still taken within the limit. Run on SQLite and on PostgreSQL
(the ``center`` fixture); the limit in time with a frozen clock in
tests/unit/test_follow_up_unreached.py."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As
from tests.api.test_follow_up_api import ANSWERS, _closed, _problem

Client = TestClient[Any]


def _attempt(client: Client, as_: As, url: str, who: str = "district", **body: Any) -> Any:
    return client.post(
        f"{url}/follow-up-attempts", json={"note": "无人接听", **body}, headers=as_(who)
    )


def _report(client: Client, as_: As) -> dict[str, Any]:
    total: dict[str, Any] = client.get("/v1/reports/units/HW-DH", headers=as_("district")).json()[
        "total"
    ]
    return total


def test_an_unreached_attempt_leaves_the_case_closed_and_no_rate_moves(
    client: Client, as_: As
) -> None:
    url = _closed(client, as_)
    before = _report(client, as_)
    r = _attempt(client, as_, url)
    assert r.status_code == 200, r.text
    detail = client.get(url, headers=as_("district")).json()
    assert (detail["status"], detail["unreached_follow_ups"]) == ("closed", 1)
    assert detail["last_follow_up"] is None
    after = _report(client, as_)
    for figure in ("followed_up", "contacted", "resolved", "satisfied", "reopened"):
        assert after[figure] == before[figure], figure
    assert after["follow_up_unreached"] == before["follow_up_unreached"] + 1
    assert after["follow_up_not_reached"] == before["follow_up_not_reached"]
    # Still to be followed up, within the same limit; the answer is taken.
    r = client.post(f"{url}/follow-ups", json=ANSWERS, headers=as_("district"))
    assert r.status_code == 200, r.text
    assert _report(client, as_)["followed_up"] == before["followed_up"] + 1
    # Once answered, the closure takes no more attempts.
    _problem(_attempt(client, as_, url), 409, "follow-up-refused")


def test_the_timeline_says_the_attempt_in_chinese_and_english(client: Client, as_: As) -> None:
    url = _closed(client, as_)
    before = _report(client, as_)
    for _ in range(3):
        assert _attempt(client, as_, url).status_code == 200
    after = _report(client, as_)
    assert after["follow_up_unreached"] == before["follow_up_unreached"] + 3
    assert after["follow_up_not_reached"] == before["follow_up_not_reached"] + 1
    assert after["followed_up"] == before["followed_up"]
    iid = url.rsplit("/", 1)[1]
    detail = client.get(url, headers=as_("district")).json()
    assert detail["unreached_follow_ups"] == 3
    tl = f"/v1/loops/{detail['warning_ids'][0]}/timeline"
    zh = str(client.get(tl, headers={**as_("district"), "Accept-Language": "zh"}).json())
    en = str(client.get(tl, headers={**as_("district"), "Accept-Language": "en"}).json())
    assert "回访未联系上诉求人（第1次）" in zh, zh
    assert "回访第3次未联系上诉求人，本次办结计为未联系上" in zh, zh
    assert "could not be reached for the follow-up (attempt 2)" in en, en
    assert iid


def test_a_bad_attempt_is_refused_and_stores_nothing(
    client: Client, as_: As, center: CommandCenter
) -> None:
    url = _closed(client, as_)
    plain = _closed(client, as_, source="telemetry")
    head = center.head_position()
    assert _attempt(client, as_, url, note="  ").status_code == 422
    r = client.post(f"{url}/follow-up-attempts", json={}, headers=as_("district"))
    assert r.status_code == 422, r.text
    _problem(_attempt(client, as_, plain), 409, "not-from-the-public")
    assert _attempt(client, as_, url, who="office").status_code == 403
    assert center.head_position() == head

"""Merging (并单) over HTTP (ADR 0082): a dispatcher merges a warning into the main case
about the same matter and un-merges it; the detail links both ways, the timeline says
so in either language, and the report counts the matter once. Every refusal a named
problem, with nothing stored. Run on SQLite and on PostgreSQL (the ``center`` fixture)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, raise_warning

Client = TestClient[Any]


def _warning(client: Client, as_: As, **fields: Any) -> str:
    return str(raise_warning(client, as_, dedup_key=uuid4().hex, **fields)["id"])


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(code), r.json()


def _merge(client: Client, as_: As, wid: str, into: str, who: str = "district", **kw: Any) -> Any:
    body = {"into": into, "reason": "the same gauge", **kw}
    return client.post(f"/v1/warnings/{wid}/merge", json=body, headers=as_(who))


def test_a_merge_links_both_warnings_and_an_unmerge_undoes_it(client: Client, as_: As) -> None:
    main, other = _warning(client, as_), _warning(client, as_)
    r = _merge(client, as_, other, main)
    assert r.status_code == 200, r.text
    merged = client.get(f"/v1/warnings/{other}", headers=as_("district")).json()
    kept = client.get(f"/v1/warnings/{main}", headers=as_("district")).json()
    assert (merged["status"], merged["merged_into"]) == ("merged", main)
    assert merged["closed_at"] is not None
    assert kept["merged"] == [other]
    assert kept["status"] == "raised"
    listed = client.get("/v1/warnings?status=merged", headers=as_("district")).json()
    assert [w["id"] for w in listed["items"]] == [other]
    r = client.post(
        f"/v1/warnings/{other}/unmerge", json={"reason": "two dams"}, headers=as_("district")
    )
    assert r.status_code == 200, r.text
    merged = client.get(f"/v1/warnings/{other}", headers=as_("district")).json()
    kept = client.get(f"/v1/warnings/{main}", headers=as_("district")).json()
    assert (merged["status"], merged["merged_into"], merged["closed_at"]) == ("raised", None, None)
    assert kept["merged"] == []


def test_the_timeline_tells_of_the_merge_in_chinese_and_in_english(client: Client, as_: As) -> None:
    main, other = _warning(client, as_), _warning(client, as_)
    assert _merge(client, as_, other, main).status_code == 200
    loop = client.get(f"/v1/warnings/{main}", headers=as_("district")).json()
    url = f"/v1/loops/{main}/timeline"
    zh = client.get(url, headers={**as_("district"), "Accept-Language": "zh"}).json()
    en = client.get(url, headers={**as_("district"), "Accept-Language": "en"}).json()
    assert loop["id"] == main
    assert any(f"并入预警 {other}" in str(e) for e in zh["entries"]), zh
    assert any(f"Took in warning {other}" in str(e) for e in en["entries"]), en


def test_the_report_counts_merged_warnings_once(client: Client, as_: As) -> None:
    def raised() -> int:
        body = client.get("/v1/reports/units/HW-DH", headers=as_("district")).json()
        return int(body["total"]["warnings_raised"])

    base = raised()
    main, other, third = (_warning(client, as_) for _ in range(3))
    assert raised() == base + 3
    assert _merge(client, as_, other, main).status_code == 200
    assert _merge(client, as_, third, main).status_code == 200
    assert raised() == base + 1
    client.post(f"/v1/warnings/{third}/unmerge", json={"reason": "x"}, headers=as_("district"))
    assert raised() == base + 2


# -- bad input: a named problem each, and nothing stored --------------------------------


def test_a_merge_into_itself_a_closed_case_or_a_circle_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    main, other, closed, fresh = (_warning(client, as_) for _ in range(4))
    client.post(f"/v1/warnings/{closed}/cancel", json={"reason": "gone"}, headers=as_("duty"))
    assert _merge(client, as_, other, main).status_code == 200
    head = center.head_position()
    _problem(_merge(client, as_, main, main), 422, "merge-into-itself")
    _problem(_merge(client, as_, main, other), 409, "circular-merge")
    _problem(_merge(client, as_, fresh, closed), 409, "merge-target-closed")
    _problem(_merge(client, as_, fresh, other), 409, "merge-target-closed")
    _problem(_merge(client, as_, fresh, str(uuid4())), 404, "not-found")
    r = _merge(client, as_, fresh, main, reason="  ")
    _problem(r, 422, "invalid-value")
    r = client.post(f"/v1/warnings/{fresh}/merge", json={"reason": "x"}, headers=as_("district"))
    assert r.status_code == 422, r.text
    r = client.post(f"/v1/warnings/{fresh}/unmerge", json={"reason": "x"}, headers=as_("district"))
    _problem(r, 409, "merge-refused")
    assert center.head_position() == head


def test_another_hazard_needs_an_override(client: Client, as_: As, center: CommandCenter) -> None:
    main = _warning(client, as_, location="青山水库")
    other = _warning(client, as_, rule="dam.seepage", location="白沙水库")
    head = center.head_position()
    r = _merge(client, as_, other, main)
    _problem(r, 422, "merge-mismatch")
    assert "another hazard" in r.json()["detail"]
    assert center.head_position() == head
    assert _merge(client, as_, other, main, override=True).status_code == 200


def test_a_wrong_role_or_a_unit_outside_the_subtree_is_refused(
    client: Client, as_: As, center: CommandCenter
) -> None:
    main, other = _warning(client, as_), _warning(client, as_)
    elsewhere = _warning(client, as_, unit="HW-XL")
    head = center.head_position()
    _problem(_merge(client, as_, other, main, who="duty"), 403, "role-required")
    _problem(_merge(client, as_, other, main, who="monitor"), 403, "role-required")
    # HW-DH's dispatcher sees its own warning, but the main case named is HW-XL's.
    _problem(_merge(client, as_, other, elsewhere, who="office"), 403, "not-permitted")
    # Another office's dispatcher does not even see HW-DH-QS's warning.
    assert _merge(client, as_, other, main, who="office_xl").status_code == 404
    assert center.head_position() == head


def test_a_merged_warning_is_neither_cancelled_nor_given_instructions(
    client: Client, as_: As, center: CommandCenter
) -> None:
    """ADR 0093: a warning closed as merged is handled on its main case."""
    main, other = _warning(client, as_), _warning(client, as_)
    assert _merge(client, as_, other, main).status_code == 200
    head = center.head_position()
    r = client.post(f"/v1/warnings/{other}/cancel", json={"reason": "gone"}, headers=as_("duty"))
    _problem(r, 409, "warning-merged")
    body = {"lead_unit": "HW-DH", "title": "Inspect", "due_in": "P2D", "warning_ids": [other]}
    r = client.post("/v1/instructions", json=body, headers=as_("district"))
    _problem(r, 409, "warning-merged")
    zh = client.post(
        f"/v1/warnings/{other}/cancel",
        json={"reason": "gone"},
        headers={**as_("duty"), "Accept-Language": "zh"},
    )
    assert zh.status_code == 409
    assert center.head_position() == head

"""The auditor's API over a whole loop: timeline, history, past states, export, access."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

import audit
from api.app import create_app
from api.audit import AuditService
from api.tokens import TokenBook
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.service import ReadModels
from tests.integration.audit.conftest import a_whole_loop, rechain_as_an_outsider

PEOPLE = {
    "auditor": ("HC", ["auditor"]),
    "admin": ("HC", ["admin"]),
    "district": ("HW", ["dispatcher"]),
    "office": ("HW-DH", ["handler", "dispatcher"]),
    "other_office": ("HW-XL", ["handler", "dispatcher"]),
}


@pytest.fixture
def api(
    center: CommandCenter, audit_settings: audit.AuditSettings
) -> Iterator[tuple[TestClient[Any], dict[str, Any], dict[str, dict[str, str]]]]:
    load_demo(center)
    book = TokenBook(center)
    headers = {
        name: {"Authorization": f"Bearer {book.issue(user=name, unit=u, roles=r).secret}"}
        for name, (u, r) in PEOPLE.items()
    }
    ids = a_whole_loop(center)
    reads = ReadModels.beside(center)
    chain = audit.AuditChain.beside(center, reads.store, audit_settings)
    app = create_app(center, reads=reads, on_startup=[chain.start], on_shutdown=[chain.stop])
    app.state.audit = AuditService.from_settings(audit_settings)
    with TestClient(app) as client:
        head = str(center.head_position())
        client.headers["X-Min-Position"] = head
        assert reads.wait(["loops"], center.head_position(), 10)
        chain.checkpoint_now()
        yield client, ids, headers


def test_the_timeline_of_a_whole_loop_lists_every_step_with_its_actor(api: Any) -> None:
    client, ids, who = api
    r = client.get(f"/v1/loops/{ids['warning']}/timeline", headers=who["district"])
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    steps = [(e["event"], e["unit"]) for e in entries]
    assert steps[0] == ("EarlyWarning.Raised", "HW-EM")
    for step in [
        ("EarlyWarning.Acknowledged", "HW"),
        ("Instruction.Issued", "HW"),
        ("Instruction.SignedFor", "HW-DH"),
        ("Instruction.Forwarded", "HW-DH"),
        ("Disposition.Opened", "HW-DH-HP"),
        ("Disposition.ProgressReported", "HW-DH-HP"),
        ("Instruction.ResultSubmitted", "HW-DH-HP"),
        ("Instruction.Verified", "HW-DH"),
        ("Instruction.ChildFinished", "HW-DH"),
        ("Instruction.Verified", "HW"),
        ("EarlyWarning.InstructionFinished", "HW"),
        ("EarlyWarning.Resolved", "HW"),
    ]:
        assert step in steps, step
    assert steps[-1] == ("EarlyWarning.Closed", "HW")
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    kinds = {e["aggregate_id"]: e["kind"] for e in entries}
    assert kinds[str(ids["child"])] == "instruction"
    assert "disposition" in kinds.values()
    for e in entries:
        assert e["person"]
        assert e["role"]
        assert e["command_id"]
        assert e["description"]
        assert e["recorded_at"].endswith("+08:00")
    forwarded = next(e for e in entries if e["event"] == "Instruction.Forwarded")
    assert forwarded["description"] == "HW-DH forwarded the instruction to HW-DH-HP"
    assert forwarded["description_zh"] == "HW-DH将指令转派至HW-DH-HP"


def test_the_timeline_prints_as_a_case_file_page(api: Any) -> None:
    client, ids, who = api
    r = client.get(
        f"/v1/loops/{ids['warning']}/timeline", headers={**who["auditor"], "Accept": "text/html"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "闭环时间线" in r.text
    assert "HW-DH forwarded the instruction to HW-DH-HP" in r.text


def test_another_units_loop_answers_not_found_except_to_the_auditor(api: Any) -> None:
    client, ids, who = api
    url = f"/v1/loops/{ids['warning']}/timeline"
    assert client.get(url, headers=who["other_office"]).status_code == 404
    assert client.get(url, headers=who["auditor"]).status_code == 200
    history = f"/v1/instructions/{ids['child']}/history"
    assert client.get(history, headers=who["other_office"]).status_code == 404
    assert client.get(history, headers=who["admin"]).status_code == 200


def test_an_aggregates_history_is_its_raw_events_with_their_positions(api: Any) -> None:
    client, ids, who = api
    r = client.get(f"/v1/warnings/{ids['warning']}/history", headers=who["district"])
    events = r.json()["events"]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "EarlyWarning.Raised"
    assert events[0]["metadata"]["unit"] == "HW-EM"
    assert events[0]["payload"]["title"].startswith("Qingshan")


def test_a_past_version_answers_the_state_then(api: Any) -> None:
    client, ids, who = api
    url = f"/v1/instructions/{ids['parent']}/as-of"
    first = client.get(url, params={"version": 1}, headers=who["district"]).json()
    assert first["version"] == 1
    assert first["state"]["status"] == "dispatched"
    # The record as it was, not the engine's bookkeeping (other units' command ids).
    assert not {"recent_commands", "recent_command_names"} & set(first["state"])
    latest = client.get(url, params={"version": 99}, headers=who["district"])
    assert latest.status_code == 404
    both = client.get(
        url, params={"version": 1, "at": "2026-01-01T00:00:00+00:00"}, headers=who["district"]
    )
    assert both.status_code == 422


def test_the_detail_of_a_case_answers_its_past_state_with_as_of_or_version(api: Any) -> None:
    client, ids, who = api
    url = f"/v1/instructions/{ids['parent']}"
    then = client.get(url, params={"version": 1}, headers=who["district"])
    assert then.status_code == 200
    assert then.json()["state"]["status"] == "dispatched"
    assert then.headers["etag"] == '"1"'
    before_anything = client.get(
        url, params={"as_of": "2000-01-01T00:00:00+00:00"}, headers=who["district"]
    )
    assert before_anything.status_code == 404
    assert client.get(url, headers=who["district"]).json()["status"] == "closed"


def test_export_and_verification_are_the_auditors_and_admins_only(api: Any) -> None:
    client, _, who = api
    for path in ("/v1/audit/export", "/v1/audit/verification"):
        assert client.get(path, headers=who["district"]).status_code == 403
        assert client.get(path, headers=who["auditor"]).status_code == 200
        assert client.get(path, headers=who["admin"]).status_code == 200
    assert client.get("/v1/audit/verification", headers=who["auditor"]).json()["ok"] is True


def test_the_exported_log_rechains_to_the_signed_head_with_sha256_and_base64_alone(
    api: Any,
) -> None:
    client, _, who = api
    key = client.get("/v1/audit/public-key").json()
    checkpoints = client.get("/v1/audit/checkpoints", headers=who["auditor"]).json()
    last = checkpoints[-1]
    note = audit.Checkpoint.parse(last["note"])
    assert note.is_signed_by(audit.PublicKey.from_verifier(key["verifier_key"]))
    with client.stream("GET", "/v1/audit/export", headers=who["auditor"]) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert {line["chain"]["form"] for line in lines} == {2}
    assert rechain_as_an_outsider(lines[: note.size]) == note.head


def exported(client: TestClient[Any], who: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    r = client.get("/v1/audit/export", headers=who["auditor"])
    return [json.loads(x) for x in r.text.splitlines()]


def test_an_export_slice_by_position_starts_from_the_hash_before_it(api: Any) -> None:
    client, _, who = api
    r = client.get(
        "/v1/audit/export",
        params={"from_position": 10, "to_position": 19},
        headers=who["auditor"],
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["position"] for x in lines] == list(range(10, 20))
    full = [
        json.loads(x)
        for x in client.get("/v1/audit/export", headers=who["auditor"]).text.splitlines()
    ]
    assert lines[0]["chain"]["prev"] == full[8]["chain"]["hash"]


def test_an_export_slice_by_time_holds_only_events_recorded_in_it(api: Any) -> None:
    client, _, who = api
    full = [
        json.loads(x)
        for x in client.get("/v1/audit/export", headers=who["auditor"]).text.splitlines()
    ]
    since, until = full[20]["recorded_at"], full[30]["recorded_at"]
    r = client.get(
        "/v1/audit/export", params={"since": since, "until": until}, headers=who["auditor"]
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines
    assert all(since <= x["recorded_at"] < until for x in lines)


def test_the_public_key_needs_no_token(api: Any, audit_settings: audit.AuditSettings) -> None:
    client, _, _ = api
    r = client.get("/v1/audit/public-key", headers={"Authorization": ""})
    assert r.status_code == 200
    signer = audit.Signer.from_file(audit_settings.key_path, create=False)
    assert r.json()["verifier_key"] == signer.public.verifier

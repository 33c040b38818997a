"""Deferral (缓办) on the instruction page (ADR 0071): the lead's handler is offered
"ask to defer", the issuer's dispatcher "decide the deferral" with approve and refuse;
a deferred case shows its clock stopped and offers "resume"; a reason left empty is
said at its field and nothing is stored."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue
from tests.api.screens.test_instruction_desk import desk_of, steps_on


def test_a_deferral_is_asked_approved_and_resumed_from_the_page(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    community.post(f"/instructions/{iid}/sign", {"command_id": "sign"})
    page = community.get(f"/instructions/{iid}")
    assert "deferral-requests" in steps_on(page.text, iid)
    assert "申请缓办" in page.text

    head = center.head_position()
    empty = community.post(
        f"/instructions/{iid}/deferral-requests", {"command_id": "d-0", "reason": " "}
    )
    assert empty.status_code == 422
    assert 'id="deferral-requests-reason-error"' in empty.text
    assert center.head_position() == head

    asked = community.post(
        f"/instructions/{iid}/deferral-requests",
        {"command_id": "d-1", "reason": "等待法院判决"},
    )
    assert asked.status_code == 303
    page = community.get(f"/instructions/{iid}")
    assert "deferral-requests" not in steps_on(page.text, iid)
    assert "待审批的缓办申请" in page.text

    office = desk_of(TestClient(client.app), tokens["office"])
    page = office.get(f"/instructions/{iid}")
    assert "deferral-decisions" in steps_on(page.text, iid)
    assert "同意缓办" in page.text
    refused = office.post(
        f"/instructions/{iid}/deferral-decisions", {"command_id": "x-0", "granted": "false"}
    )
    assert refused.status_code == 422  # a refusal says why
    approved = office.post(
        f"/instructions/{iid}/deferral-decisions", {"command_id": "x-1", "granted": "true"}
    )
    assert approved.status_code == 303
    page = office.get(f"/instructions/{iid}")
    assert "缓办中：计时已暂停" in page.text
    offered = steps_on(page.text, iid)
    assert "resume" in offered
    assert "park" not in offered
    assert steps_on(community.get(f"/instructions/{iid}").text, iid) == set()

    resumed = office.post(f"/instructions/{iid}/resume", {"command_id": "r-1", "note": ""})
    assert resumed.status_code == 303
    page = community.get(f"/instructions/{iid}")
    assert "submit" in steps_on(page.text, iid)

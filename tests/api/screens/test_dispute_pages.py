"""Dispatch disputes (派单异议) on the instruction page (ADR 0076): the lead's handler is
offered "dispute the dispatch", the issuer's dispatcher "arbitrate the dispute" with a
unit to uphold to and a refusal that must say why; a reason left empty is said at its
field and nothing is stored."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.application import CommandCenter
from tests.api.conftest import As, issue
from tests.api.screens.test_instruction_desk import desk_of, steps_on


def test_a_dispute_is_filed_and_upheld_from_the_page(
    client: TestClient[Any], tokens: dict[str, str], as_: As, center: CommandCenter
) -> None:
    iid = issue(client, as_, lead_unit="HW-DH-QS", who="office")["id"]
    community = desk_of(client, tokens["community"])
    page = community.get(f"/instructions/{iid}")
    assert "disputes" in steps_on(page.text, iid)
    assert "派单异议" in page.text

    head = center.head_position()
    empty = community.post(f"/instructions/{iid}/disputes", {"command_id": "d-0", "reason": " "})
    assert empty.status_code == 422
    assert 'id="disputes-reason-error"' in empty.text
    assert center.head_position() == head

    filed = community.post(
        f"/instructions/{iid}/disputes", {"command_id": "d-1", "reason": "属水务部门职责"}
    )
    assert filed.status_code == 303
    page = community.get(f"/instructions/{iid}")
    assert "disputes" not in steps_on(page.text, iid)
    assert "待裁定的派单异议" in page.text

    office = desk_of(TestClient(client.app), tokens["office"])
    page = office.get(f"/instructions/{iid}")
    assert "dispute-arbitrations" in steps_on(page.text, iid)
    assert "异议成立，改派此单位" in page.text
    refused = office.post(
        f"/instructions/{iid}/dispute-arbitrations",
        {"command_id": "a-0", "upheld": "false", "lead_unit": "HW-DH-HP"},
    )
    assert refused.status_code == 422  # a refusal says why
    assert center.head_position() == head + 1
    upheld = office.post(
        f"/instructions/{iid}/dispute-arbitrations",
        {"command_id": "a-1", "upheld": "true", "lead_unit": "HW-DH-HP"},
    )
    assert upheld.status_code == 303
    assert steps_on(community.get(f"/instructions/{iid}").text, iid) == set()
    other = desk_of(TestClient(client.app), tokens["community_b"])
    assert "sign" in steps_on(other.get(f"/instructions/{iid}").text, iid)
    # The reports page shows the dispute figures beside the others.
    report = office.get("/reports/HW-DH")
    assert report.status_code == 200
    assert "异议率" in report.text
    assert "异议成立率" in report.text

"""A loop's timeline shows a unit what it may read of the loop, not the whole loop: the
cases of other units that joined it (a neighbour's forwarded part, another office's
instruction) stay as hidden there as they are at their own addresses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.meta import now
from tests.api.authorization.world import World, context


def test_a_community_reads_its_warnings_loop_without_a_neighbours_part_of_it(w: World) -> None:
    c = w.center
    wid = w.warning("confirmed")
    iid = c.issue_instruction(
        context("dispatcher", "HW"),
        lead_unit="HW-DH",
        title="Drain the Qingshan spillway",
        deadline=now() + timedelta(days=3),
        warning_ids=[wid],
    ).id
    c.sign_for(context("handler", "HW-DH"), iid)
    child = c.forward(
        context("handler", "HW-DH"), iid, to_unit="HW-DH-HP", title="Close the lakeside path"
    ).id
    c.sign_for(context("handler", "HW-DH-HP"), child)
    did = c.instruction(child).dispositions["HW-DH-HP"]
    c.record_action(context("handler", "HW-DH-HP"), did, "Hupan's own note")
    loop = c.warning(wid).loop_id

    def timeline(role: str, unit: str) -> dict[str, Any]:
        r = w.client.get(f"/v1/loops/{loop}/timeline", headers=w.bearer(role, unit))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    qingshan = timeline("handler", "HW-DH-QS")
    donghu = timeline("handler", "HW-DH")
    auditor = timeline("auditor", "HW-XL")

    def members(t: dict[str, Any]) -> set[str]:
        return {e["aggregate_id"] for e in t["entries"]}

    assert members(qingshan) == {str(wid)}
    assert "Hupan's own note" not in str(qingshan)
    assert {str(wid), str(iid), str(child), str(did)} <= members(donghu)
    assert members(auditor) == members(donghu)

"""The read models over HTTP: inboxes, the warning board, read-your-writes, and how far
behind the log the views are (health and metrics)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from api.app import create_app
from domain.application import CommandCenter
from projections.service import ReadModels
from tests.api.conftest import As, issue, raise_warning
from tests.integration.projections.workload import warning

Client = TestClient[Any]


def test_a_units_inbox_lists_what_it_must_do_and_what_it_issued_with_time_left(
    client: Client, as_: As
) -> None:
    sent = issue(client, as_, lead_unit="HW-DH", title="Inspect the dam", due_in="P2D")
    client.post(f"/v1/instructions/{sent['id']}/supervise", headers=as_("district"))

    inbox = client.get("/v1/units/HW-DH/inbox", headers=as_("office")).json()
    issued = client.get("/v1/units/HW/inbox", headers=as_("district")).json()

    (item,) = inbox["assigned"]
    assert item["id"] == sent["id"]
    assert item["my_state"] == "dispatched"
    assert item["overdue"] is False
    # Two working days, counted on the working calendar: at most 2 × 8 working hours.
    assert 0 < item["time_left_seconds"] <= 2 * 8 * 3600
    assert item["supervised"] is True
    assert item["supervised_by"] == "HW"
    assert [i["id"] for i in issued["issued"]] == [sent["id"]]


def test_a_unit_outside_the_readers_subtree_has_no_inbox_for_it(client: Client, as_: As) -> None:
    r = client.get("/v1/units/HW-XL/inbox", headers=as_("community"))

    assert r.status_code == 404


def test_the_warning_board_groups_open_warnings_by_theme_level_and_unit(
    client: Client, as_: As
) -> None:
    a = raise_warning(client, as_, dedup_key="board-a", level=1)
    raise_warning(client, as_, dedup_key="board-b", level=1)
    repeat = {"rule": "reservoir.level", "theme": "reservoir", "level": 1, "title": "again"}
    again = client.post(
        "/v1/warnings",
        json={**repeat, "unit": "HW-DH-QS", "dedup_key": "board-a"},
        headers=as_("monitor"),
    )
    assert again.status_code == 200
    closed = raise_warning(client, as_, dedup_key="board-c", level=3)
    client.post(f"/v1/warnings/{closed['id']}/cancel", json={"reason": "x"}, headers=as_("duty"))

    board = client.get("/v1/board/warnings", headers=as_("duty")).json()

    (cell,) = board["cells"]
    assert (cell["theme"], cell["level"], cell["unit"]) == ("reservoir", 1, "HW-DH-QS")
    assert cell["count"] == 2
    assert cell["repeats"] == 1
    assert cell["by_status"] == {"raised": 2}
    assert a["id"] in {w["id"] for w in cell["warnings"]}
    assert board["open"] == 2


def test_a_read_waits_for_the_views_to_reach_the_writers_position(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    reads = ReadModels.beside(center, run=False)
    as_ = As(tokens)
    with TestClient(create_app(center, reads=reads, read_wait=0.3)) as client:
        position = center.head_position()
        behind = client.get("/v1/warnings", params={"min_position": position}, headers=as_("duty"))
        health = client.get("/health").json()
        metrics = client.get("/metrics").text

        assert behind.status_code == 503
        assert behind.headers["retry-after"] == "1"
        assert "have not read the log up to position" in behind.json()["detail"]
        lag = {p["view"]: p["lag"] for p in health["projections"]}
        assert lag["warnings"] == position
        assert f'closedloop_projection_lag{{view="warnings"}} {position}' in metrics
        assert f"closedloop_log_head {position}" in metrics

        wid = warning(center, 1)
        reads.runner = ReadModels.beside(center).runner
        assert reads.runner is not None
        reads.runner.start()
        try:
            seen = client.get(
                f"/v1/warnings/{wid}",
                headers=as_("duty", **{"X-Min-Position": str(center.head_position())}),
            )
            health = client.get("/health").json()
        finally:
            reads.runner.stop()

    assert seen.status_code == 200
    assert seen.json()["id"] == str(wid)
    assert all(p["lag"] == 0 for p in health["projections"])


def test_a_position_never_written_is_refused_at_once(client: Client, as_: As) -> None:
    r = client.get("/v1/warnings", params={"min_position": 10**9}, headers=as_("duty"))

    assert r.status_code == 422

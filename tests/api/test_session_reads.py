"""Session consistency (ADR 0045): a principal's reads see its own writes without naming
a position, others are not held back by them, and ``X-Read-Consistency: latest`` opts
out with the views' lag.

The views here are fed by no runner of the server's (``run=False``, as with ``serve
--no-projections``): either by none at all, so that a read that waited could only time
out, or by one that starts late, so that a read answering the write must have waited.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from domain.application import CommandCenter
from projections.runner import Runner
from projections.service import ReadModels
from tests.api.conftest import As, issue, raise_warning

Client = TestClient[Any]


def tokens_id(center: CommandCenter, secret: str) -> str:
    principal = TokenBook(center).authenticate(secret)
    assert principal is not None
    return principal.token_id


@contextmanager
def served(
    center: CommandCenter, *, read_wait: float = 5.0, read_your_writes: bool = True
) -> Iterator[tuple[Client, ReadModels]]:
    reads = ReadModels.beside(center, run=False)
    app = create_app(center, reads=reads, read_wait=read_wait, read_your_writes=read_your_writes)
    with TestClient(app) as client:
        # The views start with what was there before the test's writes (the district).
        Runner(center, reads.store).catch_up()
        yield client, reads


@contextmanager
def views_fed_after(reads: ReadModels, center: CommandCenter, seconds: float) -> Iterator[None]:
    """A runner of another process's, as it were, that starts ``seconds`` from now."""
    runner = Runner(center, reads.store)
    started = threading.Timer(seconds, runner.start)
    started.start()
    try:
        yield
    finally:
        started.cancel()
        started.join()
        runner.stop()


def test_a_dispatcher_reads_the_instruction_it_just_issued_without_naming_a_position(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center) as (client, reads):
        sent = issue(client, as_, title="Close the Hupan Road gas valve")
        with views_fed_after(reads, center, 0.3):
            detail = client.get(f"/v1/instructions/{sent['id']}", headers=as_("district"))
            inbox = client.get("/v1/units/HW/inbox", headers=as_("district"))

    assert detail.status_code == 200, detail.text
    assert detail.json()["title"] == "Close the Hupan Road gas valve"
    assert detail.headers["x-read-consistency"] == "session"
    assert [i["id"] for i in inbox.json()["issued"]] == [sent["id"]]


def test_a_step_is_seen_at_its_new_version_by_the_unit_that_took_it(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center) as (client, reads):
        sent = issue(client, as_)
        with views_fed_after(reads, center, 0.05):
            # The office reads first (the view has the instruction), then signs for it.
            client.get(f"/v1/instructions/{sent['id']}", headers=as_("district"))
        signed = client.post(f"/v1/instructions/{sent['id']}/sign", headers=as_("office"))
        with views_fed_after(reads, center, 0.3):
            after = client.get(f"/v1/instructions/{sent['id']}", headers=as_("office"))

    assert signed.status_code == 200, signed.text
    assert after.status_code == 200
    assert after.headers["etag"] == f'"{signed.json()["version"]}"'
    lead = next(a for a in after.json()["assignees"] if a["unit"] == "HW-DH")
    assert lead["state"] == "signed"


def test_a_principal_that_wrote_nothing_is_not_held_back_by_anothers_write(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center, read_wait=0.3) as (client, _):
        issue(client, as_)  # the district's write, which no view will ever read
        others = {
            who: client.get("/v1/units/HW-DH/inbox", headers=as_(who))
            for who in ("office", "admin")
        }

    # Waiting for the district's write would have timed out (503): they answered at once.
    assert {who: r.status_code for who, r in others.items()} == {"office": 200, "admin": 200}
    assert others["office"].json()["assigned"] == []


def test_a_read_whose_views_never_reach_the_own_write_answers_503_with_retry_after(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center, read_wait=0.3) as (client, _):
        sent = issue(client, as_)
        behind = client.get(f"/v1/instructions/{sent['id']}", headers=as_("district"))

    assert behind.status_code == 503
    assert behind.headers["retry-after"] == "1"
    assert f"your last write ({sent['position']})" in behind.json()["detail"]


def test_latest_answers_at_once_from_the_views_with_their_lag(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center, read_wait=0.3) as (client, reads):
        sent = issue(client, as_)
        latest = client.get(
            "/v1/units/HW/inbox", headers=as_("district", **{"X-Read-Consistency": "latest"})
        )
        missing = client.get(
            f"/v1/instructions/{sent['id']}",
            headers=as_("district", **{"X-Read-Consistency": "LATEST"}),
        )
        lag = center.head_position() - reads.reached(["units", "instructions"])

    assert latest.status_code == 200
    assert latest.json()["issued"] == []
    assert latest.headers["x-read-consistency"] == "latest"
    # The views have not read the instruction: they lag by its events.
    assert int(latest.headers["x-view-lag"]) == lag >= 1
    assert missing.status_code == 404
    assert int(missing.headers["x-view-lag"]) == lag


def test_latest_still_waits_for_a_position_the_client_names(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center, read_wait=0.3) as (client, _):
        sent = issue(client, as_)
        r = client.get(
            "/v1/units/HW/inbox",
            params={"min_position": sent["position"]},
            headers=as_("district", **{"X-Read-Consistency": "latest"}),
        )

    assert r.status_code == 503
    assert f"position {sent['position']}" in r.json()["detail"]


@pytest.mark.parametrize("value", ["eventual", "", "session, latest", "x" * 300])
def test_a_consistency_that_is_neither_session_nor_latest_is_refused(
    center: CommandCenter, tokens: dict[str, str], value: str
) -> None:
    as_ = As(tokens)
    with served(center) as (client, _):
        r = client.get("/v1/units", headers=as_("district", **{"X-Read-Consistency": value}))

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "X-Read-Consistency"


def test_with_sessions_off_a_read_waits_for_no_write_of_its_own(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center, read_wait=0.3, read_your_writes=False) as (client, reads):
        sent = issue(client, as_)
        stale = client.get(f"/v1/instructions/{sent['id']}", headers=as_("district"))
        noted = reads.sessions.last(tokens_id(center, tokens["district"]))

    assert stale.status_code == 404
    assert noted == 0


# -- role x subtree ------------------------------------------------------------------


def _write_as(client: Client, as_: As, who: str) -> tuple[str, int]:
    """One write each role may make in its own unit's subtree: the path to read it back,
    and its position."""
    if who == "monitor":
        w = raise_warning(client, as_, dedup_key="session-monitor")
        return f"/v1/warnings/{w['id']}", w["position"]
    if who == "duty":
        w = raise_warning(client, as_, dedup_key="session-duty")
        done = client.post(f"/v1/warnings/{w['id']}/acknowledge", headers=as_("duty"))
        assert done.status_code == 200, done.text
        return f"/v1/warnings/{w['id']}", done.json()["position"]
    lead = {"district": "HW-DH", "office": "HW-DH-QS", "office_xl": "HW-XL-SQ"}[who]
    sent = issue(client, as_, who=who, lead_unit=lead)
    return f"/v1/instructions/{sent['id']}", sent["position"]


@pytest.mark.parametrize("who", ["monitor", "duty", "district", "office", "office_xl"])
def test_each_role_reads_back_what_it_wrote_in_its_subtree(
    center: CommandCenter, tokens: dict[str, str], who: str
) -> None:
    as_ = As(tokens)
    with served(center) as (client, reads):
        path, position = _write_as(client, as_, who)
        with views_fed_after(reads, center, 0.2):
            seen = client.get(path, headers=as_(who))
        noted = reads.sessions.last(tokens_id(center, tokens[who]))

    assert seen.status_code == 200, seen.text
    assert noted == position


def test_waiting_for_its_own_write_shows_a_unit_nothing_outside_its_subtree(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    with served(center) as (client, reads):
        theirs = issue(client, as_, who="office", lead_unit="HW-DH-QS")
        issue(client, as_, who="office_xl", lead_unit="HW-XL-SQ")  # Xiling's own write
        with views_fed_after(reads, center, 0.2):
            across = client.get(f"/v1/instructions/{theirs['id']}", headers=as_("office_xl"))
            auditor = client.get(f"/v1/instructions/{theirs['id']}", headers=as_("auditor"))

    assert across.status_code == 404
    assert auditor.status_code == 200


def test_a_refused_command_notes_no_write(center: CommandCenter, tokens: dict[str, str]) -> None:
    as_ = As(tokens)
    with served(center, read_wait=0.3) as (client, reads):
        refused = client.post(
            "/v1/instructions",
            json={"lead_unit": "HW-XL-SQ", "title": "Out of reach", "due_in": "P1D"},
            headers=as_("office"),
        )
        after = client.get("/v1/units/HW-DH/inbox", headers=as_("office"))
        noted = reads.sessions.last(tokens_id(center, tokens["office"]))

    assert refused.status_code == 403, refused.text
    assert noted == 0
    assert after.status_code == 200  # no wait for a write that never was (a 503)

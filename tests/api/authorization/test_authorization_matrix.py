"""Who may do what (issue 19): every operation of the served OpenAPI document, sent with
a token of each role from a unit inside the target's subtree (the target's unit or an
ancestor) and from one outside it (a sibling subtree or another district), against the
table below. An operation without a row fails the test: nobody adds an endpoint without
deciding who may call it. A refusal (401, 403, or 404 for what the caller may not even
see) stores nothing; so does every read.

The table is the decision, written out; ADR 0044 gives the reasons. On SQLite, one world
for the module (the refusals share their targets; see ``world.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from api.tokens import ROLES, TokenBook
from tests.api.authorization.requests import REQUESTS
from tests.api.authorization.world import Req, World

#: Every role but a hall's kiosk (``screen``), which reads the board and nothing else.
ALL = frozenset(ROLES) - {"screen"}
EVERYONE = frozenset(ROLES)
#: The roles that read across subtrees: the auditor, to audit anything; the admin, who
#: keeps the network, its people and its tokens (README, "Who may do what").
ACROSS = frozenset({"admin", "auditor"})
NOBODY: frozenset[str] = frozenset()


def only(*roles: str) -> frozenset[str]:
    return frozenset(roles)


@dataclass(frozen=True)
class Row:
    """``inside``: a unit the target lies under; ``outside``: one it does not. Then the
    roles that may do it from each; ``public``: answered without a token too."""

    inside: str
    outside: str
    may_inside: frozenset[str]
    may_outside: frozenset[str]
    public: bool = False


# The target of each row: a warning of HW-DH-QS; an instruction from HW to HW-DH (its
# dispositions, HW-DH's); tokens of HW-DH-QS; subscriptions of HW-DH; the typhoon scenario,
# owned by HW. HY is another district, HW-XL another office.
ADMIN, MONITOR, DUTY, DISPATCHER, HANDLER = (
    only("admin"),
    only("monitor"),
    only("duty_officer"),
    only("dispatcher"),
    only("handler"),
)
TABLE: dict[str, Row] = {
    # operation                                              inside, outside, may in, may out
    "GET /health": Row("HW-DH", "HW-XL", EVERYONE, EVERYONE, public=True),
    "GET /metrics": Row("HW-DH", "HW-XL", EVERYONE, EVERYONE, public=True),
    "GET /v1/audit/public-key": Row("HW-DH", "HW-XL", EVERYONE, EVERYONE, public=True),
    # the network: every token reads it; its admins change their own subtree
    "GET /v1/units": Row("HW-DH", "HW-XL", ALL, ALL),
    "GET /v1/units/{code}": Row("HW-DH", "HW-XL", ALL, ALL),
    "GET /v1/units/{code}/inbox": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/units": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "PATCH /v1/units/{code}": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/reports/units/{code}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # the comprehensive evaluation (ADR 0086): read as the reports are
    "GET /v1/evaluations/{code}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # warnings: raised by monitors above the unit, handled by its duty officers
    # the board: a hall's kiosk (screen) sees its own subtree's, like everyone else
    "GET /v1/board/warnings": Row("HW-DH", "HW-XL", EVERYONE, ACROSS),
    "GET /v1/warnings": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/warnings": Row("HW-DH", "HW-XL", MONITOR, NOBODY),
    "GET /v1/warnings/{wid}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/warnings/{wid}/cap": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/warnings/{wid}/history": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/warnings/{wid}/as-of": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/warnings/{wid}/acknowledge": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "POST /v1/warnings/{wid}/assess": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "POST /v1/warnings/{wid}/resolve": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "POST /v1/warnings/{wid}/cancel": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "POST /v1/warnings/{wid}/close": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    # merging (ADR 0082): the dispatcher of a unit above both warnings
    "POST /v1/warnings/{wid}/merge": Row("HW-DH", "HW-XL", DISPATCHER, NOBODY),
    "POST /v1/warnings/{wid}/unmerge": Row("HW-DH", "HW-XL", DISPATCHER, NOBODY),
    "GET /v1/loops/{loop_id}/timeline": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # whistles (ADR 0078): blown and closed by the office's dispatcher (or one above
    # it), checked in by the summoned department's handler (HW-WATER; another office
    # does not even see the whistle); read by the office's subtree and the departments
    "POST /v1/whistles": Row("HW-DH", "HW-XL", DISPATCHER, NOBODY),
    "GET /v1/whistles": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/whistles/{wid}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/whistles/{wid}/check-in": Row("HW-WATER", "HW-XL", HANDLER, NOBODY),
    "POST /v1/whistles/{wid}/close": Row("HW-DH", "HW-XL", DISPATCHER, NOBODY),
    "GET /v1/reports/whistles/{code}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # duty rosters (ADR 0084): kept by duty officers of the unit or above it; a handover
    # by the person on duty at the unit itself; read by the unit's subtree and above
    "POST /v1/units/{code}/roster/shifts": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "POST /v1/units/{code}/roster/handovers": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "GET /v1/units/{code}/roster": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/units/{code}/on-duty": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # instructions: the issuer's dispatcher (or one above it), the assignee's handler
    "POST /v1/instructions": Row("HW", "HY", DISPATCHER, NOBODY),
    "GET /v1/instructions": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/instructions/{iid}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/instructions/{iid}/history": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/instructions/{iid}/as-of": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/instructions/{iid}/sign": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/return": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/forward": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/progress": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/extension-requests": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/deferral-requests": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/disputes": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/submit": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    "POST /v1/instructions/{iid}/redirect": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/extension-decisions": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/deferral-decisions": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/dispute-arbitrations": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/verify": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/follow-ups": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/follow-up-attempts": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/remind": Row("HC", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/supervise": Row("HC", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/park": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/resume": Row("HW", "HY", DISPATCHER, NOBODY),
    "POST /v1/instructions/{iid}/cancel": Row("HW", "HY", DISPATCHER, NOBODY),
    "GET /v1/dispositions/{did}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/dispositions/{did}/history": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/dispositions/{did}/as-of": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/dispositions/{did}/actions": Row("HW-DH", "HW-XL", HANDLER, NOBODY),
    # the intake: monitors report for units under them; the scenario's owner switches it
    "POST /v1/observations": Row("HW-DH", "HW-XL", MONITOR, NOBODY),
    "POST /v1/cap": Row("HW-DH", "HW-XL", MONITOR, NOBODY),
    # stations (ADR 0073): read as their unit's warnings are; the target, HW-DH-QS's gauge
    "GET /v1/stations": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/stations/{sid}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/stations/{sid}/readings": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # silences (ADR 0085): set, extended and ended by a duty officer whose unit's subtree
    # holds the station; the target, a silence on HW-DH-QS's gauge
    "POST /v1/silences": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "GET /v1/silences": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/silences/{sid}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # the silences over, or all of them, paged (ADR 0091): seen as the live list is
    "GET /v1/silences/history": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/silences/{sid}/extend": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    "POST /v1/silences/{sid}/end": Row("HW-DH", "HW-XL", DUTY, NOBODY),
    # dead letters (ADR 0079): read as the stations are; the target, one of HW-DH-QS's
    "GET /v1/readings/rejected": Row("HW-DH", "HW-XL", ALL, ACROSS),
    # notices (ADR 0077): sent by a dispatcher down its subtree; the target, HW-DH's
    # notice to HW-DH-QS, whose duty officer confirms receipt
    "POST /v1/notices": Row("HW-DH", "HW-XL", DISPATCHER, NOBODY),
    "GET /v1/notices": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/notices/{nid}": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "GET /v1/notices/{nid}/receipts": Row("HW-DH", "HW-XL", ALL, ACROSS),
    "POST /v1/notices/{nid}/receipt": Row("HW-DH-QS", "HW-XL", DUTY, NOBODY),
    "GET /v1/cap-senders": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/cap-senders": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/cap-senders/unbind": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/scenarios/{name}": Row("HW-DH", "HY", ALL, ALL),
    "POST /v1/scenarios/{name}/emergency": Row("HW", "HY", DUTY, NOBODY),
    # the audit: checkpoints name no case; the log itself is for those who read it all
    "GET /v1/audit/checkpoints": Row("HC", "HW-XL", ALL, ALL),
    "GET /v1/audit/export": Row("HC", "HW-XL", ACROSS, ACROSS),
    "GET /v1/audit/verification": Row("HC", "HW-XL", ACROSS, ACROSS),
    # tokens and webhooks: an admin keeps its own subtree's, and sees no other's
    "GET /v1/tokens": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/tokens": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/tokens/{token_id}/revoke": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/accounts": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/accounts": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/accounts/{username}": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/accounts/{username}/password": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/accounts/{username}/close": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/subscriptions/event-types": Row("HW-DH", "HW-XL", ALL, ALL),
    "GET /v1/subscriptions": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/subscriptions": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/subscriptions/{sid}": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "PATCH /v1/subscriptions/{sid}": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "DELETE /v1/subscriptions/{sid}": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/subscriptions/{sid}/rotate": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/subscriptions/{sid}/disable": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/subscriptions/{sid}/enable": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "GET /v1/deliveries": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
    "POST /v1/deliveries/{delivery_id}/redeliver": Row("HW-DH", "HW-XL", ADMIN, NOBODY),
}

#: Cells where the code answers otherwise than the table, in rooms other helpers own:
#: the table keeps the correct answer and the cell is a strict xfail until it is fixed.
KNOWN_HOLES: dict[tuple[str, str], str] = {}

METHODS = ("get", "post", "put", "patch", "delete")


def served_operations(w: World) -> set[str]:
    r = w.client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    paths: dict[str, dict[str, Any]] = r.json()["paths"]
    return {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops if m in METHODS}


def test_every_served_operation_has_a_row_deciding_who_may_call_it(w: World) -> None:
    served = served_operations(w)

    assert sorted(served - TABLE.keys()) == [], "decide who may call these: add a row each"
    assert sorted(TABLE.keys() - served) == [], "rows for operations no longer served"
    assert TABLE.keys() == REQUESTS.keys()


def allowed(w: World, operation: str, headers: dict[str, str]) -> tuple[bool, str]:
    """Send the operation's request with ``headers``: whether it was allowed (for a list:
    whether it showed the target), and what answered. A refusal stores nothing."""
    req: Req = REQUESTS[operation](w)
    head = w.center.head_position()
    r: httpx.Response = w.send(req, headers)
    answer = f"{r.status_code} {r.text[:200]}"
    if 200 <= r.status_code < 300:
        ok = req.shows(r.json()) if req.shows is not None else True
    elif r.status_code in (401, 403, 404):
        assert r.headers["content-type"].startswith("application/problem+json"), answer
        ok = False
    else:
        raise AssertionError(
            f"{operation}: {answer}: neither an answer nor a refusal; the request must be "
            "valid, so that what answers is the authorization"
        )
    if ok and req.method != "GET":
        w.spent()
    else:
        assert w.center.head_position() == head, f"{operation} stored something: {answer}"
    return ok, answer


def _cells() -> list[Any]:
    cells = []
    for operation in TABLE:
        for side in ("inside", "outside"):
            hole = KNOWN_HOLES.get((operation, side))
            marks = [pytest.mark.xfail(strict=True, reason=hole)] if hole else []
            cells.append(pytest.param(operation, side, marks=marks, id=f"{operation} {side}"))
    return cells


@pytest.mark.parametrize(("operation", "side"), _cells())
def test_only_the_roles_the_table_names_may_call_an_operation(
    w: World, operation: str, side: str
) -> None:
    row = TABLE[operation]
    unit = row.inside if side == "inside" else row.outside
    expected = row.may_inside if side == "inside" else row.may_outside
    answers = {role: allowed(w, operation, w.bearer(role, unit)) for role in ROLES}

    may = {role for role, (ok, _) in answers.items() if ok}

    assert may == expected, {role: answer for role, (_, answer) in answers.items()}


@pytest.mark.parametrize("operation", list(TABLE))
def test_without_a_token_only_the_public_operations_answer(w: World, operation: str) -> None:
    ok, answer = allowed(w, operation, {})

    assert ok == TABLE[operation].public, answer
    if not ok:
        assert answer.startswith("401"), answer


ACTS = [
    pytest.param(
        operation,
        role,
        id=f"{operation} {role}+auditor",
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_HOLES[operation, "outside"])]
        if (operation, "outside") in KNOWN_HOLES
        else [],
    )
    for operation, row in TABLE.items()
    if not operation.startswith("GET ")
    for role in sorted(row.may_inside - row.may_outside - ACROSS)
]


@pytest.mark.parametrize(("operation", "role"), ACTS)
def test_reading_everything_lends_no_authority_to_act_outside_the_subtree(
    w: World, operation: str, role: str
) -> None:
    """A token with the auditor's role beside an acting one sees every case; it still
    acts only where the acting role alone may."""
    row = TABLE[operation]
    secret = (
        TokenBook(w.center)
        .issue(user=f"{role}+auditor@{row.outside}", unit=row.outside, roles=[role, "auditor"])
        .secret
    )

    ok, answer = allowed(w, operation, {"Authorization": f"Bearer {secret}"})

    assert not ok, answer


def test_a_dispatcher_who_reads_everything_links_no_warning_outside_its_subtree(
    w: World,
) -> None:
    """Linked, a warning closes only once the instruction is done: linking is an act on
    the warning, refused outside the dispatcher's subtree even when it can read it."""
    wid = str(w.warning("confirmed"))  # one its own district could link
    secret = (
        TokenBook(w.center)
        .issue(user="dispatcher+auditor@HW-XL", unit="HW-XL", roles=["dispatcher", "auditor"])
        .secret
    )
    head = w.center.head_position()

    r = w.client.post(
        "/v1/instructions",
        json={"lead_unit": "HW-XL-SQ", "title": "Help", "due_in": "P2D", "warning_ids": [wid]},
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert r.status_code == 403, r.text
    assert "acts only on warnings of the units under it" in r.json()["detail"]
    assert w.center.head_position() == head
    assert w.center.warning(UUID(wid)).instructions == []

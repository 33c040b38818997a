"""One valid request for every operation of the API, keyed as the matrix's table is
(``"METHOD /path"`` as the OpenAPI document spells it). Each request is valid in every
respect but who sends it, on a target in the state its step needs, so that what answers
is the authorization and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from domain.meta import now
from tests.api.authorization.world import HOOK, Req, World


def _ids(key: str) -> Callable[[Any], set[str]]:
    return lambda items: {str(i[key]) for i in items}


def _lists(path: str, target: str, key: str = "id", items: str | None = None) -> Req:
    """A list whose answer shows ``target`` (by ``key``) to whoever may see it."""
    pick = _ids(key)
    return Req("GET", path, shows=lambda body: target in pick(body[items] if items else body))


def _on_board(wid: str) -> Callable[[Any], bool]:
    return lambda body: any(wid == str(x["id"]) for c in body["cells"] for x in c["warnings"])


def _warning(w: World, step: str, stage: str = "raised", body: Any = None) -> Req:
    return Req("POST", f"/v1/warnings/{w.warning(stage)}/{step}", json=body)


def _instruction(w: World, step: str, stage: str, body: Any = None) -> Req:
    return Req("POST", f"/v1/instructions/{w.instruction(stage)}/{step}", json=body)


def _emergency(w: World) -> Req:
    scenario = w.client.app.state.intake.scenario("typhoon")
    on = not (scenario is not None and scenario.emergency)
    return Req("POST", "/v1/scenarios/typhoon/emergency", json={"on": on, "reason": "Haikui"})


def _later(days: int) -> str:
    return (now() + timedelta(days=days)).isoformat()


REQUESTS: dict[str, Callable[[World], Req]] = {
    # -- the system, open to anyone who can reach it ------------------------------------
    "GET /health": lambda w: Req("GET", "/health"),
    "GET /metrics": lambda w: Req("GET", "/metrics"),
    "GET /v1/audit/public-key": lambda w: Req("GET", "/v1/audit/public-key"),
    # -- the network ---------------------------------------------------------------------
    "GET /v1/units": lambda w: Req("GET", "/v1/units"),
    "GET /v1/units/{code}": lambda w: Req("GET", "/v1/units/HW-DH-QS"),
    "GET /v1/units/{code}/inbox": lambda w: Req("GET", "/v1/units/HW-DH/inbox"),
    "POST /v1/units": lambda w: Req(
        "POST",
        "/v1/units",
        json={
            "code": f"HW-DH-M{w.serial()}",
            "name": "新社区",
            "level": "community",
            "kind": "government",
            "parent": "HW-DH",
        },
    ),
    "PATCH /v1/units/{code}": lambda w: Req(
        "PATCH", "/v1/units/HW-DH-QS", json={"name": f"青山社区 {w.serial()}"}
    ),
    "GET /v1/reports/units/{code}": lambda w: Req("GET", "/v1/reports/units/HW-DH"),
    "GET /v1/evaluations/{code}": lambda w: Req("GET", "/v1/evaluations/HW-DH"),
    # -- warnings ------------------------------------------------------------------------
    "GET /v1/board/warnings": lambda w: Req(
        "GET", "/v1/board/warnings", shows=_on_board(str(w.warning()))
    ),
    "GET /v1/warnings": lambda w: _lists("/v1/warnings", str(w.warning()), items="items"),
    "POST /v1/warnings": lambda w: Req(
        "POST",
        "/v1/warnings",
        json={
            "rule": "reservoir.level",
            "theme": "reservoir",
            "level": 2,
            "title": "Qingshan reservoir above the flood limit",
            "unit": "HW-DH-QS",
            "dedup_key": f"matrix-post-{w.serial()}",
        },
    ),
    "GET /v1/warnings/{wid}": lambda w: Req("GET", f"/v1/warnings/{w.warning()}"),
    "GET /v1/warnings/{wid}/cap": lambda w: Req("GET", f"/v1/warnings/{w.warning()}/cap"),
    "GET /v1/warnings/{wid}/history": lambda w: Req("GET", f"/v1/warnings/{w.warning()}/history"),
    "GET /v1/warnings/{wid}/as-of": lambda w: Req(
        "GET", f"/v1/warnings/{w.warning()}/as-of?version=1"
    ),
    "POST /v1/warnings/{wid}/acknowledge": lambda w: _warning(w, "acknowledge"),
    "POST /v1/warnings/{wid}/assess": lambda w: _warning(
        w, "assess", "acknowledged", {"confirmed": True}
    ),
    "POST /v1/warnings/{wid}/resolve": lambda w: _warning(w, "resolve"),
    "POST /v1/warnings/{wid}/cancel": lambda w: _warning(
        w, "cancel", body={"reason": "withdrawn by its source"}
    ),
    "POST /v1/warnings/{wid}/close": lambda w: _warning(w, "close", "confirmed"),
    "POST /v1/warnings/{wid}/merge": lambda w: _warning(
        w, "merge", body={"into": str(w.warning("acknowledged")), "reason": "one matter"}
    ),
    "POST /v1/warnings/{wid}/unmerge": lambda w: _warning(
        w, "unmerge", "merged", body={"reason": "two matters"}
    ),
    "GET /v1/loops/{loop_id}/timeline": lambda w: Req(
        "GET", f"/v1/loops/{w.center.warning(w.warning()).loop_id}/timeline"
    ),
    # -- silences (ADR 0085) -------------------------------------------------------------
    "POST /v1/silences": lambda w: Req(
        "POST",
        "/v1/silences",
        json={
            "kind": "station",
            "target": "qingshan-rain-gauge",
            "ends_at": (now() + timedelta(hours=2)).isoformat(),
            "reason": "the gauge is cleaned",
        },
    ),
    "GET /v1/silences": lambda w: _lists("/v1/silences", str(w.silence())),
    "GET /v1/silences/{sid}": lambda w: Req("GET", f"/v1/silences/{w.silence()}"),
    "GET /v1/silences/history": lambda w: _lists(
        "/v1/silences/history?state=all", str(w.silence()), items="items"
    ),
    "POST /v1/silences/{sid}/extend": lambda w: Req(
        "POST",
        f"/v1/silences/{w.silence()}/extend",
        json={"ends_at": (now() + timedelta(hours=5)).isoformat(), "reason": "works run late"},
    ),
    "POST /v1/silences/{sid}/end": lambda w: Req(
        "POST", f"/v1/silences/{w.silence()}/end", json={"reason": "the gauge is back"}
    ),
    # -- whistles (ADR 0078) -------------------------------------------------------------
    "POST /v1/whistles": lambda w: Req(
        "POST",
        "/v1/whistles",
        json={
            "unit": "HW-DH",
            "matter": "a fallen tree blocks Hupan road",
            "place": "Hupan road 40",
            "departments": ["HW-URBAN"],
        },
    ),
    "GET /v1/whistles": lambda w: _lists("/v1/whistles", str(w.whistle()), items="items"),
    "GET /v1/whistles/{wid}": lambda w: Req("GET", f"/v1/whistles/{w.whistle()}"),
    "POST /v1/whistles/{wid}/check-in": lambda w: Req(
        "POST", f"/v1/whistles/{w.whistle()}/check-in", json={"person": "Li Wei"}
    ),
    "POST /v1/whistles/{wid}/close": lambda w: Req(
        "POST", f"/v1/whistles/{w.whistle()}/close", json={"note": "cleared"}
    ),
    "GET /v1/reports/whistles/{code}": lambda w: Req("GET", "/v1/reports/whistles/HW-DH"),
    # -- instructions --------------------------------------------------------------------
    "POST /v1/instructions": lambda w: Req(
        "POST",
        "/v1/instructions",
        json={"lead_unit": "HW-DH", "title": "Inspect the dam", "due_in": "P2D"},
    ),
    "GET /v1/instructions": lambda w: _lists(
        "/v1/instructions", str(w.instruction()), items="items"
    ),
    "GET /v1/instructions/{iid}": lambda w: Req("GET", f"/v1/instructions/{w.instruction()}"),
    "GET /v1/instructions/{iid}/history": lambda w: Req(
        "GET", f"/v1/instructions/{w.instruction()}/history"
    ),
    "GET /v1/instructions/{iid}/as-of": lambda w: Req(
        "GET", f"/v1/instructions/{w.instruction()}/as-of?version=1"
    ),
    "POST /v1/instructions/{iid}/sign": lambda w: _instruction(w, "sign", "dispatched"),
    "POST /v1/instructions/{iid}/return": lambda w: _instruction(
        w, "return", "dispatched", {"reason": "not ours"}
    ),
    "POST /v1/instructions/{iid}/forward": lambda w: _instruction(
        w, "forward", "signed", {"to_unit": "HW-DH-QS"}
    ),
    "POST /v1/instructions/{iid}/progress": lambda w: _instruction(
        w, "progress", "signed", {"note": "on the way"}
    ),
    "POST /v1/instructions/{iid}/extension-requests": lambda w: _instruction(
        w, "extension-requests", "signed", {"deadline": _later(9), "reason": "the rain"}
    ),
    "POST /v1/instructions/{iid}/deferral-requests": lambda w: _instruction(
        w, "deferral-requests", "signed", {"reason": "the court has not ruled"}
    ),
    "POST /v1/instructions/{iid}/deferral-decisions": lambda w: _instruction(
        w, "deferral-decisions", "deferral asked", {"granted": True}
    ),
    "POST /v1/instructions/{iid}/disputes": lambda w: _instruction(
        w, "disputes", "dispatched", {"reason": "the dam is the water bureau's"}
    ),
    "POST /v1/instructions/{iid}/dispute-arbitrations": lambda w: _instruction(
        w, "dispute-arbitrations", "disputed", {"upheld": True, "lead_unit": "HW-XL"}
    ),
    "POST /v1/instructions/{iid}/follow-ups": lambda w: _instruction(
        w,
        "follow-ups",
        "closed from the public",
        {"contacted": True, "resolved": True, "satisfaction": "satisfied"},
    ),
    "POST /v1/instructions/{iid}/follow-up-attempts": lambda w: _instruction(
        w, "follow-up-attempts", "closed from the public", {"note": "no answer, twice"}
    ),
    "POST /v1/instructions/{iid}/submit": lambda w: _instruction(
        w, "submit", "signed", {"result": "inspected; no damage"}
    ),
    "POST /v1/instructions/{iid}/redirect": lambda w: _instruction(
        w, "redirect", "returned", {"lead_unit": "HW-XL"}
    ),
    "POST /v1/instructions/{iid}/extension-decisions": lambda w: _instruction(
        w, "extension-decisions", "extension asked", {"granted": True}
    ),
    "POST /v1/instructions/{iid}/verify": lambda w: _instruction(
        w, "verify", "submitted", {"accepted": True}
    ),
    "POST /v1/instructions/{iid}/remind": lambda w: _instruction(w, "remind", "dispatched"),
    "POST /v1/instructions/{iid}/supervise": lambda w: _instruction(w, "supervise", "dispatched"),
    "POST /v1/instructions/{iid}/park": lambda w: _instruction(
        w, "park", "dispatched", {"reason": "after the flood season"}
    ),
    "POST /v1/instructions/{iid}/resume": lambda w: _instruction(w, "resume", "parked"),
    "POST /v1/instructions/{iid}/cancel": lambda w: _instruction(
        w, "cancel", "dispatched", {"reason": "no longer needed"}
    ),
    "GET /v1/dispositions/{did}": lambda w: Req("GET", f"/v1/dispositions/{w.disposition()}"),
    "GET /v1/dispositions/{did}/history": lambda w: Req(
        "GET", f"/v1/dispositions/{w.disposition()}/history"
    ),
    "GET /v1/dispositions/{did}/as-of": lambda w: Req(
        "GET", f"/v1/dispositions/{w.disposition()}/as-of?version=1"
    ),
    "POST /v1/dispositions/{did}/actions": lambda w: Req(
        "POST", f"/v1/dispositions/{w.disposition()}/actions", json={"text": "closed the sluice"}
    ),
    # -- the intake ----------------------------------------------------------------------
    "POST /v1/observations": lambda w: Req(
        "POST",
        "/v1/observations",
        json={
            "batch_id": f"matrix-{w.serial()}",
            "readings": [
                {
                    "source": "gauge-1",
                    "subject": "qingshan",
                    "metric": "water_level",
                    "value": 1.0,
                    "unit": "HW-DH-QS",
                    "observed_at": now().isoformat(),
                }
            ],
        },
    ),
    "GET /v1/stations": lambda w: _lists("/v1/stations", "qingshan-rain-gauge"),
    "GET /v1/readings/rejected": lambda w: _lists(
        "/v1/readings/rejected", "HW-DH-QS", key="unit", items="items"
    ),
    "GET /v1/stations/{sid}": lambda w: Req("GET", "/v1/stations/qingshan-rain-gauge"),
    "GET /v1/stations/{sid}/readings": lambda w: Req(
        "GET", "/v1/stations/qingshan-rain-gauge/readings?metric=rainfall_mm"
    ),
    "POST /v1/cap": lambda w: Req(
        "POST",
        "/v1/cap",
        content=w.cap("海湾区东湖街道")[0],
        headers={"Content-Type": "application/cap+xml"},
    ),
    "POST /v1/notices": lambda w: Req(
        "POST",
        "/v1/notices",
        json={
            "title": "A meeting at nine",
            "body": "In the hall.",
            "kind": "meeting",
            "confirm_by": _later(1),
            "addressees": ["HW-DH-QS"],
        },
    ),
    "GET /v1/notices": lambda w: _lists("/v1/notices", str(w.notice()), items="items"),
    "GET /v1/notices/{nid}": lambda w: Req("GET", f"/v1/notices/{w.notice()}"),
    "GET /v1/notices/{nid}/receipts": lambda w: Req("GET", f"/v1/notices/{w.notice()}/receipts"),
    "POST /v1/notices/{nid}/receipt": lambda w: Req("POST", f"/v1/notices/{w.notice()}/receipt"),
    "GET /v1/cap-senders": lambda w: _lists("/v1/cap-senders", w.cap_sender(), key="sender"),
    "POST /v1/cap-senders": lambda w: Req(
        "POST", "/v1/cap-senders", json={"sender": f"new{w.serial()}@donghu", "units": ["HW-DH"]}
    ),
    "POST /v1/cap-senders/unbind": lambda w: Req(
        "POST", "/v1/cap-senders/unbind", json={"sender": w.cap_sender(), "reason": "moved"}
    ),
    "GET /v1/scenarios/{name}": lambda w: Req("GET", "/v1/scenarios/typhoon"),
    "POST /v1/scenarios/{name}/emergency": _emergency,
    # -- the audit -----------------------------------------------------------------------
    "GET /v1/audit/checkpoints": lambda w: Req("GET", "/v1/audit/checkpoints"),
    "GET /v1/audit/export": lambda w: Req("GET", "/v1/audit/export?to_position=5"),
    "GET /v1/audit/verification": lambda w: Req("GET", "/v1/audit/verification"),
    # -- tokens --------------------------------------------------------------------------
    "GET /v1/tokens": lambda w: _lists("/v1/tokens", w.token(), key="token_id"),
    "POST /v1/tokens": lambda w: Req(
        "POST",
        "/v1/tokens",
        json={"user": f"newcomer-{w.serial()}", "unit": "HW-DH-QS", "roles": ["handler"]},
    ),
    "POST /v1/tokens/{token_id}/revoke": lambda w: Req(
        "POST", f"/v1/tokens/{w.token()}/revoke", json={"reason": "left the office"}
    ),
    # -- people's accounts -----------------------------------------------------------------
    "GET /v1/accounts": lambda w: _lists("/v1/accounts", w.account(), "username", "items"),
    "POST /v1/accounts": lambda w: Req(
        "POST",
        "/v1/accounts",
        json={
            "username": f"newcomer.{w.serial()}",
            "name": "新人",
            "unit": "HW-DH-QS",
            "roles": ["handler"],
            "password": "a long enough password",
        },
    ),
    "GET /v1/accounts/{username}": lambda w: Req("GET", f"/v1/accounts/{w.account()}"),
    "POST /v1/accounts/{username}/password": lambda w: Req(
        "POST", f"/v1/accounts/{w.account()}/password", json={"password": "another long one"}
    ),
    "POST /v1/accounts/{username}/close": lambda w: Req(
        "POST", f"/v1/accounts/{w.account()}/close", json={"reason": "left the office"}
    ),
    # -- webhooks ------------------------------------------------------------------------
    "GET /v1/subscriptions/event-types": lambda w: Req("GET", "/v1/subscriptions/event-types"),
    "GET /v1/subscriptions": lambda w: _lists("/v1/subscriptions", w.subscription()),
    "POST /v1/subscriptions": lambda w: Req(
        "POST", "/v1/subscriptions", json={"url": HOOK, "unit": "HW-DH"}
    ),
    "GET /v1/subscriptions/{sid}": lambda w: Req("GET", f"/v1/subscriptions/{w.subscription()}"),
    "PATCH /v1/subscriptions/{sid}": lambda w: Req(
        "PATCH", f"/v1/subscriptions/{w.subscription()}", json={"description": f"d{w.serial()}"}
    ),
    "DELETE /v1/subscriptions/{sid}": lambda w: Req(
        "DELETE", f"/v1/subscriptions/{w.subscription()}"
    ),
    "POST /v1/subscriptions/{sid}/rotate": lambda w: Req(
        "POST", f"/v1/subscriptions/{w.subscription()}/rotate"
    ),
    "POST /v1/subscriptions/{sid}/disable": lambda w: Req(
        "POST", f"/v1/subscriptions/{w.subscription()}/disable", json={"reason": "maintenance"}
    ),
    "POST /v1/subscriptions/{sid}/enable": lambda w: Req(
        "POST", f"/v1/subscriptions/{w.subscription(active=False)}/enable"
    ),
    "GET /v1/deliveries": lambda w: _lists("/v1/deliveries", w.delivery()),
    "POST /v1/deliveries/{delivery_id}/redeliver": lambda w: Req(
        "POST", f"/v1/deliveries/{w.delivery()}/redeliver"
    ),
    # -- duty rosters (ADR 0084): shifts of the Qingshan community, a handover at Donghu
    "POST /v1/units/{code}/roster/shifts": lambda w: Req(
        "POST", "/v1/units/HW-DH-QS/roster/shifts", json=_shifts()
    ),
    "POST /v1/units/{code}/roster/handovers": lambda w: _handover(w),
    "GET /v1/units/{code}/roster": lambda w: Req("GET", "/v1/units/HW-DH-QS/roster"),
    "GET /v1/units/{code}/on-duty": lambda w: Req("GET", "/v1/units/HW-DH-QS/on-duty"),
}


def _shifts(person: str = "qs.li") -> dict[str, Any]:
    start = now() + timedelta(days=1)
    return {
        "shifts": [
            {
                "post": "duty_officer",
                "person": person,
                "deputy": "qs.wang",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=8)).isoformat(),
            }
        ]
    }


def _handover(w: World) -> Req:
    """Donghu's duty officer on duty now (the matrix's token person) hands over; the same
    command id each time, so a repeat is a retry of the one handover."""
    from domain.meta import SYSTEM, Context
    from domain.roster import ShiftPlan
    from domain.roster_commands import RosterCases

    start = now() - timedelta(hours=1)
    RosterCases(w.center).arrange_shifts(
        Context(SYSTEM, command_id="matrix-roster-HW-DH"),
        "HW-DH",
        [
            ShiftPlan(
                "duty_officer", "duty_officer@HW-DH", "dh.wang", start, start + timedelta(days=2)
            )
        ],
    )
    return Req(
        "POST",
        "/v1/units/HW-DH/roster/handovers",
        json={"command_id": "matrix-handover", "post": "duty_officer", "to_person": "relief"},
    )

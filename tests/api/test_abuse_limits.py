"""The abuse limits over HTTP (issue 19, ADR 0043): an address past its failed
authentications and a token past its writes are answered 429, an RFC 9457 problem with
``Retry-After``, and nothing is stored; everyone else goes on; ``/metrics`` counts both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.rate_limits import RateLimits
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from tests.api.conftest import As

INSTRUCTION = {"lead_unit": "HW-DH-QS", "title": "Inspect the dam", "due_in": "P2D"}
WARNING = {
    "rule": "reservoir.level",
    "theme": "reservoir",
    "level": 2,
    "title": "Qingshan reservoir above the flood limit",
    "unit": "HW-DH-QS",
}


def limited(center: CommandCenter, auth_failures: str, writes: str) -> TestClient[Any]:
    app = create_app(
        center,
        reads=build_read_models(center),
        rate_limits=RateLimits(auth_failures=auth_failures, writes=writes),
    )
    return TestClient(app)


@pytest.fixture
def guarded(center: CommandCenter, tokens: dict[str, str]) -> Iterator[TestClient[Any]]:
    with limited(center, auth_failures="3/minute", writes="off") as c:
        yield c


def is_429(r: Any, code: str) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"urn:closedloop:problem:{code}"
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_an_address_that_spent_its_failures_is_refused_even_with_a_good_token(
    guarded: TestClient[Any], as_: As, center: CommandCenter
) -> None:
    head = center.head_position()
    for header in ({"Authorization": "Bearer cl_wrong"}, {}, {"Authorization": "Basic eA=="}):
        assert guarded.get("/v1/units", headers=header).status_code == 401
    is_429(guarded.get("/v1/units", headers=as_("district")), "too-many-failed-authentications")
    is_429(
        guarded.post("/v1/instructions", json=INSTRUCTION, headers=as_("district")),
        "too-many-failed-authentications",
    )
    assert center.head_position() == head
    # The public routes stay open: a load balancer's health check is never refused.
    assert guarded.get("/health").status_code == 200


def test_a_good_token_costs_nothing_from_the_allowance_and_a_403_is_no_failure(
    guarded: TestClient[Any], as_: As
) -> None:
    for _ in range(10):
        assert guarded.get("/v1/units", headers=as_("district")).status_code == 200
        # The auditor may not issue: refused for its role, not for who it is.
        r = guarded.post("/v1/instructions", json=INSTRUCTION, headers=as_("auditor"))
        assert r.status_code == 403
    for _ in range(2):
        assert guarded.get("/v1/units", headers={"Authorization": "Bearer x"}).status_code == 401
    assert guarded.get("/v1/units", headers=as_("district")).status_code == 200


def instruction(n: int, lead: str = "HW-DH-QS") -> dict[str, Any]:
    return {**INSTRUCTION, "lead_unit": lead, "title": f"Inspect the dam ({n})"}


def warning(n: int) -> dict[str, Any]:
    return {**WARNING, "dedup_key": f"abuse-{n}"}


# Role x subtree: a writer of each kind, at the district and at an office; and, writing on
# beside it, a token of another subtree.
WRITERS = [
    ("district", "/v1/instructions", instruction, "office_xl"),
    ("office", "/v1/instructions", instruction, "district"),
    ("monitor", "/v1/warnings", warning, "office_xl"),
]


@pytest.mark.parametrize(("who", "path", "body", "other"), WRITERS, ids=[w[0] for w in WRITERS])
def test_a_token_past_its_writes_is_refused_for_writes_only_and_others_write_on(
    center: CommandCenter,
    tokens: dict[str, str],
    as_: As,
    who: str,
    path: str,
    body: Any,
    other: str,
) -> None:
    with limited(center, auth_failures="off", writes="2/minute") as client:
        for n in range(2):
            r = client.post(path, json=body(n), headers=as_(who))
            assert r.status_code == 201, r.text
        head = center.head_position()
        is_429(client.post(path, json=body(3), headers=as_(who)), "write-rate-exceeded")
        assert center.head_position() == head  # nothing stored
        # Its reads go on; another unit's token writes on.
        assert client.get("/v1/units", headers=as_(who)).status_code == 200
        lead = "HW-XL-SQ" if other == "office_xl" else "HW-DH"
        r = client.post("/v1/instructions", json=instruction(9, lead), headers=as_(other))
        assert r.status_code == 201, r.text


def test_the_metrics_show_the_limits_and_what_they_refused(
    center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    with limited(center, auth_failures="1/second;2/minute", writes="1/minute") as client:
        for n in range(2):
            client.post("/v1/instructions", json=instruction(n), headers=as_("district"))
        # Last: from here on, the address is refused whatever it sends.
        for _ in range(3):
            client.get("/v1/units", headers={"Authorization": "Bearer cl_wrong"})
        text = client.get("/metrics").text
    assert 'closedloop_rate_limit_allowed{limit="auth_failures",window_seconds="1"} 1.0' in text
    assert 'closedloop_rate_limit_allowed{limit="auth_failures",window_seconds="60"} 2.0' in text
    assert 'closedloop_rate_limit_allowed{limit="writes",window_seconds="60"} 1.0' in text
    assert "closedloop_auth_failures_total 1.0" in text  # the next two were refused first
    assert 'closedloop_rate_limited_total{limit="auth_failures"} 2.0' in text
    assert 'closedloop_rate_limited_total{limit="writes"} 1.0' in text


def test_the_served_schema_names_the_429_of_a_read_and_a_write(client: TestClient[Any]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "429" in paths["/v1/units"]["get"]["responses"]
    assert "429" in paths["/v1/instructions"]["post"]["responses"]

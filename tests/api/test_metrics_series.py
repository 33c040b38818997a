"""``/metrics`` counts what the process does (ADR 0070): requests by route template and
status class, commands by kind and outcome; and the views' lag moves with the log."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from projections.runner import Runner
from tests.api.conftest import As, raise_warning


def samples(client: TestClient[Any]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_a_command_and_its_request_are_counted_by_route_template_kind_and_outcome(
    client: TestClient[Any], as_: As
) -> None:
    before = samples(client)

    warning = raise_warning(client, as_)
    client.get(f"/v1/warnings/{warning['id']}", headers=as_("monitor"))
    resolve = f"/v1/warnings/{warning['id']}/resolve"
    assert client.post(resolve, json={}, headers=as_("duty")).status_code == 200
    # Acknowledged once resolved: the domain refuses.
    refused_step = client.post(
        f"/v1/warnings/{warning['id']}/acknowledge", json={}, headers=as_("duty")
    )
    after = samples(client)

    assert 400 <= refused_step.status_code < 500, refused_step.text
    posted = {"method": "POST", "route": "/v1/warnings", "status": "2xx"}
    assert value(after, "closedloop_http_requests_total", **posted) == (
        value(before, "closedloop_http_requests_total", **posted) + 1
    )
    recorded = {"kind": "warnings.raise_warning", "outcome": "recorded"}
    assert value(after, "closedloop_commands_total", **recorded) == (
        value(before, "closedloop_commands_total", **recorded) + 1
    )
    refused = [
        labels
        for (name, labels), v in after.items()
        if name == "closedloop_commands_total" and ("outcome", "refused") in labels and v > 0
    ]
    assert refused, "the step the domain refused is counted as refused"
    routes = {dict(labels).get("route") for (name, labels) in after if "route" in dict(labels)}
    # Every route is a template: never an id of the request's own path.
    assert not any(warning["id"] in str(route) for route in routes)
    assert any("{" in str(route) and str(route).startswith("/v1/warnings/") for route in routes)
    count = {"method": "POST", "route": "/v1/warnings"}
    assert value(after, "closedloop_http_request_duration_seconds_count", **count) >= 1
    assert (
        value(after, "closedloop_command_duration_seconds_count", kind="warnings.raise_warning")
        >= 1
    )


def test_the_lag_of_a_view_rises_with_commands_and_falls_when_it_catches_up(
    center: CommandCenter, tokens: dict[str, str]
) -> None:
    as_ = As(tokens)
    # The views follow no runner here: the test moves them itself.
    reads = build_read_models(center, run=False)
    with TestClient(create_app(center, reads=reads)) as client:
        runner = Runner(center, reads.store)
        runner.catch_up()
        caught_up = value(samples(client), "closedloop_projection_lag", view="warnings")

        raise_warning(client, as_)
        raise_warning(client, as_)
        behind = value(samples(client), "closedloop_projection_lag", view="warnings")
        runner.catch_up()
        again = samples(client)

    assert caught_up == 0
    assert behind >= 2
    assert value(again, "closedloop_projection_lag", view="warnings") == 0
    assert value(again, "closedloop_projection_batch_duration_seconds_count", runner="views") >= 1
    assert value(again, "closedloop_projection_events_total", runner="views") >= 2

"""The telemetry's settings and the trace kept with an event's metadata (ADR 0070)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from closedloop.settings import Settings, SettingsError
from domain.meta import Actor, Context, MetaAsDict
from telemetry import series

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_metrics_and_tracing_are_set_by_their_variables() -> None:
    settings = Settings.from_env(
        {
            "CLOSEDLOOP_METRICS_DIR": "/run/closedloop/metrics",
            "CLOSEDLOOP_METRICS_PORT": "9464",
            "CLOSEDLOOP_TRACING": "otlp",
            "CLOSEDLOOP_OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
        }
    )

    telemetry = settings.telemetry
    assert telemetry.metrics == "on"
    assert telemetry.metrics_dir == Path("/run/closedloop/metrics")
    assert telemetry.metrics_port == 9464
    assert telemetry.metrics_host == "127.0.0.1"
    assert telemetry.tracing == "otlp"


def test_by_default_nothing_is_traced_nor_shared_nor_listened_on() -> None:
    telemetry = Settings.from_env({}).telemetry

    assert (telemetry.tracing, telemetry.metrics_dir, telemetry.metrics_port) == ("off", None, 0)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("CLOSEDLOOP_TRACING", "jaeger"),
        ("CLOSEDLOOP_METRICS", "maybe"),
        ("CLOSEDLOOP_METRICS_PORT", "70000"),
        ("CLOSEDLOOP_METRICS_PORT", "9464.0"),
        ("CLOSEDLOOP_OTLP_ENDPOINT", "collector:4318"),
    ],
)
def test_a_telemetry_setting_that_cannot_be_used_stops_the_start_naming_it(
    name: str, text: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: text})


def test_a_traced_command_keeps_its_traceparent_and_an_untraced_one_stores_as_before() -> None:
    transcoding = MetaAsDict()
    actor = Actor(person="p", unit="HW", role="monitor")
    loop = uuid4()
    traced = Context(actor, traceparent=TRACEPARENT).meta("Raised", loop)
    untraced = Context(actor).meta("Raised", loop)

    assert transcoding.decode(transcoding.encode(traced)).traceparent == TRACEPARENT
    stored = transcoding.encode(untraced)
    assert "traceparent" not in stored
    assert transcoding.decode(stored) == untraced
    assert Context(actor, traceparent=TRACEPARENT).derived("1").traceparent == TRACEPARENT


def test_metadata_stored_before_traces_decodes_with_none() -> None:
    old = {
        "person": "p",
        "unit": "HW",
        "role": "monitor",
        "command": "Raised",
        "command_id": "c1",
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "loop_id": uuid4(),
        "cause": None,
    }

    assert MetaAsDict().decode(dict(old)).traceparent is None


def test_a_status_is_counted_by_its_class() -> None:
    assert [series.status_class(s) for s in (200, 204, 404, 503)] == ["2xx", "2xx", "4xx", "5xx"]

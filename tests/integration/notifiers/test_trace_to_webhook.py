"""One trace from an HTTP request to the webhook it causes (ADR 0070): the request's
span, the command's, the stored event's ``traceparent``, the outbox projection's span,
and the delivery's span, whose context reaches the receiver in a ``traceparent`` header.
The spans stay in memory (the SDK's in-memory exporter); the receiver is on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api.app import create_app
from api.tokens import TokenBook
from closedloop.bootstrap import build_read_models
from domain.application import CommandCenter
from notifiers.service import Notifiers
from telemetry import tracing
from tests.fakes import Receiver, serve
from tests.integration.notifiers.test_delivery import subscribe


@dataclass
class TracedReceiver(Receiver):
    """The fake endpoint, also keeping each request's ``traceparent`` header."""

    traceparents: list[str | None] = field(default_factory=list)

    def handle(self, headers: dict[str, str], body: bytes) -> Any:
        self.traceparents.append(headers.get("traceparent"))
        return super().handle(headers, body)


@pytest.fixture
def traced_receiver() -> Iterator[TracedReceiver]:
    r = TracedReceiver()
    server = serve(r)
    yield r
    server.shutdown()
    server.server_close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.use(None)
    provider.shutdown()


def monitor_token(center: CommandCenter) -> str:
    book = TokenBook(center)
    return book.issue(user="monitor", unit="HW", roles=["monitor"], label="test").secret


def raise_over_http(center: CommandCenter, headers: dict[str, str]) -> None:
    body = {
        "rule": "reservoir.level",
        "theme": "reservoir",
        "level": 2,
        "title": "Qingshan reservoir above the flood limit",
        "unit": "HW-DH-QS",
        "dedup_key": "traced",
    }
    with TestClient(create_app(center, reads=build_read_models(center, run=False))) as client:
        r = client.post("/v1/warnings", json=body, headers=headers)
        assert r.status_code == 201, r.text


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def test_one_trace_runs_from_a_request_to_the_webhook_it_causes(
    make_notifiers: Callable[..., Notifiers],
    traced_receiver: TracedReceiver,
    demo: CommandCenter,
    spans: InMemorySpanExporter,
) -> None:
    notifiers = make_notifiers()
    subscribe(notifiers, traced_receiver, event_types=["warning.raised"])
    token = monitor_token(demo)

    raise_over_http(demo, {"Authorization": f"Bearer {token}"})
    notifiers.catch_up()
    assert notifiers.worker is not None
    notifiers.worker.drain(timeout=10)

    finished = spans.get_finished_spans()
    server = next(
        s for s in finished if s.kind is SpanKind.SERVER and s.name == "POST /v1/warnings"
    )
    trace = trace_of(server)
    command = next(s for s in finished if s.name.startswith("command "))
    assert trace_of(command) == trace
    assert command.parent is not None
    assert command.parent.span_id == server.context.span_id
    applied = [s for s in finished if s.name == "apply outbox"]
    assert applied
    assert all(trace_of(s) == trace for s in applied)
    delivery = next(s for s in finished if s.name == "webhook POST")
    assert trace_of(delivery) == trace
    assert delivery.parent is not None
    assert delivery.parent.span_id == command.context.span_id
    # What the receiver was told: the same trace, the delivery's span as the parent.
    assert len(traced_receiver.traceparents) == 1
    header = traced_receiver.traceparents[0]
    assert header is not None
    _, trace_id, parent_id, _ = header.split("-")
    assert trace_id == trace
    assert parent_id == f"{delivery.context.span_id:016x}"
    assert traced_receiver.acted  # the signature still verifies


def test_a_client_s_trace_is_continued_and_the_stored_event_keeps_it(
    demo: CommandCenter, spans: InMemorySpanExporter
) -> None:
    token = monitor_token(demo)
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    raise_over_http(demo, {"Authorization": f"Bearer {token}", "traceparent": theirs})

    server = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert trace_of(server) == "0af7651916cd43dd8448eb211c80319c"
    last = demo.recorder.select_notifications(demo.head_position(), 1)[0]
    event = demo.mapper.to_domain_event(last)
    assert event.meta.traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"


def test_untraced_nothing_is_kept_and_no_header_is_sent(
    make_notifiers: Callable[..., Notifiers],
    traced_receiver: TracedReceiver,
    demo: CommandCenter,
) -> None:
    notifiers = make_notifiers()
    subscribe(notifiers, traced_receiver, event_types=["warning.raised"])

    raise_over_http(demo, {"Authorization": f"Bearer {monitor_token(demo)}"})
    notifiers.catch_up()
    assert notifiers.worker is not None
    notifiers.worker.drain(timeout=10)

    last = demo.recorder.select_notifications(demo.head_position(), 1)[0]
    assert b"traceparent" not in last.state
    assert traced_receiver.traceparents == [None]

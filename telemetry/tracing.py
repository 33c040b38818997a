"""Traces by the OpenTelemetry SDK, sent over OTLP/HTTP when tracing is on (ADR 0070).

The process's tracer provider is this module's (:func:`use`), never the library's
global one, so that a test may install one with an in-memory exporter and take it away
again. Until one is installed :func:`tracing` is false, :func:`tracer` answers the
API's no-op tracer and every place that traces does nothing more than ask.

A trace crosses processes in the W3C ``traceparent`` form: taken from a request's
headers, kept with the events a command stores (:class:`domain.meta.Meta`), continued
by the projection runner that applies them and by the webhook worker, which sends it
on in the outgoing request's ``traceparent`` header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    # The SDK is imported only by a process that traces.
    from opentelemetry.sdk.trace import TracerProvider

#: The instrumentation scope of every span of ours.
SCOPE = "closedloop"
_PROPAGATOR = TraceContextTextMapPropagator()
_NO_OP = trace.NoOpTracer()

_provider: TracerProvider | None = None
_tracer: trace.Tracer = _NO_OP


def start(endpoint: str, service_name: str) -> TracerProvider:
    """Trace this process, sending spans in batches to the OTLP/HTTP ``endpoint``."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    use(provider)
    return provider


def use(provider: TracerProvider | None) -> None:
    """Make ``provider`` this process's (None: trace nothing from now on)."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer(SCOPE) if provider is not None else _NO_OP


def stop() -> None:
    """Send what is left and stop tracing (a process that ends)."""
    provider = _provider
    use(None)
    if provider is not None:
        provider.shutdown()


def tracing() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    return _tracer


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent``, or None outside a recorded span."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def continued(traceparent: str | None) -> Context | None:
    """The context a span continues from a stored or received ``traceparent`` (None:
    a trace of its own)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def from_headers(headers: Any) -> Context | None:
    """The context a request's ``traceparent`` header names, if any."""
    value = headers.get("traceparent")
    return continued(value) if value else None

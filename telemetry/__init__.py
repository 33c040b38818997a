"""Metrics and traces by the ecosystem's libraries (ADR 0070).

:mod:`telemetry.series` holds the series each process counts (prometheus_client), kept
in memory or, shared by the processes of one machine, in prometheus_client's
multiprocess directory; :mod:`telemetry.tracing` makes OpenTelemetry spans and carries a
trace from a request to the event it stores, the views that apply it and the webhook it
causes. Both stand beside the domain: the API, the projections and the notifiers import
them; the domain never does, it only keeps a ``traceparent`` with an event's metadata.
"""

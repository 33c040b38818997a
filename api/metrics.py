"""``/metrics``: the figures an operator alerts on, in Prometheus's text format.

A registry of the application's own (never the library's process-wide default) holds
one collector that reads the figures when scraped: the log's head, each view's
position, lag and heartbeat, the webhooks' queue, and their subscriptions and failing
endpoints counted; the abuse limits as configured, the failed authentications and the
requests refused 429 (ADR 0043). The library writes the text, labels escaped (ADR 0035).
Beside them, the series the process counts as it works (:mod:`telemetry.series`, ADR
0070): requests, commands, batches, webhook attempts, intake; summed over every process
of the machine when they share a multiprocess folder.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.access import Services
from domain.meta import now
from notifiers.delivery import webhook_health
from telemetry import series


class CenterCollector(Collector):
    """The center's figures, read at each scrape from the views and the outbox."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        services = self.services
        views = services.reads.status()
        head = views[0]["head"] if views else services.center.head_position()
        yield GaugeMetricFamily(
            "closedloop_log_head", "Position of the last event in the log.", value=head
        )
        by_view = {
            "position": "Last log position applied to the view.",
            "lag": "Events recorded but not yet applied to the view.",
        }
        for figure, help_text in by_view.items():
            family = GaugeMetricFamily(
                f"closedloop_projection_{figure}", help_text, labels=["view"]
            )
            for v in views:
                family.add_metric([v["view"]], v[figure])
            yield family
        heartbeat = GaugeMetricFamily(
            "closedloop_projection_heartbeat_age_seconds",
            "Since the view's runner last found the log read up to its head.",
            labels=["view"],
        )
        for v in views:
            if v["heartbeat_age"] is not None:
                heartbeat.add_metric([v["view"]], v["heartbeat_age"])
        yield heartbeat
        yield from self._webhooks()
        yield from self._limits()

    def _limits(self) -> Iterator[Metric]:
        """What the abuse limits allow and what they refused (ADR 0043): counts of this
        process, which a scrape of each worker of ``serve --workers N`` gives apart."""
        limits = self.services.limits
        allowed = GaugeMetricFamily(
            "closedloop_rate_limit_allowed",
            "Requests a limit allows in its moving window (none listed: the limit is off).",
            labels=["limit", "window_seconds"],
        )
        for name, items in limits.rates.items():
            for item in items:
                allowed.add_metric([name, str(item.get_expiry())], item.amount)
        yield allowed
        yield CounterMetricFamily(
            "closedloop_auth_failures",
            "Requests answered 401: no bearer token, an unknown one or a revoked one.",
            value=limits.failed_authentications,
        )
        refused = CounterMetricFamily(
            "closedloop_rate_limited",
            "Requests answered 429, by limit: auth_failures (per client address), "
            "writes (per token).",
            labels=["limit"],
        )
        for name, count in limits.refused.items():
            refused.add_metric([name], count)
        yield refused

    def _webhooks(self) -> Iterator[Metric]:
        """What an operator alerts on: deliveries piling up, endpoints failing or disabled
        (a department whose only endpoint is down hears nothing, so someone else must)."""
        health = webhook_health(self.services.reads.store)
        waited = 0.0
        if health.oldest_pending_at is not None:
            waited = max(0.0, (now() - health.oldest_pending_at).total_seconds())
        yield GaugeMetricFamily(
            "closedloop_webhook_pending",
            "Deliveries of active subscriptions waiting for an attempt.",
            value=health.pending,
        )
        yield GaugeMetricFamily(
            "closedloop_webhook_oldest_pending_age_seconds",
            "How long the oldest of them has waited (0 when none waits).",
            value=waited,
        )
        subscriptions = GaugeMetricFamily(
            "closedloop_webhook_subscriptions",
            "Subscriptions by state: disabled by their admin, or after deliveries given up "
            "on in a row.",
            labels=["state"],
        )
        subscriptions.add_metric(["active"], health.active)
        subscriptions.add_metric(["disabled"], health.disabled)
        yield subscriptions
        yield GaugeMetricFamily(
            "closedloop_webhook_failing_endpoints",
            "Active subscriptions whose last deliveries were given up on.",
            value=health.failing,
        )


def metrics_registry(services: Services) -> CollectorRegistry:
    """A registry for one application; nothing is collected until it is scraped."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CenterCollector(services))
    for collector in series.collectors():
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> str:
    """The registry's figures in the text exposition format (version 0.0.4)."""
    return generate_latest(registry).decode()

"""The series each process counts, by prometheus_client (ADR 0070).

The figures read at a scrape from the stores (the log's head, each view's lag, the
outbox's queue) are :mod:`api.metrics`'s; these are the ones only a process can count
as it works: requests, commands, the projections' batches, webhook attempts and what
the intake took or refused. Counters and histograms only, so that the series of several
processes add up.

:func:`recording` answers the process's :class:`Series` (made at the first call), or
None when metrics are off (``CLOSEDLOOP_METRICS=off``, :func:`switch_off`): each place
that counts asks it, and does nothing else when it answers None. By default the values
are this process's, in memory. With :func:`share_in` (the composition root calls it
before anything is counted) they are kept in files of prometheus_client's multiprocess
directory, one file per process, and a scrape of any process answers the sum of every
process that wrote there: the workers of ``serve --workers N`` and the followers run on
the same machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: Seconds, for requests, commands and batches: a millisecond to ten seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds from an event recorded to its webhook delivered: retries stretch it to hours.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0)


class Series:
    """Every series a process counts; ``registry`` is None in multiprocess mode, where
    the values live in the directory's files and are collected from there."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.requests = Counter(
            "closedloop_http_requests",
            "Requests answered, by method, route template and status class (2xx...).",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "closedloop_http_request_duration_seconds",
            "Time to answer a request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commands = Counter(
            "closedloop_commands",
            "Commands given over the API, by kind and outcome (recorded, unchanged, "
            "refused, conflict, failed).",
            ["kind", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "closedloop_command_duration_seconds",
            "Time to decide and write a command, by kind.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "closedloop_projection_batch_duration_seconds",
            "Time to apply one batch of events to the views of a runner (views, outbox).",
            ["runner"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events_applied = Counter(
            "closedloop_projection_events",
            "Events read from the log and handed to the views of a runner.",
            ["runner"],
            registry=r,
        )
        self.webhook_attempts = Counter(
            "closedloop_webhook_attempts",
            "Webhook attempts, by outcome: delivered, retried, failed (410) or dead.",
            ["outcome"],
            registry=r,
        )
        self.webhook_attempt_seconds = Histogram(
            "closedloop_webhook_attempt_duration_seconds",
            "Time of one webhook attempt, from the request sent to the answer read.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_delivery_seconds = Histogram(
            "closedloop_webhook_delivery_latency_seconds",
            "From the event recorded to its webhook delivered (retries included).",
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.intake = Counter(
            "closedloop_intake_messages",
            "Messages at the intake's doors (observations, cap), accepted or refused.",
            ["door", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "closedloop_intake_dead_letters",
            "Messages a door could not take and kept as dead letters (ADR 0079), by door "
            "and why: unreadable, not_permitted, all_refused.",
            ["door", "reason"],
            registry=r,
        )


_lock = threading.Lock()
_series: Series | None = None
_registry: CollectorRegistry | None = None
_shared: Path | None = None
_on = True


def recording() -> Series | None:
    """The process's series, or None when metrics are off."""
    if not _on:
        return None
    return _series if _series is not None else _make()


def _make() -> Series:
    global _series, _registry
    with _lock:
        if _series is None:
            _registry = None if _shared is not None else CollectorRegistry(auto_describe=False)
            _series = Series(_registry)
        return _series


def switch_off() -> None:
    """Count nothing from now on in this process (``CLOSEDLOOP_METRICS=off``)."""
    global _on
    _on = False


def switch_on() -> None:
    global _on
    _on = True


def share_in(directory: Path) -> None:
    """Keep this process's values in prometheus_client's multiprocess ``directory``.

    Called once, before anything is counted: values made before cannot move there.
    The library finds the directory by its environment variable
    (``PROMETHEUS_MULTIPROC_DIR``), which the composition root sets first
    (:func:`closedloop.settings.lend_metrics_dir`, ADR 0036).
    """
    global _shared
    with _lock:
        if _series is not None:
            if _shared == directory:
                return
            raise RuntimeError("metrics were counted in memory before the shared folder was set")
        directory.mkdir(parents=True, exist_ok=True)
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        _shared = directory


def empty(directory: Path) -> None:
    """Remove what earlier processes wrote into a multiprocess directory (``serve``
    does, as it starts: a dead process's counts would otherwise be added for ever)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


class _ProcessSeries(Collector):
    """What a scrape adds of :mod:`telemetry.series`: the sum over the shared folder's
    files, or this process's own values."""

    def collect(self) -> Iterator[Metric]:
        if _shared is not None:
            shared = MultiProcessCollector(None, path=str(_shared))  # type: ignore[no-untyped-call]
            yield from shared.collect()  # type: ignore[no-untyped-call]
            return
        if _on:
            _make()
        if _registry is not None:
            yield from _registry.collect()


def collectors() -> Iterable[Collector]:
    """The collectors a scrape's registry registers for these series."""
    return [_ProcessSeries()]


def status_class(status: int) -> str:
    """``2xx`` for 204: a label of five values, whatever the statuses answered."""
    return f"{status // 100}xx"

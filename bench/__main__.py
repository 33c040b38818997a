"""``python -m bench [name] [options]``: run one benchmark, or every one when none is named."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from bench import (
    abuse,
    audit,
    backup,
    board,
    districts,
    endpoint_concurrency,
    evaluation,
    export,
    followers,
    http_issue,
    loop_cost,
    mqtt,
    notifier_copies,
    pages,
    readings,
    rebuild,
    recorder,
    replica,
    report_latency,
    session_reads,
    telemetry,
    webhooks,
    workers,
)

#: Each benchmark takes its own command-line options and returns an exit status.
BENCHES: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "loop_cost": (loop_cost.main, "a full closed loop per event, against a bare save"),
    "report_latency": (report_latency.main, "a unit's report for a district of 100,000 loops"),
    "evaluation": (evaluation.main, "the whole city's evaluation for a month, against a report"),
    "rebuild": (rebuild.main, "rebuilding the views on PostgreSQL, against reading the log"),
    "audit": (audit.main, "verifying the hash chain, against reading and hashing the log"),
    "http": (http_issue.main, "instructions issued over HTTP, against a bare Litestar POST"),
    "session_reads": (session_reads.main, "instructions over HTTP with session reads, and without"),
    "webhooks": (webhooks.main, "webhook deliveries, against plain signed POSTs"),
    "endpoint_concurrency": (
        endpoint_concurrency.main,
        "webhooks to one slow endpoint, by its concurrency (1, default, 8)",
    ),
    "backup": (backup.main, "commands/s while pg_dump runs, against none, in turns"),
    "recorder": (recorder.main, "our PostgreSQL recorder, against the library's, 4 threads"),
    "export": (export.main, "an admin's export of its subtree, against the whole log's"),
    "abuse": (abuse.main, "failed authentications let through, a p95 beside slow sockets"),
    "districts": (districts.main, "writes into one log, against one log per district"),
    "board": (board.main, "the hall board's first paint and 200 live screens, against polling"),
    "readings": (readings.main, "readings/s through the HTTP door, against a raw COPY"),
    "mqtt": (mqtt.main, "readings/s through the MQTT door, lost and doubled, against HTTP"),
    "followers": (followers.main, "views applied ÷ written with 1, 2, 4 copies; SIGKILL takeover"),
    "pages": (pages.main, "each page's HTML size, and its server time against its API read"),
    "replica": (replica.main, "reads on a streaming replica, against all on the primary; lag"),
    "telemetry": (telemetry.main, "API CPU and time per command, metrics and traces on ÷ off"),
    "workers": (workers.main, "serve --workers 2 ÷ 1, against a bare Litestar app's 2 ÷ 1"),
    "notifier_copies": (notifier_copies.main, "webhook deliveries/s with 2 worker copies ÷ 1"),
}


def usage() -> str:
    lines = ["usage: python -m bench [name] [options]", "", "benchmarks:"]
    lines += [f"  {name:<12} {summary}" for name, (_, summary) in BENCHES.items()]
    lines.append("")
    lines.append(
        "With no name every benchmark runs with its defaults; `NAME --help` lists options."
    )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    if not argv:
        status = 0
        for name, (run, _) in BENCHES.items():
            print(f"== {name}", flush=True)
            status = max(status, run([]))
        return status
    name, *rest = argv
    if name in ("-h", "--help", "help", "list"):
        print(usage())
        return 0
    if name not in BENCHES:
        print(f"unknown benchmark {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    run, _ = BENCHES[name]
    return run(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

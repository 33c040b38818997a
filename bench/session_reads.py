"""What session consistency (ADR 0045) costs the HTTP benchmark: instructions issued per
second with it and without it, in turns in the same run.

The benchmark of :mod:`bench.http_issue` (wrk, a new instruction per request, PostgreSQL,
the log's followers in processes of their own, the drain counted in), against two API
servers on the same schema, started alike but for ``CLOSEDLOOP_READ_YOUR_WRITES``:
``off`` (the baseline) and ``session`` (the default). Runs alternate, off first and last;
each session run is set against the mean of the off runs either side, and the median of
those ratios is the figure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, median

from bench.http_issue import (
    WRK_MISSING,
    closedloop,
    fresh_schema,
    load,
    parse,
    servers_beside_the_followers,
    write_script,
)
from bench.loop_cost import REQUIRE_POSTGRES, postgres_unreachable


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    if shutil.which("wrk") is None:
        print(f"skipping session_reads: {WRK_MISSING}", file=sys.stderr)
        return 1 if REQUIRE_POSTGRES else 0
    reason = postgres_unreachable(args.postgres_url)
    if reason is not None:
        print(f"skipping session_reads: {reason}", flush=True)
        return 1 if REQUIRE_POSTGRES else 0
    logs = Path(tempfile.mkdtemp(prefix="closedloop-bench-session-"))
    try:
        with fresh_schema(args.postgres_url) as url:
            env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
            env.pop("CLOSEDLOOP_PROJECTIONS", None)
            closedloop(env, "demo", "load")
            token = closedloop(
                env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "b"
            ).splitlines()[0]
            with contextlib.ExitStack() as stack:
                servers = servers_beside_the_followers(
                    stack,
                    env,
                    {mode: {"CLOSEDLOOP_READ_YOUR_WRITES": mode} for mode in ("off", "session")},
                    args.workers,
                    token,
                    logs,
                )
                nonce = uuid.uuid4().hex[:8]
                for s in servers.values():
                    if args.warmup > 0:
                        script = write_script(logs, f"w{s.name}{nonce}", token)
                        load(s, args.warmup, args, script, url)
                order = ["off"] + ["session", "off"] * args.rounds
                runs: dict[str, list[float]] = {"off": [], "session": []}
                for i, mode in enumerate(order):
                    script = write_script(logs, f"r{i}{nonce}", token)
                    run = load(servers[mode], args.duration, args, script, url)
                    if run.unexpected:
                        raise RuntimeError(f"{mode}: statuses {run.codes}, {run.errors} errors")
                    runs[mode].append(run.sustained)
                    print(
                        f"  {mode:<8} {run.sustained:8.0f} instructions/s sustained  "
                        f"p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms",
                        flush=True,
                    )
        ratios = [s / mean(runs["off"][i : i + 2]) for i, s in enumerate(runs["session"])]
        print(
            f"\nsession / off, sustained: {median(ratios):.3f} "
            f"(runs: {min(ratios):.3f}-{max(ratios):.3f}); "
            f"off {median(runs['off']):.0f}/s, session {median(runs['session']):.0f}/s"
        )
    except RuntimeError as e:
        print(f"session_reads: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

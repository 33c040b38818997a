"""Queries from a streaming replica (ADR 0072): the replica's read lag under the HTTP
benchmark's load, and the HTTP rate with the views read from the replica against all
reads on the primary, in turns in the same run.

The load of :mod:`bench.http_issue` (wrk, PostgreSQL, the log's followers in processes
of their own beside ``serve --no-projections``), with reads mixed in: of every
``--reads + 1`` requests one issues a new instruction and the others read a page of the
instructions list, each read waiting for the token's own last write (ADR 0045). Two API
servers on one schema, started alike but for ``CLOSEDLOOP_READ_DATABASE_URL``: unset
(the baseline, every read on the primary) and the standby at ``--replica-url``. Runs
alternate, primary first and last; each replica run is set against the mean of the
primary runs either side, and the median of those ratios is the figure.

The read lag: while the replica server is loaded, a sampler reads the primary's WAL
position every few milliseconds, and the standby's replayed position; a sample's lag is
the time from its reading to the standby's having replayed that far. p50 and p95 of the
samples (their resolution: the sampler's round, a few milliseconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from statistics import mean, median, quantiles

import psycopg

from bench.http_issue import (
    BODY_HEAD,
    HOST,
    PATH,
    WRK_MISSING,
    WRK_SCRIPT,
    Server,
    closedloop,
    fresh_schema,
    load,
    parse,
    servers_beside_the_followers,
)
from bench.loop_cost import REQUIRE_POSTGRES, postgres_unreachable

REPLICA_URL = os.environ.get(
    "CLOSEDLOOP_TEST_REPLICA_URL", "postgresql://postgres@127.0.0.1:5433/test"
)
LIST = "/v1/instructions?limit=20"

# The HTTP benchmark's script with reads mixed in: one write, then ``reads`` reads.
_WRITE_ONLY = """function request()
  n = n + 1
  return wrk.format("POST", path, hdrs, head .. tag .. "-" .. n .. '"}')
end"""
_MIXED = """local list = %(list)s
local reads = %(reads)s
function request()
  n = n + 1
  if n %% (reads + 1) ~= 1 then
    return wrk.format("GET", list, hdrs)
  end
  return wrk.format("POST", path, hdrs, head .. tag .. "-" .. n .. '"}')
end"""
assert _WRITE_ONLY in WRK_SCRIPT, "bench.http_issue's wrk script changed"
MIXED_SCRIPT = WRK_SCRIPT.replace(_WRITE_ONLY, _MIXED)


def write_mixed_script(folder: Path, run: str, token: str, reads: int) -> Path:
    script = folder / f"{run}.lua"
    script.write_text(
        MIXED_SCRIPT
        % {
            "head": json.dumps(BODY_HEAD),
            "path": json.dumps(PATH),
            "auth": json.dumps(f"Bearer {token}"),
            "run": json.dumps(run),
            "list": json.dumps(LIST),
            "reads": reads,
        }
    )
    return script


class LagSampler:
    """The standby's replay lag behind the primary's WAL, sampled while it runs."""

    def __init__(self, primary_url: str, replica_url: str) -> None:
        self.primary = psycopg.connect(primary_url.split("?")[0], autocommit=True)
        self.replica = psycopg.connect(replica_url.split("?")[0], autocommit=True)
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _lsn(self, conn: psycopg.Connection[tuple[int]], function: str) -> int:
        row = conn.execute(f"SELECT CAST({function}() - pg_lsn '0/0' AS bigint)").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def _run(self) -> None:
        pending: deque[tuple[float, int]] = deque()
        while not self._stop.is_set():
            pending.append((time.perf_counter(), self._lsn(self.primary, "pg_current_wal_lsn")))
            replayed = self._lsn(self.replica, "pg_last_wal_replay_lsn")
            now = time.perf_counter()
            while pending and pending[0][1] <= replayed:
                self.lags.append(now - pending.popleft()[0])
            time.sleep(0.002)

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join()

    def close(self) -> None:
        self.primary.close()
        self.replica.close()


def replica_health(target: Server) -> dict[str, object]:
    with urllib.request.urlopen(f"http://{HOST}:{target.port}/health", timeout=5) as r:
        found: dict[str, object] = json.load(r)["replica"]
        return found


def main(argv: Sequence[str]) -> int:
    own = [a for a in argv if a.startswith(("--replica-url=", "--reads="))]
    args = parse([a for a in argv if a not in own])
    replica_url = next((a.split("=", 1)[1] for a in own if a.startswith("--replica-url=")), None)
    replica_url = replica_url or REPLICA_URL
    reads = int(next((a.split("=", 1)[1] for a in own if a.startswith("--reads=")), "3"))
    if shutil.which("wrk") is None:
        print(f"skipping replica: {WRK_MISSING}", file=sys.stderr)
        return 1 if REQUIRE_POSTGRES else 0
    for url in (args.postgres_url, replica_url):
        reason = postgres_unreachable(url)
        if reason is not None:
            print(f"skipping replica: {reason} (bash .ci/replica makes the standby)", flush=True)
            return 1 if REQUIRE_POSTGRES else 0
    logs = Path(tempfile.mkdtemp(prefix="closedloop-bench-replica-"))
    sampler = LagSampler(args.postgres_url, replica_url)
    try:
        with fresh_schema(args.postgres_url) as url:
            env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
            for name in ("CLOSEDLOOP_PROJECTIONS", "CLOSEDLOOP_READ_DATABASE_URL"):
                env.pop(name, None)
            closedloop(env, "demo", "load")
            token = closedloop(
                env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "b"
            ).splitlines()[0]
            with contextlib.ExitStack() as stack:
                servers = servers_beside_the_followers(
                    stack,
                    env,
                    {"primary": {}, "replica": {"CLOSEDLOOP_READ_DATABASE_URL": replica_url}},
                    args.workers,
                    token,
                    logs,
                )
                nonce = uuid.uuid4().hex[:8]
                for s in servers.values():
                    if args.warmup > 0:
                        script = write_mixed_script(logs, f"w{s.name}{nonce}", token, reads)
                        load(s, args.warmup, args, script, url)
                order = ["primary"] + ["replica", "primary"] * args.rounds
                runs: dict[str, list[float]] = {"primary": [], "replica": []}
                for i, mode in enumerate(order):
                    script = write_mixed_script(logs, f"r{i}{nonce}", token, reads)
                    sampled = sampler.sampling() if mode == "replica" else contextlib.nullcontext()
                    with sampled:
                        run = load(servers[mode], args.duration, args, script, url)
                    wrong = {s: c for s, c in run.codes.items() if s not in (200, 201)}
                    if wrong or run.errors:
                        raise RuntimeError(f"{mode}: statuses {run.codes}, {run.errors} errors")
                    runs[mode].append(run.sustained)
                    print(
                        f"  {mode:<8} {run.sustained:8.0f} requests/s sustained  "
                        f"p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms",
                        flush=True,
                    )
                health = replica_health(servers["replica"])
        ratios = [s / mean(runs["primary"][i : i + 2]) for i, s in enumerate(runs["replica"])]
        lags_ms = sorted(x * 1000 for x in sampler.lags)
        cuts = quantiles(lags_ms, n=20) if len(lags_ms) >= 20 else [float("nan")] * 19
        print(
            f"\nreads on the replica / all on the primary, sustained (1 write : {reads} reads): "
            f"{median(ratios):.3f} (runs: {min(ratios):.3f}-{max(ratios):.3f}); "
            f"primary {median(runs['primary']):.0f}/s, replica {median(runs['replica']):.0f}/s"
        )
        print(
            f"replica read lag under that load: p50 {median(lags_ms):.1f} ms, "
            f"p95 {cuts[18]:.1f} ms, max {lags_ms[-1]:.1f} ms ({len(lags_ms)} samples); "
            f"the replica server's reads sent to the primary instead: {health['fallbacks']}, "
            f"state {health['state']}"
        )
    except RuntimeError as e:
        print(f"replica: {e}", file=sys.stderr)
        return 1
    finally:
        sampler.close()
        if not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

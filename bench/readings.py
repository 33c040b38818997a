"""Readings through the HTTP door (ADR 0073), beside a raw ``COPY`` of the same rows.

A real server (``closedloop serve``, the demo district loaded) takes batches of readings
at ``POST /v1/observations`` from a few client threads on loopback, for a fixed time:
its *sustained* rate is the readings acknowledged over the run's wall time. In the same
run, on PostgreSQL, the same rows are written by ``COPY`` into a plain table of the same
columns (no index, no partition, no judging): the ratio of the two is the figure (goal
at least 0.25). On SQLite the door's own rate is the figure (goal at least 20,000/s).

The stream: ``--stations`` stations each reporting one ``generic_index`` reading a
second, 1 % of readings beyond the rule's limit, in episodes of ``--episode`` readings
(a sensor beyond its limit stays there a while); ``--episode 1`` makes each breach a
lone reading, the worst case. The log's events per reading are counted from the store's
notification ids before and after (goal at most 0.01), and the bytes per reading of the
readings table, its partitions and indexes, from PostgreSQL's own sizes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.http_issue import HOST, closedloop, free_port, fresh_schema, server
from bench.loop_cost import POSTGRES_URL, REQUIRE_POSTGRES, postgres_unreachable
from closedloop.settings import Settings

TARGET_RATIO = 0.25
TARGET_SQLITE = 20_000
TARGET_EVENTS = 0.01
LIMIT = 40.0  # generic.threshold's level IV
WARM_STEPS = 3


@dataclass
class Door:
    readings: int
    seconds: float
    events: int
    refused: int
    #: CPU seconds the server's process spent over the run (None where /proc is not).
    cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0

    @property
    def per_cpu(self) -> float | None:
        """Readings per CPU second of the server: what the door costs, whatever else
        the machine runs beside it (ADR 0091)."""
        return self.readings / self.cpu if self.cpu else None


def cpu_seconds(pid: int) -> float | None:
    """A process's user and system CPU time so far, from Linux's /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream(args: argparse.Namespace) -> list[list[dict[str, object]]]:
    """Batches of one time step each (one reading per station), oldest first, ending a
    few seconds ago; 1 % of readings beyond the limit, in episodes."""
    rng = random.Random(args.seed)
    steps = args.steps
    start = datetime.now(UTC) - timedelta(seconds=steps + 5)
    stations = [f"bench-{i:05d}" for i in range(args.stations)]
    left = [0] * args.stations  # readings left in each station's breach episode
    # New episodes a step so that 1 % of all readings are beyond the limit.
    per_step = args.stations * 0.01 / args.episode
    batches: list[list[dict[str, object]]] = []
    for step in range(steps):
        at = (start + timedelta(seconds=step)).isoformat()
        carry = per_step + rng.random()
        for _ in range(int(carry)):
            left[rng.randrange(args.stations)] = args.episode
        batch: list[dict[str, object]] = []
        for i, sid in enumerate(stations):
            beyond = left[i] > 0
            left[i] -= 1 if beyond else 0
            value = LIMIT + 5 + rng.random() if beyond else 10 + rng.random() * 20
            batch.append(
                {
                    "source": "bench",
                    "subject": sid,
                    "metric": "generic_index",
                    "value": round(value, 3),
                    "unit": "HW",
                    "observed_at": at,
                }
            )
        batches.append(batch)
    return batches


def bodies(batches: list[list[dict[str, object]]], tag: str, size: int) -> list[bytes]:
    out: list[bytes] = []
    n = 0
    for batch in batches:
        for k in range(0, len(batch), size):
            out.append(
                json.dumps({"batch_id": f"{tag}-{n}", "readings": batch[k : k + size]}).encode()
            )
            n += 1
    return out


def push(port: int, token: str, payloads: list[bytes], clients: int, seconds: float) -> Door:
    """Post the payloads in order from ``clients`` threads until they or the time run out."""
    lock = threading.Lock()
    state = {"next": 0, "readings": 0, "refused": 0}
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                i = state["next"]
                if i >= len(payloads):
                    return
                state["next"] += 1
            conn.request("POST", "/v1/observations", body=payloads[i], headers=headers)
            response = conn.getresponse()
            body = json.loads(response.read())
            with lock:
                if response.status in (200, 201):
                    state["readings"] += len(body["results"])
                else:
                    state["refused"] += 1
        conn.close()

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Door(state["readings"], time.monotonic() - began, 0, state["refused"])


def log_head(url: str) -> int:
    """The log's last position, read as the application reads it."""
    from closedloop.bootstrap import build_command_center

    center = build_command_center(Settings(database_url=url))
    try:
        return center.head_position()
    finally:
        center.close()


def _env(url: str) -> dict[str, str]:
    env = {**os.environ, "CLOSEDLOOP_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    env["CLOSEDLOOP_WRITE_LIMIT"] = "off"  # a throughput figure, not abuse (ADR 0043)
    env.pop("CLOSEDLOOP_PROJECTIONS", None)
    return env


def through_the_door(
    url: str, args: argparse.Namespace, logs: Path, head: object
) -> tuple[Door, list[list[dict[str, object]]]]:
    env = _env(url)
    closedloop(env, "demo", "load")
    token = closedloop(
        env, "token", "create", "--unit", "HW", "--role", "monitor", "--user", "bench"
    ).splitlines()[0]
    port = free_port()
    argv = [sys.executable, "-m", "closedloop.cli", "serve", "--host", HOST, "--port", str(port)]
    # The first steps warm the server up (every station's condition loaded once);
    # the stream's time runs on from there, so nothing after is stale.
    batches = stream(args)
    warm, batches = batches[:WARM_STEPS], batches[WARM_STEPS:]
    payloads = bodies(batches, f"b{os.getpid()}", args.batch)
    with server("ours", argv, env, port, logs) as s:
        push(port, token, bodies(warm, "warm", args.batch), 1, 60)
        before = head()  # type: ignore[operator]
        cpu = cpu_seconds(s.process.pid)
        door = push(port, token, payloads, args.clients, args.duration)
        after = cpu_seconds(s.process.pid)
        door.cpu = after - cpu if after is not None and cpu is not None else None
        door.events = head() - before  # type: ignore[operator]
    return door, batches


def copy_baseline(
    conninfo: str, schema: str, batches: list[list[dict[str, object]]], n: int
) -> float:
    """Rows per second of a plain ``COPY`` of the first ``n`` readings of the stream."""
    import uuid

    rows = [r for b in batches for r in b][:n]
    now = datetime.now(UTC)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(
            "CREATE TABLE readings_plain (reading_id uuid, station text, metric text, "
            "value float8, unit_of_measure text, measured_at timestamptz, "
            "received_at timestamptz, source text)"
        )
        prepared = [
            (
                uuid.uuid4(),
                r["subject"],
                r["metric"],
                r["value"],
                "",
                datetime.fromisoformat(str(r["observed_at"])),
                now,
                "bench",
            )
            for r in rows
        ]
        began = time.monotonic()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy("COPY readings_plain FROM STDIN") as copy,
        ):
            for row in prepared:
                copy.write_row(row)
        seconds = time.monotonic() - began
        conn.execute("DROP TABLE readings_plain")
    return len(prepared) / seconds


def cpu_line(door: Door) -> None:
    if door.per_cpu is not None:
        print(f"  CPU       {door.per_cpu:10,.0f} readings per CPU second of the server process")


def events(door: Door, per: float) -> None:
    print(f"  events    {per:10.4f} per reading ({door.events} for {door.readings:,})")
    print(f"            goal ≤ {TARGET_EVENTS}")


def postgres(args: argparse.Namespace, logs: Path) -> bool:
    with fresh_schema(POSTGRES_URL) as url:
        schema = url.rsplit("schema=", 1)[1]

        def head() -> int:
            return log_head(url)

        door, batches = through_the_door(url, args, logs, head)
        copy_rate = copy_baseline(POSTGRES_URL, schema, batches, max(door.readings, 10_000))
        with psycopg.connect(POSTGRES_URL) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            row = conn.execute(
                """SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0),
                          (SELECT count(*) FROM readings)
                   FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                   WHERE p.relname = 'readings' AND p.relnamespace = %s::regnamespace""",
                (schema,),
            ).fetchone()
        size, count = (int(row[0]), int(row[1])) if row else (0, 0)
    ratio = door.rate / copy_rate if copy_rate else 0.0
    per = door.events / door.readings if door.readings else 0.0
    print("PostgreSQL")
    print(f"  door      {door.rate:10,.0f} readings/s  ({door.readings:,} in {door.seconds:.1f} s)")
    print(f"  COPY      {copy_rate:10,.0f} rows/s (same rows, plain table)")
    print(f"  ratio     {ratio:10.3f}   (goal ≥ {TARGET_RATIO})")
    cpu_line(door)
    events(door, per)
    per_row = size / count if count else 0
    print(f"  storage   {per_row:10.1f} bytes per reading ({count:,} rows, {size:,} bytes)")
    if door.refused:
        print(f"  refused batches: {door.refused}")
    return ratio >= TARGET_RATIO and per <= TARGET_EVENTS


def sqlite(args: argparse.Namespace, logs: Path) -> bool:
    folder = Path(tempfile.mkdtemp(prefix="bench-readings-"))
    db = folder / "events.sqlite3"

    def head() -> int:
        return log_head(f"sqlite:///{db}")

    door, _ = through_the_door(f"sqlite:///{db}", args, logs, head)
    per = door.events / door.readings if door.readings else 0.0
    print("SQLite")
    print(f"  door      {door.rate:10,.0f} readings/s  ({door.readings:,} in {door.seconds:.1f} s)")
    print(f"            goal ≥ {TARGET_SQLITE:,} readings/s")
    cpu_line(door)
    events(door, per)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return door.rate >= TARGET_SQLITE and per <= TARGET_EVENTS


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench readings", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds of load per store")
    p.add_argument("--clients", type=int, default=3, help="client threads posting batches")
    p.add_argument("--batch", type=int, default=1000, help="readings per batch (≤ 1000)")
    p.add_argument("--stations", type=int, default=1000, help="stations in the stream")
    p.add_argument("--steps", type=int, default=300, help="seconds of readings prepared")
    p.add_argument("--episode", type=int, default=5, help="readings per breach episode")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--store", choices=["both", "postgres", "sqlite"], default="both")
    return p.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-readings-logs-"))
    ok = True
    if args.store in ("both", "postgres"):
        reason = postgres_unreachable(POSTGRES_URL)
        if reason is None:
            ok = postgres(args, logs) and ok
        elif REQUIRE_POSTGRES:
            print(reason)
            return 1
        else:
            print(f"PostgreSQL skipped: {reason}")
    if args.store in ("both", "sqlite"):
        ok = sqlite(args, logs) and ok
    print(f"(server logs in {logs})")
    return 0 if ok else 1

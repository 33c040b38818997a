"""Instructions issued per second over HTTP, beside a bare Litestar endpoint.

Two real server processes on loopback, each started the same way by uvicorn: the API
(``closedloop serve`` on PostgreSQL, in a fresh schema with the demo district loaded)
and ``bench.bare_app``, which only decodes the same ``InstructionCreate`` body and
answers 201. ``wrk`` drives both with the same number of connections; its Lua script
gives every request a command id of its own, so every request to the API issues a
new instruction (no idempotent replay), and counts the status of every response.

Everything that follows the log (projections, audit chain, webhook outbox, playbooks,
deadline watch) runs, by default, as PostgreSQL's deployment runs it: in processes of
their own beside ``serve --no-projections`` (``--followers in-process`` puts it in the
server's process, as on SQLite). Their CPU counts as the server's, and after each run
the benchmark waits until they have read the log up to its head: the *sustained* rate is
the requests over the run plus that drain, so a server that outruns its followers gains
nothing.

Runs alternate, bare first and last (bare, ours, bare, ours, bare): each run of the
API (sustained) is set against the mean of the bare runs either side of it, and the
median of those ratios is the figure, as in ``loop_cost``. The target is at least 0.2
of the bare endpoint's rate.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

import psycopg
from psycopg import sql

from bench.loop_cost import POSTGRES_URL, REQUIRE_POSTGRES, postgres_unreachable
from closedloop.settings import store_env
from closedloop.workers import INTAKE_TRACKING
from domain.application import CommandCenter
from projections.store import TRACKING_TABLE, postgres_conninfo

#: The API must issue at least this share of what the bare endpoint answers.
TARGET_RATIO = 0.2
HOST = "127.0.0.1"
PATH = "/v1/instructions"
ROOT = Path(__file__).resolve().parent.parent
WRK_MISSING = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"

# The command id goes last, so that the script only appends the unique part.
BODY_HEAD = (
    '{"lead_unit": "HW-DH", "title": "Check the gas line on Hupan Road", '
    '"priority": "normal", "due_in": "P1D", "command_id": "'
)

# Globals of each wrk thread: ``tag`` is set per thread in setup(), ``n`` counts its
# requests, ``codes`` its responses by status. done() runs in yet another Lua state,
# so it reads the threads' tables through the handles setup() kept.
WRK_SCRIPT = """
local head = %(head)s
local path = %(path)s
local hdrs = {["Content-Type"] = "application/json", ["Authorization"] = %(auth)s}
local threads = {}

function setup(thread)
  thread:set("tag", %(run)s .. "-" .. #threads)
  table.insert(threads, thread)
end

n = 0
codes = {}

function request()
  n = n + 1
  return wrk.format("POST", path, hdrs, head .. tag .. "-" .. n .. '"}')
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("codes")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%%d": %%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"errors": %%d, "codes": {%%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ", ")))
end
"""


@dataclass
class Run:
    """One wrk run against one server."""

    server: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    codes: dict[int, int]
    client_cpu: float  # wrk's CPU seconds per wall second (1.0 is one core)
    server_cpu: float  # the server's (all its processes), likewise
    #: Seconds after the run until every follower of the log had read up to the head
    #: (0 for the bare endpoint, which has none).
    drain: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def sustained(self) -> float:
        """The rate with the followers' catching up counted in: what can go on for hours."""
        return self.requests / (self.seconds + self.drain)

    @property
    def unexpected(self) -> int:
        """Responses that were not 201, and requests that got no response."""
        return sum(c for s, c in self.codes.items() if s != 201) + self.errors


@dataclass
class Figures:
    bare: list[Run] = field(default_factory=list)  # one more than ``ours``
    ours: list[Run] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [
            r.sustained / mean(b.rate for b in self.bare[i : i + 2])
            for i, r in enumerate(self.ours)
        ]

    @property
    def ratio(self) -> float:
        return median(self.ratios)


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User and system CPU of ``pid`` and every process under it (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # gone meanwhile, or no /proc: the CPU column reads 0
    return total


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    #: Processes that work beside the server (the log's followers), counted in its CPU.
    helpers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in [self.process, *self.helpers])


@contextmanager
def started(
    name: str, argv: list[str], env: dict[str, str], logs: Path, stop: signal.Signals
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A process of the benchmark's, its output in ``logs``; sent ``stop`` at the end
    (killed if it has not stopped 20 s later)."""
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(stop)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def helper(
    name: str, argv: list[str], env: dict[str, str], logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of its own beside the server (a follower of the log)."""
    with started(name, argv, env, logs, signal.SIGTERM) as (process, log):
        time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{log.read_text()[-3000:]}")
        yield process


@contextmanager
def server(
    name: str, argv: list[str], env: dict[str, str], port: int, logs: Path
) -> Iterator[Server]:
    # SIGINT is uvicorn's graceful stop: the API's shutdown hooks close its store.
    with started(name, argv, env, logs, signal.SIGINT) as (process, log):
        wait_ready(name, process, port, log)
        yield Server(name, port, process, log)


def servers_beside_the_followers(
    stack: contextlib.ExitStack,
    env: dict[str, str],
    modes: dict[str, dict[str, str]],
    workers: int,
    token: str,
    logs: Path,
) -> dict[str, Server]:
    """One ``serve --no-projections`` per mode (its own settings added to ``env``), the
    log's three followers in processes of their own beside them, and one instruction
    issued through each server before any clock starts; all stopped with ``stack``."""
    servers: dict[str, Server] = {}
    for mode, settings in modes.items():
        port = free_port()
        argv = [sys.executable, "-m", "closedloop.cli", "serve", "--host", HOST]
        argv += ["--port", str(port), "--workers", str(workers), "--no-projections"]
        # One token issues thousands a second here: a throughput figure, not abuse (ADR 0043).
        menv = {**env, "CLOSEDLOOP_WRITE_LIMIT": "off", **settings}
        servers[mode] = stack.enter_context(server(mode, argv, menv, port, logs))
    for name, command in (
        ("projections", ["projections", "run"]),
        ("notifiers", ["notifiers", "run"]),
        ("watch", ["watch", "run"]),
    ):
        argv = [sys.executable, "-m", "closedloop.cli", *command]
        stack.enter_context(helper(name, argv, env, logs))
    for s in servers.values():
        status, body = post_one(s.port, token)
        if status != 201:
            raise RuntimeError(f"{s.name}: answered {status}: {body}")
    return servers


def wait_ready(name: str, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} server exited at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the {name} server did not answer /health within 60 s; see {log}")


def closedloop(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "closedloop.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"closedloop {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


@contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    schema = f"bench_http_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in base_url else "?"
        yield f"{base_url}{sep}schema={schema}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def on_fresh_schema(
    name: str, measure: Callable[[argparse.Namespace, str], int], args: argparse.Namespace
) -> int:
    """Bench ``name``'s ``measure`` on a fresh schema of the test server, made and
    dropped; skipped when the server cannot be reached (failed where CI requires it)."""
    reason = postgres_unreachable(POSTGRES_URL)
    if reason is not None:
        print(f"skipping {name}: {reason}", flush=True)
        return 1 if REQUIRE_POSTGRES else 0
    with fresh_schema(POSTGRES_URL) as database:
        return measure(args, database)


# -- load ------------------------------------------------------------------------------


#: Followers that read the log on a timer rather than when woken: the playbooks take a
#: round every few seconds by design, so their position says when the last round was,
#: not whether they keep up; they are left out of the drain.
ON_A_TIMER = (INTAKE_TRACKING,)


def drain_seconds(url: str, timeout: float = 120.0) -> float:
    """Seconds until every follower woken by the log (the views, the audit chain, the
    webhook outbox: each keeps its position in ``projection_tracking``) has read up to
    the log's head as it was when the load stopped."""
    start = time.perf_counter()
    env = store_env(url)
    schema = env.get("POSTGRES_SCHEMA", "public")
    with psycopg.connect(**postgres_conninfo(env), autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        events = sql.Identifier(f"{CommandCenter.name}_events")  # as the library names it
        row = conn.execute(sql.SQL("SELECT max(notification_id) FROM {}").format(events)).fetchone()
        head = row[0] if row and row[0] is not None else 0
        tracking = sql.SQL("SELECT application_name, notification_id FROM {}").format(
            sql.Identifier(TRACKING_TABLE)
        )
        while True:
            rows = conn.execute(tracking).fetchall()
            behind = [name for name, position in rows if position < head and name not in ON_A_TIMER]
            if not rows or not behind:
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"followers still behind {timeout:g} s after the run: {behind}")
            time.sleep(0.05)


def post_one(port: int, token: str) -> tuple[int, str]:
    body = (BODY_HEAD + f'preflight-{uuid.uuid4().hex}"}}').encode()
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(
            "POST",
            PATH,
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def write_script(folder: Path, run: str, token: str) -> Path:
    script = folder / f"{run}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "head": json.dumps(BODY_HEAD),
            "path": json.dumps(PATH),
            "auth": json.dumps(f"Bearer {token}"),
            "run": json.dumps(run),
        }
    )
    return script


def load(
    target: Server,
    seconds: float,
    args: argparse.Namespace,
    script: Path,
    followers_of: str | None = None,
) -> Run:
    argv = [
        "wrk",
        f"--threads={args.client_threads}",
        f"--connections={args.connections}",
        f"--duration={seconds:g}s",
        "--timeout=10s",
        f"--script={script}",
        f"http://{HOST}:{target.port}{PATH}",
    ]
    before = os.times()
    server_before = target.cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    server_cpu = target.cpu_seconds() - server_before
    after = os.times()
    drain = drain_seconds(followers_of) if followers_of is not None else 0.0
    client_cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    got = json.loads(line[len("BENCH ") :])
    return Run(
        server=target.name,
        requests=got["requests"],
        seconds=got["duration_us"] / 1e6,
        p50_ms=got["p50_us"] / 1e3,
        p99_ms=got["p99_us"] / 1e3,
        errors=got["errors"],
        codes={int(s): c for s, c in got["codes"].items()},
        client_cpu=client_cpu / wall,
        server_cpu=server_cpu / wall,
        drain=drain,
    )


# -- the measurement -------------------------------------------------------------------


def measure(url: str, args: argparse.Namespace, logs: Path) -> Figures:
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": url,
        "PYTHONUNBUFFERED": "1",
        # One token issues thousands a second here: a throughput figure, not abuse (ADR 0043).
        "CLOSEDLOOP_WRITE_LIMIT": "off",
    }
    env.pop("CLOSEDLOOP_PROJECTIONS", None)  # the default: projections in the process
    closedloop(env, "demo", "load")
    token = closedloop(
        env, "token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "bench"
    ).splitlines()[0]
    workers = str(args.workers)
    ours_port, bare_port = free_port(), free_port()
    # `closedloop serve` hands uvicorn its defaults plus log level info; the bare app
    # gets exactly the same, so the two differ only in the application.
    ours_argv = [sys.executable, "-m", "closedloop.cli", "serve", "--host", HOST]
    ours_argv += ["--port", str(ours_port), "--workers", workers]
    if args.followers != "in-process":
        ours_argv.append("--no-projections")
    # PostgreSQL's layout for a center that outgrew one process: the API answers, and
    # the log's followers run in processes of their own (README, "PostgreSQL").
    helpers = (
        [
            ("projections", ["projections", "run"]),
            ("notifiers", ["notifiers", "run"]),
            ("watch", ["watch", "run"]),
        ]
        if args.followers == "separate"
        else []
    )
    bare_argv = [sys.executable, "-m", "bench.bare_app", "--host", HOST]
    bare_argv += ["--port", str(bare_port), "--workers", workers]
    figures = Figures()
    # Without followers anywhere (--followers none) nobody drains the log.
    follow = None if args.followers == "none" else url
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(server("ours", ours_argv, env, ours_port, logs))
        for name, command in helpers:
            argv = [sys.executable, "-m", "closedloop.cli", *command]
            ours.helpers.append(stack.enter_context(helper(name, argv, env, logs)))
        bare = stack.enter_context(server("bare", bare_argv, env, bare_port, logs))
        for s in (bare, ours):
            status, body = post_one(s.port, token)
            if status != 201:
                raise RuntimeError(f"{s.name}: POST {PATH} answered {status}, not 201: {body}")
        nonce = uuid.uuid4().hex[:8]
        if args.warmup > 0:
            print(f"warming up ({args.warmup:g} s each) …", flush=True)
            for s in (bare, ours):
                script = write_script(logs, f"w{s.name}{nonce}", token)
                load(s, args.warmup, args, script, follow if s is ours else None)
        print(
            f"{2 * args.rounds + 1} runs of {args.duration:g} s: bare, then ours and bare "
            f"{args.rounds} times …",
            flush=True,
        )
        sequence = [bare] + [s for _ in range(args.rounds) for s in (ours, bare)]
        for i, s in enumerate(sequence):
            script = write_script(logs, f"r{i}{nonce}", token)
            run = load(s, args.duration, args, script, follow if s is ours else None)
            (figures.bare if s is bare else figures.ours).append(run)
            drained = f"  followers drained in {run.drain:.2f} s" if s is ours and follow else ""
            print(
                f"  {s.name:<5} {run.rate:8.0f} req/s  p50 {run.p50_ms:7.1f} ms  "
                f"p99 {run.p99_ms:7.1f} ms{drained}",
                flush=True,
            )
    return figures


# -- report ----------------------------------------------------------------------------


def report(figures: Figures, args: argparse.Namespace) -> bool:
    print()
    print(
        f"POST {PATH}, wrk with {args.connections} connections on {args.client_threads} "
        f"threads, {args.duration:g} s per run; each server: uvicorn, {args.workers} "
        f"worker{'s' if args.workers > 1 else ''}, on loopback. Ours on PostgreSQL, "
        + {
            "none": "with nothing that follows the log running anywhere (--followers none): "
            "the request path alone, not a way to deploy.",
            "in-process": "with everything that follows the log (projections, audit chain, "
            "webhook notifiers, playbooks, deadline watch) in the server's process "
            "(--followers in-process), as on SQLite.",
            "separate": "serving only (serve --no-projections), with everything that follows "
            "the log in processes of their own (projections run, notifiers run, watch run; "
            "--followers separate); their CPU is counted in the server's.",
        }[args.followers]
    )
    print(
        "Medians over the runs; CPU in cores (1.0 = one core busy). Drain: seconds after a "
        "run until every follower had read the log up to its head; sustained = requests / "
        "(run + drain), the rate that can go on. The ratio is ours sustained / bare."
    )
    print()
    header = (
        f"{'server':<7} {'runs':>4} {'req/s':>8} {'drain s':>8} {'sustained':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'server CPU':>10} {'wrk CPU':>8} {'not 201':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, runs in (("bare", figures.bare), ("ours", figures.ours)):
        print(
            f"{name:<7} {len(runs):>4} {median(r.rate for r in runs):>8.0f} "
            f"{median(r.drain for r in runs):>8.2f} {median(r.sustained for r in runs):>9.0f} "
            f"{median(r.p50_ms for r in runs):>8.1f} {median(r.p99_ms for r in runs):>8.1f} "
            f"{median(r.server_cpu for r in runs):>10.2f} "
            f"{median(r.client_cpu for r in runs):>8.2f} "
            f"{sum(r.unexpected for r in runs):>8}"
        )
    print()
    spread = f"(runs: {min(figures.ratios):.2f}-{max(figures.ratios):.2f})"
    clean = all(r.unexpected == 0 for r in figures.bare + figures.ours)
    passed = clean and figures.ratio >= TARGET_RATIO
    verdict = "PASS" if passed else "MISS"
    print(f"ratio ours/bare: {figures.ratio:.3f} {spread}, target ≥ {TARGET_RATIO}: {verdict}")
    issued = sum(r.codes.get(201, 0) for r in figures.ours)
    print(f"instructions issued in the timed runs: {issued} (every response 201: {clean})")
    if not clean:
        for r in figures.bare + figures.ours:
            if r.unexpected:
                print(f"  {r.server}: statuses {r.codes}, {r.errors} without a response")
    print()
    return passed


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench http",
        description="Instructions issued per second over HTTP, beside a bare Litestar POST.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of ours, between bare runs")
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds per server")
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    parser.add_argument("--client-threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, per server")
    parser.add_argument(
        "--followers",
        choices=("separate", "in-process", "none"),
        default="separate",
        help="where the log's followers run: in processes of their own beside `serve "
        "--no-projections` (PostgreSQL's layout), in the server's process (as on SQLite), "
        "or nowhere (the request path alone, not a way to deploy)",
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="server and database in which a fresh schema is made and dropped "
        "(CLOSEDLOOP_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs and wrk scripts"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--rounds must be at least 1, --duration positive, --warmup not negative")
    if args.workers < 1 or args.client_threads < 1 or args.connections < args.client_threads:
        parser.error("at least one worker, one thread, and a connection per thread")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    if shutil.which("wrk") is None:
        print(f"skipping http: {WRK_MISSING}", file=sys.stderr)
        return 1 if REQUIRE_POSTGRES else 0
    reason = postgres_unreachable(args.postgres_url)
    if reason is not None:
        if REQUIRE_POSTGRES:
            print(f"{reason} (CLOSEDLOOP_REQUIRE_POSTGRES=1)", file=sys.stderr)
            return 1
        print(f"skipping http: {reason}", flush=True)
        return 0
    logs = Path(tempfile.mkdtemp(prefix="closedloop-bench-http-"))
    try:
        with fresh_schema(args.postgres_url) as url:
            print(f"measuring over HTTP on {url} …", flush=True)
            figures = measure(url, args, logs)
        report(figures, args)
    except RuntimeError as e:
        print(f"http: {e}", file=sys.stderr)
        args.keep_logs = True
        return 1
    finally:
        if args.keep_logs:
            print(f"server logs and wrk scripts kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

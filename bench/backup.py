"""``python -m bench backup``: the write rate while ``pg_dump`` backs the store up, beside
the rate without it, in turns in the same run (issue 18 item 4: about 190 commands/s
fell to about 45 during an online pg_dump).

A store of ``--warnings`` warnings raised in the demo district in a fresh schema;
``--writers`` threads raise warnings through the command center while a runner feeds the
views, as a server does. Each turn writes for ``--seconds`` with no backup, then as long
with ``pg_dump`` of the schema running again and again, in each form asked for. Beside
each rate: the lock waits seen in ``pg_locks`` (sampled every 50 ms) and the CPU seconds
pg_dump and the server's backends used, to tell a lock from a shortage of CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from statistics import median

import psycopg
from psycopg import sql

from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from domain.meta import Actor, Context
from projections.runner import Runner
from projections.store import ViewStore

MONITOR = Actor(person="bench", unit="HW", role="monitor")

#: The forms of pg_dump compared: name -> (prefix, pg_dump's own options).
FORMS: dict[str, tuple[list[str], list[str]]] = {
    "custom": ([], ["--format=custom"]),
    "custom-uncompressed": ([], ["--format=custom", "--compress=0"]),
    "custom-nice": (["nice", "-n", "19"], ["--format=custom"]),
}
#: Not a dump: one REPEATABLE READ snapshot held open for the phase, as pg_dump holds its
#: own, without pg_dump's reading and writing; a slowdown here is the old snapshot's
#: (dead row versions no one may prune yet), not pg_dump's work.
HELD_SNAPSHOT = "held-snapshot"
#: The backup's own form, read from the streaming standby named by ``--replica`` (ADR
#: 0075): the same dump, its reading done by the standby's server.
FROM_REPLICA = "from-replica"


def raise_one(center: CommandCenter, n: str) -> None:
    center.raise_warning(
        Context(actor=MONITOR),  # a context per command: each has its own command id
        source="bench",
        rule="environment.noise",
        theme="environment",
        level=2,
        title=f"noise {n}",
        unit="HW-DH-QS",
        dedup_key=f"bench-{n}",
    )


def fill_part(center: CommandCenter, part: int, count: int) -> None:
    for i in range(count):
        raise_one(center, f"fill-{part}-{i}")


def fill(center: CommandCenter, warnings: int) -> None:
    load_demo(center)
    threads = [
        threading.Thread(target=fill_part, args=(center, t, warnings // 4 + 1)) for t in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds of processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Writers:
    """Threads raising warnings until stopped; each command's end time."""

    def __init__(self, center: CommandCenter, count: int) -> None:
        self.center = center
        self.done: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.write, daemon=True) for _ in range(count)]

    def write(self) -> None:
        while not self.stop.is_set():
            raise_one(self.center, uuid.uuid4().hex)
            self.done.append(time.monotonic())

    def rate(self, start: float, end: float) -> float:
        return sum(1 for t in self.done if start <= t < end) / (end - start)


def sample_locks(conninfo: str, schema: str, stop: threading.Event, seen: list[str]) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while not stop.is_set():
            for row in conn.execute(
                "SELECT l.locktype, l.mode, c.relname, a.query FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "LEFT JOIN pg_class c ON c.oid = l.relation "
                "WHERE NOT l.granted AND a.query LIKE %s",
                (f"%{schema}%",),
            ):
                seen.append(f"{row[0]} {row[1]} {row[2] or ''}: {str(row[3])[:50]}")
            time.sleep(0.05)


def hold_snapshot(conninfo: str, schema: str, until: float) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute(
            sql.SQL("SELECT COUNT(*) FROM {}.projection_tracking").format(sql.Identifier(schema))
        )
        time.sleep(max(until - time.monotonic(), 0.0))
        conn.execute("ROLLBACK")


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench backup", description=__doc__)
    p.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--warnings", type=int, default=40_000, help="raised to fill the store")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--turns", type=int, default=2)
    p.add_argument(
        "--replica",
        default="",
        help="a streaming standby of --database (e.g. postgresql://postgres@127.0.0.1:5433/test)"
        f": adds the form {FROM_REPLICA}",
    )
    every = [*FORMS, HELD_SNAPSHOT, FROM_REPLICA]
    p.add_argument("--forms", default="", help=f"of {', '.join(every)} (default: all there are)")
    args = p.parse_args(argv)
    if not args.forms:
        args.forms = ",".join(f for f in every if f != FROM_REPLICA or args.replica)
    if shutil.which("pg_dump") is None:
        print("pg_dump is not installed")
        return 2
    schema = f"bench_backup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{args.database}?schema={schema}"
    folder = tempfile.mkdtemp(prefix="closedloop-bench-backup-")
    center = build_command_center(Settings(database_url=url))
    store = ViewStore.for_url(url)
    runner: Runner | None = None
    try:
        started = time.monotonic()
        fill(center, args.warnings)
        runner = Runner(center, store, poll_interval=0.05)
        runner.catch_up()
        runner.start()
        print(f"store: {center.head_position():,} events in {time.monotonic() - started:.0f} s")
        writers = Writers(center, args.writers)
        for t in writers.threads:
            t.start()
        time.sleep(1.0)
        rates: dict[str, list[float]] = {"none": []}
        notes: dict[str, list[str]] = {}
        forms = [f for f in args.forms.split(",") if f]
        for _ in range(args.turns):
            for form in ["none", *forms]:
                locks: list[str] = []
                stop = threading.Event()
                sampler = threading.Thread(
                    target=sample_locks, args=(args.database, schema, stop, locks)
                )
                sampler.start()
                begin = time.monotonic()
                dumps = 0
                cpu = 0.0
                while time.monotonic() - begin < args.seconds:
                    if form == "none":
                        time.sleep(0.1)
                        continue
                    if form == HELD_SNAPSHOT:
                        hold_snapshot(args.database, schema, begin + args.seconds)
                        continue
                    prefix, options = FORMS["custom" if form == FROM_REPLICA else form]
                    source = args.replica if form == FROM_REPLICA else args.database
                    target = os.path.join(folder, f"{form}-{dumps}.dump")
                    proc = subprocess.Popen(
                        [
                            *prefix,
                            "pg_dump",
                            *options,
                            f"--schema={schema}",
                            "-f",
                            target,
                            f"--dbname={source}",
                        ]
                    )
                    last = 0.0
                    while proc.poll() is None:
                        last = cpu_seconds([proc.pid])
                        time.sleep(0.05)
                    cpu += last
                    dumps += 1
                    os.unlink(target)
                end = time.monotonic()
                stop.set()
                sampler.join()
                rates.setdefault(form, []).append(writers.rate(begin, end))
                waits = sorted(set(locks))
                notes.setdefault(form, []).append(
                    f"{dumps} dump(s), pg_dump CPU {cpu:.1f} s; lock waits {len(locks)}"
                    + (f" ({'; '.join(waits[:3])})" if waits else "")
                )
        writers.stop.set()
        for t in writers.threads:
            t.join()
        base = median(rates["none"])
        print(f"writers            : {args.writers} threads, {args.seconds:g} s a phase")
        print(f"no backup          : {base:7.0f} commands/s  {notes['none'][-1]}")
        for form in forms:
            r = median(rates[form])
            print(f"{form:<19}: {r:7.0f} commands/s  ratio {r / base:.2f}  {notes[form][-1]}")
        return 0
    finally:
        if runner is not None:
            runner.stop()
        store.close()
        center.close()
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(args.database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

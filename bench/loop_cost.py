"""What a full closed loop costs per event, beside the library's bare one-event save.

The loop is the one the command center lives by: raise a warning, acknowledge it,
assess it, issue an instruction for it, sign for it, submit a result, verify it, close
the warning. Its cost per event written is set against the cheapest write the event
store library can do on the same kind of store in the same run: a new one-event
aggregate per ``save()``. The target is a loop within 1.5 times that bare cost.

The machines are small and shared, so the two are never timed far apart: chunks of
bare saves and chunks of loops alternate, each loop chunk is set against the mean of
the bare chunks on either side of it, and the median of those ratios is reported with
their range. A burst of load from elsewhere then spoils one round, not the figure.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median
from time import perf_counter

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings, store_env
from domain.application import CommandCenter, Outcome
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.meta import Actor, Context

POSTGRES_URL = os.environ.get(
    "CLOSEDLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("CLOSEDLOOP_REQUIRE_POSTGRES") == "1"

#: A full loop may cost at most this many bare saves per event it writes.
TARGET_RATIO = 1.5

# Units of the demo district: the district's emergency bureau watches, the district
# government instructs, the Donghu sub-district office does the work.
OPERATOR = Actor(person="bench-operator", unit="HW-EM", role="operator")
ISSUER = Actor(person="bench-leader", unit="HW", role="leader")
HANDLER = Actor(person="bench-handler", unit="HW-DH", role="handler")

COMMANDS = (
    "raise_warning",
    "acknowledge_warning",
    "assess_warning",
    "issue_instruction",
    "sign_for",
    "submit",
    "verify",
    "close_warning",
)


class BareThing(Aggregate):
    """The cheapest aggregate there is: created, and nothing more (one event)."""


@dataclass
class StoreFigures:
    """Seconds per event written, per chunk, in the order the chunks ran."""

    store: str
    bare: list[float] = field(default_factory=list)  # one more chunk than ``loop``
    loop: list[float] = field(default_factory=list)
    loops: int = 0
    events: int = 0
    command_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ratios(self) -> list[float]:
        # Each loop chunk against the bare chunks just before and just after it: a burst
        # of load from elsewhere on the machine lands on both sides of one ratio.
        return [loop / mean(self.bare[i : i + 2]) for i, loop in enumerate(self.loop)]

    @property
    def ratio(self) -> float:
        return median(self.ratios)


# -- stores ----------------------------------------------------------------------------

StoreFactory = Callable[[str], str]


@contextmanager
def sqlite_store() -> Iterator[StoreFactory]:
    """A database URL per name: one SQLite file each, in a folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="closedloop-bench-") as folder:
        yield lambda name: f"sqlite:///{Path(folder) / name}.sqlite3"


@contextmanager
def postgres_store(base_url: str) -> Iterator[StoreFactory]:
    """A database URL per name: one fresh schema each, all dropped afterwards."""
    schemas: list[str] = []

    def make(name: str) -> str:
        # Lower case only: eventsourcing looks its composite type up by the unquoted
        # schema name, so a schema with a capital fails at the first save.
        schema = f"bench_{name.lower()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        sep = "&" if "?" in base_url else "?"
        return f"{base_url}{sep}schema={schema}"

    try:
        yield make
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_unreachable(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return f"PostgreSQL at {url} cannot be reached: {e}".strip()


# -- the two measurements --------------------------------------------------------------


def save_bare(app: Application[uuid.UUID], saves: int) -> float:
    """Seconds per event of ``saves`` saves of one new one-event aggregate each."""
    start = perf_counter()
    for _ in range(saves):
        app.save(BareThing())
    return (perf_counter() - start) / saves


def _recorded(outcome: Outcome, command: str) -> Outcome:
    # A command that wrote nothing would make the loop look cheaper than it is.
    if not outcome.recorded:
        raise RuntimeError(f"{command} wrote no event; the benchmark's loop is wrong")
    return outcome


def run_loop(center: CommandCenter, tag: str, clock: dict[str, float]) -> None:
    """One full closed loop; the time of each command is added to ``clock``."""

    def timed(command: str, call: Callable[[], Outcome]) -> Outcome:
        start = perf_counter()
        outcome = call()
        clock[command] += perf_counter() - start
        return _recorded(outcome, command)

    wid = timed(
        "raise_warning",
        lambda: center.raise_warning(
            Context(OPERATOR),
            source="bench",
            rule="SP-01",
            theme="safety_production",
            level=3,
            title="Gas reading above threshold",
            unit=HANDLER.unit,
            location="Hupan Road 12",
            dedup_key=f"bench:{tag}",
        ),
    ).id
    timed("acknowledge_warning", lambda: center.acknowledge_warning(Context(OPERATOR), wid))
    timed(
        "assess_warning",
        lambda: center.assess_warning(Context(OPERATOR), wid, confirmed=True),
    )
    iid = timed(
        "issue_instruction",
        lambda: center.issue_instruction(
            Context(ISSUER),
            lead_unit=HANDLER.unit,
            title="Check the gas line on Hupan Road",
            content="Send an inspector and report what was found.",
            due_in=WorkingDuration(days=1),
            warning_ids=[wid],
        ),
    ).id
    timed("sign_for", lambda: center.sign_for(Context(HANDLER), iid))
    timed("submit", lambda: center.submit(Context(HANDLER), iid, "Valve replaced; reading normal."))
    timed("verify", lambda: center.verify(Context(ISSUER), iid, accepted=True))
    timed("close_warning", lambda: center.close_warning(Context(OPERATOR), wid))


def run_loops(center: CommandCenter, tag: str, loops: int, clock: dict[str, float]) -> int:
    """Run ``loops`` full loops; return how many events they wrote."""
    before = center.head_position()
    for i in range(loops):
        run_loop(center, f"{tag}-{i}", clock)
    return center.head_position() - before


def measure(store: str, urls: StoreFactory, args: argparse.Namespace) -> StoreFigures:
    """Alternate chunks of bare saves and of full loops, each on a store of its own."""
    figures = StoreFigures(store)
    bare: Application[uuid.UUID] = Application(env=store_env(urls("bare")))
    center = build_command_center(Settings(database_url=urls("loop")))
    try:
        load_demo(center)
        clock: dict[str, float] = defaultdict(float)
        save_bare(bare, args.warmup_saves)
        run_loops(center, "warm", args.warmup_loops, clock)
        clock.clear()
        saves_per_chunk = max(1, args.saves // (args.rounds + 1))
        loops_per_chunk = max(1, args.loops // args.rounds)
        gc.collect()
        figures.bare.append(save_bare(bare, saves_per_chunk))
        for r in range(args.rounds):
            start = perf_counter()
            events = run_loops(center, f"round{r}", loops_per_chunk, clock)
            figures.loop.append((perf_counter() - start) / events)
            figures.events += events
            figures.bare.append(save_bare(bare, saves_per_chunk))
    finally:
        center.close()
        bare.close()
    figures.loops = loops_per_chunk * args.rounds
    figures.command_seconds = {c: clock[c] / figures.loops for c in COMMANDS}
    return figures


# -- report ----------------------------------------------------------------------------


def report(results: list[StoreFigures], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.rounds} rounds of {args.loops // args.rounds} full loops, each between two "
        f"chunks of {args.saves // (args.rounds + 1)} bare saves; "
        "medians over the rounds, µs per event written"
    )
    print()
    header = (
        f"{'store':<9} {'bare µs':>8} {'loop µs':>8} {'ratio':>6} {'(rounds: min-max)':>18} "
        f"{'target':>7}  result"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        spread = f"({min(r.ratios):.2f}-{max(r.ratios):.2f})"
        verdict = "PASS" if r.ratio <= TARGET_RATIO else "MISS"
        print(
            f"{r.store:<9} {median(r.bare) * 1e6:>8.0f} {median(r.loop) * 1e6:>8.0f} "
            f"{r.ratio:>5.2f}x {spread:>18} {'≤ ' + str(TARGET_RATIO) + 'x':>7}  {verdict}"
        )
    print()
    for r in results:
        per_loop = r.events / r.loops
        total_ms = sum(r.command_seconds.values()) * 1e3
        print(f"{r.store}: {per_loop:.0f} events and {total_ms:.2f} ms per loop, mean per command:")
        for command in COMMANDS:
            print(f"  {command:<20} {r.command_seconds[command] * 1e3:7.3f} ms")
    print()


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench loop_cost",
        description="The cost of a full closed loop per event, beside a bare one-event save.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--loops", type=int, default=400, help="full loops timed, in all")
    parser.add_argument("--saves", type=int, default=4000, help="bare saves timed, in all")
    parser.add_argument("--rounds", type=int, default=8, help="loop chunks between save chunks")
    parser.add_argument("--warmup-loops", type=int, default=20, help="untimed loops first")
    parser.add_argument("--warmup-saves", type=int, default=200, help="untimed saves first")
    parser.add_argument(
        "--store", choices=("sqlite", "postgres", "both"), default="both", help="stores measured"
    )
    parser.add_argument(
        "--postgres-url",
        default=POSTGRES_URL,
        help="server and database in which fresh schemas are made and dropped "
        "(CLOSEDLOOP_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.loops < args.rounds or args.saves < args.rounds + 1:
        parser.error("--rounds must be at least 1, with a loop and a save for every chunk")
    if args.warmup_loops < 0 or args.warmup_saves < 0:
        parser.error("warm-ups cannot be negative")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    results: list[StoreFigures] = []
    if args.store in ("sqlite", "both"):
        print("measuring sqlite …", flush=True)
        with sqlite_store() as urls:
            results.append(measure("sqlite", urls, args))
    if args.store in ("postgres", "both"):
        reason = postgres_unreachable(args.postgres_url)
        if reason is None:
            print("measuring postgres …", flush=True)
            with postgres_store(args.postgres_url) as urls:
                results.append(measure("postgres", urls, args))
        elif REQUIRE_POSTGRES:
            print(f"{reason} (CLOSEDLOOP_REQUIRE_POSTGRES=1)", file=sys.stderr)
            return 1
        else:
            print(f"skipping postgres: {reason}", flush=True)
    if results:
        report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

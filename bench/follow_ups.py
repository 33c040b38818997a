"""What a follow-up (回访, ADR 0083) costs, beside the verification that closed the case.

For each of ``--cases`` closed cases from the public (a 12345 warning, acknowledged,
assessed, an instruction issued, signed for, submitted and verified), the verification
and then the follow-up are timed on the same store: the follow-up reads the case and its
warning and saves one event (two when it reopens, with the lead's disposition), the
verification saves the case, its disposition and the warning's note. Every fourth caller
is unresolved and dissatisfied, so a quarter of the follow-ups reopen their case.

    python -m bench.follow_ups --cases 200 --store both
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from statistics import median
from time import perf_counter

from bench.loop_cost import postgres_store, postgres_unreachable, sqlite_store
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.meta import Actor, Context


def _as(unit: str, role: str) -> Context:
    return Context(Actor(person=f"bench-{unit}", unit=unit, role=role))


def run(center: CommandCenter, cases: int) -> tuple[float, float]:
    """Median milliseconds of a verification and of a follow-up."""
    load_demo(center)
    verify: list[float] = []
    follow: list[float] = []
    for n in range(cases):
        wid = center.raise_warning(
            _as("HW", "monitor"),
            source="12345",
            rule="hotline.drain",
            theme="other",
            level=4,
            title="A caller reports a blocked drain",
            unit="HW-DH",
            dedup_key=uuid.uuid4().hex,
        ).id
        center.acknowledge_warning(_as("HW", "duty_officer"), wid)
        center.assess_warning(_as("HW", "duty_officer"), wid, confirmed=True)
        iid = center.issue_instruction(
            _as("HW", "dispatcher"),
            lead_unit="HW-DH",
            title="Clear the drain",
            due_in=WorkingDuration(days=2),
            warning_ids=[wid],
        ).id
        center.sign_for(_as("HW-DH", "handler"), iid)
        center.submit(_as("HW-DH", "handler"), iid, "cleared")
        start = perf_counter()
        center.verify(_as("HW", "dispatcher"), iid, accepted=True)
        verify.append(perf_counter() - start)
        reopen = n % 4 == 3
        start = perf_counter()
        center.follow_up(
            _as("HW", "dispatcher"),
            iid,
            contacted=True,
            resolved=not reopen,
            satisfaction="dissatisfied" if reopen else "satisfied",
        )
        follow.append(perf_counter() - start)
    return 1000 * median(verify), 1000 * median(follow)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.follow_ups")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CLOSEDLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    rows: list[tuple[str, float, float]] = []
    if args.store in ("sqlite", "both"):
        with sqlite_store() as urls:
            center = build_command_center(Settings(database_url=urls("followups")))
            try:
                rows.append(("sqlite", *run(center, args.cases)))
            finally:
                center.close()
    if args.store in ("postgres", "both"):
        reason = postgres_unreachable(args.postgres)
        if reason is not None:
            print(reason, file=sys.stderr)
            return 1
        with postgres_store(args.postgres) as urls:
            center = build_command_center(Settings(database_url=urls("followups")))
            try:
                rows.append(("postgres", *run(center, args.cases)))
            finally:
                center.close()
    print(f"{'store':<10} {'cases':>6} {'verify ms':>10} {'follow-up ms':>13}")
    for store, verify_ms, follow_ms in rows:
        print(f"{store:<10} {args.cases:>6} {verify_ms:>10.2f} {follow_ms:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

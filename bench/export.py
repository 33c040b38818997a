"""An admin's export of its subtree, against the auditor's export of the whole log (ADR 0042).

A fresh SQLite store in a temporary folder gets the demo district and ``--events`` real
domain events (storm warnings across five communities of two offices, written in bulk as
``bench.audit`` does), chained by the audit follower. Then ``--rounds`` rounds, each an
office admin's export (``subtree="HW-DH"``, which reads every record it meets once to
judge its units) set against the mean of the auditor's exports of the whole log on either
side of it (no record read, secrets redacted all the same). The figure is the median of
those ratios with their range: how many times longer an admin's export takes than the
whole log's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter

import audit
from bench.audit import bulk
from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings
from domain.application import CommandCenter
from domain.demo import load_demo
from projections.store import ViewStore

ADMIN_UNIT = "HW-DH"


def _export(center: CommandCenter, store: ViewStore, subtree: str | None) -> tuple[float, int]:
    started = perf_counter()
    lines = sum(1 for _ in audit.export_lines(center, store, subtree=subtree))
    return perf_counter() - started, lines


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench export", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(list(argv))
    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        settings = Settings(database_url=f"sqlite:///{folder}/bench.sqlite3")
        center = build_command_center(settings)
        load_demo(center)
        bulk(center, args.events, first=0)
        store = ViewStore.for_env(center.env)
        chain = audit.AuditChain.beside(
            center, store, audit.AuditSettings(key_path=folder / "audit.key")
        )
        while chain.step():
            pass
        head = center.head_position()
        print(f"SQLite, {head:,} events chained; admin of {ADMIN_UNIT} against the auditor")
        _export(center, store, None)  # warm-up
        ratios, whole, part = [], [], []
        shown = 0
        before, _ = _export(center, store, None)
        for _ in range(args.rounds):
            took, shown = _export(center, store, ADMIN_UNIT)
            after, _ = _export(center, store, None)
            ratios.append(took / ((before + after) / 2))
            whole.append(head / after)
            part.append(head / took)
            before = after
        print(f"  auditor's export  {statistics.median(whole):>10,.0f} events/s (whole log)")
        print(
            f"  admin's export    {statistics.median(part):>10,.0f} events/s read, "
            f"{shown:,} of {head:,} lines shown"
        )
        print(
            f"  ratio (admin time / auditor time): median {statistics.median(ratios):.2f}x, "
            f"range {min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)} rounds"
        )
        store.close()
        center.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0

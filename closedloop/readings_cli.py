"""``closedloop readings import FILE.csv|FILE.ndjson --unit CODE``: back-fill history into the
readings store (ADR 0073).

Each record carries the fields of ``POST /v1/observations``' readings (``source``,
``subject``, ``metric``, ``value``, ``unit_of_measure``, ``unit``, ``observed_at``). The
file goes through the same intake as the door, in batches of 1,000 named by the file's
content hash and the batch's number, so importing the same file twice changes nothing.
A reading older than its condition's current state is kept and decides nothing (the
intake's rule for late readings): a back-fill raises no warning for the past.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from closedloop.mqtt_payloads import reading_value
from closedloop.settings import Settings
from domain.errors import DomainError
from domain.meta import Actor, Context
from domain.rules import Reading

#: Readings per batch: the door's own limit.
BATCH = 1000


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The file's records: CSV with a header row, or one JSON object a line."""
    with path.open(encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".csv":
            for row in csv.DictReader(f):
                value = row.get("value", "")
                yield {**row, "value": reading_value(value)}
        else:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def to_reading(record: dict[str, Any]) -> Reading:
    return Reading(
        source=str(record.get("source", "import")),
        subject=str(record.get("subject") or record.get("station", "")),
        metric=str(record.get("metric", "")),
        value=record.get("value"),
        unit_of_measure=str(record.get("unit_of_measure", "")),
        location=str(record.get("location", "")),
        unit=str(record.get("unit", "")),
        observed_at=datetime.fromisoformat(str(record.get("observed_at"))),
        attributes={},
    )


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import Progress

    from closedloop.bootstrap import build_command_center
    from closedloop.intake_config import build_intake

    path = Path(args.file)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    center = build_command_center(settings)
    intake = build_intake(center, settings)
    actor = Actor(person="closedloop readings import", unit=args.unit, role="monitor")
    center.unit(args.unit)
    kept = refused = 0
    try:
        with path.open("rb") as f:
            lines = sum(1 for line in f if line.strip())
        total = lines - 1 if path.suffix.lower() == ".csv" else lines
        with Progress() as progress:
            task = progress.add_task(f"importing {path.name}", total=total)
            batch: list[Reading] = []
            number = 0

            def flush() -> None:
                nonlocal batch, number, kept, refused
                if not batch:
                    return
                name = f"import-{digest}-{number}"
                result = intake.observe(Context(actor, command_id=name), name, batch)
                refused += len(result.refused)
                kept += len(batch) - len(result.refused)
                for r in result.refused:
                    line = number * BATCH + r["index"] + 1
                    progress.console.print(f"record {line}: {r['field']}: {r['reason']}")
                progress.advance(task, len(batch))
                batch, number = [], number + 1

            units: dict[str, bool] = {}

            def speaks_for(unit: str) -> bool:
                # As at the door: a unit the network knows, within the importer's subtree.
                if unit not in units:
                    try:
                        center.unit(unit)
                        units[unit] = center.is_within(unit, args.unit)
                    except DomainError:
                        units[unit] = False
                return units[unit]

            for record in records(path):
                try:
                    reading = to_reading(record)
                    if not speaks_for(reading.unit):
                        raise ValueError(f"unit {reading.unit!r} is not within {args.unit}")
                    batch.append(reading)
                except (TypeError, ValueError) as e:
                    refused += 1
                    progress.advance(task)
                    progress.console.print(f"a record could not be read: {e}")
                if len(batch) >= BATCH:
                    flush()
            flush()
    finally:
        intake.readings.close()
        center.close()
    print(f"{kept} reading(s) kept, {refused} refused")
    return 0 if refused == 0 else 1


def add_readings_commands(sub: Any) -> None:
    readings = sub.add_parser("readings", help="the readings store (ADR 0073)")
    readings_sub = readings.add_subparsers(dest="readings_command", required=True)
    command = readings_sub.add_parser("import", help="back-fill readings from a CSV or NDJSON file")
    command.add_argument("file", metavar="FILE")
    command.add_argument("--unit", required=True, help="the unit the import speaks for")
    command.set_defaults(func=_import)

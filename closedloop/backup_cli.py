"""``closedloop backup FILE`` and ``closedloop restore FILE`` (ADR 0048).

``backup`` copies the running store (SQLite's online backup API, or ``pg_dump`` on
PostgreSQL) while commands go on; ``restore`` puts a backup into the fresh store that
``CLOSEDLOOP_DATABASE_URL`` names. ``cli.py`` adds both with :func:`add_backup_commands`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from closedloop.settings import Settings


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from closedloop.backup import BackupError, backup, backup_from_replica

    started = time.monotonic()
    try:
        if args.from_replica:
            replica = settings.server.read_database_url
            if not replica:
                print(
                    "closedloop backup: --from-replica needs CLOSEDLOOP_READ_DATABASE_URL, "
                    "the streaming replica's URL",
                    file=sys.stderr,
                )
                return 2
            written = backup_from_replica(settings.database_url, replica, Path(args.file))
        else:
            written = backup(settings.database_url, Path(args.file))
    except BackupError as e:
        print(f"closedloop backup: {e}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    sizes = ", ".join(f"{p} ({p.stat().st_size:,} bytes)" for p in written)
    print(f"backed up in {took:.1f} s: {sizes}")
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from closedloop.backup import BackupError, restore

    try:
        restore(Path(args.file), settings.database_url)
    except BackupError as e:
        print(f"closedloop restore: {e}", file=sys.stderr)
        return 1
    print(
        f"restored {args.file}; check it with `closedloop audit verify` and "
        "`closedloop projections verify`, then start the followers"
    )
    return 0


def add_backup_commands(subparsers: Any) -> None:
    """Add ``backup FILE`` and ``restore FILE`` to the CLI's subcommands."""
    made = subparsers.add_parser("backup", help="copy the running store into FILE (online)")
    made.add_argument("file", metavar="FILE")
    made.add_argument(
        "--from-replica",
        action="store_true",
        help="dump from the streaming replica (CLOSEDLOOP_READ_DATABASE_URL) once it has "
        "replayed the primary's writes, so the dump's reading runs on the replica's machine",
    )
    made.set_defaults(func=_backup)
    put = subparsers.add_parser("restore", help="restore FILE into a fresh store")
    put.add_argument("file", metavar="FILE")
    put.set_defaults(func=_restore)

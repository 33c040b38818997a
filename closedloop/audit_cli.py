"""``closedloop audit …``: verify the record, export it, chain and sign it now (ADR 0013, 0021).

closedloop audit verify [--public-key KEY]
closedloop audit export [--from POSITION|TIME] [--to POSITION|TIME] [--output FILE]
closedloop audit chain
closedloop audit checkpoints

``cli.py`` adds these with :func:`add_audit_commands`. ``verify`` exits 0 when the record
is untouched and 1 naming the first position at fault.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from closedloop.bootstrap import build_audit_settings, build_command_center
from closedloop.settings import Settings, SettingsError


def _bound(text: str | None, flag: str) -> int | datetime | None:
    """A log position (an integer) or a recorded time (ISO 8601 with an offset)."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"{flag} takes a log position or an ISO 8601 time, not {text!r}"
        ) from None
    if when.tzinfo is None:
        raise SettingsError(f"{flag}: the time must carry a time-zone offset, e.g. +08:00")
    return when


@contextmanager
def _opened(settings: Settings) -> Iterator[tuple[Any, Any, Any]]:
    """The command center, its view store and the audit settings, closed after use."""
    from projections.store import ViewStore

    center = build_command_center(settings)
    store = ViewStore.for_env(center.env)
    try:
        yield center, store, build_audit_settings(settings)
    finally:
        store.close()
        center.close()


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    import audit

    with _opened(settings) as (center, store, audit_settings):
        try:
            if args.public_key:
                try:
                    key = audit.PublicKey.from_verifier(args.public_key)
                except ValueError as e:
                    raise SettingsError(f"--public-key: {e}") from None
            else:
                key = audit.Signer.from_file(
                    audit_settings.key_path, audit_settings.origin, create=False
                ).public
            result = audit.verify(center, store, key)
        except FileNotFoundError as e:
            print(f"closedloop audit: no audit key at {e.filename}", file=sys.stderr)
            return 2
    if result.ok:
        print(result.summary())
        return 0
    for fault in sorted(result.faults, key=lambda f: f.position):
        print(f"closedloop audit: {fault}", file=sys.stderr)
    print(result.summary(), file=sys.stderr)
    return 1


def _export(args: argparse.Namespace, settings: Settings) -> int:
    import audit

    start, stop = _bound(args.start, "--from"), _bound(args.stop, "--to")
    with _opened(settings) as (center, store, _):
        lines = audit.export_lines(
            center,
            store,
            start=start if isinstance(start, int) else None,
            stop=stop if isinstance(stop, int) else None,
            since=start if isinstance(start, datetime) else None,
            until=stop if isinstance(stop, datetime) else None,
        )
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            for line in lines:
                out.write(line)
        finally:
            if args.output:
                out.close()
            else:
                out.flush()
    return 0


def _chain(args: argparse.Namespace, settings: Settings) -> int:
    import audit

    with _opened(settings) as (center, store, audit_settings):
        chain = audit.AuditChain.beside(center, store, audit_settings)
        checkpoint = chain.checkpoint_now()
        print(f"chained up to position {chain.position}")
        if checkpoint is not None:
            print(checkpoint.note(), end="")
    return 0


def _checkpoints(args: argparse.Namespace, settings: Settings) -> int:
    import audit

    with _opened(settings) as (_, store, _):
        for row in audit.checkpoints(store):
            print(row["note"])
    return 0


def add_audit_commands(subparsers: Any) -> None:
    """Add ``audit verify | export | chain | checkpoints`` to the CLI's subcommands."""
    auditing = subparsers.add_parser("audit", help="tamper evidence: verify and export the log")
    sub = auditing.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser(
        "verify", help="recompute the hash chain, check every checkpoint; non-zero if tampered"
    )
    verify.add_argument(
        "--public-key",
        default=None,
        metavar="KEY",
        help="the verifier key (GET /v1/audit/public-key) instead of the local key file",
    )
    verify.set_defaults(func=_verify)
    export = sub.add_parser("export", help="the log (or a slice) as NDJSON with chain hashes")
    export.add_argument("--from", dest="start", default=None, metavar="POSITION|TIME")
    export.add_argument("--to", dest="stop", default=None, metavar="POSITION|TIME")
    export.add_argument("--output", "-o", default=None, metavar="FILE")
    export.set_defaults(func=_export)
    for name, help_text, run in (
        ("chain", "chain what is recorded now and sign a checkpoint of its head", _chain),
        ("checkpoints", "print every signed checkpoint note", _checkpoints),
    ):
        sub.add_parser(name, help=help_text).set_defaults(func=run)

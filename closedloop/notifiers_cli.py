"""``closedloop notifiers run``: the outbox follower and the delivery worker in a process
of their own (on PostgreSQL; on the default SQLite store ``closedloop serve`` runs them).

Wire it with ``add_notifier_commands(subparsers)`` in the CLI's parser.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from closedloop.bootstrap import build_command_center
from closedloop.settings import Settings, SettingsError


def _notifiers_run(args: argparse.Namespace, settings: Settings) -> int:
    from closedloop.bootstrap import follower_metrics, start_telemetry
    from closedloop.workers import run_until_stopped
    from notifiers.service import Notifiers
    from projections.leadership import NOTIFIERS, Leadership
    from projections.store import ViewStore

    if not settings.is_postgres and not args.allow_sqlite:
        raise SettingsError(
            "notifiers run needs PostgreSQL; on SQLite closedloop serve runs the notifiers"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    start_telemetry(settings, "notifiers")
    metrics_start, metrics_stop = follower_metrics(settings)
    center = build_command_center(settings)
    store = ViewStore.for_url(settings.database_url)
    notifiers = Notifiers(
        center,
        store,
        config=settings.webhooks,
        follow=not args.no_follow,
        deliver=not args.no_deliver,
    )
    # On PostgreSQL the copies of this command divide the outbox and the partitions of
    # the subscriptions (ADR 0089).
    leadership = Leadership(store, NOTIFIERS, notifiers.pieces())
    notifiers.share(leadership)
    return run_until_stopped(
        [metrics_start, notifiers.start, leadership.start],
        # Let go first: the other copies take over while this one winds down.
        [leadership.stop, notifiers.stop, store.close, center.close, metrics_stop],
        f"notifiers following {settings.database_url}",
    )


def add_notifier_commands(subparsers: Any) -> None:
    notifiers = subparsers.add_parser("notifiers", help="webhook notifications")
    sub = notifiers.add_subparsers(dest="notifiers_command", required=True)
    run = sub.add_parser("run", help="derive and deliver notifications (own process)")
    run.add_argument("--no-follow", action="store_true", help="deliver only")
    run.add_argument("--no-deliver", action="store_true", help="derive only")
    run.add_argument("--allow-sqlite", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=_notifiers_run)


def main(argv: list[str] | None = None) -> int:
    """The notifier commands alone (``python -m closedloop.notifiers_cli notifiers run``); the
    same commands are part of ``closedloop``."""
    parser = argparse.ArgumentParser(prog="closedloop")
    add_notifier_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args, Settings.from_env())
    return result


if __name__ == "__main__":
    raise SystemExit(main())

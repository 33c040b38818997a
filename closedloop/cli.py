"""``closedloop``: the command line of the command center.

closedloop serve [--host H] [--port P] [--workers N] [--no-projections]
closedloop projections run | rebuild [NAME] | verify | status
closedloop watch run
closedloop backup FILE | restore FILE
closedloop demo load
closedloop demo simulate [--speed N] [--once] [--seed S]
closedloop demo tokens
closedloop demo accounts
closedloop account create --user U --unit CODE --role R [--role R2] [--name NAME]
closedloop account password --user U | close --user U --reason R | list | ticket --user U
closedloop units list
closedloop token create --unit CODE --role ROLE [--role ROLE...] --user NAME [--label TEXT]
                       [--expires-at TIME | --expires-in-days N]
closedloop token list
closedloop token revoke ID
closedloop readings import FILE.csv|FILE.ndjson --unit CODE
closedloop intake mqtt --unit CODE [--topic FILTER] [--host H] [--port P]
                       [--client-id ID --share GROUP]
"""

from __future__ import annotations

import argparse
import copy
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.tokens import ROLES, TokenBook
from closedloop.accounts_cli import add_account_commands, add_demo_accounts
from closedloop.audit_cli import add_audit_commands
from closedloop.backup_cli import add_backup_commands
from closedloop.bootstrap import build_command_center, owned
from closedloop.connections import ConnectionLimits, GuardedConfig
from closedloop.listeners import OwnListeners, kernel_balances, own_listeners
from closedloop.mqtt_door import add_intake_commands
from closedloop.notifiers_cli import add_notifier_commands
from closedloop.readings_cli import add_readings_commands
from closedloop.settings import Settings, SettingsError
from closedloop.simulation_cli import add_simulate_command
from domain.calendar import CalendarError
from domain.errors import DomainError


def asgi_app(*, follow_the_log: bool | None = None) -> Any:
    """The application of one server worker, built from the environment's settings.

    uvicorn calls this factory in each worker process (``serve --workers N`` starts them
    as processes of their own), so each reads the same environment through
    :meth:`Settings.from_env`, the one place that reads it (ADR 0036). By default the
    worker also runs everything that follows the log: the projections, the audit chain,
    the webhook notifiers, the playbooks and the deadline watch. With
    ``CLOSEDLOOP_PROJECTIONS=external``, or through :func:`asgi_app_answering_only`
    (``serve --no-projections``, PostgreSQL only), it only answers requests, and
    ``closedloop projections run``, ``notifiers run`` and ``watch run`` do that work in
    processes of their own. A setting refused stops the start at once; the database
    away or full makes the worker answer 503 until it is back (:mod:`api.starting`).
    """
    from api.starting import Starting
    from closedloop.bootstrap import build_app, import_the_server, start_telemetry

    settings = Settings.from_env()
    follows = settings.server.projections == "here" if follow_the_log is None else follow_the_log
    # Before anything is counted: the series go to the shared folder, if there is one.
    start_telemetry(settings, "api")

    def build(waiting: Callable[[BaseException], object]) -> Any:
        # Beside the first try to reach the database, so that a wait is said at once.
        importing = threading.Thread(target=import_the_server, name="closedloop-imports")
        importing.start()
        center = build_command_center(settings, serving=True, waiting=waiting)
        importing.join()
        return build_app(center, follow_the_log=follows, close_center=True, settings=settings)

    # It listens at once, answering 503 while the build waits for the database (ADR 0051).
    return Starting(build)


def asgi_app_answering_only() -> Any:
    """The worker of ``serve --no-projections``: the API alone, whatever the environment
    says; uvicorn's factory takes no arguments, so the flag picks this factory."""
    return asgi_app(follow_the_log=False)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers < 1:
        raise SettingsError("--workers must be at least 1")
    factory = "closedloop.cli:asgi_app"
    if args.no_projections:
        if not settings.is_postgres:
            raise SettingsError(
                "--no-projections needs PostgreSQL; on SQLite the server runs the projections"
            )
        factory = "closedloop.cli:asgi_app_answering_only"
    print(f"Closed Loop on {settings.database_url}")
    print(f"API docs: http://{args.host}:{args.port}/schema")
    shared = settings.telemetry.metrics_dir
    if shared is not None and settings.telemetry.metrics == "on":
        from telemetry.series import empty

        # What processes of an earlier run counted would be added for ever (ADR 0070).
        empty(shared)
        print(f"metrics of every worker summed in {shared}")
    # Each worker process builds its own command center on the same store.
    return run_asgi(factory, args.host, args.port, args.workers, connection_limits(settings))


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The server's timeouts and connection bound (ADR 0043), ``max_connections`` within
    what the process may open."""
    server = settings.server
    return ConnectionLimits(
        header_timeout=server.header_timeout_seconds,
        body_timeout=server.body_timeout_seconds,
        keep_alive=server.keep_alive_seconds,
        max_connections=server.max_connections,
    ).within_open_files()


#: Seconds a worker of ``serve --workers N`` may take to answer its supervisor.
WORKER_HEALTHCHECK = 30


def run_asgi(
    factory: str,
    host: str,
    port: int,
    workers: int,
    limits: ConnectionLimits | None = None,
) -> int:
    """Serve the application ``factory`` names with uvicorn, on one or several workers,
    slow clients cut off by ``limits`` (:mod:`closedloop.connections`); the exit status
    a supervisor reads (3: the server could not start, as uvicorn.run)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = GuardedConfig(
        factory,
        limits=limits or ConnectionLimits(),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # A worker answers it only once it has imported the server: past uvicorn's 5 s
        # on a loaded machine, workers only starting were killed (ADR 0051).
        timeout_worker_healthcheck=WORKER_HEALTHCHECK,
        **uvicorn_options(),
    )
    if workers == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    sockets = worker_listeners(config)
    supervisor = Multiprocess(config, sockets=sockets)
    try:
        supervisor.run()
    finally:
        for sock in sockets:
            sock.close()
        if isinstance(sockets, OwnListeners):
            sockets.close()
    # uvicorn's supervisor stops every worker when one fails to start, and says so only
    # in its log: the status says it too (it was 0, as for a clean stop).
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return STARTUP_FAILURE if failed else 0


def worker_listeners(config: Any) -> list[socket.socket]:
    """The sockets each worker of ``serve --workers N`` listens on: one of its own per
    worker where the kernel balances them (Linux's ``SO_REUSEPORT``), so that connections
    spread over the workers; elsewhere the one socket uvicorn shares (ADR 0088).

    The address is bound here first either way: a port already taken stops the start
    with uvicorn's message and status before any worker is started; with listeners of
    their own, the port stays reserved by the supervisor while it runs.
    """
    shared = tcp_listener(config)
    if not kernel_balances() or shared.family not in (socket.AF_INET, socket.AF_INET6):
        return [shared]
    return own_listeners(shared, config.host)


def uvicorn_options() -> dict[str, Any]:
    """What every uvicorn server of ours runs with: no ``server: uvicorn`` header (it
    names the software to a scanner, issue 19), and the access log with credentials
    redacted from the request line (:class:`api.query_secrets.RedactSecrets`). The log
    configuration is data, so each worker process applies it as it starts."""
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["filters"] = {"secrets": {"()": "api.query_secrets.RedactSecrets"}}
    for handler in log_config["handlers"].values():
        handler["filters"] = ["secrets"]
    return {"log_level": "info", "server_header": False, "log_config": log_config}


def tcp_listener(config: Any) -> socket.socket:
    """The listening socket uvicorn binds for its workers, marked as TCP.

    uvicorn creates it with protocol 0, and asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on connections accepted from a socket whose protocol is TCP: each
    keep-alive request would otherwise wait about 40 ms for a delayed ACK
    (uvicorn issue 3149). The same descriptor, wrapped again with the protocol named.
    """
    sock: socket.socket = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return sock
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


#: The demo tokens ``make run`` prints: (who, unit, roles).
DEMO_TOKENS: list[tuple[str, str, list[str]]] = [
    ("district dispatcher", "HW", ["dispatcher"]),
    # The office both handles what the district sends and verifies what it forwards.
    ("office handler", "HW-DH", ["handler", "dispatcher"]),
    ("community handler", "HW-DH-QS", ["handler"]),
    ("duty officer", "HW", ["duty_officer"]),
    # Speaks for the district's CAP senders (domain/demo.py: DEMO_CAP_SENDERS).
    ("district monitor", "HW", ["monitor"]),
    ("auditor", "HC", ["auditor"]),
    ("admin", "HC", ["admin"]),
]
DEMO_LABEL = "demo"
#: How long a demo token lives: a demo left running is not a door left open (ADR 0042).
DEMO_LIFETIME = timedelta(days=30)


def _book(settings: Settings) -> TokenBook:
    return TokenBook(build_command_center(settings), max_lifetime=settings.token_max_lifetime)


def _demo_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from domain.meta import now

    book = _book(settings)
    for entry in book.list():
        if entry["label"] == DEMO_LABEL and not entry["revoked"]:
            book.revoke(entry["token_id"], by="closedloop demo tokens", reason="demo reissued")
    lifetime = min(DEMO_LIFETIME, settings.token_max_lifetime or DEMO_LIFETIME)
    expires_at = now() + lifetime
    zone = ZoneInfo(book.center.calendar.zone)
    print(
        f"Demo tokens (shown once; they expire in {lifetime.days} days, at "
        f"{expires_at.astimezone(zone).isoformat(timespec='seconds')}; "
        "`closedloop demo tokens` issues new ones):"
    )
    for who, unit, roles in DEMO_TOKENS:
        issued = book.issue(
            user=f"demo {who}",
            unit=unit,
            roles=roles,
            label=DEMO_LABEL,
            issued_by="demo",
            expires_at=expires_at,
        )
        print(f"  {who:<20} {unit:<9} {issued.secret}")
    print(
        f"Try: curl -H 'Authorization: Bearer <token>' http://{settings.host}:{settings.port}/v1/units"
    )
    return 0


def _expiry(args: argparse.Namespace) -> datetime | None:
    """``--expires-at`` (RFC 3339 with an offset) or ``--expires-in-days``, or None."""
    from domain.meta import now

    if args.expires_in_days is not None:
        if args.expires_in_days < 1:
            raise DomainError("--expires-in-days must be at least 1")
        return now() + timedelta(days=args.expires_in_days)
    if args.expires_at is None:
        return None
    try:
        return datetime.fromisoformat(args.expires_at)
    except ValueError:
        example = "2027-01-31T18:00:00+08:00"
        raise DomainError(
            f"--expires-at must be a time such as {example}, not {args.expires_at!r}"
        ) from None


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    book = _book(settings)
    issued = book.issue(
        user=args.user,
        unit=args.unit,
        roles=args.role,
        label=args.label,
        expires_at=_expiry(args),
    )
    print(issued.secret)
    until = "never expires"
    if issued.expires_at is not None:
        zone = ZoneInfo(book.center.calendar.zone)
        until = f"expires at {issued.expires_at.astimezone(zone).isoformat(timespec='seconds')}"
    print(
        f"token {issued.token_id} for {issued.user} at {issued.unit} "
        f"({', '.join(issued.roles)}), {until}; the secret above is shown only once",
        file=sys.stderr,
    )
    return 0


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    for e in _book(settings).list():
        state = "revoked" if e["revoked"] else "active"
        print(
            f"{e['token_id']}\t{state}\t{e['unit']}\t{','.join(e['roles'])}\t{e['user']}"
            f"\t{e['issued_at']}\t{e['label']}\t{e['expires_at'] or '-'}"
        )
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    _book(settings).revoke(args.token_id, by="cli")
    print(f"token {args.token_id} revoked")
    return 0


def _demo_load(args: argparse.Namespace, settings: Settings) -> int:
    from domain.demo import bind_demo_senders, load_demo

    center = build_command_center(settings)
    added = load_demo(center)
    print(f"demo district: {added} unit(s) added, {len(center.units())} on the record")
    bound = bind_demo_senders(center)
    print(f"demo CAP senders: {bound} bound")
    from domain.roster_demo import load_demo_rosters

    rostered = load_demo_rosters(center)
    print(f"demo duty rosters: {rostered} unit(s) given a week of shifts")
    return 0


def _units_list(args: argparse.Namespace, settings: Settings) -> int:
    center = build_command_center(settings)
    for u in center.units():
        state = "active" if u.active else "inactive"
        print(f"{u.code}\t{u.level}\t{u.kind}\t{u.parent or '-'}\t{state}\t{u.name}\t{u.name_en}")
    return 0


def _projections_run(args: argparse.Namespace, settings: Settings) -> int:
    import functools
    import logging

    from audit import AuditChain
    from closedloop.bootstrap import build_audit_settings, follower_metrics, start_telemetry
    from closedloop.workers import run_until_stopped
    from projections.leadership import AUDIT_CHAIN, PROJECTIONS, Leadership
    from projections.service import ReadModels

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    start_telemetry(settings, "projections")
    metrics_start, metrics_stop = follower_metrics(settings)
    center = build_command_center(settings)
    reads = ReadModels.beside(center, run=True, poll_interval=args.poll)
    assert reads.runner is not None
    if args.no_listen:
        reads.runner.listen = False
    chain = AuditChain.beside(center, reads.store, build_audit_settings(settings))
    # On PostgreSQL the copies of this command divide the views and the chain (ADR 0074).
    versions = {v.name: v.version for v in reads.runner.views} | {AUDIT_CHAIN: chain.form}
    leadership = Leadership(reads.store, PROJECTIONS, versions)
    reads.runner.share(leadership)
    if leadership.divided:
        chain.leading = functools.partial(leadership.leads, AUDIT_CHAIN)
        leadership.on_change.append(chain.poke)
    return run_until_stopped(
        [metrics_start, reads.start, chain.start, leadership.start],
        # Let go first: the other copies take over while this one winds down.
        [leadership.stop, chain.stop, reads.stop, center.close, metrics_stop],
        f"projections and the audit chain following {settings.database_url}",
    )


def _projections_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from projections.registry import build_views, view_classes
    from projections.runner import Runner
    from projections.store import ViewStore

    center = build_command_center(settings)
    store = ViewStore.for_env(center.env)
    classes = [c for c in view_classes() if args.name in (None, c.name)]
    if not classes:
        names = ", ".join(c.name for c in view_classes())
        print(f"closedloop: no view named {args.name}; the views are: {names}", file=sys.stderr)
        return 2
    views = build_views(store, center.calendar, classes)
    for view in views:
        store.reset(view)
    head = center.head_position()
    runner = Runner(center, store, views, batch=args.batch, listen=False)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task(", ".join(v.name for v in views), total=head)

        def runner_position() -> int:
            return min(runner.positions.values(), default=0)

        runner.catch_up(lambda n: progress.update(task, completed=min(runner_position(), head)))
        progress.update(task, completed=head)
    print(f"rebuilt {', '.join(v.name for v in views)} up to position {runner_position()}")
    store.close()
    return 0


def _projections_verify(args: argparse.Namespace, settings: Settings) -> int:
    from projections.store import ViewStore
    from projections.verify import verify_views

    center = build_command_center(settings)
    live = ViewStore.for_env(center.env)
    try:
        for verdict in verify_views(center, live):
            if not verdict.ok:
                print(f"closedloop: {verdict.line()}", file=sys.stderr)
                return 1
            print(verdict.line())
        return 0
    finally:
        live.close()


def _projections_status(args: argparse.Namespace, settings: Settings) -> int:
    from projections.service import ReadModels

    reads = ReadModels.beside(build_command_center(settings), run=False)
    for v in reads.status():
        beat = "-" if v["heartbeat_age"] is None else f"{v['heartbeat_age']:.1f}s"
        leader = f"\tled by {v['leader']}" if v["leader"] else ""
        print(
            f"{v['view']}\t{v['position']}\t{v['head']}\tlag {v['lag']}\theartbeat {beat}{leader}"
        )
    # The copies that share the followers' work (PostgreSQL, ADR 0074), and what waits.
    for c in reads.copies():
        leads = ", ".join(c["leads"]) or "nothing"
        print(f"copy {c['role']}\t{c['copy']}\tleads {leads}")
        for piece, why in c["waiting"].items():
            print(f"copy {c['role']}\t{c['copy']}\twaits for {piece}: {why}")
    # The shared MQTT door's copies (ADR 0096): each takes its share of its group, and a
    # gone one's session waits for a survivor to adopt it.
    from closedloop.mqtt_copies import registered_copies

    for m in registered_copies(settings.store()):
        state = (
            "gone: its session waits for a survivor to adopt it"
            if not m.live
            else "live, handing its share over"
            if m.leaving
            else "live"
        )
        print(f"mqtt {m.group}\t{m.client_id}\t{m.host} pid {m.pid}\t{state}")
    return 0


def _watch_run(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from closedloop.bootstrap import (
        build_background,
        build_read_models,
        follower_metrics,
        start_telemetry,
    )
    from closedloop.workers import run_until_stopped
    from projections.leadership import WATCH, Leadership

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    start_telemetry(settings, "watch")
    metrics_start, metrics_stop = follower_metrics(settings)
    center = build_command_center(settings)
    reads = build_read_models(center, run=False)
    reads.start()  # the views' tables, to read the open instructions from
    background = build_background(center, reads.store, settings=settings)
    # On PostgreSQL the copies of this command divide the two loops (ADR 0074).
    leadership = Leadership(reads.store, WATCH, dict.fromkeys(background.PIECES, 1))
    background.share(leadership)
    return run_until_stopped(
        [metrics_start, background.start, leadership.start],
        [leadership.stop, background.stop, reads.stop, center.close, metrics_stop],
        "playbooks and the deadline watch are running; Ctrl-C stops them",
    )


def _command(subparsers: Any, name: str, help: str, run: Any) -> argparse.ArgumentParser:
    """A subcommand that runs ``run(args, settings)``; its flags are added to what it returns."""
    command: argparse.ArgumentParser = subparsers.add_parser(name, help=help)
    command.set_defaults(func=run)
    return command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="closedloop", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    serve = _command(sub, "serve", "run the HTTP API", _serve)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--no-projections",
        action="store_true",
        help="on PostgreSQL: leave the views to `closedloop projections run`",
    )

    projections = sub.add_parser("projections", help="the read models (views)")
    proj_sub = projections.add_subparsers(dest="projections_command", required=True)
    run = _command(
        proj_sub, "run", "follow the log and feed the views (own process)", _projections_run
    )
    run.add_argument("--poll", type=float, default=1.0, help="fallback polling interval (s)")
    run.add_argument("--no-listen", action="store_true", help="poll only, no LISTEN/NOTIFY")
    rebuild = _command(
        proj_sub, "rebuild", "drop the views and replay the whole log", _projections_rebuild
    )
    rebuild.add_argument("name", nargs="?", default=None, metavar="NAME")
    rebuild.add_argument("--batch", type=int, default=5000)
    _command(
        proj_sub,
        "verify",
        "rebuild into a scratch area and compare with the live views",
        _projections_verify,
    )
    _command(proj_sub, "status", "each view's position, the head and the lag", _projections_status)

    add_audit_commands(sub)
    add_backup_commands(sub)
    add_notifier_commands(sub)
    add_readings_commands(sub)
    add_intake_commands(sub)

    watch = sub.add_parser("watch", help="playbooks and the deadline watch")
    watch_sub = watch.add_subparsers(dest="watch_command", required=True)
    _command(
        watch_sub,
        "run",
        "run them on their own (serve runs them in-process by default)",
        _watch_run,
    )

    demo = sub.add_parser("demo", help="the demo district")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    _command(demo_sub, "load", "load the demo district (twice changes nothing)", _demo_load)
    add_simulate_command(demo_sub)
    _command(
        demo_sub, "tokens", "print seven new demo tokens (30 days), revoking the last", _demo_tokens
    )
    add_demo_accounts(demo_sub, DEMO_TOKENS)
    add_account_commands(sub)

    token = sub.add_parser("token", help="bearer tokens of the API")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = _command(token_sub, "create", "issue a token and print it once", _token_create)
    create.add_argument("--unit", required=True)
    create.add_argument("--role", required=True, action="append", choices=ROLES)
    create.add_argument("--user", required=True)
    create.add_argument("--label", default="")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-at", metavar="TIME", help="RFC 3339 with an offset")
    expiry.add_argument("--expires-in-days", metavar="N", type=int)
    _command(token_sub, "list", "one token a line, its id first", _token_list)
    revoke = _command(token_sub, "revoke", "revoke a token by its id", _token_revoke)
    revoke.add_argument("token_id", metavar="ID")

    units = sub.add_parser("units", help="the command network")
    units_sub = units.add_subparsers(dest="units_command", required=True)
    _command(units_sub, "list", "one unit a line, its code first", _units_list)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(args, "host", None) is None and hasattr(args, "host"):
            args.host = settings.host
        if getattr(args, "port", None) is None and hasattr(args, "port"):
            args.port = settings.port
        with owned():
            result: int = args.func(args, settings)
        return result
    except (SettingsError, CalendarError) as e:
        print(f"closedloop: configuration error: {e}", file=sys.stderr)
        return 2
    except DomainError as e:
        print(f"closedloop: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The one place where Closed Loop is wired together from its settings.

Nothing is built at import time: the CLI, the server and the tests all call
:func:`build_command_center` with the settings they want.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from closedloop.catalogues import load_calendar
from closedloop.session_limits import statements_limited
from closedloop.settings import Settings, SettingsError, StoreSettings
from domain.application import CommandCenter
from projections.outage import until_reachable
from projections.store.postgres import STATEMENT_TIMEOUT

if TYPE_CHECKING:
    from litestar import Litestar

    from audit import AuditSettings
    from closedloop.mqtt_copies import Copies
    from closedloop.workers import Background
    from domain.intake import Intake
    from projections.service import ReadModels
    from projections.store import ViewStore


@contextlib.contextmanager
def _one_process_at_a_time(store: StoreSettings) -> Iterator[None]:
    """On PostgreSQL, hold an advisory lock of the schema while the event store's tables
    are created. The library re-runs ``CREATE OR REPLACE FUNCTION`` each time, and two
    processes doing that at the same moment (two ``notifiers run``, ``serve --workers``)
    make one of them fail with "tuple concurrently updated"."""
    if store.conninfo is None:
        yield
        return
    import psycopg

    with psycopg.connect(store.conninfo, autocommit=True) as conn:
        key = "closedloop:create-tables:" + (store.env.get("POSTGRES_SCHEMA") or "public")
        # A process that hangs holding the lock must not stall every later start in
        # silence: past a minute the start fails, naming the lock.
        conn.execute("SET lock_timeout = '60s'")
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        except psycopg.errors.LockNotAvailable:
            raise RuntimeError(
                f"another process has held the lock for creating the event store's tables "
                f"({key}) for a minute; is one stuck while starting?"
            ) from None
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def build_command_center(
    settings: Settings | None = None,
    *,
    serving: bool = False,
    waiting: Callable[[BaseException], object] | None = None,
) -> CommandCenter:
    """The command center on the store and calendar of ``settings`` (by default, those
    the environment gives).

    ``serving``: for a server process, whose statements on PostgreSQL (the event store's
    and the views' beside it) are cancelled past ``CLOSEDLOOP_STATEMENT_TIMEOUT_SECONDS``
    (ADR 0051). The followers' processes and the tools have no such limit: a catch-up or
    a verification may rightly run long, and no client waits on it. ``waiting`` is told
    of each outage the start waits out (:func:`projections.outage.until_reachable`)."""
    settings = settings or Settings.from_env()
    store = settings.store()
    calendar = load_calendar(settings.calendar_path)
    limit = settings.server.statement_timeout_seconds if serving and store.is_postgres else 0
    env = {**store.env, STATEMENT_TIMEOUT: f"{limit:g}"} if limit else store.env

    def build() -> CommandCenter:
        with _one_process_at_a_time(store), statements_limited(limit):
            return CommandCenter(
                env=env,
                calendar=calendar,
                dispute_limits=settings.dispute_limits(),
                follow_up_limits=settings.follow_up_limits(),
                check_in_limit=timedelta(minutes=settings.server.check_in_limit_minutes),
            )

    # A process started while the database is away or full waits for it (ADR 0047).
    center = until_reachable(build, "the event store", waiting=waiting)
    assert center is not None  # nothing stops the wait but the database back
    owner = _OWNER.get()
    if owner is not None:
        owner.callback(center.close)
    return center


#: What closes the command centers built while a command runs (see :func:`owned`).
_OWNER: ContextVar[contextlib.ExitStack | None] = ContextVar("closedloop_owner", default=None)


@contextlib.contextmanager
def owned() -> Iterator[None]:
    """Close every command center built within, when it ends: a command of the command
    line ends with its centers closed, whatever it did with them. Left to the garbage
    collector, a PostgreSQL center may be collected on one of its own pool's threads,
    whose close then cannot join that thread. Closing twice is harmless, so a command
    that closes its center itself loses nothing."""
    with contextlib.ExitStack() as stack:
        token = _OWNER.set(stack)
        try:
            yield
        finally:
            _OWNER.reset(token)


def build_audit_settings(settings: Settings) -> AuditSettings:
    """The audit chain's settings from those the environment gave (ADR 0013, 0036)."""
    from datetime import timedelta

    from audit import AuditSettings

    return AuditSettings(
        key_path=settings.audit.key_path,
        every_events=settings.audit.checkpoint_events,
        every=timedelta(minutes=settings.audit.checkpoint_minutes),
        origin=settings.audit.origin,
    )


def build_mqtt_copies(
    settings: Settings, group: str, client_id: str, filters: Sequence[str]
) -> Copies | None:
    """How a shared copy of the MQTT door knows the others of its group (ADR 0096): a
    roster beside the store ``settings`` name, or None for a store in memory."""
    from closedloop.mqtt_copies import Copies, roster_for

    roster = roster_for(settings.store(), group)
    return None if roster is None else Copies(roster, client_id, filters)


def build_read_models(
    center: CommandCenter, *, run: bool = True, settings: Settings | None = None
) -> ReadModels:
    """The views beside ``center``'s store; with ``run``, fed by a runner in this process;
    read from the streaming replica the settings name, if any (ADR 0072)."""
    from projections.service import ReadModels

    reads = ReadModels.beside(center, run=run)
    if settings is not None and settings.server.read_database_url:
        server = settings.server
        if not settings.is_postgres:
            reads.stop()
            raise SettingsError(
                "CLOSEDLOOP_READ_DATABASE_URL needs a PostgreSQL CLOSEDLOOP_DATABASE_URL: "
                "the replica is a standby of that primary"
            )
        reads.with_replica(
            server.read_database_url,
            max_lag=server.replica_max_lag_seconds,
            wait=server.replica_wait_seconds,
            statement_timeout=server.statement_timeout_seconds,
        )
    return reads


def build_background(
    center: CommandCenter,
    store: ViewStore,
    intake: Intake | None = None,
    settings: Settings | None = None,
) -> Background:
    """Playbooks and the deadline watch (with the shipped intake unless one is given)."""
    from closedloop.escalation_config import load_escalation_policy
    from closedloop.intake_config import build_intake
    from closedloop.workers import Background

    # The escalation policy file is checked here, as the process starts (ADR 0084).
    policy = load_escalation_policy(settings.escalation_path) if settings else None
    return Background(
        center, store, intake or build_intake(center, settings), escalation_policy=policy
    )


def import_the_server() -> None:
    """Import what :func:`build_app` needs (a couple of seconds on a loaded machine): a
    server waiting for the database does it meanwhile, and is ready sooner once it is
    back (ADR 0051)."""
    import api.app  # noqa: F401
    import audit  # noqa: F401
    import closedloop.intake_config  # noqa: F401
    import notifiers.service  # noqa: F401


def build_app(
    center: CommandCenter,
    *,
    follow_the_log: bool = True,
    close_center: bool = False,
    settings: Settings | None = None,
) -> Litestar:
    """The whole server on ``center``: the API, and, unless ``follow_the_log`` is off,
    everything that follows the log in the same process (projections, audit chain,
    webhook notifiers, playbooks and the deadline watch). With it off, other processes
    (``projections run``, ``notifiers run``, ``watch run``) do that work."""
    from api.admission import Admission
    from api.app import create_app
    from api.rate_limits import RateLimits
    from audit import AuditChain
    from closedloop.evaluation_config import load_evaluation_policy
    from closedloop.intake_config import build_intake
    from notifiers.service import Notifiers

    settings = settings or Settings.from_env()
    audit = build_audit_settings(settings)
    reads = build_read_models(center, run=follow_the_log, settings=settings)
    intake = build_intake(center, settings)  # one for the API and the playbooks alike
    notifiers = Notifiers(
        center,
        reads.store,
        config=settings.webhooks,
        follow=follow_the_log,
        deliver=follow_the_log,
    )
    starts: list[Callable[[], Any]] = []
    stops: list[Callable[[], Any]] = []
    if follow_the_log:
        # Several workers may each run these: each takes turns on its tracking rows, and
        # deliveries are claimed with a lease, so nothing is done twice.
        background = build_background(center, reads.store, intake)
        chain = AuditChain.beside(center, reads.store, audit)
        starts += [background.start, chain.start, notifiers.start]
        stops += [notifiers.stop, chain.stop, background.stop]
    app = create_app(
        center,
        reads=reads,
        intake=intake,
        on_startup=starts,
        on_shutdown=stops,
        token_cache_seconds=settings.token_cache_seconds,
        token_max_lifetime=settings.token_max_lifetime,
        read_wait=settings.read_wait_seconds,
        admission=Admission(
            in_flight=settings.server.max_in_flight,
            queued=settings.server.max_queued,
            wait=settings.server.queue_wait_seconds,
            deadline=settings.server.request_deadline_seconds,
        ),
        rate_limits=RateLimits(settings.server.auth_failure_limit, settings.server.write_limit),
        read_your_writes=settings.read_your_writes,
        session_policy=settings.session_policy,
        sign_in_failures=settings.server.sign_in_failure_limit,
        evaluation=load_evaluation_policy(settings.evaluation_path),
    )
    if close_center:
        # Last of all: the followers and the views' runner use the store until they stop.
        app.on_shutdown.append(center.close)
    app.state["webhooks"] = notifiers
    # The API's audit routes sign with these (ADR 0036), not with settings of their own.
    app.state["audit_settings"] = audit
    return app


def start_telemetry(settings: Settings, role: str) -> None:
    """Metrics and traces for this process (ADR 0070), before anything counts: off, in
    memory, or in the machine's shared multiprocess folder; tracing to the OTLP
    endpoint when it is on, the spans named ``{service_name}-{role}``."""
    from closedloop.settings import lend_metrics_dir
    from telemetry import series, tracing

    telemetry = settings.telemetry
    if telemetry.metrics == "off":
        series.switch_off()
    elif telemetry.metrics_dir is not None:
        lend_metrics_dir(telemetry)
        series.share_in(telemetry.metrics_dir)
    if telemetry.tracing == "otlp" and not tracing.tracing():
        tracing.start(telemetry.otlp_endpoint, f"{telemetry.service_name}-{role}")


def follower_metrics(settings: Settings) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """A follower's own ``/metrics`` on ``CLOSEDLOOP_METRICS_PORT`` (none when it is 0):
    its start and its stop, for :func:`closedloop.workers.run_until_stopped`. It says
    the same series as the API's (the shared folder's sum, when there is one)."""
    telemetry = settings.telemetry
    stopping: list[Callable[[], Any]] = []

    def start() -> None:
        if not telemetry.metrics_port:
            return
        from prometheus_client import CollectorRegistry, start_http_server

        from telemetry import series

        registry = CollectorRegistry(auto_describe=False)
        for collector in series.collectors():
            registry.register(collector)
        server, _thread = start_http_server(
            telemetry.metrics_port, addr=telemetry.metrics_host, registry=registry
        )
        stopping.append(server.shutdown)
        print(f"metrics: http://{telemetry.metrics_host}:{telemetry.metrics_port}/metrics")

    def stop() -> None:
        from telemetry import tracing

        for halt in stopping:
            halt()
        tracing.stop()

    return start, stop

"""The Litestar application factory.

``create_app`` is given a ready :class:`~domain.application.CommandCenter` by the
composition root, and the read models (the views and, when they run in this process,
their runner); it builds nothing of the domain itself, only the API's own services
(the token book, the idempotency records).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from litestar import Litestar, MediaType, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from api.access import Services, authenticate, current_principal, current_services
from api.account_admin import ACCOUNT_HANDLERS
from api.accounts import AccountBook
from api.admission import Admission
from api.audit import AUDIT_HANDLERS
from api.board import BoardController
from api.cap_senders import CAP_SENDER_HANDLERS
from api.contract import ClosedStructs, allow_every_method, described, publish_exactly, strict_times
from api.dead_letters import DEAD_LETTER_HANDLERS
from api.dispositions import DispositionController
from api.docs_page import OfflineSwagger, static_files
from api.evaluations import EVALUATION_HANDLERS
from api.headers import add_read_headers, add_safety_headers
from api.http import READ, current_call
from api.idempotency import IdempotencyBook
from api.instructions import InstructionController, InstructionSteps
from api.intake import INTAKE_HANDLERS
from api.merging import WarningMergeSteps
from api.metrics import exposition, metrics_registry
from api.notices import NOTICE_HANDLERS
from api.observing import observe_requests
from api.problems import EXCEPTION_HANDLERS, RETRY_AFTER, ProblemError
from api.query_secrets import refuse_secrets_in_query
from api.rate_limits import RateLimits
from api.reports import ReportController
from api.rosters import ROSTER_HANDLERS
from api.schemas import FollowerCopy, Health, ProjectionStatus, ReplicaHealth
from api.screens import screens
from api.screens.errors import pages_or
from api.screens.sessions import SessionBook, SessionPolicy
from api.silences import SILENCE_HANDLERS
from api.stations import STATION_HANDLERS
from api.subscriptions import SUBSCRIPTION_HANDLERS
from api.token_admin import TOKEN_HANDLERS
from api.tokens import DEFAULT_CACHE_SECONDS, TokenBook
from api.units import UnitController
from api.views import Views
from api.warnings import WarningController, WarningSteps
from api.whistles import WhistleController, WhistleReportController
from domain.application import CommandCenter
from domain.evaluation import EvaluationPolicy
from domain.intake import Intake
from projections.outage import is_outage, until_reachable, what_is_wrong
from projections.service import ReadModels

#: Bodies over 1 MiB are refused (413) before they are read in full.
MAX_BODY = 1024 * 1024


#: Wrong passwords one address may send before it is slowed (issue 20: five a minute).
DEFAULT_SIGN_IN_FAILURES = "5/minute"

#: The longest ``/health`` waits for the stores before it answers what it knows.
HEALTH_WAIT = 0.8


class HealthCheck:
    """The stores asked by one thread of its own, so that ``/health`` answers within
    :data:`HEALTH_WAIT` whatever the request threads and the pools are doing (ADR 0047);
    a check still running when the next request comes is awaited, not repeated."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="closedloop-health")
        self._running: Future[tuple[list[dict[str, Any]], list[dict[str, Any]]]] | None = None
        self._since = 0.0

    async def views(self, services: Services) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each view's status, and the followers' copies (ADR 0074)."""

        def ask() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return services.reads.status(), services.reads.copies()

        if self._running is None or self._running.done():
            self._running = self._thread.submit(ask)
            self._since = time.monotonic()
        elif time.monotonic() - self._since > HEALTH_WAIT:
            # A check past its wait already: the stores are hung, said at once (ADR 0051).
            raise TimeoutError
        running = asyncio.wrap_future(self._running)
        return await asyncio.wait_for(asyncio.shield(running), HEALTH_WAIT)

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


def _unavailable(what: str, admission: Admission) -> ProblemError:
    """The health check's 503: what is wrong, and how full the queue is."""
    return ProblemError(
        503,
        f"{what} ({admission.describe()})",
        code="store-unavailable",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


@get("/health", opt={"public": True}, responses=READ, tags=("system",))
async def health(services: NamedDependency[Services], state: State) -> Health:
    """Whether the event store answers, and how far each view has read its log; a 503
    that says what is wrong when it does not (within a second)."""
    admission: Admission = state.admission
    try:
        views, copies = await state.health.views(services)
    except TimeoutError:
        raise _unavailable(
            f"the stores did not answer within {HEALTH_WAIT:g} s", admission
        ) from None
    except Exception as e:
        wrong = what_is_wrong(e) if is_outage(e) else f"{type(e).__name__}"
        raise _unavailable(f"the event store cannot be reached: {wrong}", admission) from e
    replica = services.reads.replica
    return Health(
        status="ok",
        store="reachable",
        head=views[0]["head"] if views else 0,
        projections=[ProjectionStatus(**v) for v in views],
        copies=[FollowerCopy(**c) for c in copies],
        # Said from memory (the replica's own check keeps it): a replica that is away
        # slows no health check.
        replica=None if replica is None else ReplicaHealth(**replica.status()),
        busy=admission.busy,
        waiting=admission.waiting,
        turned_away=admission.turned_away,
    )


@get(
    "/metrics",
    sync_to_thread=True,
    opt={"public": True},
    media_type=MediaType.TEXT,
    tags=("system",),
)
def metrics(state: State) -> str:
    """Prometheus text format: the log's head, each view's position, lag and heartbeat;
    the webhooks' queue, and their subscriptions and failing endpoints counted; the abuse
    limits, and what they refused; requests, commands, the views' batches, webhook
    attempts and the intake, counted by this process (or all of the machine's)."""
    # text/plain is Prometheus's text exposition format (version 0.0.4 by default).
    return exposition(state.metrics)


def patiently(start: Callable[[], Any]) -> Callable[[], None]:
    """A start hook that waits for the database while it is away or full, instead of
    failing the server's start (and its supervisor restarting it in a loop, ADR 0047)."""

    def start_when_reachable() -> None:
        until_reachable(start, getattr(start, "__qualname__", "the server"))

    return start_when_reachable


def build_services(
    center: CommandCenter,
    reads: ReadModels,
    read_wait: float,
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    token_max_lifetime: timedelta | None = None,
    rate_limits: RateLimits | None = None,
    read_your_writes: bool = True,
    evaluation: EvaluationPolicy | None = None,
) -> Services:
    return Services(
        center=center,
        reads=reads,
        tokens=TokenBook(center, token_cache_seconds, max_lifetime=token_max_lifetime),
        accounts=AccountBook(center, token_cache_seconds),
        idempotency=IdempotencyBook(center),
        views=Views(center.calendar.zone),
        read_wait=read_wait,
        limits=rate_limits or RateLimits(),
        sessions=reads.sessions if read_your_writes else None,
        evaluation=evaluation,
    )


def create_app(
    center: CommandCenter,
    *,
    reads: ReadModels,
    read_wait: float = 5.0,
    debug: bool = False,
    on_startup: Sequence[Callable[[], Any]] = (),
    on_shutdown: Sequence[Callable[[], Any]] = (),
    intake: Intake | None = None,
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    token_max_lifetime: timedelta | None = None,
    admission: Admission | None = None,
    rate_limits: RateLimits | None = None,
    read_your_writes: bool = True,
    session_policy: SessionPolicy | None = None,
    sign_in_failures: str = DEFAULT_SIGN_IN_FAILURES,
    evaluation: EvaluationPolicy | None = None,
) -> Litestar:
    """The API on ``center``, reading the views of ``reads``: the composition root
    builds them (``closedloop.bootstrap.build_read_models``), the API starts and stops them.

    ``read_wait`` bounds a read-your-writes wait (seconds);
    ``token_cache_seconds`` is how long a token found valid is trusted from memory;
    ``read_your_writes`` makes a principal's reads wait for its own last write (ADR 0045);
    ``rate_limits`` are the abuse limits (the defaults of :class:`RateLimits` if None);
    ``token_max_lifetime`` the longest a token issued over the API may live;
    ``admission`` bounds the requests answered at once and waiting (ADR 0047);
    ``session_policy`` says how long the screens' sessions live and ``sign_in_failures``
    how many wrong passwords an address may send (ADR 0053); ``evaluation`` is the
    comprehensive evaluation's policy, checked at start (the shipped one if None, ADR 0086).
    """
    services = build_services(
        center,
        reads,
        read_wait,
        token_cache_seconds,
        token_max_lifetime=token_max_lifetime,
        rate_limits=rate_limits,
        read_your_writes=read_your_writes,
        evaluation=evaluation,
    )
    admission = admission or Admission()
    checks = HealthCheck()
    app = Litestar(
        route_handlers=[
            health,
            metrics,
            BoardController,
            UnitController,
            WarningController,
            WarningSteps,
            WarningMergeSteps,
            InstructionController,
            InstructionSteps,
            DispositionController,
            ReportController,
            *EVALUATION_HANDLERS,
            WhistleController,
            WhistleReportController,
            *INTAKE_HANDLERS,
            *STATION_HANDLERS,
            *SILENCE_HANDLERS,
            *DEAD_LETTER_HANDLERS,
            *CAP_SENDER_HANDLERS,
            *NOTICE_HANDLERS,
            *ROSTER_HANDLERS,
            *AUDIT_HANDLERS,
            *TOKEN_HANDLERS,
            *ACCOUNT_HANDLERS,
            *SUBSCRIPTION_HANDLERS,
            static_files(),
            *screens(),
        ],
        # A credential in the query is refused before the guard reads any token.
        # A turn first: a server too busy answers 503 before it reads anything. Counted
        # and traced around all of it, the 503s too (ADR 0070).
        middleware=[observe_requests, admission.middleware, refuse_secrets_in_query],
        guards=[authenticate],
        before_send=[add_safety_headers, allow_every_method, add_read_headers],
        before_request=strict_times,
        plugins=[ClosedStructs()],
        dependencies={
            "services": Provide(current_services, sync_to_thread=False),
            "principal": Provide(current_principal, sync_to_thread=False),
            "call": Provide(current_call, sync_to_thread=False),
        },
        exception_handlers={
            **EXCEPTION_HANDLERS,
            HTTPException: pages_or(EXCEPTION_HANDLERS[HTTPException]),
        },
        request_max_body_size=MAX_BODY,
        state=State(
            {
                "services": services,
                "intake": intake,
                "metrics": metrics_registry(services),
                "admission": admission,
                "health": checks,
                "screen_sessions": SessionBook(reads.store, session_policy),
                "sign_in_limits": RateLimits(sign_in_failures, "off"),
            }
        ),
        on_startup=[patiently(start) for start in (reads.start, *on_startup)],
        on_shutdown=[*on_shutdown, reads.stop, checks.close],
        openapi_config=OpenAPIConfig(
            title="Closed Loop",
            version="1.0.0",
            description=described("Issue, act on and follow the closed loop of a command center."),
            path="/schema",
            render_plugins=[OfflineSwagger()],
        ),
        debug=debug,
    )
    publish_exactly(app)
    return app

"""The Litestar application factory.

``create_app`` is given a ready :class:`~domain.application.CommandCenter` by the
composition root, and the read models (the views and, when they run in this process,
their runner); it builds nothing of the domain itself, only the API's own services
(the token book, the idempotency records).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar, MediaType, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from api.access import Services, authenticate, current_principal, current_services
from api.audit import AUDIT_HANDLERS
from api.board import BoardController
from api.dispositions import DispositionController
from api.headers import add_read_headers, add_safety_headers
from api.http import READ, current_call
from api.idempotency import IdempotencyBook
from api.instructions import InstructionController, InstructionSteps
from api.intake import INTAKE_HANDLERS
from api.metrics import exposition, metrics_registry
from api.problems import EXCEPTION_HANDLERS, ProblemError
from api.query_secrets import refuse_secrets_in_query
from api.reports import ReportController
from api.schemas import Health, ProjectionStatus
from api.subscriptions import SUBSCRIPTION_HANDLERS
from api.token_admin import TOKEN_HANDLERS
from api.tokens import DEFAULT_CACHE_SECONDS, TokenBook
from api.units import UnitController
from api.views import Views
from api.warnings import WarningController, WarningSteps
from domain.application import CommandCenter
from domain.intake import Intake
from projections.service import ReadModels

#: Bodies over 1 MiB are refused (413) before they are read in full.
MAX_BODY = 1024 * 1024


@get("/health", sync_to_thread=True, opt={"public": True}, responses=READ, tags=("system",))
def health(services: NamedDependency[Services]) -> Health:
    """Whether the event store answers, and how far each view has read its log."""
    try:
        views = services.reads.status()
    except Exception as e:
        raise ProblemError(503, f"the event store cannot be reached: {type(e).__name__}") from e
    head = views[0]["head"] if views else services.center.head_position()
    return Health(
        status="ok",
        store="reachable",
        head=head,
        projections=[ProjectionStatus(**v) for v in views],
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
    the webhooks' queue, and their subscriptions and failing endpoints counted."""
    # text/plain is Prometheus's text exposition format (version 0.0.4 by default).
    return exposition(state.metrics)


def build_services(
    center: CommandCenter,
    reads: ReadModels,
    read_wait: float,
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    read_your_writes: bool = True,
) -> Services:
    return Services(
        center=center,
        reads=reads,
        tokens=TokenBook(center, token_cache_seconds),
        idempotency=IdempotencyBook(center),
        views=Views(center.calendar.zone),
        read_wait=read_wait,
        sessions=reads.sessions if read_your_writes else None,
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
    read_your_writes: bool = True,
) -> Litestar:
    """The API on ``center``, reading the views of ``reads``: the composition root
    builds them (``closedloop.bootstrap.build_read_models``), the API starts and stops them.

    ``read_wait`` bounds a read-your-writes wait (seconds);
    ``token_cache_seconds`` is how long a token found valid is trusted from memory;
    ``read_your_writes`` makes a principal's reads wait for its own last write (ADR 0045).
    """
    services = build_services(center, reads, read_wait, token_cache_seconds, read_your_writes)
    return Litestar(
        route_handlers=[
            health,
            metrics,
            BoardController,
            UnitController,
            WarningController,
            WarningSteps,
            InstructionController,
            InstructionSteps,
            DispositionController,
            ReportController,
            *INTAKE_HANDLERS,
            *AUDIT_HANDLERS,
            *TOKEN_HANDLERS,
            *SUBSCRIPTION_HANDLERS,
        ],
        # A credential in the query is refused before the guard reads any token.
        middleware=[refuse_secrets_in_query],
        guards=[authenticate],
        before_send=[add_safety_headers, add_read_headers],
        dependencies={
            "services": Provide(current_services, sync_to_thread=False),
            "principal": Provide(current_principal, sync_to_thread=False),
            "call": Provide(current_call, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY,
        state=State(
            {"services": services, "intake": intake, "metrics": metrics_registry(services)}
        ),
        on_startup=[reads.start, *on_startup],
        on_shutdown=[*on_shutdown, reads.stop],
        openapi_config=OpenAPIConfig(
            title="Closed Loop",
            version="1.0.0",
            description="Issue, act on and follow the closed loop of a command center.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        debug=debug,
    )

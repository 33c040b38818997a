"""The Litestar application factory.

``create_app`` is given a ready :class:`~domain.application.CommandCenter` by the
composition root; it builds nothing of the domain itself, only the API's own services
(the token book, the idempotency records, the interim list catalog).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from api.access import Services, authenticate, current_principal, current_services
from api.idempotency import IdempotencyBook
from api.problems import EXCEPTION_HANDLERS, ProblemError
from api.routes import (
    READ,
    DispositionController,
    InstructionController,
    UnitController,
    WarningController,
)
from api.schemas import Health
from api.tokens import TokenBook
from api.views import Views
from domain.application import CommandCenter
from projections.catalog import Catalog

#: Bodies over 1 MiB are refused (413) before they are read in full.
MAX_BODY = 1024 * 1024


@get("/health", sync_to_thread=True, opt={"public": True}, responses=READ, tags=("system",))
def health(services: NamedDependency[Services]) -> Health:
    """Whether the event store answers."""
    try:
        head = services.center.head_position()
    except Exception as e:
        raise ProblemError(503, f"the event store cannot be reached: {type(e).__name__}") from e
    return Health(status="ok", store="reachable", head=head)


def build_services(center: CommandCenter) -> Services:
    return Services(
        center=center,
        catalog=Catalog(center),
        tokens=TokenBook(center),
        idempotency=IdempotencyBook(center),
        views=Views(center.calendar.zone),
    )


def create_app(
    center: CommandCenter,
    *,
    debug: bool = False,
    on_shutdown: Sequence[Callable[[], Any]] = (),
) -> Litestar:
    services = build_services(center)
    return Litestar(
        route_handlers=[
            health,
            UnitController,
            WarningController,
            InstructionController,
            DispositionController,
        ],
        guards=[authenticate],
        dependencies={
            "services": Provide(current_services, sync_to_thread=False),
            "principal": Provide(current_principal, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY,
        state=State({"services": services}),
        # The index is rebuilt from the log once, at start, not on the first request.
        on_startup=[services.catalog.catch_up],
        on_shutdown=list(on_shutdown),
        openapi_config=OpenAPIConfig(
            title="Closed Loop",
            version="1.0.0",
            description="Issue, act on and follow the closed loop of a command center.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        debug=debug,
    )

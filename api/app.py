"""The Litestar application factory.

``create_app`` is given a ready :class:`~domain.application.CommandCenter` by the
composition root; it builds nothing of the domain itself.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from domain.application import CommandCenter


class UnitOut(msgspec.Struct):
    code: str
    name: str
    name_en: str
    level: str
    kind: str
    parent: str | None
    active: bool


class Health(msgspec.Struct):
    status: str
    store: str
    head: int


@get("/health", sync_to_thread=True)
def health(state: State) -> Health:
    center: CommandCenter = state.center
    return Health(status="ok", store="reachable", head=center.head_position())


@get("/v1/units", sync_to_thread=True)
def list_units(state: State) -> list[UnitOut]:
    center: CommandCenter = state.center
    return [
        UnitOut(u.code, u.name, u.name_en, str(u.level), str(u.kind), u.parent, u.active)
        for u in center.units()
    ]


def create_app(center: CommandCenter) -> Litestar:
    return Litestar(
        route_handlers=[health, list_units],
        state=State({"center": center}),
        openapi_config=OpenAPIConfig(title="Closed Loop", version="0.1.0"),
    )

"""An ASGI application whose start-up fails, for the exit status of ``serve --workers N``."""

from __future__ import annotations

from typing import Any


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "refused on purpose"})


def create_app() -> Any:
    return _app

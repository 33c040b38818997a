"""The ceiling for ``bench http``: a bare Litestar app that only decodes the body.

One POST handler at the API's own path takes the very ``InstructionCreate`` the API
takes, so msgspec decodes and validates the same body against the same constraints,
and answers 201 with a tiny JSON. No guard, no store, no thread hop: what is left of a
request here is what Litestar and the ASGI server cost, and the API's rate is measured
against it. Run it as ``python -m bench.bare_app --port P [--workers N]``: started the
way ``closedloop serve`` starts the API, several workers included (one listening socket
marked as TCP, so that neither server pays Nagle's delay).
"""

from __future__ import annotations

import argparse
import sys
from uuid import uuid4

import msgspec
from litestar import Litestar, get, post

from api.schemas import InstructionCreate


class Issued(msgspec.Struct):
    id: str


@post("/v1/instructions")
async def issue(data: InstructionCreate) -> Issued:
    # Read the decoded body, so that an optimiser could never skip the decoding.
    return Issued(id=f"{uuid4()}" if data.lead_unit else "")


@get("/health")
async def health() -> dict[str, str]:
    # The bench waits for this before it starts the load, as it does for the API's.
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[issue, health], openapi_config=None)


def main(argv: list[str]) -> int:
    from closedloop.cli import run_asgi

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    return run_asgi("bench.bare_app:create_app", args.host, args.port, args.workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

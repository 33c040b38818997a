"""The listening sockets of ``serve --workers N`` (issue 23, ADR 0069).

uvicorn binds one socket in its supervisor and hands every worker process that same
socket. Each worker then waits on it, and whichever wakes first takes the connection:
on Linux the worker that accepted last is usually the one still awake, so a fault test
found all 13 keep-alive connections of its clients on one worker while the other idled.

With ``SO_REUSEPORT`` each worker binds a listener of its own on the same address, and
the kernel gives each new connection to one of them by a hash of its addresses, so the
connections spread over the workers whichever of them is awake. Only Linux balances
that way (on the BSDs and macOS the option lets sockets share a port, but one of them
gets every connection; Windows has no such option): elsewhere the server keeps
uvicorn's one shared socket.

The supervisor still binds the address first, as uvicorn does, so that a port already
taken (by anyone) stops the start with uvicorn's own message and status; it lets the
address go before the workers bind theirs.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE


def kernel_balances() -> bool:
    """Whether listeners sharing a port with ``SO_REUSEPORT`` are balanced by the kernel."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_listener(family: int, host: str, port: int) -> socket.socket:
    """One worker's own listener on ``host:port``, beside its siblings'.

    The protocol is named (``IPPROTO_TCP``) so that asyncio turns Nagle's algorithm off
    on the connections it accepts (see :func:`closedloop.cli.tcp_listener`).
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _bound_in_the_worker(family: int, host: str, port: int) -> list[socket.socket]:
    """Run where :class:`OwnListeners` is unpickled: in the worker process, as it starts."""
    try:
        return [reuse_port_listener(family, host, port)]
    except OSError as e:
        # uvicorn's supervisor stops, instead of restarting the worker, on this status.
        print(f"closedloop: a worker could not listen on {host}:{port}: {e}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)


class OwnListeners(list[socket.socket]):
    """The sockets uvicorn's supervisor hands each worker: empty in the supervisor, and
    one listener of the worker's own once it reaches the worker.

    uvicorn pickles the sockets it hands a worker into the worker's start (its processes
    are spawned); this list pickles as the call that binds a new listener there. So every
    worker, the first ones and any uvicorn starts again later, listens on its own socket
    with no change to uvicorn's supervisor.
    """

    def __init__(self, family: int, host: str, port: int) -> None:
        super().__init__()
        self.address = (family, host, port)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_bound_in_the_worker, self.address)

"""The listening sockets of ``serve --workers N`` (issue 23, ADR 0088).

uvicorn binds one socket in its supervisor and hands every worker process that same
socket. Each worker then waits on it, and whichever wakes first takes the connections
(asyncio accepts as many as are queued, up to the backlog, at each wake): a fault test
found all 13 keep-alive connections of its clients on one worker while the other idled.

With ``SO_REUSEPORT`` each worker binds a listener of its own on the same address, and
Linux gives each new connection to one of the listening sockets by a hash of its
addresses, so connections spread over the workers whichever of them is awake. Only
Linux balances that way (on macOS and the BSDs the option lets sockets share a port
without spreading connections over them; Windows has no such option): elsewhere, or
where the option is missing, the server keeps uvicorn's one shared socket.

The supervisor still binds the address first, as uvicorn does, so that a port already
taken (by anyone, a listener with ``SO_REUSEPORT`` included) stops the start with
uvicorn's own message and status. It then keeps the port **reserved** for as long as it
runs: a socket of its own, bound with ``SO_REUSEPORT`` beside the workers' but never
listening, so that it takes no connection. Without it the port was free from the check
until the last worker had bound its listener, which on a loaded machine is a minute
(each worker imports the server first): any other program's ``bind(("", 0))`` or
outgoing connection may be given that port meanwhile, the worker's own bind then fails,
and the supervisor stops the whole server (the failure ADR 0088 tells of).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE


def kernel_balances() -> bool:
    """Whether listeners sharing a port with ``SO_REUSEPORT`` are balanced by the kernel."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(
    family: int, host: str, port: int, *, reuse_address: bool = True
) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT``, beside its siblings'; it
    takes connections only once it listens.

    A worker's listener also sets ``SO_REUSEADDR``, as uvicorn's does. The supervisor's
    reservation must not: Linux lets two sockets with ``SO_REUSEADDR`` share a port while
    neither listens, so another program's bind (uvicorn's own, say) would go through
    beside it. The protocol is named (``IPPROTO_TCP``) so that asyncio turns Nagle's
    algorithm off on the connections it accepts (see :func:`closedloop.cli.tcp_listener`).
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if reuse_address:
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
        return [reuse_port_socket(family, host, port)]
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
    with no change to uvicorn's supervisor. ``reserved`` is the supervisor's socket that
    holds the port meanwhile (bound, never listening); :meth:`close` lets it go.
    """

    def __init__(self, reserved: socket.socket, host: str) -> None:
        super().__init__()
        self.reserved = reserved
        self.address = (reserved.family, host, reserved.getsockname()[1])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_bound_in_the_worker, self.address)

    def close(self) -> None:
        self.reserved.close()


def own_listeners(checked: socket.socket, host: str) -> OwnListeners:
    """The workers' own listeners on the address of ``checked`` (the socket uvicorn bound
    to check it, which is closed): the port reserved from now on by a socket that shares
    it with them. A port taken in the moment between stops the start, as uvicorn does."""
    family, port = checked.family, checked.getsockname()[1]
    checked.close()
    try:
        reserved = reuse_port_socket(family, host, port, reuse_address=False)
    except OSError as e:
        print(f"closedloop: could not keep {host}:{port} for the workers: {e}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    return OwnListeners(reserved, host)

"""The guarded HTTP transport of webhook deliveries (ADR 0020, 0026).

The client connects only to addresses it has just checked (a name rebinding to a private
address after registration is refused), takes no proxy from the environment, follows no
redirect, reads at most ``max_response_bytes`` of an answer, and ends every attempt by a
deadline (three times the timeout) shorter than the lease. :func:`check_target` is the
same check at registration.
"""

from __future__ import annotations

import contextvars
import email.utils
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from notifiers.config import Network, WebhookConfig

USER_AGENT = "closedloop-webhooks/1"


class TargetRefused(Exception):
    """The endpoint's address is in a range that is not allowed."""


#: IPv6 prefixes that carry an IPv4 address in their last 32 bits, reached through a
#: translator (RFC 6052's well-known NAT64 prefix) or taken as IPv4 by some stacks (the
#: deprecated IPv4-compatible form, RFC 4291 2.5.5.1).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
#: SIIT's "IPv4-translated" form (RFC 2765), ``::ffff:0:a.b.c.d``.
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
#: The prefix RFC 8215 sets aside for a network's own translators: where the IPv4 address
#: sits in it is the network's choice, so nothing in it is taken for public.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _ipv4_inside(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to, if it embeds one."""
    if address.ipv4_mapped is not None:  # ::ffff:127.0.0.1
        return address.ipv4_mapped
    if address.sixtofour is not None:  # 2002:7f00:1:: (6to4)
        return address.sixtofour
    if (
        address in _NAT64
        or address in _IPV4_TRANSLATED
        or (address in _IPV4_COMPATIBLE and int(address) > 1)
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _refused(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, allowed: tuple[Network, ...]
) -> bool:
    """Whether a webhook may not connect to ``address``: an address that is not public
    (private, loopback, link-local, reserved, multicast), or an IPv6 address that leads
    to one (Python's ``is_global`` takes 64:ff9b::7f00:1 and 2002:7f00:1:: for public),
    unless a network of ``allowed`` holds it."""
    if any(address in net for net in allowed):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return True
        inside = _ipv4_inside(address)
        if inside is not None:
            return _refused(inside, allowed)
    return not address.is_global or address.is_multicast or address.is_reserved


@functools.cache
def _resolver() -> ThreadPoolExecutor:
    """Where name lookups run, so that a caller can stop waiting for one (``getaddrinfo``
    has no timeout of its own, and a receiver's name server may answer as slowly as it
    likes). A lookup given up on finishes in the background and is discarded. Made at
    the first lookup, not at import."""
    return ThreadPoolExecutor(4, thread_name_prefix="webhook-resolve")


#: The longest a name lookup may take when no attempt deadline bounds it (seconds).
RESOLVE_TIMEOUT = 10.0


def allowed_addresses(
    host: str, port: int, allowed: tuple[Network, ...], timeout: float | None = None
) -> list[str]:
    """The addresses ``host`` resolves to now, every one of them checked.

    A name that resolves to one public and one private address is refused whole: which
    one a connection would take is not ours to choose. ``allowed`` lists the networks
    let through anyway (``CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS``). The lookup gives up
    after ``timeout`` seconds (:data:`RESOLVE_TIMEOUT` when None) with ``TimeoutError``.
    """
    try:
        # A literal address is judged as written: no lookup, no resolver thread, and so
        # nothing of the system's resolver ever handles a private address we refuse.
        ipaddress.ip_address(host.split("%", 1)[0])
        texts = [host]
    except ValueError:
        texts = _lookup(host, port, timeout)
    addresses: list[str] = []
    for text in texts:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _refused(address, allowed):
            raise TargetRefused(
                f"{host} resolves to {address}, a private or reserved address "
                "(allow it with CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS)"
            )
        if text not in addresses:
            addresses.append(text)
    return addresses


def _lookup(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses a name resolves to now, within ``timeout`` seconds."""
    lookup = _resolver().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=RESOLVE_TIMEOUT if timeout is None else timeout)
    except TimeoutError:
        lookup.cancel()
        raise TimeoutError(f"looking {host} up took too long") from None
    except OSError as e:  # gaierror, or the resolver's own failure: never the caller's 500
        raise TargetRefused(f"{host} does not resolve: {e.strerror or e}") from None
    return [str(info[4][0]) for info in infos]


def check_target(url: str, allowed: tuple[Network, ...]) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address
    (private, loopback, link-local, reserved, multicast) that ``allowed`` does not list.

    This is the check at registration. At delivery the worker checks again, on the
    addresses it actually connects to (:class:`GuardedTransport`).
    """
    try:
        parts = urlsplit(url)  # "http://[::1" (an unclosed IPv6 host) raises
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise TargetRefused(f"{url!r} is not an http(s) URL")
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port  # urllib checks it only when asked: 99999 or "x" raise here
    except ValueError:
        port = 0
    if port == 0:
        raise TargetRefused(f"{url!r} names no port from 1 to 65535")
    try:
        allowed_addresses(host, port or default, allowed)
    except TimeoutError as e:
        raise TargetRefused(f"{e}; check the name, or try again later") from None


# -- the guarded HTTP transport -----------------------------------------------------------

#: When the attempt under way in this thread must end (``time.monotonic()``), if any.
ATTEMPT_ENDS: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "webhook_deadline", default=None
)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the attempt; ``expired`` when nothing is."""
    deadline = ATTEMPT_ENDS.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt ran out of time")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the attempt's deadline, so that an
    answer trickled a byte at a time (headers included) cannot hold a worker."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _BoundedStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host once, checks every address, and connects to a checked one.

    Checking a name and then letting the HTTP client resolve it again would let a DNS
    answer that changes in between (rebinding) reach a private address: here the address
    connected to is the address checked. TLS still verifies the certificate against the
    name, which httpcore passes to ``start_tls``.
    """

    def __init__(self, allowed: tuple[Network, ...]) -> None:
        self.allowed = allowed
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        try:
            addresses = allowed_addresses(
                host, port, self.allowed, _left(timeout, httpcore.ConnectTimeout)
            )
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(str(e)) from None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _left(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                failure = e
                continue
            return _BoundedStream(stream)
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise TargetRefused("a webhook is not delivered to a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Pool(httpcore.ConnectionPool):
    """httpcore's pool, except that a pass never closes a connection it has handed to a
    request that has not started on it yet.

    The pool hands an idle connection to a waiting request under its lock, but the
    connection turns active only when that request's thread starts on it, outside the
    lock. Meanwhile another thread's pass still sees it idle and may close it (expired
    keep-alive, surplus, or to make room), after the request was sent: the answer's read
    then fails with ``ReadError: [Errno 9] Bad file descriptor`` (or waits out its
    timeout) although the receiver had the whole body, and the delivery is sent again
    (issue 18 item 4; httpcore issue 1110, open on 1.0.9). Such a connection stays in
    the pool; if it really is stale, its request fails as on any stale connection.
    """

    def _assign_requests_to_connections(self) -> list[httpcore.ConnectionInterface]:
        closing = super()._assign_requests_to_connections()
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        kept = [c for c in closing if id(c) in taken and not c.is_closed()]
        if not kept:
            return closing
        self._connections.extend(kept)
        return [c for c in closing if id(c) not in taken]


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`_GuardedBackend`; no proxy from the environment
    (a proxy would be the address checked, not the target)."""

    def __init__(self, allowed: tuple[Network, ...], limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx offers no way to hand its pool a network backend: the pool is built again
        # with the same settings and ours. The rebinding test fails if this stops working.
        self._pool = _Pool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allowed),
        )


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (a number of seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def guarded_client(config: WebhookConfig) -> httpx.Client:
    """The worker's HTTP client: bounded timeouts, no redirects followed, no proxy from
    the environment, and each connection's address checked as it is made."""
    limits = httpx.Limits(
        max_connections=config.concurrency * 2,
        max_keepalive_connections=config.concurrency * 2,
    )
    return httpx.Client(
        transport=GuardedTransport(config.allowed_networks, limits),
        timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout, pool=config.timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )

"""The delivery worker: sends the outbox's due notifications, signed, and records each try.

Each notification follows the Standard Webhooks specification: headers ``webhook-id``
(the same on every retry), ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` and
the base64 HMAC-SHA256 of ``id.timestamp.body``; both secrets' during a rotation).

Claiming: a worker takes due deliveries with a lease (its name and an expiry) in a
transaction of its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), sends them, and then
records the attempt. Two workers never hold the same delivery at once. A worker that
dies between sending and recording leaves a lease that expires, and the delivery is
sent again under the same ``webhook-id``: delivery is *at least once*, and a receiver
acts once by remembering the ids it has seen (ADR 0014).

Order: a delivery is not claimed while an earlier one of the same subscription and loop
is still pending, so each endpoint sees each loop's notifications in log order.

Safety (ADR 0020): the HTTP client connects only to addresses it has just checked (a name
rebinding to a private address after registration is refused), takes no proxy from the
environment, follows no redirect, reads at most ``max_response_bytes`` of an answer, and
ends every attempt by a deadline (three times the timeout) shorter than the lease.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextvars
import email.utils
import ipaddress
import logging
import os
import random
import signal
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from notifiers.config import Network, WebhookConfig
from notifiers.outbox import ATTEMPTS, DELIVERIES, ENDPOINTS, SUBSCRIPTIONS
from notifiers.secrets import Keyring, signature_header
from projections.store import ViewStore
from projections.values import from_iso, iso

log = logging.getLogger("closedloop.notifiers")

#: Test-only: the probability (0 to 1) that the worker kills itself with SIGKILL right
#: after a POST was answered and before its attempt is recorded (the worst moment).
CRASH_AFTER_POST = "CLOSEDLOOP_WEBHOOK_TEST_CRASH_AFTER_POST"
USER_AGENT = "closedloop-webhooks/1"
#: Tries to record an attempt before the worker gives up on it (and its lease ends).
_RECORD_TRIES = 4


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


#: Name lookups run here, so that a caller can stop waiting for one (``getaddrinfo``
#: has no timeout of its own, and a receiver's name server may answer as slowly as it
#: likes). A lookup given up on finishes in the background and is discarded.
_RESOLVER = ThreadPoolExecutor(4, thread_name_prefix="webhook-resolve")
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
    lookup = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=RESOLVE_TIMEOUT if timeout is None else timeout)
    except TimeoutError:
        lookup.cancel()
        raise TimeoutError(f"looking {host} up took too long") from None
    except socket.gaierror as e:
        raise TargetRefused(f"{host} does not resolve: {e.strerror}") from None
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0])
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if _refused(address, allowed):
            raise TargetRefused(
                f"{host} resolves to {address}, a private or reserved address "
                "(allow it with CLOSEDLOOP_WEBHOOK_ALLOWED_NETWORKS)"
            )
        if text not in addresses:
            addresses.append(text)
    return addresses


def check_target(url: str, allowed: tuple[Network, ...]) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address
    (private, loopback, link-local, reserved, multicast) that ``allowed`` does not list.

    This is the check at registration. At delivery the worker checks again, on the
    addresses it actually connects to (:class:`GuardedTransport`).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"{url!r} is not an http(s) URL")
    default = 443 if parts.scheme == "https" else 80
    try:
        allowed_addresses(parts.hostname, parts.port or default, allowed)
    except TimeoutError as e:
        raise TargetRefused(f"{e}; check the name, or try again later") from None


# -- the guarded HTTP transport -----------------------------------------------------------

#: When the attempt under way in this thread must end (``time.monotonic()``), if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "webhook_deadline", default=None
)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the attempt; ``expired`` when nothing is."""
    deadline = _DEADLINE.get()
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


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`_GuardedBackend`; no proxy from the environment
    (a proxy would be the address checked, not the target)."""

    def __init__(self, allowed: tuple[Network, ...], limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx offers no way to hand its pool a network backend: the pool is built again
        # with the same settings and ours. The rebinding test fails if this stops working.
        self._pool = httpcore.ConnectionPool(
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


@dataclass
class Claimed:
    id: str
    subscription_id: str
    body: bytes
    tries: int
    url: str
    secrets: list[str]


@dataclass
class Result:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryWorker:
    """Claims, sends and records deliveries until :meth:`stop`."""

    def __init__(
        self,
        store: ViewStore,
        keyring: Keyring,
        config: WebhookConfig,
        *,
        on_failing: Callable[[str, str], None] | None = None,
        client: httpx.Client | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.config = config
        self.on_failing = on_failing or (lambda sid, reason: None)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = client or guarded_client(config)
        self._owns_client = client is None
        self._crash = float(os.environ.get(CRASH_AFTER_POST) or 0)
        self._plain: dict[str, str] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight = 0
        self._lock = threading.Lock()
        self.last_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> DeliveryWorker:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._run, name="closedloop-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._owns_client:
            self.client.close()

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            with self._lock:
                free = self.config.concurrency - self._inflight
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = self.claim(free)
                    backoff = 0.0
                    self.last_error = None
                except Exception as e:
                    backoff = min(max(backoff * 2, 0.2), 10.0)
                    self.last_error = f"{type(e).__name__}: {e}"
                    log.exception("webhooks: %s; trying again in %.1f s", self.last_error, backoff)
                    self._stop.wait(backoff)
                    continue
            for item in claimed:
                with self._lock:
                    self._inflight += 1
                assert self._pool is not None
                self._pool.submit(self._deliver_one, item)
            if not claimed:
                self._wake.wait(self.config.poll_interval)
                self._wake.clear()

    def _deliver_one(self, item: Claimed) -> None:
        try:
            self.deliver(item)
        except Exception:
            log.exception("webhooks: delivery %s could not be recorded", item.id)
        finally:
            with self._lock:
                self._inflight -= 1
            self._wake.set()

    # -- one round by hand (tests, bench) ----------------------------------------------

    def drain(self, timeout: float = 30.0) -> int:
        """Send everything due now, in this thread, until nothing is due; answers how many."""
        sent = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = self.claim(self.config.concurrency)
            if not claimed:
                return sent
            for item in claimed:
                self.deliver(item)
                sent += 1
        return sent

    # -- claiming ----------------------------------------------------------------------

    def claim(self, limit: int) -> list[Claimed]:
        now = datetime.now(UTC)
        at = iso(now)
        until = iso(now + timedelta(seconds=self.config.lease))
        skip_locked = " FOR UPDATE OF d SKIP LOCKED" if self.store.dialect == "postgres" else ""
        with self.store.transaction() as tx:
            # The rows are picked and locked once (a materialized CTE, never re-run by the
            # planner); rows another worker has locked are skipped, and one it leased and
            # committed meanwhile fails the lease condition when PostgreSQL re-checks it.
            rows = tx.execute(
                "WITH due AS MATERIALIZED ("
                f"SELECT d.id FROM {DELIVERIES} d JOIN {SUBSCRIPTIONS} s "
                "ON s.id = d.subscription_id "
                "WHERE d.status = 'pending' AND d.next_attempt_at <= ? "
                "AND (d.lease_until IS NULL OR d.lease_until < ?) AND s.active = 1 "
                f"AND NOT EXISTS (SELECT 1 FROM {DELIVERIES} e "
                "WHERE e.subscription_id = d.subscription_id AND e.loop_id = d.loop_id "
                "AND e.status = 'pending' AND e.position < d.position) "
                f"ORDER BY d.next_attempt_at, d.position LIMIT ?{skip_locked}) "
                f"UPDATE {DELIVERIES} SET lease_owner = ?, lease_until = ? "
                "WHERE id IN (SELECT id FROM due) "
                "RETURNING id, subscription_id, body, tries",
                (at, at, limit, self.owner, until),
            )
            if not rows:
                return []
            sub_ids = sorted({r[1] for r in rows})
            marks = ", ".join("?" for _ in sub_ids)
            subs = {
                r[0]: r[1:]
                for r in tx.execute(
                    "SELECT id, url, secret_ciphertext, previous_ciphertext, previous_until "
                    f"FROM {SUBSCRIPTIONS} WHERE id IN ({marks})",
                    sub_ids,
                )
            }
        claimed = []
        for delivery_id, sid, body, tries in rows:
            url, current, previous, previous_until = subs[sid]
            keys = [self._decrypt(current)]
            until_prev = from_iso(previous_until)
            if previous and until_prev is not None and until_prev > now:
                keys.append(self._decrypt(previous))
            claimed.append(
                Claimed(delivery_id, sid, str(body).encode("utf-8"), int(tries), url, keys)
            )
        return claimed

    def _decrypt(self, ciphertext: str) -> str:
        secret = self._plain.get(ciphertext)
        if secret is None:
            secret = self._plain[ciphertext] = self.keyring.decrypt(ciphertext)
        return secret

    # -- sending -----------------------------------------------------------------------

    def send(self, item: Claimed) -> Result:
        started = time.monotonic()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": item.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(item.secrets, item.id, timestamp, item.body),
        }
        # Every read and write of this attempt ends by then (see _BoundedStream).
        token = _DEADLINE.set(started + self.config.attempt_deadline)
        try:
            with self.client.stream("POST", item.url, content=item.body, headers=headers) as r:
                read = 0
                try:
                    for chunk in r.iter_raw():
                        read += len(chunk)
                        if read > self.config.max_response_bytes:
                            break  # the answer's body is not needed beyond this
                except httpx.TimeoutException:
                    pass  # the status is in: a body trickling past the deadline is not read
                latency = int((time.monotonic() - started) * 1000)
                wait = None
                if r.status_code in (429, 503):
                    wait = retry_after(r.headers.get("retry-after"), datetime.now(UTC))
                return Result(r.status_code, latency, None, wait)
        except TargetRefused as e:
            return Result(None, int((time.monotonic() - started) * 1000), f"refused: {e}")
        except httpx.HTTPError as e:
            latency = int((time.monotonic() - started) * 1000)
            return Result(None, latency, f"{type(e).__name__}: {e}"[:500])
        finally:
            _DEADLINE.reset(token)

    def deliver(self, item: Claimed) -> Result:
        result = self.send(item)
        if self._crash and random.random() < self._crash:  # noqa: S311 (a test's dice)
            os.kill(os.getpid(), signal.SIGKILL)
        self.record(item, result)
        return result

    # -- recording ---------------------------------------------------------------------

    def _delay(self, tries: int, result: Result) -> float | None:
        """Seconds until the next try, or None when the schedule is exhausted."""
        if result.retry_after is not None:
            return min(result.retry_after, self.config.retry_after_cap)
        if tries > len(self.config.schedule):
            return None
        base = self.config.schedule[tries - 1]
        spread = base * self.config.jitter
        return max(base + random.uniform(-spread, spread), 0.0)  # noqa: S311 (jitter)

    def record(self, item: Claimed, result: Result) -> str:
        """Record one attempt and decide what follows; answers the delivery's new status.

        A store error (a deadlock, a connection lost) is tried again a few times before
        giving up: an attempt that is not recorded is sent again once its lease ends.
        """
        attempt_id = uuid.uuid4().hex  # the same on every try: recorded once at most
        for n in range(_RECORD_TRIES):
            try:
                status, disable = self._record(item, result, attempt_id)
                break
            except Exception as e:
                if n == _RECORD_TRIES - 1:
                    raise
                log.warning(
                    "webhooks: recording an attempt of %s failed (%s); trying again",
                    item.id,
                    type(e).__name__,
                )
                time.sleep(0.05 * 2**n)
        if status == "dead":
            log.warning("webhooks: %s dead-lettered after %d tries", item.id, item.tries + 1)
        if disable is not None:
            log.warning("webhooks: disabling subscription %s: %s", item.subscription_id, disable)
            self.on_failing(item.subscription_id, disable)
        return status

    def _record(self, item: Claimed, result: Result, attempt_id: str) -> tuple[str, str | None]:
        now = datetime.now(UTC)
        at = iso(now)
        tries = item.tries + 1
        error = result.error or (None if result.ok else f"HTTP {result.status_code}")
        disable: str | None = None
        with self.store.transaction() as tx:
            tx.execute(
                f"INSERT INTO {ATTEMPTS} (id, delivery_id, at, status_code, latency_ms, error, "
                "owner) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    attempt_id,
                    item.id,
                    at,
                    result.status_code,
                    result.latency_ms,
                    error,
                    self.owner,
                ),
            )
            if result.ok:
                status = "delivered"
                next_at = at
            elif result.status_code == 410:
                status = "failed"
                next_at = at
                disable = "the endpoint answered 410 Gone"
            else:
                delay = self._delay(tries, result)
                if delay is None:
                    status = "dead"
                    next_at = at
                else:
                    status = "pending"
                    next_at = iso(now + timedelta(seconds=delay))
            # Only a delivery still pending changes, and a failure only while this worker
            # still holds the lease: if the lease ran out and another worker took the
            # delivery over, this attempt is history and the other worker decides.
            changed = tx.execute(
                f"UPDATE {DELIVERIES} SET status = ?, tries = ?, next_attempt_at = ?, "
                "lease_owner = NULL, lease_until = NULL, last_attempt_at = ?, "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END, "
                "last_status = ?, last_error = ? WHERE id = ? AND status = 'pending' "
                "AND (? = 'delivered' OR lease_owner = ?) RETURNING id",
                (
                    status,
                    tries,
                    next_at,
                    at,
                    status,
                    at,
                    result.status_code,
                    error,
                    item.id,
                    status,
                    self.owner,
                ),
            )
            if not changed:
                return "superseded", None
            if status in ("delivered", "dead"):
                rows = tx.execute(
                    f"INSERT INTO {ENDPOINTS} (subscription_id, consecutive_dead, "
                    "last_success_at, last_failure_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (subscription_id) DO UPDATE SET "
                    "consecutive_dead = CASE WHEN ? = 'delivered' THEN 0 "
                    f"ELSE {ENDPOINTS}.consecutive_dead + 1 END, "
                    "last_success_at = COALESCE(excluded.last_success_at, "
                    f"{ENDPOINTS}.last_success_at), "
                    "last_failure_at = COALESCE(excluded.last_failure_at, "
                    f"{ENDPOINTS}.last_failure_at) RETURNING consecutive_dead",
                    (
                        item.subscription_id,
                        0 if status == "delivered" else 1,
                        at if status == "delivered" else None,
                        None if status == "delivered" else at,
                        status,
                    ),
                )
                dead_in_a_row = int(rows[0][0])
                if status == "dead" and dead_in_a_row >= self.config.disable_after_dead:
                    disable = (
                        f"{dead_in_a_row} notifications in a row could not be delivered "
                        f"(last: {error})"
                    )
        return status, disable


# -- reads and the hand redelivery -------------------------------------------------------

DELIVERY_COLUMNS = (
    "id",
    "subscription_id",
    "position",
    "event_type",
    "loop_id",
    "aggregate_id",
    "status",
    "tries",
    "next_attempt_at",
    "created_at",
    "last_attempt_at",
    "delivered_at",
    "last_status",
    "last_error",
)
STATUSES = ("pending", "delivered", "dead", "failed", "cancelled")


def deliveries(
    store: ViewStore,
    *,
    subscription_ids: list[str] | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    attempts: bool = False,
) -> list[dict[str, Any]]:
    """Deliveries, newest first, with their attempts when asked."""
    where = ["1 = 1"]
    params: list[Any] = []
    if subscription_ids is not None:
        if not subscription_ids:
            return []
        where.append(f"subscription_id IN ({', '.join('?' for _ in subscription_ids)})")
        params.extend(subscription_ids)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if since is not None:
        where.append("created_at >= ?")
        params.append(iso(since))
    if until is not None:
        where.append("created_at < ?")
        params.append(iso(until))
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM {DELIVERIES} WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, position DESC, id LIMIT ?",
            (*params, limit),
        )
        out = [dict(zip(DELIVERY_COLUMNS, r, strict=True)) for r in rows]
        if attempts:
            for d in out:
                d["attempts"] = [
                    {"at": a, "status_code": s, "latency_ms": ms, "error": e}
                    for a, s, ms, e in tx.execute(
                        f"SELECT at, status_code, latency_ms, error FROM {ATTEMPTS} "
                        "WHERE delivery_id = ? ORDER BY at",
                        (d["id"],),
                    )
                ]
    return out


def delivery(store: ViewStore, delivery_id: str) -> dict[str, Any] | None:
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM {DELIVERIES} WHERE id = ?",
            (delivery_id,),
        )
    return dict(zip(DELIVERY_COLUMNS, rows[0], strict=True)) if rows else None


@dataclass(frozen=True)
class WebhookHealth:
    """What the center's monitoring watches of the webhooks: counts only, no subscription
    named (``/metrics`` answers anyone who can reach it; ``/v1/subscriptions`` and
    ``/v1/deliveries`` tell an admin which)."""

    #: Deliveries of active subscriptions waiting for an attempt (a disabled one's wait
    #: for it to be enabled again, and are not a backlog of the worker's).
    pending: int
    oldest_pending_at: datetime | None
    active: int
    disabled: int
    #: Active subscriptions whose endpoint's last deliveries were given up on.
    failing: int


def webhook_health(store: ViewStore) -> WebhookHealth:
    """The webhooks as they stand; all zero before the notifiers made their tables (they
    may run in processes of their own, started after the API)."""
    with store.read() as tx:
        if not tx.has_table(ENDPOINTS):  # the last table the outbox makes
            return WebhookHealth(0, None, 0, 0, 0)
        pending, oldest = tx.execute(
            f"SELECT COUNT(*), MIN(d.created_at) FROM {DELIVERIES} d "
            f"JOIN {SUBSCRIPTIONS} s ON s.id = d.subscription_id "
            "WHERE d.status = 'pending' AND s.active = 1 AND s.deleted = 0"
        )[0]
        active, disabled, failing = tx.execute(
            "SELECT SUM(CASE WHEN s.active = 1 THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN s.active = 0 THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN s.active = 1 AND e.consecutive_dead > 0 THEN 1 ELSE 0 END) "
            f"FROM {SUBSCRIPTIONS} s LEFT JOIN {ENDPOINTS} e ON e.subscription_id = s.id "
            "WHERE s.deleted = 0"
        )[0]
    return WebhookHealth(
        int(pending), from_iso(oldest), int(active or 0), int(disabled or 0), int(failing or 0)
    )


def redeliver(store: ViewStore, delivery_id: str) -> bool:
    """Put a finished delivery back in the queue, due now, with a fresh schedule.

    Answers False when it is still pending (it will be sent anyway) or was cancelled
    with its subscription.
    """
    at = iso(datetime.now(UTC))
    with store.transaction() as tx:
        rows = tx.execute(
            f"UPDATE {DELIVERIES} SET status = 'pending', tries = 0, next_attempt_at = ?, "
            "lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND status IN ('dead', 'failed', 'delivered') RETURNING id",
            (at, delivery_id),
        )
    return bool(rows)

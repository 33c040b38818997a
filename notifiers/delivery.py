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
is still pending, so each endpoint sees each loop's notifications in log order. Different
loops go to one endpoint side by side, up to the subscription's ``concurrency`` on their
way at once (ADR 0081).

Copies (ADR 0089): with several copies of ``notifiers run`` on PostgreSQL, the
subscriptions are divided into :data:`PARTITIONS` partitions by a hash of their id, and
each partition is a piece of the copies' :class:`~projections.leadership.Leadership`: a
copy claims only the deliveries of the endpoints of the partitions it leads, so each
endpoint is sent to by one copy at a time, and that copy's count of what it has on its
way is the endpoint's whole count.

Takeover (ADR 0101): a copy's leases name it (:func:`lease_owner`). The new leader of a
partition claims the deliveries leased by a copy that its leadership counts as gone
(killed: registered, its session ended, its beat recent until then) at once, without
waiting for their leases to run out; a lease of any other copy, live or merely silent,
is waited for as before.

Safety (ADR 0020): the HTTP client is the guarded one of ``notifiers/transport.py``.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode

from notifiers.config import WebhookConfig
from notifiers.outbox import ATTEMPTS, DELIVERIES, ENDPOINTS, SUBSCRIPTIONS, TRACES
from notifiers.secrets import Keyring, signature_header
from notifiers.transport import ATTEMPT_ENDS, TargetRefused, guarded_client, retry_after
from projections.follower import Follower
from projections.leadership import Copy, Leadership
from projections.store import ViewStore
from projections.values import from_iso, iso
from telemetry import series, tracing

log = logging.getLogger("closedloop.notifiers")

#: Tries to record an attempt before the worker gives up on it (and its lease ends).
_RECORD_TRIES = 4

#: The partitions the subscriptions are divided into among copies of the worker (ADR
#: 0089). The same in every copy: a change is a change of the pieces' names.
PARTITIONS = 8


def partition_piece(n: int) -> str:
    """The name of partition ``n`` as a piece of the copies' leadership."""
    return f"deliveries-{n}"


#: Every partition's piece, in order.
PARTITION_PIECES = tuple(partition_piece(n) for n in range(PARTITIONS))


def partition_of(subscription_id: str) -> int:
    """The partition of a subscription: the same number in every copy and process."""
    digest = hashlib.blake2b(subscription_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % PARTITIONS


def lease_owner(copy: Copy) -> str:
    """What the leases of a copy's worker are held under: ``host:pid:copy``, so that the
    others can tell whose a lease is, and whether that copy is gone (ADR 0101)."""
    return f"{copy.host}:{copy.pid}:{copy.copy_id}"


def partitions_led(leads: Iterable[str]) -> set[int]:
    """The partitions among the pieces ``leads`` names."""
    names = set(leads)
    return {n for n, piece in enumerate(PARTITION_PIECES) if piece in names}


def _free(alias: str, gone: list[str]) -> str:
    """The condition of a delivery whose lease leaves it free to claim: none, one run
    out, or one held by a copy that is gone (it cannot be sending any more, ADR 0101);
    its parameters are the time now and then ``gone``."""
    free = f"{alias}lease_until IS NULL OR {alias}lease_until < ?"
    if gone:
        free += f" OR {alias}lease_owner IN ({', '.join('?' for _ in gone)})"
    return free


@dataclass
class Claimed:
    id: str
    subscription_id: str
    body: bytes
    tries: int
    url: str
    secrets: list[str]
    #: When the delivery was derived (the event's recorded time), for its latency.
    created_at: str = ""
    #: The trace of the command that caused it (ADR 0070), None when it was untraced.
    traceparent: str | None = None


#: What the series call the statuses an attempt leaves its delivery in.
_ATTEMPT_OUTCOMES = {"pending": "retried", "delivered": "delivered", "failed": "failed"}


@dataclass
class Result:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeliveryWorker(Follower):
    """Claims, sends and records deliveries until :meth:`stop`.

    Its loop is a :class:`~projections.follower.Follower`'s: a step claims what the
    senders have room for; when it claims nothing it waits the config's poll interval
    (a poke, or a sender that finishes, ends it early); a claim the store refuses is
    tried again after 0.2 s, doubling up to 10 s. No settle: a due delivery leaves at
    once.
    """

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
        super().__init__(
            # A claim the store refused is tried again on the default backoff.
            name="closedloop-webhooks",
            log=log,
            poll_interval=config.poll_interval,
        )
        self.store = store
        self.keyring = keyring
        self.config = config
        self.on_failing = on_failing or (lambda sid, reason: None)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = client or guarded_client(config)
        self._owns_client = client is None
        self._plain: dict[str, str] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._inflight = 0
        #: This copy's deliveries on their way, by subscription (ADR 0081).
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        #: With several copies on PostgreSQL, which partitions of the subscriptions this
        #: copy sends to (ADR 0089); None: all of them.
        self.leadership: Leadership | None = None

    def share(self, leadership: Leadership) -> None:
        """Claim only for the partitions ``leadership`` says this copy leads (before
        :meth:`start`); nothing changes where the work is not divided (SQLite)."""
        if leadership.divided:
            self.leadership = leadership
            self.owner = lease_owner(leadership.me)
            self.leading = lambda: bool(self.led_partitions())
            # Given a partition, it claims at once, not at the end of its poll.
            leadership.on_change.append(self.poke)

    def gone_owners(self) -> list[str]:
        """The lease owners whose leases this copy may take over now: the gone copies'
        (none where the work is not divided)."""
        if self.leadership is None:
            return []
        return sorted(lease_owner(c) for c in self.leadership.gone_copies())

    def led_partitions(self) -> set[int] | None:
        """The partitions this copy sends to now (None: all, the work is not divided)."""
        if self.leadership is None:
            return None
        return partitions_led(self.leadership.led)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="webhook")
        return super().start()

    def stop(self, timeout: float = 10.0) -> None:
        self.halt()
        self.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._owns_client:
            self.client.close()

    def step(self) -> int:
        """Claim as many due deliveries as the senders have room for and hand them over;
        answers how many."""
        with self._lock:
            free = self.config.concurrency - self._inflight
        if free <= 0:
            return 0
        claimed = self.claim(free)
        for item in claimed:
            with self._lock:
                self._inflight += 1
                self._busy[item.subscription_id] = self._busy.get(item.subscription_id, 0) + 1
            assert self._pool is not None
            self._pool.submit(self._deliver_one, item)
        return len(claimed)

    def _deliver_one(self, item: Claimed) -> None:
        try:
            self.deliver(item)
        except Exception:
            log.exception("webhooks: delivery %s could not be recorded", item.id)
        finally:
            with self._lock:
                self._inflight -= 1
                left = self._busy.get(item.subscription_id, 0) - 1
                if left > 0:
                    self._busy[item.subscription_id] = left
                else:
                    self._busy.pop(item.subscription_id, None)
            self.poke()

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
        """Lease up to ``limit`` due deliveries, each the next of its loop, and of each
        endpoint no more than its concurrency leaves room for beside this copy's own
        on their way (ADR 0081).

        The room is counted per copy, in memory, never from the leases in the store: a
        copy that dies holds no room, so the survivors and its restart go on at full
        speed at once (its leased deliveries only hold their own loops until the lease
        ends, as before). With several copies, each endpoint's partition is led by one
        copy (ADR 0089), so this count is the endpoint's, and a lease held by a copy that
        is gone counts as run out (ADR 0101).
        """
        now = datetime.now(UTC)
        at = iso(now)
        until = iso(now + timedelta(seconds=self.config.lease))
        skip_locked = " FOR UPDATE OF d SKIP LOCKED" if self.store.dialect == "postgres" else ""
        with self._lock:
            busy = {sid: n for sid, n in self._busy.items() if n > 0}
        parts = self.led_partitions()
        if parts is not None and not parts:
            return []
        gone = self.gone_owners()
        with self.store.transaction() as tx:
            full = self._full(tx, busy)
            not_full = ""
            if full:
                not_full = f"AND d.subscription_id NOT IN ({', '.join('?' for _ in full)}) "
            mine: list[str] = []
            if parts is not None and len(parts) < PARTITIONS:
                # Only the endpoints of the partitions this copy leads (ADR 0089).
                mine = [
                    str(sid)
                    for (sid,) in tx.execute(f"SELECT id FROM {SUBSCRIPTIONS} WHERE active = 1")
                    if partition_of(str(sid)) in parts
                ]
                if not mine:
                    return []
                not_full += f"AND d.subscription_id IN ({', '.join('?' for _ in mine)}) "
            # Rows another worker has locked are skipped, and one it leased and committed
            # meanwhile fails the lease condition when PostgreSQL re-checks it. More are
            # looked at than wanted, so that one endpoint's room does not hide others'.
            candidates = tx.execute(
                f"SELECT d.id, d.subscription_id, s.concurrency, d.lease_owner, "
                f"d.lease_until FROM {DELIVERIES} d "
                f"JOIN {SUBSCRIPTIONS} s ON s.id = d.subscription_id "
                "WHERE d.status = 'pending' AND d.next_attempt_at <= ? "
                f"AND ({_free('d.', gone)}) AND s.active = 1 "
                f"{not_full}"
                f"AND NOT EXISTS (SELECT 1 FROM {DELIVERIES} e "
                "WHERE e.subscription_id = d.subscription_id AND e.loop_id = d.loop_id "
                "AND e.status = 'pending' AND e.position < d.position) "
                f"ORDER BY d.next_attempt_at, d.position LIMIT ?{skip_locked}",
                (at, at, *gone, *full, *mine, limit * 4),
            )
            chosen: list[str] = []
            taken: dict[str, int] = {}
            from_gone: dict[str, str] = {}
            for delivery_id, sid, concurrency, owner, leased_until in candidates:
                if len(chosen) >= limit:
                    break
                if busy.get(sid, 0) + taken.get(sid, 0) >= int(concurrency):
                    continue
                taken[sid] = taken.get(sid, 0) + 1
                chosen.append(delivery_id)
                held_until = from_iso(leased_until)
                if held_until is not None and held_until >= now:  # not run out: taken over
                    from_gone[delivery_id] = str(owner)
            if not chosen:
                return []
            rows = tx.execute(
                f"UPDATE {DELIVERIES} SET lease_owner = ?, lease_until = ? "
                f"WHERE id IN ({', '.join('?' for _ in chosen)}) AND ({_free('', gone)}) "
                "RETURNING id, subscription_id, body, tries, created_at",
                (self.owner, until, *chosen, at, *gone),
            )
            if not rows:
                return []
            ids = [r[0] for r in rows]
            for owner in sorted({from_gone[i] for i in ids if i in from_gone}):
                n = sum(from_gone.get(i) == owner for i in ids)
                log.warning(
                    "webhooks: takes over %d deliveries leased by %s, a copy that is gone "
                    "(killed); each is sent again under its webhook-id",
                    n,
                    owner,
                )
            traces = dict(
                tx.execute(
                    f"SELECT delivery_id, traceparent FROM {TRACES} "
                    f"WHERE delivery_id IN ({', '.join('?' for _ in ids)})",
                    ids,
                )
            )
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
        for delivery_id, sid, body, tries, created_at in rows:
            url, current, previous, previous_until = subs[sid]
            keys = [self._decrypt(current)]
            until_prev = from_iso(previous_until)
            if previous and until_prev is not None and until_prev > now:
                keys.append(self._decrypt(previous))
            claimed.append(
                Claimed(
                    delivery_id,
                    sid,
                    str(body).encode("utf-8"),
                    int(tries),
                    url,
                    keys,
                    str(created_at),
                    traces.get(delivery_id),
                )
            )
        return claimed

    def _full(self, tx: Any, busy: dict[str, int]) -> list[str]:
        """The endpoints this copy already has as many on their way to as they allow."""
        if not busy:
            return []
        rows = tx.execute(
            f"SELECT id, concurrency FROM {SUBSCRIPTIONS} "
            f"WHERE id IN ({', '.join('?' for _ in busy)})",
            list(busy),
        )
        return sorted(sid for sid, n in rows if busy[sid] >= int(n))

    def _decrypt(self, ciphertext: str) -> str:
        secret = self._plain.get(ciphertext)
        if secret is None:
            secret = self._plain[ciphertext] = self.keyring.decrypt(ciphertext)
        return secret

    # -- sending -----------------------------------------------------------------------

    def send(self, item: Claimed) -> Result:
        if not tracing.tracing():
            # Not traced here: the command's trace, if it had one, is handed on as it is.
            extra = {"traceparent": item.traceparent} if item.traceparent else {}
            return self._send(item, extra)
        with tracing.tracer().start_as_current_span(
            "webhook POST",
            context=tracing.continued(item.traceparent),
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "closedloop.delivery": item.id,
                "closedloop.subscription": item.subscription_id,
                "closedloop.try": item.tries + 1,
            },
        ) as span:
            result = self._send(item, {"traceparent": tracing.traceparent() or ""})
            if result.status_code is not None:
                span.set_attribute("http.response.status_code", result.status_code)
            if not result.ok:
                span.set_status(Status(StatusCode.ERROR, result.error))
            return result

    def _send(self, item: Claimed, extra: dict[str, str]) -> Result:
        started = time.monotonic()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": item.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(item.secrets, item.id, timestamp, item.body),
            **{k: v for k, v in extra.items() if v},
        }
        # Every read and write of this attempt ends by then (see _BoundedStream).
        token = ATTEMPT_ENDS.set(started + self.config.attempt_deadline)
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
            ATTEMPT_ENDS.reset(token)

    def deliver(self, item: Claimed) -> Result:
        result = self.send(item)
        status = self.record(item, result)
        counts = series.recording()
        if counts is not None and status != "superseded":
            counts.webhook_attempts.labels(_ATTEMPT_OUTCOMES.get(status, status)).inc()
            counts.webhook_attempt_seconds.observe(result.latency_ms / 1000)
            created = from_iso(item.created_at) if item.created_at else None
            if status == "delivered" and created is not None:
                waited = (datetime.now(UTC) - created).total_seconds()
                counts.webhook_delivery_seconds.observe(max(waited, 0.0))
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
            if item.traceparent is not None and status != "pending":
                tx.execute(f"DELETE FROM {TRACES} WHERE delivery_id = ?", (item.id,))
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
#: The deliveries an admin may send again: finished ones (a pending one is sent anyway,
#: a cancelled one went with its subscription).
REDELIVERABLE = ("dead", "failed", "delivered")


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
            f"WHERE id = ? AND status IN ({', '.join('?' for _ in REDELIVERABLE)}) RETURNING id",
            (at, delivery_id, *REDELIVERABLE),
        )
    return bool(rows)

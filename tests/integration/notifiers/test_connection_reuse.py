"""The webhook client's connections, shared by the sender threads and reused: a connection
handed to one request is never closed under it by another thread's clean-up of expired
keep-alive connections (issue 18 item 4: a delivery recorded as ``ReadError: [Errno 9]
Bad file descriptor`` after the receiver had its whole body, and sent twice)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx

from notifiers.config import networks
from notifiers.transport import GuardedTransport
from tests.fakes import Receiver, serve

#: Keep-alive connections expire after a few milliseconds, and each sender pauses about
#: that long between requests: many requests start on a connection just as it expires,
#: the moment another thread's pass of the pool judges it expired (and, in httpcore's
#: own pool, closes it under the request).
EXPIRY = 0.003
SENDERS = 8
EACH = 400


def hammer(transport: httpx.BaseTransport, receiver: Receiver) -> list[str]:
    """Every sender's requests on one shared client; the errors they met."""
    client = httpx.Client(transport=transport, timeout=2.0)
    errors: list[str] = []

    def send(n: int) -> None:
        rng = random.Random(n)
        for i in range(EACH):
            try:
                r = client.post(receiver.url, content=b"{}", headers={"webhook-id": f"{n}-{i}"})
                r.raise_for_status()
            except httpx.HTTPError as e:
                errors.append(f"{type(e).__name__}: {e}")
            time.sleep(rng.uniform(0.8, 1.2) * EXPIRY)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    return errors


def test_senders_sharing_the_guarded_client_never_lose_a_connection_under_a_request(
    receiver: Receiver,
) -> None:
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8, keepalive_expiry=EXPIRY)
    errors = hammer(GuardedTransport(networks("127.0.0.0/8"), limits), receiver)

    assert errors == []
    seen = Counter(r.id for r in receiver.received)
    assert len(seen) == SENDERS * EACH
    assert set(seen.values()) == {1}, "a request reached the receiver twice"
    # For comparison only (a race, so no assertion): httpcore's own pool, same load.
    plain = Receiver()

    server = serve(plain)
    try:
        failed = hammer(httpx.HTTPTransport(limits=limits), plain)
    finally:
        server.shutdown()
        server.server_close()
    print(f"httpcore's own pool: {len(failed)} of {SENDERS * EACH} requests failed {set(failed)}")

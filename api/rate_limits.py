"""Abuse limits of the API (issue 19, ADR 0043): failed authentications per client
address, and writes per token, counted by the ``limits`` library.

Issue 19 saw 10,436 wrong tokens in 10 s, each answered 401 after a lookup on the store,
and one dispatcher's token create 7,269 instructions in 20 s. Both are now counted in a
moving window (``60/minute`` means at most 60 in any 60 seconds, never 120 across the
turn of a minute):

- an address whose failed authentications have used up their allowance is answered 429
  for every request that needs a token, before any token is looked up, until the oldest
  failure leaves the window;
- a token whose writes (POST, PUT, PATCH, DELETE) have used up theirs is answered 429
  for its writes; its reads go on.

The counts live in this process's memory: a server of ``serve --workers N`` allows up to
N times the rate, one allowance per worker. A client behind a proxy is known by the
address uvicorn gives the request, which honours ``X-Forwarded-For`` only from the
addresses in ``FORWARDED_ALLOW_IPS`` (loopback by default).
"""

from __future__ import annotations

import ipaddress
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

#: The value that turns a limit off (a rate of 0 would refuse everything).
OFF = "off"
DEFAULT_AUTH_FAILURES = "60/minute"
DEFAULT_WRITES = "600/minute"

#: The limits by name, as ``/metrics`` labels them.
AUTH_FAILURES = "auth_failures"
WRITES = "writes"


def parse_rate(text: str) -> tuple[RateLimitItem, ...]:
    """``"30/second;600/minute"`` as the library's items, ``"off"`` as none; a
    ``ValueError`` for anything else, or for a rate of zero."""
    if text.strip().lower() == OFF:
        return ()
    items = tuple(parse_many(text))
    if any(item.amount < 1 for item in items):
        raise ValueError(f"a rate must allow at least one request ({OFF!r} turns it off)")
    return items


def client_key(address: str) -> str:
    """Whose failures an address counts against: an IPv4 address (also when written as an
    IPv4-mapped IPv6 one, ADR 0026), or an IPv6 address's /64, the block one host
    usually has to itself and could otherwise walk through."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket's peer, the test client)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimits:
    """The two limits of one application, and what they refused, for ``/metrics``.

    Called on the event loop only (the authentication guard), so the figures need no lock;
    the library's storage locks its own keys.
    """

    def __init__(
        self, auth_failures: str = DEFAULT_AUTH_FAILURES, writes: str = DEFAULT_WRITES
    ) -> None:
        self.rates = {AUTH_FAILURES: parse_rate(auth_failures), WRITES: parse_rate(writes)}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        #: Requests answered 401: no token, an unknown one or a revoked one.
        self.failed_authentications = 0
        #: Requests answered 429, by limit.
        self.refused = {AUTH_FAILURES: 0, WRITES: 0}

    def address_wait(self, address: str) -> int | None:
        """Seconds until ``address`` may present a token again, if its failures are spent
        (the refusal is counted); None when it may."""
        return self._wait(AUTH_FAILURES, client_key(address), spend=False)

    def failed(self, address: str) -> None:
        """Count one failed authentication against ``address``."""
        self.failed_authentications += 1
        key = client_key(address)
        for item in self.rates[AUTH_FAILURES]:
            self._limiter.hit(item, AUTH_FAILURES, key)

    def write_wait(self, token_id: str) -> int | None:
        """Spend one write of ``token_id``'s allowance and answer None, or, when it is
        spent, the seconds until the next write is allowed (the refusal is counted)."""
        return self._wait(WRITES, token_id, spend=True)

    def _wait(self, name: str, key: str, *, spend: bool) -> int | None:
        items = self.rates[name]
        spent = [item for item in items if not self._limiter.test(item, name, key)]
        if not spent:
            if spend:
                # Tested first, so that a refused write takes nothing from a window
                # that still had room.
                for item in items:
                    self._limiter.hit(item, name, key)
            return None
        self.refused[name] += 1
        now = time.time()
        reset = max(self._limiter.get_window_stats(item, name, key).reset_time for item in spent)
        return max(1, math.ceil(reset - now))

"""What a hostile or broken endpoint cannot do: reach a private address by changing its DNS
answer after the check (rebinding), hold a worker with an endless or trickling answer;
and what is never shown: a secret, in the logs or after its creation."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from domain.application import CommandCenter
from notifiers.config import networks
from notifiers.delivery import deliveries
from notifiers.service import Notifiers
from notifiers.transport import TargetRefused, check_target
from tests.fakes import Receiver, fast_config, serve
from tests.integration.notifiers.test_delivery import raise_warning, subscribe

pytestmark = pytest.mark.slow

NAME = "hooks.rebinding.test"
CHECKED = "127.0.0.2"  # the address the name shows when it is checked (allowed)
PRIVATE = "127.0.0.1"  # the address it answers with afterwards (not allowed)


class Rebinding:
    """A DNS whose answer for ``NAME`` changes after the first question."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.asked = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return self.real(host, port, *args, **kwargs)
        self.asked += 1
        address = CHECKED if self.asked == 1 else PRIVATE
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Rebinding:
    dns = Rebinding(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # a network's own translator (RFC 8215)
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::10.0.0.1",  # IPv4-compatible (deprecated)
        "::ffff:169.254.169.254",  # IPv4-mapped cloud metadata address
        "::ffff:0:7f00:1",  # IPv4-translated (RFC 2765) of 127.0.0.1
    ],
)
def test_an_ipv6_address_that_leads_to_a_private_ipv4_one_is_refused(address: str) -> None:
    """Python takes most of these for public addresses; through a translator or a relay
    they reach the private IPv4 address inside them."""
    with pytest.raises(TargetRefused, match="private or reserved"):
        check_target(f"http://[{address}]/hook", ())


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2001:4860::8888"])
def test_an_ipv6_address_that_leads_to_a_public_one_is_let_through(address: str) -> None:
    check_target(f"http://[{address}]/hook", ())


def test_a_network_allowed_by_its_ipv4_range_is_allowed_through_nat64_too() -> None:
    check_target("http://[64:ff9b::a00:1]/hook", networks("10.0.0.0/8"))


def test_a_literal_address_is_judged_without_a_lookup_and_a_failing_resolver_is_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[object] = []

    def resolver_down(host: object, *args: object, **kwargs: object) -> Any:
        asked.append(host)
        raise OSError("the resolver's socket could not be opened")

    def no_connection(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"a check connected to {args!r}: it judges addresses only")

    monkeypatch.setattr(socket, "getaddrinfo", resolver_down)
    # The private address is only ever judged: any connection to it fails the test.
    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    monkeypatch.setattr(socket.socket, "connect_ex", no_connection)
    with pytest.raises(TargetRefused, match="private or reserved"):
        check_target("http://10.1.2.3/hook", ())
    check_target("http://[2001:4860::8888]/hook", ())
    assert asked == []
    with pytest.raises(TargetRefused, match="does not resolve"):
        check_target("http://receiver.invalid/hook", ())
    assert asked == ["receiver.invalid"]


def test_a_name_that_rebinds_to_a_private_address_is_refused_at_delivery(
    make_notifiers: Callable[..., Notifiers], demo: CommandCenter, rebinding: Rebinding
) -> None:
    # The endpoint at the checked address, and another at the private one, same port.
    endpoint = Receiver(answer=lambda r: (200, {"Connection": "close"}, 0.0))
    inside = Receiver()
    servers = [serve(endpoint, CHECKED)]
    inside.port = endpoint.port
    servers.append(serve(inside, PRIVATE))
    try:
        notifiers = make_notifiers(fast_config(allowed_networks=networks(f"{CHECKED}/32")))
        url = f"http://{NAME}:{endpoint.port}/hook"
        inside.secrets = endpoint.secrets
        subscribe(notifiers, endpoint, url=url)
        assert notifiers.worker is not None

        # The first answer is the one connected to: not checked, then asked again.
        raise_warning(notifiers.center, "first")
        notifiers.catch_up()
        notifiers.worker.drain()
        assert rebinding.asked == 1
        assert len(endpoint.acted) == 1
        assert inside.received == []

        # The name now answers with the private address: the next connection is refused.
        raise_warning(notifiers.center, "second")
        notifiers.catch_up()
        notifiers.worker.drain()
        assert inside.received == [], "a rebinding name reached a private address"
        assert len(endpoint.received) == 1
        second = next(
            d
            for d in deliveries(notifiers.store, attempts=True)
            if d["status"] == "pending" and d["attempts"]
        )
        error = second["attempts"][0]["error"]
        assert error.startswith("refused:")
        assert PRIVATE in error
        # The check at registration refuses the name as it answers now.
        with pytest.raises(Exception, match="private or reserved"):
            check_target(url, notifiers.config.allowed_networks)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


class Misbehaving(socketserver.ThreadingTCPServer):
    """Reads a request, then answers as ``reply`` does until the client goes away."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reply: Callable[[Any], None]) -> None:
        self.reply = reply
        self.closed = threading.Event()
        self.written = 0

        class Handler(socketserver.StreamRequestHandler):
            def handle(handler) -> None:  # noqa: N805 (the server is self)
                length = 0
                while line := handler.rfile.readline():
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    if line in (b"\r\n", b"\n"):
                        break
                handler.rfile.read(length)
                with contextlib.suppress(OSError):  # the worker hung up: what is awaited
                    reply(handler.wfile)
                self.closed.set()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def misbehaving() -> Iterator[Callable[[Callable[[Any], None]], Misbehaving]]:
    made: list[Misbehaving] = []

    def make(reply: Callable[[Any], None]) -> Misbehaving:
        made.append(Misbehaving(reply))
        return made[-1]

    yield make
    for server in made:
        server.shutdown()
        server.server_close()


def test_an_endless_answer_is_read_no_further_than_the_bound(
    make_notifiers: Callable[..., Notifiers],
    demo: CommandCenter,
    misbehaving: Callable[[Callable[[Any], None]], Misbehaving],
) -> None:
    chunk = b"x" * 65536

    def endless(out: Any) -> None:
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        for _ in range(100_000):  # 6.5 GB: far more than anyone reads
            out.write(chunk)
            server.written += len(chunk)

    server = misbehaving(endless)
    notifiers = make_notifiers(fast_config(max_response_bytes=16 * 1024))
    subscribe(notifiers, Receiver(), url=server.url)
    raise_warning(demo)
    notifiers.catch_up()
    assert notifiers.worker is not None
    notifiers.worker.drain()
    [record] = deliveries(notifiers.store, attempts=True)
    assert record["status"] == "delivered"
    assert record["attempts"][0]["latency_ms"] < notifiers.config.attempt_deadline * 1000
    # The worker hung up instead of reading on: the sender's writes failed.
    assert server.closed.wait(10), "the worker kept reading an endless answer"
    assert server.written < 100_000 * len(chunk)


def test_an_answer_trickled_a_byte_at_a_time_is_cut_at_the_attempt_deadline(
    make_notifiers: Callable[..., Notifiers],
    demo: CommandCenter,
    misbehaving: Callable[[Callable[[Any], None]], Misbehaving],
) -> None:
    def trickle(out: Any) -> None:
        # Each byte comes before the read timeout, so only a deadline on the whole
        # attempt ends it; the headers never end.
        out.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        out.flush()
        for _ in range(300):
            time.sleep(0.1)
            out.write(b"a")
            out.flush()

    server = misbehaving(trickle)
    config = fast_config(timeout=0.4, schedule=(60.0,))
    notifiers = make_notifiers(config)
    subscribe(notifiers, Receiver(), url=server.url)
    raise_warning(demo)
    notifiers.catch_up()
    assert notifiers.worker is not None
    started = time.monotonic()
    notifiers.worker.drain()
    took = time.monotonic() - started
    [record] = deliveries(notifiers.store, attempts=True)
    [attempt] = record["attempts"]
    assert "Timeout" in attempt["error"]
    assert attempt["status_code"] is None
    assert record["status"] == "pending", "a timed-out attempt is tried again later"
    # Cut at the deadline (three read timeouts), long before the 30 s of trickle.
    assert attempt["latency_ms"] < (config.attempt_deadline + 1) * 1000
    assert took < config.attempt_deadline + 5


def test_no_secret_is_ever_logged(
    make_notifiers: Callable[..., Notifiers],
    demo: CommandCenter,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    notifiers = make_notifiers(fast_config(schedule=(0.01,), disable_after_dead=1))
    sid = subscribe(notifiers, receiver)
    from uuid import UUID

    from tests.fakes import admin

    rotated = notifiers.book.rotate(admin(), UUID(sid))
    assert rotated.secret is not None
    receiver.secrets.append(rotated.secret)
    answers = iter([(200, {}, 0.0), (500, {}, 0.0)])
    receiver.answer = lambda r: next(answers, (500, {}, 0.0))
    raise_warning(demo, "one")
    raise_warning(demo, "two")
    notifiers.catch_up()
    assert notifiers.worker is not None
    for _ in range(10):
        notifiers.worker.drain()
        time.sleep(0.02)
    assert not notifiers.book.get(UUID(sid)).active, "the failing endpoint was disabled"
    logged = caplog.text
    assert "disabling subscription" in logged
    assert "HTTP Request: POST" in logged
    for secret in receiver.secrets:
        assert secret not in logged
        assert secret.removeprefix("whsec_") not in logged


SLOW = "hooks.slow-dns.test"


def test_a_name_whose_dns_answers_slowly_cannot_hold_an_attempt_past_its_bounds(
    make_notifiers: Callable[..., Notifiers], demo: CommandCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A receiver's own name server may answer as slowly as it likes; getaddrinfo has no
    # timeout, so an attempt that waited for it could outlast its lease.
    endpoint = Receiver()
    server = serve(endpoint, "127.0.0.1")
    try:
        notifiers = make_notifiers(fast_config())
        url = f"http://{SLOW}:{endpoint.port}/hook"
        real = socket.getaddrinfo
        slow = threading.Event()

        def dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != SLOW:
                return real(host, port, *args, **kwargs)
            if slow.is_set():
                time.sleep(5)
            return real("127.0.0.1", port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", dns)
        subscribe(notifiers, endpoint, url=url)
        assert notifiers.worker is not None
        raise_warning(notifiers.center, "slow dns")
        notifiers.catch_up()
        slow.set()

        claimed = notifiers.worker.claim(1)
        started = time.monotonic()
        notifiers.worker.deliver(claimed[0])
        took = time.monotonic() - started

        # Bounded by the connect timeout (0.5 s here), far below the 5 s the lookup takes.
        assert took < 2.0
        assert endpoint.received == []
        attempt = next(d for d in deliveries(notifiers.store, attempts=True) if d["attempts"])
        assert "took too long" in attempt["attempts"][0]["error"]
        # Registration is bounded too, and refuses the name with a reason.
        monkeypatch.setattr("notifiers.transport.RESOLVE_TIMEOUT", 0.2)
        with pytest.raises(Exception, match="took too long"):
            check_target(url, notifiers.config.allowed_networks)
    finally:
        server.shutdown()
        server.server_close()

"""The fakes of the world outside Closed Loop, in one place for every layer.

A department's webhook endpoint: a real HTTP server on 127.0.0.1 that verifies each delivery
with the reference ``standardwebhooks`` library; the webhook settings that point the
notifiers at it with short timeouts; an administrator's context.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.meta import Actor, Context
from notifiers.config import WebhookConfig, networks

#: (status, headers, delay in seconds) the receiver answers with.
Answer = tuple[int, dict[str, str], float]


@dataclass
class Received:
    id: str
    timestamp: str
    body: bytes
    signature: str
    verified: bool
    error: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; acts once per ``webhook-id`` on what verifies."""

    secrets: list[str] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda r: (200, {}, 0.0)
    received: list[Received] = field(default_factory=list)
    acted: dict[str, Received] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def verify(self, body: bytes, headers: dict[str, str]) -> str | None:
        errors = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return None
            except WebhookVerificationError as e:
                errors.append(str(e))
        return "; ".join(errors) or "no secret to verify with"

    def handle(self, headers: dict[str, str], body: bytes) -> Answer:
        error = self.verify(body, headers)
        item = Received(
            headers.get("webhook-id", ""),
            headers.get("webhook-timestamp", ""),
            body,
            headers.get("webhook-signature", ""),
            error is None,
            error,
        )
        answer = self.answer(item)
        with self.lock:
            self.received.append(item)
            if answer[0] < 300 and item.verified:
                self.acted.setdefault(item.id, item)
        return answer

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.acted) >= count:
                    return True
            time.sleep(0.02)
        return False


def serve(receiver: Receiver, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-body (the crash tests kill it at random moments):
                # a real receiver's server never hands such a request on, nor does this.
                self.close_connection = True
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, delay = receiver.handle(headers, body)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                # The sender was killed while its answer was held: nobody to answer.
                self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, receiver.port), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fast_config(**changes: Any) -> WebhookConfig:
    args: dict[str, Any] = {
        "schedule": (0.05, 0.1, 0.2),
        "jitter": 0.2,
        "timeout": 1.0,
        "connect_timeout": 0.5,
        "lease": 5.0,
        "poll_interval": 0.02,
        "allowed_networks": networks("127.0.0.0/8"),
        "retry_after_cap": 5.0,
        "public_url": "http://api.example",
    }
    args.update(changes)
    return WebhookConfig(**args)


ADMIN_HW = Context(actor=Actor(person="admin-hw", unit="HW", role="admin"))


def admin(unit: str = "HW") -> Context:
    return Context(actor=Actor(person=f"admin-{unit}", unit=unit, role="admin"))

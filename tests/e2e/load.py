"""A load of clients stepping closed loops through their whole life over HTTP.

Each client (a thread with its own connection) raises a warning, acknowledges and
confirms it, issues an instruction on it, signs, submits and verifies that, then resolves
and closes the warning; and again, until stopped. Every command carries a ``command_id``
of the client's own; a command that got no answer, or a 503, is sent again with the same
id until it is answered, as a careful client does, so a command written once and answered
late is never written twice. What came back is counted in a :class:`Tally`: the commands
acknowledged (2xx) with their ids, every answer's status and time, what went unanswered.

The fault tests check the log against it afterwards (:func:`check_the_log`): every
acknowledged command is in it (none lost), and none is in it twice.

Small and general on purpose: any end-to-end test may drive a server with it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Who does what in a loop: the demo district's units and roles.
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "monitor": ("HW", ("monitor",)),
    "duty": ("HW", ("duty_officer",)),
    "district": ("HW", ("dispatcher",)),
    "office": ("HW-DH", ("handler", "dispatcher")),
}


@dataclass(frozen=True, slots=True)
class Answer:
    """One request: when it was sent and answered (``time.monotonic()``), its status
    (0: no answer, the client gave up at its timeout or the connection failed)."""

    sent: float
    answered: float
    status: int
    retry_after: bool
    command: str


@dataclass
class Tally:
    """What the clients saw, shared by their threads (appends only)."""

    #: Acknowledged commands: the unit-qualified command id the log carries -> position.
    acknowledged: dict[str, int] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    loops_closed: int = 0
    #: Answers that were neither 2xx nor 503, with their bodies: a client's step refused.
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[int]:
        return Counter(a.status for a in self.answers if since <= a.sent <= until)

    def first_ok_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first command answered 2xx that was sent after it."""
        times = [a.answered for a in self.answers if a.sent >= moment and 200 <= a.status < 300]
        return min(times) - moment if times else None

    def slowest(self) -> float:
        return max((a.answered - a.sent for a in self.answers), default=0.0)


class Client(threading.Thread):
    """One client stepping loops until ``stop`` is set."""

    def __init__(
        self,
        number: int,
        base: str,
        tokens: dict[str, str],
        tally: Tally,
        stop: threading.Event,
        timeout: float,
        patience: float,
    ) -> None:
        super().__init__(name=f"load-client-{number}", daemon=True)
        self.number = number
        self.http = httpx.Client(base_url=base, timeout=timeout)
        self.tokens = tokens
        self.tally = tally
        self.stopping = stop
        self.patience = patience
        self.sent = 0

    def act(self, who: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST a command until it is answered other than 503 (None: stopped first)."""
        self.sent += 1
        command_id = f"load-{self.number}-{self.sent}"
        body = {**body, "command_id": command_id}
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        while not self.stopping.is_set():
            sent = time.monotonic()
            try:
                r = self.http.post(path, json=body, headers=headers)
                status, retry_after = r.status_code, "retry-after" in r.headers
            except httpx.TransportError:
                status, retry_after, r = 0, False, None
            with self.tally.lock:
                self.tally.answers.append(
                    Answer(sent, time.monotonic(), status, retry_after, command_id)
                )
            if r is not None and 200 <= status < 300:
                receipt: dict[str, Any] = r.json()
                with self.tally.lock:
                    self.tally.acknowledged[f"{ROLES[who][0]}:{command_id}"] = receipt["position"]
                return receipt
            if r is not None and status != 503:
                with self.tally.lock:
                    self.tally.refused.append(f"{path} {status} {r.text[:300]}")
                return None
            # Asked to come back later (or no answer): the same command again, soon.
            wait = float(r.headers.get("retry-after", "1")) if r is not None else 0.2
            self.stopping.wait(min(wait, self.patience))
        return None

    def run(self) -> None:
        loop = 0
        while not self.stopping.is_set():
            loop += 1
            if self.one_loop(loop):
                with self.tally.lock:
                    self.tally.loops_closed += 1

    def one_loop(self, loop: int) -> bool:
        steps: list[Callable[[], dict[str, Any] | None]] = []
        w = self.act(
            "monitor",
            "/v1/warnings",
            {
                # No playbook acts on it: its loop is the client's alone to close.
                "rule": "load.ecology",
                "theme": "ecology",
                "level": 2,
                "title": f"load {self.number}/{loop}",
                "unit": "HW-DH",
                # A condition of its own: the same one again would fold into the first.
                "dedup_key": f"load-{self.number}-{loop}",
            },
        )
        if w is None:
            return False
        wurl = f"/v1/warnings/{w['id']}"
        steps = [
            lambda: self.act("duty", f"{wurl}/acknowledge", {}),
            lambda: self.act("duty", f"{wurl}/assess", {"confirmed": True}),
        ]
        if not all(step() is not None for step in steps):
            return False
        i = self.act(
            "district",
            "/v1/instructions",
            {
                "lead_unit": "HW-DH",
                "title": f"act on load {self.number}/{loop}",
                "due_in": "P2D",
                "warning_ids": [w["id"]],
            },
        )
        if i is None:
            return False
        iurl = f"/v1/instructions/{i['id']}"
        steps = [
            lambda: self.act("office", f"{iurl}/sign", {}),
            lambda: self.act("office", f"{iurl}/submit", {"result": "done"}),
            lambda: self.act("district", f"{iurl}/verify", {"accepted": True}),
            lambda: self.act("duty", f"{wurl}/resolve", {}),
            lambda: self.act("duty", f"{wurl}/close", {}),
        ]
        return all(step() is not None for step in steps)


@contextmanager
def load(
    base: str,
    tokens: dict[str, str],
    clients: int = 8,
    timeout: float = 15.0,
    patience: float = 0.5,
) -> Iterator[Tally]:
    """``clients`` clients on the server at ``base`` while the block runs; ``tokens``
    holds a bearer token for each of :data:`ROLES`. A client waits ``timeout`` for an
    answer, and at most ``patience`` seconds before sending a command again."""
    tally = Tally()
    stop = threading.Event()
    threads = [Client(n, base, tokens, tally, stop, timeout, patience) for n in range(clients)]
    for t in threads:
        t.start()
    try:
        yield tally
    finally:
        stop.set()
        for t in threads:
            t.join(timeout + 5)
            t.http.close()


def check_the_log(url: str, tally: Tally) -> tuple[set[str], dict[str, int]]:
    """The acknowledged commands missing from the log at ``url``, and those written
    twice there (an event of the same kind on the same record with the same command id)."""
    from tests.conftest import opened_center

    seen: Counter[tuple[str, str, str]] = Counter()
    written: set[str] = set()
    with opened_center(url) as center:
        start = 1
        while True:
            batch = center.recorder.select_notifications(start, 1000)
            if not batch:
                break
            for n in batch:
                event = center.mapper.to_domain_event(n)
                meta = getattr(event, "meta", None)
                if meta is None:
                    continue
                command = meta.command_id.split("/")[0]
                written.add(command)
                seen[(command, str(n.originator_id), n.topic)] += 1
            start = batch[-1].id + 1
    missing = {c for c in tally.acknowledged if c not in written}
    twice = {f"{c} {topic}": k for (c, _, topic), k in seen.items() if k > 1}
    return missing, twice


def flood(base: str, token: str, clients: int, seconds: float, timeout: float = 15.0) -> Tally:
    """``clients`` clients at once, each raising warnings one after the other for
    ``seconds`` (a 503 is sent again after its ``Retry-After``, at most 0.5 s): far more
    clients than one server answers at once, in one thread with an event loop.

    Each client speaks HTTP/1.1 on a connection of its own with asyncio's streams:
    httpx's pool spends more time on 300 connections than the server does answering."""
    import asyncio
    import json
    from urllib.parse import urlsplit

    tally = Tally()
    where = urlsplit(base)
    host, port = where.hostname or "127.0.0.1", where.port or 80

    async def post(
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, body: bytes
    ) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], int, dict[str, str], bytes]:
        if streams is None:
            streams = await asyncio.open_connection(host, port)
        reader, writer = streams
        writer.write(
            (
                f"POST /v1/warnings HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)
        }
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        return streams, status, headers, content

    async def client(number: int, until: float) -> None:
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        sent = 0
        while time.monotonic() < until:
            sent += 1
            command_id = f"flood-{number}-{sent}"
            body = {
                "rule": "load.ecology",
                "theme": "ecology",
                "level": 4,
                "title": f"flood {number}/{sent}",
                "unit": "HW-DH",
                "dedup_key": command_id,
                "command_id": command_id,
            }
            began = time.monotonic()
            try:
                streams, status, headers, content = await asyncio.wait_for(
                    post(streams, json.dumps(body).encode()), timeout
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                if streams is not None:
                    streams[1].close()
                streams, status, headers, content = None, 0, {}, b""
            tally.answers.append(
                Answer(began, time.monotonic(), status, "retry-after" in headers, command_id)
            )
            if headers.get("connection") == "close" and streams is not None:
                streams[1].close()
                streams = None
            if 200 <= status < 300:
                position = json.loads(content)["position"]
                tally.acknowledged[f"{ROLES['monitor'][0]}:{command_id}"] = position
            elif status not in (0, 503):
                tally.refused.append(f"{status} {content[:300]!r}")
            else:
                await asyncio.sleep(min(float(headers.get("retry-after", "0.2")), 0.5))
        if streams is not None:
            streams[1].close()

    async def everyone() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(client(n, until) for n in range(clients)))

    asyncio.run(everyone())
    return tally

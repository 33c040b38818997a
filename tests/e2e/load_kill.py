"""A small load over HTTP for the fault tests: N clients, each stepping closed loops
through their whole life (a warning raised, acknowledged, confirmed, answered by an
instruction that is signed, submitted and verified, the warning resolved and closed),
one loop after the other, until told to stop.

Each command carries an ``Idempotency-Key`` and is sent again, with the same key, after
a transport error or a 5xx (the server was killed, or is restarting): a command is
*acknowledged* when it was answered 2xx, and each acknowledgement's resulting status is
remembered, so that after the faults the views can be asked whether anything
acknowledged was lost. A client stops between two commands, never in the middle of one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.tokens import TokenBook
from domain.application import CommandCenter

#: (who, unit, roles) of the tokens the clients use.
PEOPLE = [
    ("monitor", "HW", ["monitor"]),
    ("duty", "HW", ["duty_officer"]),
    ("district", "HW", ["dispatcher"]),
    ("office", "HW-DH", ["handler", "dispatcher"]),
]
#: How long one command is tried again before the client gives up on it (seconds).
PATIENCE = 60.0


def issue_tokens(center: CommandCenter) -> dict[str, str]:
    book = TokenBook(center)
    return {
        who: book.issue(user=f"load {who}", unit=unit, roles=roles, label="load").secret
        for who, unit, roles in PEOPLE
    }


@dataclass
class Tally:
    """What the clients did, together (under ``lock``)."""

    acknowledged: int = 0
    #: Sends of a command after the first (transport errors, 5xx).
    resent: int = 0
    #: Commands answered 4xx: none is expected.
    refused: list[str] = field(default_factory=list)
    #: Commands given up on after :data:`PATIENCE`.
    abandoned: int = 0
    loops: int = 0
    #: (kind, id) -> the status its last acknowledged command answered.
    last_status: dict[tuple[str, str], str] = field(default_factory=dict)
    #: time.monotonic() of each acknowledgement, for rates.
    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rate(self, start: float, end: float) -> float:
        """Acknowledged commands per second between two moments."""
        with self.lock:
            n = sum(1 for t in self.times if start <= t < end)
        return n / max(end - start, 1e-9)


class Client(threading.Thread):
    def __init__(self, base: str, tokens: dict[str, str], tally: Tally, stop: threading.Event):
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=base, timeout=10)
        self.tokens = tokens
        self.tally = tally
        self.stopping = stop

    def act(self, who: str, path: str, body: dict[str, Any], kind: str) -> dict[str, Any] | None:
        """One command until acknowledged (None when refused or given up on)."""
        key = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Idempotency-Key": key}
        deadline = time.monotonic() + PATIENCE
        first = True
        while time.monotonic() < deadline:
            if not first:
                with self.tally.lock:
                    self.tally.resent += 1
            first = False
            try:
                r = self.http.post(path, json=body, headers=headers)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if r.status_code >= 500:
                time.sleep(0.1)
                continue
            if r.status_code >= 400:
                with self.tally.lock:
                    self.tally.refused.append(f"{path} {r.status_code} {r.text[:200]}")
                return None
            answer: dict[str, Any] = r.json()
            with self.tally.lock:
                self.tally.acknowledged += 1
                self.tally.times.append(time.monotonic())
                self.tally.last_status[(kind, answer["id"])] = answer["status"]
            return answer
        with self.tally.lock:
            self.tally.abandoned += 1
        return None

    def all_of(self, steps: list[tuple[str, str, dict[str, Any], str]]) -> bool:
        """Each step acknowledged in turn; stops at a stop asked for or a step refused."""
        return all(not self.stopping.is_set() and self.act(*step) is not None for step in steps)

    def one_loop(self, n: int) -> bool:
        w = self.act(
            "monitor",
            "/v1/warnings",
            {
                # A rule no playbook answers: the loop's one instruction is the client's.
                "rule": "environment.noise",
                "theme": "environment",
                "level": 2,
                "title": f"Load noise {self.name} {n}",
                "unit": "HW-DH-QS",
                # Its own warning, not a repeat of another client's (ADR 0006).
                "dedup_key": f"load-{uuid.uuid4().hex}",
            },
            "warning",
        )
        if w is None:
            return False
        wurl = f"/v1/warnings/{w['id']}"
        steps: list[tuple[str, str, dict[str, Any], str]] = [
            ("duty", f"{wurl}/acknowledge", {}, "warning"),
            ("duty", f"{wurl}/assess", {"confirmed": True}, "warning"),
        ]
        if not self.all_of(steps):
            return False
        i = self.act(
            "district",
            "/v1/instructions",
            {
                "lead_unit": "HW-DH",
                "title": "Quiet the site",
                "due_in": "P2D",
                "warning_ids": [w["id"]],
            },
            "instruction",
        )
        if i is None:
            return False
        iurl = f"/v1/instructions/{i['id']}"
        steps = [
            ("office", f"{iurl}/sign", {}, "instruction"),
            ("office", f"{iurl}/submit", {"result": "noise back under the limit"}, "instruction"),
            ("district", f"{iurl}/verify", {"accepted": True}, "instruction"),
            ("duty", f"{wurl}/resolve", {}, "warning"),
            ("duty", f"{wurl}/close", {}, "warning"),
        ]
        return self.all_of(steps)

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            if self.one_loop(n):
                with self.tally.lock:
                    self.tally.loops += 1
        self.http.close()


class Load:
    """``clients`` clients on the API at ``base`` until :meth:`stop`."""

    def __init__(self, base: str, tokens: dict[str, str], clients: int = 8) -> None:
        self.base = base
        self.tokens = tokens
        self.tally = Tally()
        self._stop = threading.Event()
        self.clients = [Client(base, tokens, self.tally, self._stop) for _ in range(clients)]

    def start(self) -> Load:
        for c in self.clients:
            c.start()
        return self

    def stop(self) -> Tally:
        self._stop.set()
        for c in self.clients:
            c.join(PATIENCE + 15)
        return self.tally

    def lost(self) -> list[str]:
        """Every acknowledged status the views do not show now (after the followers caught
        up): a command acknowledged and then lost. Read over HTTP, after the last write."""
        http = httpx.Client(base_url=self.base, timeout=10)
        headers = {"Authorization": f"Bearer {self.tokens['district']}"}
        missing = []
        try:
            for (kind, ident), status in sorted(self.tally.last_status.items()):
                r = http.get(f"/v1/{kind}s/{ident}", headers=headers)
                if r.status_code != 200 or r.json()["status"] != status:
                    missing.append(f"{kind} {ident}: acknowledged {status}, now {r.text[:120]}")
        finally:
            http.close()
        return missing


def summary(tally: Tally) -> str:
    statuses = Counter(tally.last_status.values())
    return (
        f"{tally.acknowledged} commands acknowledged, {tally.loops} loops closed, "
        f"{tally.resent} resent, {len(tally.refused)} refused, {tally.abandoned} abandoned; "
        f"last statuses {dict(statuses)}"
    )

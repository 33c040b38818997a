"""Idempotency keys: the same ``POST`` again answers the first response (ADR 0009).

A client that did not hear the answer to a command sends it again with the same
``Idempotency-Key``. The command itself runs under a command id derived from the token
and the key, so a retry is a no-op in the domain even if this process died before the
record below was saved. The :class:`~domain.idempotency_record.IdempotencyRecord`,
saved after the command through the one command path (ADR 0033), holds the request's
hash and the response, so that the retry gets the very same answer, and the same key
sent with another body is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from domain.application import CommandCenter
from domain.decision import Decision
from domain.idempotency_record import IdempotencyRecord, record_id

MAX_KEY = 255


def command_id_for(token_id: str, key: str) -> str:
    """The command id a keyed request runs under: the same key, the same command."""
    return "idem:" + hashlib.sha256(f"{token_id}\n{key}".encode()).hexdigest()


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class Replay:
    request_hash: str
    status: int
    body: bytes
    headers: dict[str, str]


class IdempotencyBook:
    """Finds and keeps the first response to each key of each token."""

    def __init__(self, center: CommandCenter) -> None:
        self.center = center

    def find(self, token_id: str, key: str) -> Replay | None:
        record = self.center.unit_of_work.find(IdempotencyRecord, record_id(token_id, key))
        if record is None:
            return None
        return Replay(record.request_hash, record.status, record.body.encode(), record.headers)

    def record(
        self,
        token_id: str,
        key: str,
        request_hash: str,
        status: int,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        work = self.center.unit_of_work
        rid = record_id(token_id, key)

        def decide() -> Decision:
            first = work.find_repeat(IdempotencyRecord, rid)
            if first is not None:
                # A concurrent retry with the same key saved the same answer first.
                return Decision(first, [])
            record = IdempotencyRecord(
                token_id=token_id,
                key=key,
                request_hash=request_hash,
                status=status,
                body=body.decode(),
                headers=headers,
            )
            return Decision(record, [record], created=True)

        work.execute(decide)

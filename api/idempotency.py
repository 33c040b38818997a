"""Idempotency keys: the same ``POST`` again answers the first response (ADR 0009).

A client that did not hear the answer to a command sends it again with the same
``Idempotency-Key``. The command itself runs under a command id derived from the token
and the key, so a retry is a no-op in the domain even if this process died before the
record below was saved. The :class:`IdempotencyRecord`, saved after the command, holds
the request's hash and the response, so that the retry gets the very same answer, and
the same key sent with another body is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from domain.application import CommandCenter
from domain.meta import derived_id

MAX_KEY = 255


def record_id(token_id: str, key: str) -> UUID:
    return derived_id("idempotency", f"{token_id}\n{key}")


def command_id_for(token_id: str, key: str) -> str:
    """The command id a keyed request runs under: the same key, the same command."""
    return "idem:" + hashlib.sha256(f"{token_id}\n{key}".encode()).hexdigest()


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyRecord(Aggregate):
    """The first response to a request sent under one key by one token."""

    class Recorded(Aggregate.Created):
        token_id: str
        key: str
        request_hash: str
        status: int
        body: str
        headers: dict[str, str]

    @staticmethod
    def create_id(token_id: str, key: str) -> UUID:
        return record_id(token_id, key)

    @event(Recorded)
    def __init__(
        self,
        token_id: str,
        key: str,
        request_hash: str,
        status: int,
        body: str,
        headers: dict[str, str],
    ) -> None:
        self.token_id = token_id
        self.key = key
        self.request_hash = request_hash
        self.status = status
        self.body = body
        self.headers = dict(headers)


@dataclass(frozen=True)
class Replay:
    request_hash: str
    status: int
    body: bytes
    headers: dict[str, str]


class IdempotencyBook:
    def __init__(self, center: CommandCenter) -> None:
        self.center = center

    def find(self, token_id: str, key: str) -> Replay | None:
        try:
            record: Any = self.center.repository.get(record_id(token_id, key))
        except AggregateNotFoundError:
            return None
        if not isinstance(record, IdempotencyRecord):
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
        record = IdempotencyRecord(
            token_id=token_id,
            key=key,
            request_hash=request_hash,
            status=status,
            body=body.decode(),
            headers=headers,
        )
        # A concurrent retry with the same key may have saved the same answer first.
        with contextlib.suppress(IntegrityError):
            self.center.save(record)

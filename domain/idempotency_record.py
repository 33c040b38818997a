"""The first response to a request sent under one ``Idempotency-Key`` by one token
(ADR 0009): the request's hash, to refuse the same key with another body, and the
response, to answer a retry with the very same one."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from domain.meta import derived_id


def record_id(token_id: str, key: str) -> UUID:
    return derived_id("idempotency", f"{token_id}\n{key}")


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


# Records kept before the aggregate moved here name its old module (ADR 0033).
register_topic("api.idempotency:IdempotencyRecord", IdempotencyRecord)

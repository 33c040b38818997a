"""``GET /v1/readings/rejected``: the messages a door could not take (ADR 0079), newest
first. The admin and the auditor see every one; anyone else those spoken as a unit of
their own subtree (the topic's unit, else the door's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from api.http import READ, On
from api.intake import intake_of


class RejectedOut(msgspec.Struct, kw_only=True):
    id: int
    door: str
    topic: str
    unit: str
    #: The payload's first 2 KiB as text (bytes that are not UTF-8 replaced).
    payload: str
    reason: str
    received_at: datetime


class RejectedPage(msgspec.Struct, kw_only=True):
    items: list[RejectedOut]
    #: Pass as ``before`` for the next (older) page; null on the last.
    next_before: int | None


class RejectedController(Controller):
    path = "/v1/readings/rejected"
    tags = ("stations",)

    @get("/", sync_to_thread=True, responses=READ)
    def rejected(
        self,
        call: On,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        before: Annotated[
            int | None,
            # Ids are 63-bit on both stores: a larger number is a bad parameter, not a 500.
            QueryParameter(ge=1, le=2**62, description="the next_before of the page before"),
        ] = None,
    ) -> RejectedPage:
        center, principal = call.center, call.principal
        units = (
            None
            if principal.reads_everything
            else [u.code for u in center.units() if center.is_within(u.code, principal.unit)]
        )
        letters = intake_of(call.request).readings.rejected(units, limit=limit + 1, before=before)
        items = [
            RejectedOut(
                id=d.id,
                door=d.door,
                topic=d.topic,
                unit=d.unit,
                payload=d.payload,
                reason=d.reason,
                received_at=d.received_at,
            )
            for d in letters[:limit]
        ]
        more = len(letters) > limit
        return RejectedPage(items=items, next_before=items[-1].id if more else None)


DEAD_LETTER_HANDLERS: list[Any] = [RejectedController]

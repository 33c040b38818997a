"""The subscriptions' use cases on the command center's store: register, update, rotate,
disable, enable, delete; and their reads, from the outbox view's table.

The secret is encrypted here, at the edge, before the aggregate ever sees it; it is
handed back once, by :meth:`SubscriptionBook.register` and :meth:`rotate`, and never
again. A retried command (same command id) changes nothing and is answered as done.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.application import CommandCenter
from domain.errors import AlreadyExists, ConcurrencyConflict, InvalidValue, NotFound
from domain.meta import Context
from domain.subscription import Subscription, subscription_id
from notifiers.outbox import SUBSCRIPTIONS, TYPE_NAMES
from notifiers.secrets import Keyring, fingerprint, new_secret, secret_bytes
from projections.store import ViewStore

_ATTEMPTS = 8


@dataclass(frozen=True)
class Done:
    """What a subscription command did: the subscription's id, version and log position."""

    id: UUID
    version: int
    position: int | None
    created: bool = False
    #: The secret, on registration and rotation only.
    secret: str | None = None


def check_event_types(types: list[str] | None) -> list[str]:
    unknown = sorted(set(types or []) - set(TYPE_NAMES))
    if unknown:
        raise InvalidValue(
            f"unknown event type(s) {', '.join(unknown)}; see GET /v1/subscriptions/event-types"
        )
    return list(types or [])


class SubscriptionBook:
    """Registers and changes subscriptions; lists them from the outbox view."""

    def __init__(
        self,
        center: CommandCenter,
        keyring: Keyring,
        store: ViewStore | None = None,
        *,
        rotation_grace: timedelta = timedelta(hours=24),
    ) -> None:
        self.center = center
        self.keyring = keyring
        self.store = store
        self.rotation_grace = rotation_grace

    def get(self, sid: UUID) -> Subscription:
        try:
            aggregate: Any = self.center.repository.get(sid)
        except AggregateNotFoundError:
            raise NotFound("subscription not found") from None
        if not isinstance(aggregate, Subscription) or aggregate.deleted:
            raise NotFound("subscription not found")
        return aggregate

    def register(
        self, ctx: Context, *, unit: str, secret: str | None = None, **fields: Any
    ) -> Done:
        self.center.unit(unit)  # a subscription of a unit that does not exist is a typo
        fields["event_types"] = check_event_types(fields.get("event_types"))
        secret = secret or new_secret()
        secret_bytes(secret)
        new_id = subscription_id(ctx.command_id)
        try:
            existing: Any = self.center.repository.get(new_id)
        except AggregateNotFoundError:
            existing = None
        if existing is not None:
            if existing.has_seen(ctx.command_id):
                # The same registration again: the secret is not shown a second time.
                return Done(existing.id, existing.version, None, created=True)
            raise AlreadyExists("a subscription with this command id exists")
        subscription = Subscription.register(
            unit=unit,
            secret_ciphertext=self.keyring.encrypt(secret),
            secret_fingerprint=fingerprint(secret),
            meta=ctx.meta("RegisterSubscription", new_id),
            **fields,
        )
        recordings = self.center.save(subscription)
        position = max(r.notification.id for r in recordings)
        return Done(subscription.id, subscription.version, position, True, secret)

    def _change(
        self, ctx: Context, sid: UUID, act: Callable[[Subscription], None]
    ) -> tuple[Subscription, int | None]:
        for _ in range(_ATTEMPTS):
            subscription = self.get(sid)
            if subscription.has_seen(ctx.command_id):
                return subscription, None
            if ctx.expected_version is not None and subscription.version != ctx.expected_version:
                raise ConcurrencyConflict(
                    f"the subscription is at version {subscription.version}, "
                    f"not at version {ctx.expected_version} as expected"
                )
            act(subscription)
            if not subscription.pending_events:
                return subscription, None
            try:
                recordings = self.center.save(subscription)
            except IntegrityError:
                if ctx.expected_version is not None:
                    raise ConcurrencyConflict("the subscription changed meanwhile") from None
                continue
            return subscription, max(r.notification.id for r in recordings)
        raise ConcurrencyConflict("the subscription kept changing; try again")

    def update(self, ctx: Context, sid: UUID, changes: dict[str, Any]) -> Done:
        if "event_types" in changes:
            changes["event_types"] = check_event_types(changes["event_types"])
        s, position = self._change(
            ctx, sid, lambda s: s.update(changes, ctx.meta("UpdateSubscription", s.id))
        )
        return Done(s.id, s.version, position)

    def rotate(self, ctx: Context, sid: UUID, secret: str | None = None) -> Done:
        secret = secret or new_secret()
        secret_bytes(secret)
        until = ctx.business_time() + self.rotation_grace
        s, position = self._change(
            ctx,
            sid,
            lambda s: s.rotate_secret(
                self.keyring.encrypt(secret),
                fingerprint(secret),
                until,
                ctx.meta("RotateSubscriptionSecret", s.id),
            ),
        )
        return Done(s.id, s.version, position, secret=secret if position is not None else None)

    def disable(self, ctx: Context, sid: UUID, reason: str, *, failing: bool = False) -> Done:
        s, position = self._change(
            ctx,
            sid,
            lambda s: s.disable(reason, ctx.meta("DisableSubscription", s.id), failing=failing),
        )
        return Done(s.id, s.version, position)

    def enable(self, ctx: Context, sid: UUID) -> Done:
        s, position = self._change(
            ctx, sid, lambda s: s.enable(ctx.meta("EnableSubscription", s.id))
        )
        return Done(s.id, s.version, position)

    def delete(self, ctx: Context, sid: UUID, reason: str) -> Done:
        s, position = self._change(
            ctx, sid, lambda s: s.delete(reason, ctx.meta("DeleteSubscription", s.id))
        )
        return Done(s.id, s.version, position)

    # -- reads ---------------------------------------------------------------------------

    def listed(self, units: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
        """Every subscription not deleted, from the outbox view (no secrets)."""
        if self.store is None:
            return []
        with self.store.read() as tx:
            rows = tx.execute(
                "SELECT id, unit, url, event_types, themes, min_level, units, subtrees, "
                "addressed_only, language, template, description, active, secret_fingerprint, "
                "previous_until, disabled_reason, created_at, updated_at, version "
                f"FROM {SUBSCRIPTIONS} WHERE deleted = 0 ORDER BY created_at, id"
            )
        out = []
        for r in rows:
            if units is not None and not units(r[1]):
                continue
            out.append(
                {
                    "id": r[0],
                    "unit": r[1],
                    "url": r[2],
                    "event_types": json.loads(r[3]),
                    "themes": json.loads(r[4]),
                    "min_level": r[5],
                    "units": json.loads(r[6]),
                    "subtrees": json.loads(r[7]),
                    "addressed_only": bool(r[8]),
                    "language": r[9],
                    "template": r[10],
                    "description": r[11],
                    "active": bool(r[12]),
                    "secret_fingerprint": r[13],
                    "previous_secret_until": r[14],
                    "disabled_reason": r[15],
                    "created_at": r[16],
                    "updated_at": r[17],
                    "version": r[18],
                }
            )
        return out

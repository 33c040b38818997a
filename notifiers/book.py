"""The subscriptions' use cases on the command center's store: register, update, rotate,
disable, enable, delete; and their reads, from the outbox view's table.

The secret is encrypted here, at the edge, before the aggregate ever sees it; it is
handed back once, by :meth:`SubscriptionBook.register` and :meth:`rotate` (in
``Outcome.secret``), and never again. Every command takes the one command path (ADR
0033): a retried command (same command id) changes nothing and is answered as done, a
lost race is decided again, an If-Match that no longer holds is refused.
"""

# Table names are constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.application import CommandCenter, Outcome
from domain.decision import Decision
from domain.errors import AlreadyExists, InvalidValue, NotFound
from domain.meta import Context
from domain.subscription import Subscription, subscription_id
from notifiers.outbox import SUBSCRIPTIONS, TYPE_NAMES
from notifiers.secrets import Keyring, fingerprint, new_secret, secret_bytes
from projections.store import ViewStore


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
        subscription = self.center.unit_of_work.find(Subscription, sid)
        if subscription is None or subscription.deleted:
            raise NotFound("subscription not found")
        return subscription

    def register(
        self, ctx: Context, *, unit: str, secret: str | None = None, **fields: Any
    ) -> Outcome:
        self.center.unit(unit)  # a subscription of a unit that does not exist is a typo
        fields["event_types"] = check_event_types(fields.get("event_types"))
        secret = secret or new_secret()
        secret_bytes(secret)
        new_id = subscription_id(ctx.command_id)
        ciphertext = self.keyring.encrypt(secret)
        work = self.center.unit_of_work

        def decide() -> Decision:
            existing: Any = work.find_repeat(Subscription, new_id)
            if existing is not None:
                if existing.has_seen(ctx.command_id):
                    # The same registration again: the secret is not shown a second time.
                    return Decision(existing, [], created=True)
                raise AlreadyExists("a subscription with this command id exists")
            subscription = Subscription.register(
                unit=unit,
                secret_ciphertext=ciphertext,
                secret_fingerprint=fingerprint(secret),
                meta=ctx.meta("RegisterSubscription", new_id),
                **fields,
            )
            return Decision(subscription, [subscription], created=True)

        done = work.execute(decide)
        return replace(done, secret=secret) if done.recorded else done

    def _change(self, ctx: Context, sid: UUID, act: Callable[[Subscription], None]) -> Outcome:
        return self.center.unit_of_work.command(
            ctx, Subscription, sid, "subscription", act, load=lambda: self.get(sid)
        )

    def update(self, ctx: Context, sid: UUID, changes: dict[str, Any]) -> Outcome:
        if "event_types" in changes:
            changes["event_types"] = check_event_types(changes["event_types"])
        return self._change(
            ctx, sid, lambda s: s.update(changes, ctx.meta("UpdateSubscription", s.id))
        )

    def rotate(self, ctx: Context, sid: UUID, secret: str | None = None) -> Outcome:
        secret = secret or new_secret()
        secret_bytes(secret)
        until = ctx.business_time() + self.rotation_grace
        ciphertext = self.keyring.encrypt(secret)
        done = self._change(
            ctx,
            sid,
            lambda s: s.rotate_secret(
                ciphertext,
                fingerprint(secret),
                until,
                ctx.meta("RotateSubscriptionSecret", s.id),
            ),
        )
        return replace(done, secret=secret) if done.recorded else done

    def disable(self, ctx: Context, sid: UUID, reason: str, *, failing: bool = False) -> Outcome:
        return self._change(
            ctx,
            sid,
            lambda s: s.disable(reason, ctx.meta("DisableSubscription", s.id), failing=failing),
        )

    def enable(self, ctx: Context, sid: UUID) -> Outcome:
        return self._change(ctx, sid, lambda s: s.enable(ctx.meta("EnableSubscription", s.id)))

    def delete(self, ctx: Context, sid: UUID, reason: str) -> Outcome:
        return self._change(
            ctx, sid, lambda s: s.delete(reason, ctx.meta("DeleteSubscription", s.id))
        )

    # -- reads ---------------------------------------------------------------------------

    def listed(self, units: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
        """Every subscription not deleted, from the outbox view (no secrets)."""
        if self.store is None:
            return []
        with self.store.read() as tx:
            rows = tx.execute(
                "SELECT id, unit, url, event_types, themes, min_level, units, subtrees, "
                "addressed_only, language, template, description, active, secret_fingerprint, "
                "previous_until, disabled_reason, created_at, updated_at, version, concurrency "
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
                    "concurrency": r[19],
                }
            )
        return out

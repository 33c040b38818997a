"""Notifications as the composition root starts them: the outbox follower and the worker.

``closedloop serve`` on the default store runs both in its process
(:meth:`Notifiers.start` / :meth:`Notifiers.stop`); on PostgreSQL ``closedloop notifiers
run`` runs them in a process of their own, as many as wanted: on PostgreSQL the copies
divide the work (:meth:`Notifiers.share`, ADR 0089), the outbox's derivation led by one
copy and the deliveries of each partition of the subscriptions by one copy.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from domain.application import CommandCenter
from domain.errors import DomainError
from domain.meta import SYSTEM, Context
from notifiers.book import SubscriptionBook
from notifiers.config import WebhookConfig
from notifiers.delivery import PARTITION_PIECES, DeliveryWorker
from notifiers.outbox import OutboxView
from notifiers.secrets import Keyring
from notifiers.texts import Texts
from projections.leadership import Leadership
from projections.runner import Runner
from projections.store import ViewStore

log = logging.getLogger("closedloop.notifiers")

#: After a short batch, how long the outbox lets the next events gather (seconds).
OUTBOX_SETTLE = 0.2


def loader_for(center: CommandCenter) -> Any:
    """The aggregate as of a version (None: as it is now), read from the event store."""

    def load(aggregate_id: UUID, version: int | None) -> Any:
        return center.repository.get(aggregate_id, version=version)

    return load


class Notifiers:
    """The outbox follower and the delivery worker over one view store."""

    def __init__(
        self,
        center: CommandCenter,
        store: ViewStore,
        *,
        keyring: Keyring | None = None,
        config: WebhookConfig | None = None,
        follow: bool = True,
        deliver: bool = True,
        listen: bool = True,
        **worker_args: Any,
    ) -> None:
        self.center = center
        self.store = store
        # The settings come from the composition root (ADR 0036); without them, the
        # defaults, never the environment.
        self.config = config or WebhookConfig()
        self.keyring = keyring or Keyring.from_file(self.config.key_path)
        self.book = SubscriptionBook(
            center, self.keyring, store, rotation_grace=self.config.rotation_grace
        )
        self.outbox = OutboxView(
            store,
            loader=loader_for(center),
            texts=Texts(center.calendar.zone),
            public_url=self.config.public_url,
        )
        self.follower = (
            Runner(
                center,
                store,
                [self.outbox],
                poll_interval=min(self.config.poll_interval, 0.2),
                listen=listen,
                # Nobody reads the outbox by the millisecond: under a stream of commands
                # it takes them in batches ten times the views' (a webhook leaves at most
                # a fifth of a second later), which costs a fraction per event.
                settle=OUTBOX_SETTLE,
            )
            if follow
            else None
        )
        self.worker = (
            DeliveryWorker(
                store, self.keyring, self.config, on_failing=self.disable_failing, **worker_args
            )
            if deliver
            else None
        )

        #: With several copies on PostgreSQL, what this copy leads (ADR 0089).
        self.leadership: Leadership | None = None

    def pieces(self) -> dict[str, int]:
        """The pieces of this copy's work with their versions, for its
        :class:`~projections.leadership.Leadership`: the outbox (when it derives) and each
        partition of the subscriptions (when it delivers)."""
        found: dict[str, int] = {}
        if self.follower is not None:
            found[self.outbox.name] = self.outbox.version
        if self.worker is not None:
            found |= dict.fromkeys(PARTITION_PIECES, 1)
        return found

    def share(self, leadership: Leadership) -> None:
        """Derive and deliver only what ``leadership`` says this copy leads (before
        :meth:`start`); nothing changes where the work is not divided (SQLite)."""
        if not leadership.divided:
            return
        self.leadership = leadership
        if self.follower is not None:
            self.follower.share(leadership)
        if self.worker is not None:
            self.worker.share(leadership)

    def prepare(self) -> None:
        """Create the outbox's tables (a new view version rebuilds its derived tables).

        A copy that shares the work only makes sure the tables exist: the copy that
        comes to lead the outbox rebuilds it for a new version, never one that waits."""
        self.store.create_own_tables()
        if self.leadership is None:
            self.store.ensure(self.outbox)
            return
        for statement in self.outbox.create_statements:
            with self.store.transaction() as tx:
                tx.lock_schema_changes()
                tx.execute(statement)

    def start(self) -> Notifiers:
        self.prepare()
        if self.follower is not None:
            self.follower.start()
        if self.worker is not None:
            self.worker.start()
        return self

    def stop(self) -> None:
        # No parameters: Litestar hands its app to a shutdown hook that takes one.
        if self.worker is not None:
            self.worker.stop(10.0)
        if self.follower is not None:
            self.follower.stop(10.0)

    def poke(self) -> None:
        if self.follower is not None:
            self.follower.poke()
        if self.worker is not None:
            self.worker.poke()

    def catch_up(self) -> int:
        """Derive every delivery for what is recorded so far (tests, bench)."""
        assert self.follower is not None
        return self.follower.catch_up()

    def disable_failing(self, subscription_id: str, reason: str) -> None:
        """Disable an endpoint that keeps failing; the event tells its unit's other endpoints.

        The command id is the same for every worker that reaches this decision for the
        same subscription at the same version, so it is recorded once.
        """
        sid = UUID(subscription_id)
        try:
            current = self.book.get(sid)
            if not current.active:
                return
            ctx = Context(
                actor=SYSTEM,
                command_id=f"webhooks:disable:{sid}:{current.version}",
                cause=f"subscription:{sid}",
            )
            self.book.disable(ctx, sid, reason, failing=True)
        except DomainError as e:
            log.warning("webhooks: could not disable %s: %s", subscription_id, e)
            return
        log.warning("webhooks: subscription %s of unit %s disabled: %s", sid, current.unit, reason)

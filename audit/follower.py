"""The follower that appends the chain within a bounded delay of each write.

Its rows and its tracking position go in one view-store transaction; at least every N
events or T minutes it signs a checkpoint (ADR 0013, ADR 0021).
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
import time
from typing import Self

from audit.forms import CHAIN_FORM, FORMS, GENESIS, canonical_of, framed_of, link
from audit.notes import Checkpoint, Signer
from audit.settings import AuditSettings
from audit.tables import CHAIN_TABLE, TRACKING, ensure_tables, insert_checkpoint, last_checkpoint
from domain.application import CommandCenter
from domain.meta import now
from projections.follower import Follower
from projections.store import Tx, ViewStore

log = logging.getLogger("closedloop.audit")

#: After a step shorter than its batch, how long the chain lets the next events gather
#: (seconds): nobody waits on the chain by the millisecond (ADR 0028).
SETTLE = 0.2
#: After a store error, the first wait and the longest (seconds), doubling between.
BACKOFF = (0.5, 30.0)


class ChainBroken(RuntimeError):
    """The chain in the store does not continue where its tracking position says."""


class AuditChain(Follower):
    """Follows the log and appends the hash chain, signing checkpoints as it goes.

    Each step is one view-store transaction that locks the follower's tracking row,
    so two followers (two server workers, or a server and ``projections run``)
    serialize and the second finds the work done. Its loop is a
    :class:`~projections.follower.Follower`'s: the settings' poll interval after a step
    that found nothing, ``settle`` after one shorter than ``batch``, and after a store
    error a wait from 0.5 s doubling up to 30 s.
    """

    #: A full batch is read at most: always a number here.
    batch: int

    def __init__(
        self,
        center: CommandCenter,
        store: ViewStore,
        signer: Signer | None,
        settings: AuditSettings | None = None,
        *,
        batch: int = 1000,
        form: int = CHAIN_FORM,
        settle: float = SETTLE,
    ) -> None:
        if form not in FORMS:
            raise ValueError(f"unknown chain form {form}")
        self.settings = settings or AuditSettings()
        super().__init__(
            name="closedloop-audit",
            label="audit chain",
            log=log,
            poll_interval=self.settings.poll_interval,
            settle=settle,
            batch=batch,
            backoff=BACKOFF,
        )
        self.center = center
        self.store = store
        self.signer = signer
        #: The form new rows are hashed in: 2; 1 only to write a chain as it was
        #: written before ADR 0021 (tests of chains that switch).
        self.form = form
        self.position = 0
        self._last_time_check = 0.0
        self._ready = False

    @classmethod
    def beside(
        cls, center: CommandCenter, store: ViewStore, settings: AuditSettings | None = None
    ) -> AuditChain:
        """The follower of ``center``'s log into ``store``, signing with the file's key."""
        settings = settings or AuditSettings()
        signer = Signer.from_file(settings.key_path, settings.origin)
        return cls(center, store, signer, settings)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        ensure_tables(self.store)
        return super().start()

    def catch_up(self) -> int:
        """Chain everything recorded so far; answers the position reached."""
        ensure_tables(self.store)
        while self.step():
            pass
        return self.position

    # -- one step --------------------------------------------------------------------

    def step(self) -> int:
        """Chain one batch; answers how many events it chained."""
        if not self._ready:
            ensure_tables(self.store)
            self._ready = True
        with self.store.transaction() as tx:
            current = self.store.lock_position(tx, TRACKING)
            notifications = self.center.recorder.select_notifications(current + 1, self.batch)
            if not notifications:
                self.position = current
                self._maybe_sign_by_time(tx)
                return 0
            seq, prev = self._head(tx, current)
            last_size, last_at = last_checkpoint(tx) if self.signer else (0, None)
            rows = []
            form = self.form
            hashed = framed_of if form == 2 else canonical_of
            for n in notifications:
                prev = link(prev, hashed(n))
                seq += 1
                rows.append((n.id, seq, prev.hex(), form))
                if self.signer is not None and seq - last_size >= self.settings.every_events:
                    self._sign(tx, seq, prev, n.id)
                    last_size, last_at = seq, now()
            tx.executemany(
                f"INSERT INTO {CHAIN_TABLE} (position, seq, hash, form) VALUES (?, ?, ?, ?)",
                rows,
            )
            self.store.set_position(tx, TRACKING, notifications[-1].id)
            if (
                self.signer is not None
                and seq > last_size
                and (last_at is None or now() - last_at >= self.settings.every)
            ):
                self._sign(tx, seq, prev, notifications[-1].id)
            self.position = notifications[-1].id
            return len(notifications)

    @staticmethod
    def _head(tx: Tx, position: int) -> tuple[int, bytes]:
        if position == 0:
            return 0, GENESIS
        rows = tx.execute(f"SELECT seq, hash FROM {CHAIN_TABLE} WHERE position = ?", (position,))
        if not rows:
            raise ChainBroken(
                f"the audit chain has no row at its tracked position {position}; "
                "run `closedloop audit verify`"
            )
        return int(rows[0][0]), bytes.fromhex(rows[0][1])

    def _sign(self, tx: Tx, size: int, head: bytes, position: int) -> None:
        assert self.signer is not None
        cp = Checkpoint.signed(self.signer, self.settings.origin, size, head, position, now())
        insert_checkpoint(tx, cp)

    def _maybe_sign_by_time(self, tx: Tx) -> None:
        if self.signer is None:
            return
        clock = time.monotonic()
        if clock - self._last_time_check < 5.0:
            return
        self._last_time_check = clock
        self.sign_if_due(tx)

    def sign_if_due(self, tx: Tx, *, force: bool = False) -> Checkpoint | None:
        """Sign the head if it grew and the last checkpoint is T old (or ``force``)."""
        if self.signer is None:
            return None
        rows = tx.execute(
            f"SELECT position, seq, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1"
        )
        if not rows:
            return None
        position, seq, head = int(rows[0][0]), int(rows[0][1]), bytes.fromhex(rows[0][2])
        last_size, last_at = last_checkpoint(tx)
        if seq <= last_size:
            return None
        if not force and last_at is not None and now() - last_at < self.settings.every:
            return None
        cp = Checkpoint.signed(self.signer, self.settings.origin, seq, head, position, now())
        insert_checkpoint(tx, cp)
        return cp

    def checkpoint_now(self) -> Checkpoint | None:
        """Chain what is recorded and sign its head (tests, ``audit checkpoint``)."""
        self.catch_up()
        with self.store.transaction() as tx:
            self.store.lock_position(tx, TRACKING)
            return self.sign_if_due(tx, force=True)

"""The check of the record: the chain recomputed from the first event, every row and
checkpoint compared, the first position at fault named."""

# Table names are module constants; every value is a bound parameter.

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from audit.forms import FRAME_TAG, GENESIS, StoredRow, canonical
from audit.notes import Checkpoint, PublicKey
from audit.reading import on_postgres, read_ahead, reading_log
from audit.tables import TRACKING, chain_pages, checkpoints, ensure_tables
from domain.application import CommandCenter
from projections.store import ViewStore


@dataclass(frozen=True)
class Fault:
    """A position where the record differs from what the chain or a checkpoint says, and how."""

    position: int
    reason: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.reason}"


@dataclass
class Verification:
    """What :func:`verify` found; ``faults`` is empty when the record is untouched."""

    events: int = 0
    chained: int = 0
    head_position: int = 0
    head: bytes = GENESIS
    checkpoints: int = 0
    pending: int = 0
    faults: list[Fault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    @property
    def first_fault(self) -> Fault | None:
        return min(self.faults, key=lambda f: f.position) if self.faults else None

    def summary(self) -> str:
        if self.ok:
            return (
                f"verified: {self.chained} events chained up to position {self.head_position}, "
                f"head {self.head.hex()}, {self.checkpoints} checkpoint(s) signed and "
                f"consistent; {self.pending} newer event(s) not yet chained"
            )
        return f"tampering found at {self.first_fault}"


def verify(
    center: CommandCenter,
    store: ViewStore,
    key: PublicKey,
    *,
    page: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Recompute the chain from the first event; check every chain row and checkpoint.

    Streams the log and the chain side by side (constant memory); stops at the first
    divergence of the two, since everything after it differs too.
    """
    ensure_tables(store)
    result = Verification()
    cps: list[Checkpoint] = []
    previous: Checkpoint | None = None
    for row in checkpoints(store):
        at = int(row["position"])
        try:
            cp = Checkpoint.parse(row["note"])
        except ValueError as e:
            result.faults.append(Fault(at, f"checkpoint of size {row['size']} is unreadable: {e}"))
            continue
        if not cp.is_signed_by(key):
            result.faults.append(
                Fault(
                    cp.position,
                    f"checkpoint of size {cp.size} is not signed by the audit key "
                    f"{key.name} ({key.key_id.hex()})",
                )
            )
            continue
        if (cp.size, cp.position, cp.head.hex()) != (row["size"], at, row["head"]):
            result.faults.append(
                Fault(at, f"checkpoint of size {row['size']}: its stored columns were edited")
            )
            continue
        if previous is not None and (
            cp.size <= previous.size
            or cp.position <= previous.position
            or cp.signed_at < previous.signed_at
        ):
            result.faults.append(
                Fault(cp.position, f"checkpoint of size {cp.size} does not extend the one before")
            )
            continue
        cps.append(cp)
        previous = cp
    result.checkpoints = len(cps)

    with store.read() as tx:
        tracked = tx.execute(
            "SELECT notification_id FROM projection_tracking WHERE application_name = ?",
            (TRACKING,),
        )
    tracked_at = int(tracked[0][0]) if tracked else 0

    # PostgreSQL fetches the next pages while this process hashes (pools serve the
    # reading threads); a SQLite view store keeps a connection per thread, so there
    # the pages are read in line.
    ahead = read_ahead if on_postgres(center) else contextlib.nullcontext
    with (
        reading_log(center, page=page) as events,
        ahead(chain_pages(store, page=page)) as chain_pages_,
    ):
        fault = _recompute(
            result,
            events,
            itertools.chain.from_iterable(chain_pages_),
            cps,
            tracked_at,
            progress,
        )
    if fault is not None:
        result.faults.append(fault)
    return result


def _recompute(
    result: Verification,
    events: Iterator[StoredRow],
    chain: Iterator[tuple[int, int, str, int]],
    cps: list[Checkpoint],
    tracked_at: int,
    progress: Callable[[int], None] | None,
) -> Fault | None:
    """Walk the log and the chain side by side; the first fault, if any.

    This loop runs once per stored event: what it does not need per event (the
    result's fields, the next checkpoint's size) it keeps in locals. Each event is
    hashed in the form its chain row names; the form needs no check of its own, since
    the bytes of one form are never those of the other (a row whose form was edited
    hashes differently from what was recorded).
    """
    prev, seq = GENESIS, 0
    matched: Checkpoint | None = None  # the last checkpoint the recomputed chain met
    cp_index = 0
    next_size = cps[0].size if cps else -1
    chained = next(chain, None)
    last_chained_position = 0
    head = GENESIS
    done = count = 0
    sha256 = hashlib.sha256
    try:
        for position, aggregate, version, topic, state in events:
            count += 1
            if chained is None:
                if position <= tracked_at:
                    return Fault(position, "the chain's rows from here on were removed")
                result.pending += 1
                continue
            c_position, c_seq, c_hash, c_form = chained
            if position != c_position:
                if position < c_position:
                    return Fault(
                        position, "an event the chain does not cover was inserted into the log"
                    )
                return Fault(
                    c_position, "the chained event at this position is missing from the log"
                )
            if c_form == 2:
                # frame(), written out: verification runs this once per event.
                prev = sha256(
                    prev
                    + (
                        f"{FRAME_TAG}\n{position}\n{aggregate}\n{version}\n"
                        f"{len(topic) if topic.isascii() else len(topic.encode())}:{topic}\n"
                        f"{len(state)}:"
                    ).encode()
                    + state
                ).digest()
            elif c_form == 1:
                try:
                    data = canonical(position, aggregate, version, topic, state)
                except (ValueError, TypeError) as e:
                    return Fault(position, f"the stored event is not readable JSON ({e})")
                prev = sha256(prev + data).digest()
            else:
                return Fault(position, f"the chain row names an unknown form {c_form}")
            seq += 1
            if c_seq != seq:
                return Fault(position, f"the chain counts this event as number {c_seq}, not {seq}")
            if c_hash != prev.hex():
                return Fault(
                    position, "the event differs from what the chain recorded (changed or moved)"
                )
            while seq == next_size:
                cp = cps[cp_index]
                if cp.head != prev or cp.position != position:
                    since = matched.position if matched else 0
                    return Fault(
                        cp.position,
                        f"checkpoint of size {cp.size} does not match the chain: the log and "
                        f"chain were rewritten after position {since}",
                    )
                matched = cp
                cp_index += 1
                next_size = cps[cp_index].size if cp_index < len(cps) else -1
            last_chained_position, head, done = position, prev, seq
            chained = next(chain, None)
            if progress is not None and seq % 10000 == 0:
                progress(seq)
    finally:
        result.events, result.chained = count, done
        result.head_position, result.head = last_chained_position, head
    if chained is not None:
        return Fault(
            chained[0],
            f"the log ends at position {last_chained_position} but the chain goes on: "
            "its tail was cut off",
        )
    if cp_index < len(cps):
        cp = cps[cp_index]
        return Fault(
            last_chained_position + 1,
            f"the log ends at position {last_chained_position} ({seq} events) but "
            f"checkpoint of size {cp.size} signed it up to position {cp.position}: "
            "its tail was cut off",
        )
    if last_chained_position < tracked_at:
        return Fault(
            last_chained_position + 1,
            f"the chain was tracked up to {tracked_at} but its rows end here",
        )
    return None

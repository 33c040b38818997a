"""Tamper evidence for the event log: a hash chain, signed checkpoints, and their check.

Every stored event, in log order, is hashed into a chain (ADR 0013, ADR 0021)::

    hash(n) = SHA-256(hash(n-1) || bytes(n))      hash(0) = 32 zero bytes

where ``bytes(n)`` depends on the *form* recorded in the event's chain row. In form 2
(ADR 0021, every row chained since) it is :func:`frame`: a fixed framing of the event's
position, aggregate, version and topic and its stored state bytes exactly as written,
so that any change of any byte is seen. In form 1 (ADR 0013, rows chained before) it is
:func:`canonical`: RFC 8785 JSON of the record of position, aggregate, version, type,
recorded time, payload and metadata. Both are read from the stored row, never from a
decoded domain event. A form-2 frame begins with ``closedloop-chain/2``, canonical JSON
with ``{``: the two sets of bytes never meet, so a row's form is covered by its hash.

A follower (:class:`AuditChain`) appends the chain in the view store, its rows and its
tracking position in one transaction, within a bounded delay of each write. At least
every N events or T minutes it signs a checkpoint with an Ed25519 key kept in a file: a
text note in the style of transparency-log checkpoints (origin, size, base64 head hash,
then the signature line of a C2SP signed note).

:func:`verify` recomputes the chain from the first event, streaming, each row in its
own form, and names the first position at fault: an event changed, moved, deleted or
inserted, the tail cut off, a checkpoint signed by another key or edited, or the chain
itself rewritten.
"""

# Table names are module constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import msgspec
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import Notification

from domain.application import CommandCenter
from domain.meta import now
from projections.base import Tx, ViewStore, iso

log = logging.getLogger("closedloop.audit")

CHAIN_TABLE = "audit_chain"
CHECKPOINT_TABLE = "audit_checkpoints"
#: The follower's row in the view store's tracking table.
TRACKING = "closedloop/audit-chain"
CREATE_STATEMENTS = (
    # seq counts the events chained (a checkpoint's size); positions may have gaps on
    # PostgreSQL, where a rolled-back write still spends a value of the sequence.
    # form: how the row's event was hashed (1: canonical JSON, ADR 0013; 2: the frame of
    # its stored bytes, ADR 0021). Tables made before ADR 0021 get the column from
    # ensure_tables, their rows form 1 by its default.
    f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
    "position BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, "
    "form SMALLINT NOT NULL DEFAULT 1)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
    "size BIGINT PRIMARY KEY, position BIGINT NOT NULL, head TEXT NOT NULL, "
    "signed_at TEXT NOT NULL, key_id TEXT NOT NULL, note TEXT NOT NULL)",
)

GENESIS = bytes(32)
#: The form the follower chains new events in (ADR 0021); form 1 rows stay verifiable.
CHAIN_FORM = 2
#: After a short batch, how long the chain lets the next events gather (seconds).
SETTLE = 0.2
FORMS = (1, 2)
#: The first line of every form-2 frame.
FRAME_TAG = "closedloop-chain/2"
DEFAULT_KEY_PATH = "var/audit-signing.key"
DEFAULT_ORIGIN = "closedloop/audit"


# -- settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSettings:
    """Where the signing key is, how often to sign, and the name the notes carry."""

    key_path: Path = Path(DEFAULT_KEY_PATH)
    every_events: int = 1000
    every: timedelta = timedelta(minutes=10)
    origin: str = DEFAULT_ORIGIN
    poll_interval: float = 0.5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuditSettings:
        env = os.environ if environ is None else environ
        events = env.get("CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS") or "1000"
        minutes = env.get("CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES") or "10"
        origin = env.get("CLOSEDLOOP_AUDIT_ORIGIN") or DEFAULT_ORIGIN
        if not events.isdigit() or int(events) < 1:
            raise ValueError(
                f"CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS must be a positive integer, not {events!r}"
            )
        try:
            every = timedelta(minutes=float(minutes))
        except ValueError:
            raise ValueError(
                f"CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES must be a number, not {minutes!r}"
            ) from None
        if every <= timedelta(0):
            raise ValueError("CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES must be above zero")
        if not re.fullmatch(r"[^\s+]{1,200}", origin):
            raise ValueError("CLOSEDLOOP_AUDIT_ORIGIN must be one word without '+'")
        return cls(
            key_path=Path(env.get("CLOSEDLOOP_AUDIT_KEY") or DEFAULT_KEY_PATH),
            every_events=int(events),
            every=every,
            origin=origin,
        )


# -- the canonical record ----------------------------------------------------------------


def _untag(value: Any, type_name: str) -> Any:
    """The transcoder's ``{"_type_": t, "_data_": x}`` as ``x``; anything else unchanged.

    Only the exact expected shape is unwrapped, so that a record still tells apart
    every stored state it could be made from.
    """
    if isinstance(value, dict) and len(value) == 2 and value.get("_type_") == type_name:
        return value.get("_data_", value)
    return value


class _NotPlain(Exception):
    """The state holds a float: its text must be written as RFC 8785 (ECMAScript) says."""


def _not_plain(_: str) -> Any:
    raise _NotPlain


_DECODE = msgspec.json.Decoder(float_hook=_not_plain)
_SORTED = msgspec.json.Encoder(order="sorted")
_AS_GIVEN = msgspec.json.Encoder()
#: The lead bytes of four-byte UTF-8 sequences (characters beyond the BMP).
_FOUR_BYTE_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")


def record(position: int, aggregate: Any, version: int, topic: str, state: bytes) -> dict[str, Any]:
    """What the chain covers of one stored event (its ``payload`` without the envelope)."""
    payload = json.loads(state)
    return _record(position, aggregate, version, topic, payload)


def _record(
    position: int, aggregate: Any, version: int, topic: str, payload: Any
) -> dict[str, Any]:
    stamp = meta = None
    if isinstance(payload, dict):
        stamp = payload.pop("timestamp", None)
        meta = payload.pop("meta", None)
    return {
        "position": position,
        "aggregate": str(aggregate),
        "version": version,
        "type": topic,
        "recorded_at": _untag(stamp, "datetime_iso"),
        "payload": payload,
        "metadata": _untag(meta, "closedloop_meta"),
    }


def _beyond_bmp(encoded: bytes) -> bool:
    """Whether UTF-8 ``encoded`` holds a character beyond the BMP (a four-byte sequence)."""
    if encoded.isascii():
        return False
    # A loop rather than any(): this runs for every event that is not ASCII.
    for lead in _FOUR_BYTE_LEADS:  # noqa: SIM110
        if lead in encoded:
            return True
    return False


def canonical(position: int, aggregate: Any, version: int, topic: str, state: bytes) -> bytes:
    """RFC 8785 bytes of the record of a stored event (ADR 0013).

    msgspec with sorted keys writes exactly RFC 8785 for strings, integers, booleans,
    null, objects and arrays, many times faster than the pure-Python ``rfc8785``
    package. Two things take the careful path: a float (the decoder refuses it) and a
    character beyond the BMP, where sorting keys by code point and by UTF-16 code units
    can differ. msgspec writes such a character as four raw UTF-8 bytes, also when the
    state had it escaped as a surrogate pair, so it is looked for in the bytes written
    (one pass, and none at all for ASCII) rather than in the state. Both paths are
    total: integers beyond I-JSON's range are written in full and NaN or Infinity as
    Python stored them, so that no stored event can stall the chain.
    """
    try:
        payload = _DECODE.decode(state)
    except (_NotPlain, msgspec.DecodeError):
        pass
    else:
        # _record and _untag, written out: verification runs this once per event.
        stamp = meta = None
        if type(payload) is dict:
            stamp = payload.pop("timestamp", None)
            if type(stamp) is dict and len(stamp) == 2 and stamp.get("_type_") == "datetime_iso":
                stamp = stamp.get("_data_", stamp)
            meta = payload.pop("meta", None)
            if type(meta) is dict and len(meta) == 2 and meta.get("_type_") == "closedloop_meta":
                meta = meta.get("_data_", meta)
        encoded = _SORTED.encode(
            {
                "aggregate": aggregate if type(aggregate) is str else str(aggregate),
                "metadata": meta,
                "payload": payload,
                "position": position,
                "recorded_at": stamp,
                "type": topic,
                "version": version,
            }
        )
        if not _beyond_bmp(encoded):
            return encoded
    rec = record(position, aggregate, version, topic, state)
    return _AS_GIVEN.encode(_rfc8785_value(rec))


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


_NON_FINITE = {"nan": b"NaN", "inf": b"Infinity", "-inf": b"-Infinity"}


def _rfc8785_value(value: Any) -> Any:
    """A value whose msgspec encoding, keys as given, is its RFC 8785 form."""
    if isinstance(value, dict):
        return {k: _rfc8785_value(value[k]) for k in sorted(value, key=_utf16)}
    if isinstance(value, list):
        return [_rfc8785_value(v) for v in value]
    if isinstance(value, float):
        text = _NON_FINITE.get(repr(value))
        return msgspec.Raw(text if text is not None else rfc8785.dumps(value))
    return value


def link(prev: bytes, canonical_bytes: bytes) -> bytes:
    return hashlib.sha256(prev + canonical_bytes).digest()


def canonical_of(n: Notification) -> bytes:
    return canonical(n.id, n.originator_id, n.originator_version, n.topic, n.state)


# -- form 2: the stored bytes, framed (ADR 0021) -----------------------------------------


def frame(position: int, aggregate: Any, version: int, topic: str, state: bytes) -> bytes:
    """The bytes form 2 hashes for a stored event: its fields, then its state as stored.

    Lines separated by LF (0x0A), all text UTF-8::

        closedloop-chain/2
        <position, decimal>
        <aggregate id, the UUID as 36 lowercase characters with hyphens>
        <version, decimal>
        <byte length of the topic, decimal>:<topic>
        <byte length of the state, decimal>:<the stored state bytes, exactly as written>

    with nothing after the state. Every field of variable length is prefixed by its
    length and the others cannot hold a line feed, so two different events never frame
    alike; and a frame never begins with ``{`` as canonical JSON (form 1) always does.
    """
    topic_length = len(topic) if topic.isascii() else len(topic.encode())
    return (
        f"{FRAME_TAG}\n{position}\n{aggregate}\n{version}\n"
        f"{topic_length}:{topic}\n{len(state)}:".encode()
        + state
    )


def framed_of(n: Notification) -> bytes:
    return frame(n.id, n.originator_id, n.originator_version, n.topic, n.state)


def chain_bytes(form: int, row: StoredRow) -> bytes:
    """What the chain hashes of a stored event in ``form`` (1 or 2)."""
    if form == 2:
        return frame(*row)
    if form == 1:
        return canonical(*row)
    raise ValueError(f"unknown chain form {form}")


# -- the signing key and the checkpoint notes --------------------------------------------


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key hash of a C2SP signed note (algorithm 0x01 is Ed25519)."""
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4]


@dataclass(frozen=True)
class PublicKey:
    name: str
    raw: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.raw)

    @property
    def verifier(self) -> str:
        """The key as a note verifier string: ``name+hexid+base64(0x01 || key)``."""
        encoded = base64.b64encode(b"\x01" + self.raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_verifier(cls, text: str) -> PublicKey:
        name, hex_id, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded)
        if raw[:1] != b"\x01" or len(raw) != 33:
            raise ValueError("not an Ed25519 note verifier key")
        key = cls(name, raw[1:])
        if key.key_id.hex() != hex_id:
            raise ValueError("the verifier key's id does not match its key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """The Ed25519 key that signs checkpoints, read from (or created in) its file."""

    def __init__(self, private: Ed25519PrivateKey, name: str) -> None:
        self._private = private
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicKey(name, raw)

    @classmethod
    def from_file(cls, path: Path, name: str = DEFAULT_ORIGIN, *, create: bool = True) -> Signer:
        """The key in ``path``; with ``create``, a new one written there (mode 0600) first."""
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                # O_EXCL: two server workers starting at once keep the first key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                log.info("audit signing key created in %s", path)
        for attempt in range(20):
            data = path.read_bytes()
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except ValueError:
                if attempt == 19:
                    raise
                time.sleep(0.05)  # another process is still writing it
                continue
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            return cls(key, name)
        raise AssertionError("unreachable")  # pragma: no cover

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the first ``size`` events of the log hash to ``head``."""

    origin: str
    size: int
    head: bytes
    position: int
    signed_at: datetime
    key_name: str
    key_id: bytes
    signature: bytes

    def body(self) -> str:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.head).decode()}\n"
            f"position {self.position}\ntime {iso(self.signed_at)}\n"
        )

    def note(self) -> str:
        sig = base64.b64encode(self.key_id + self.signature).decode()
        return f"{self.body()}\n\u2014 {self.key_name} {sig}\n"

    @classmethod
    def signed(
        cls, signer: Signer, origin: str, size: int, head: bytes, position: int, at: datetime
    ) -> Checkpoint:
        unsigned = cls(origin, size, head, position, at, signer.public.name, b"", b"")
        signature = signer.sign(unsigned.body().encode())
        return cls(
            origin, size, head, position, at, signer.public.name, signer.public.key_id, signature
        )

    @classmethod
    def parse(cls, note: str) -> Checkpoint:
        """A note as :meth:`note` writes it; ``ValueError`` on anything else."""
        body, sep, signatures = note.partition("\n\n")
        lines = body.split("\n")
        if not sep or len(lines) != 5:
            raise ValueError("not a checkpoint note")
        origin, size, head, position, signed = lines
        if not (position.startswith("position ") and signed.startswith("time ")):
            raise ValueError("a checkpoint note needs its position and time lines")
        sig_line = signatures.rstrip("\n").split("\n")[0]
        match = re.fullmatch(r"\u2014 (\S+) (\S+)", sig_line)
        if match is None:
            raise ValueError("a checkpoint note needs a signature line")
        blob = base64.b64decode(match.group(2), validate=True)
        if len(blob) != 4 + 64:
            raise ValueError("the signature is not an Ed25519 signature")
        return cls(
            origin=origin,
            size=int(size),
            head=base64.b64decode(head, validate=True),
            position=int(position.removeprefix("position ")),
            signed_at=datetime.fromisoformat(signed.removeprefix("time ")),
            key_name=match.group(1),
            key_id=blob[:4],
            signature=blob[4:],
        )

    def is_signed_by(self, key: PublicKey) -> bool:
        return (
            self.key_name == key.name
            and self.key_id == key.key_id
            and key.verify(self.body().encode(), self.signature)
        )


# -- the follower ------------------------------------------------------------------------


class ChainBroken(RuntimeError):
    """The chain in the store does not continue where its tracking position says."""


def ensure_tables(store: ViewStore) -> None:
    store.create_own_tables()
    with store.transaction() as tx:
        tx.lock_schema_changes()
        for statement in CREATE_STATEMENTS:
            tx.execute(statement)
        if not _has_column(tx, CHAIN_TABLE, "form"):
            # A chain begun before ADR 0021: every row it holds was hashed in form 1.
            tx.execute(f"ALTER TABLE {CHAIN_TABLE} ADD COLUMN form SMALLINT NOT NULL DEFAULT 1")


def _has_column(tx: Tx, table: str, column: str) -> bool:
    if tx.dialect == "postgres":
        rows = tx.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?",
            (table, column),
        )
    else:
        rows = tx.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column))
    return bool(rows)


def _last_checkpoint(tx: Tx) -> tuple[int, datetime | None]:
    rows = tx.execute(f"SELECT size, signed_at FROM {CHECKPOINT_TABLE} ORDER BY size DESC LIMIT 1")
    if not rows:
        return 0, None
    return int(rows[0][0]), datetime.fromisoformat(rows[0][1])


def _insert_checkpoint(tx: Tx, cp: Checkpoint) -> None:
    tx.execute(
        f"INSERT INTO {CHECKPOINT_TABLE} (size, position, head, signed_at, key_id, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (cp.size, cp.position, cp.head.hex(), iso(cp.signed_at), cp.key_id.hex(), cp.note()),
    )


class AuditChain:
    """Follows the log and appends the hash chain, signing checkpoints as it goes.

    Each step is one view-store transaction that locks the follower's tracking row,
    so two followers (two server workers, or a server and ``projections run``)
    serialize and the second finds the work done.
    """

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
        self.center = center
        self.store = store
        self.signer = signer
        self.settings = settings or AuditSettings()
        self.batch = batch
        self.settle = settle
        #: The form new rows are hashed in: 2; 1 only to write a chain as it was
        #: written before ADR 0021 (tests of chains that switch).
        self.form = form
        self.position = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_time_check = 0.0
        self._ready = False

    @classmethod
    def beside(
        cls, center: CommandCenter, store: ViewStore, settings: AuditSettings | None = None
    ) -> AuditChain:
        """The follower of ``center``'s log into ``store``, signing with the file's key."""
        settings = settings or AuditSettings.from_env()
        signer = Signer.from_file(settings.key_path, settings.origin)
        return cls(center, store, signer, settings)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> AuditChain:
        ensure_tables(self.store)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="closedloop-audit", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # No parameters: Litestar hands its app to a shutdown hook that takes one.
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
        self._thread = None

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                advanced = self.step()
                backoff = 0.0
                self.last_error = None
            except Exception as e:
                backoff = min(max(backoff * 2, 0.5), 30.0)
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("audit chain: %s; trying again in %.1f s", self.last_error, backoff)
                self._stop.wait(backoff)
                continue
            if not advanced:
                self._stop.wait(self.settings.poll_interval)
            elif advanced < self.batch:
                # Under a stream of commands a step finds one or two new events: each
                # costs a transaction and a round of thread switches in a process that
                # is also answering requests. Nobody waits on the chain by the
                # millisecond, so the next events gather for a moment first.
                self._stop.wait(self.settle)

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
            last_size, last_at = _last_checkpoint(tx) if self.signer else (0, None)
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
        _insert_checkpoint(tx, cp)

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
        last_size, last_at = _last_checkpoint(tx)
        if seq <= last_size:
            return None
        if not force and last_at is not None and now() - last_at < self.settings.every:
            return None
        cp = Checkpoint.signed(self.signer, self.settings.origin, seq, head, position, now())
        _insert_checkpoint(tx, cp)
        return cp

    def checkpoint_now(self) -> Checkpoint | None:
        """Chain what is recorded and sign its head (tests, ``audit checkpoint``)."""
        self.catch_up()
        with self.store.transaction() as tx:
            self.store.lock_position(tx, TRACKING)
            return self.sign_if_due(tx, force=True)


# -- reading the chain and the checkpoints -----------------------------------------------


def checkpoints(store: ViewStore) -> list[dict[str, Any]]:
    """Every checkpoint, oldest first, as stored."""
    ensure_tables(store)
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT size, position, head, signed_at, key_id, note FROM {CHECKPOINT_TABLE} "
            "ORDER BY size"
        )
    return [
        {
            "size": int(size),
            "position": int(position),
            "head": head,
            "signed_at": datetime.fromisoformat(signed_at),
            "key_id": key,
            "note": note,
        }
        for size, position, head, signed_at, key, note in rows
    ]


def chain_pages(
    store: ViewStore, start: int = 1, page: int = 5000
) -> Iterator[list[tuple[int, int, str, int]]]:
    """(position, seq, hex hash, form) of the chain from ``start``, a page at a time."""
    while True:
        with store.read() as tx:
            rows = tx.execute(
                f"SELECT position, seq, hash, form FROM {CHAIN_TABLE} WHERE position >= ? "
                "ORDER BY position LIMIT ?",
                (start, page),
            )
        if rows:
            yield rows
        if len(rows) < page:
            return
        start = int(rows[-1][0]) + 1


def chain_rows(
    store: ViewStore, start: int = 1, page: int = 5000
) -> Iterator[tuple[int, int, bytes, int]]:
    """(position, seq, hash, form) of the chain from ``start``, in pages (constant memory)."""
    for rows in chain_pages(store, start, page):
        for position, seq, digest, form in rows:
            yield int(position), int(seq), bytes.fromhex(digest), int(form)


def chain_hash_before(store: ViewStore, position: int) -> bytes:
    """The chain's hash just before ``position`` (the genesis hash at the start)."""
    with store.read() as tx:
        rows = tx.execute(
            f"SELECT hash FROM {CHAIN_TABLE} WHERE position < ? ORDER BY position DESC LIMIT 1",
            (position,),
        )
    return bytes.fromhex(rows[0][0]) if rows else GENESIS


#: A stored event as the chain reads it: position, aggregate id (text), version, topic
#: and stored state, the arguments of :func:`frame` and :func:`canonical`.
StoredRow = tuple[int, str, int, str, bytes]


def _on_postgres(center: CommandCenter) -> bool:
    module = center.env.get("PERSISTENCE_MODULE", "") if center.env else ""
    return "postgres" in module or hasattr(center.recorder, "channel_name")


def log_pages(center: CommandCenter, start: int = 1, page: int = 5000) -> Iterator[list[StoredRow]]:
    """The stored events from ``start`` in log order, a page at a time (constant memory).

    On PostgreSQL, one range read of the events table a page, in binary and as plain
    tuples, the aggregate id written as text by the server: the library's
    ``select_notifications`` transfers the state hex-encoded and builds a dict, a UUID
    and a ``Notification`` for every row, which cost more than hashing it.
    """
    if _on_postgres(center):
        yield from _postgres_log_pages(center, start, page)
        return
    while True:
        notifications = center.recorder.select_notifications(start, page)
        if notifications:
            yield [
                (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
                for n in notifications
            ]
        if len(notifications) < page:
            return
        start = notifications[-1].id + 1


def _postgres_log_pages(center: CommandCenter, start: int, page: int) -> Iterator[list[StoredRow]]:
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    recorder: Any = center.recorder
    statement = SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    while True:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            cursor.execute(statement, (start, page), prepare=True)
            rows: list[StoredRow] = cursor.fetchall()
        if rows:
            yield rows
        if len(rows) < page:
            return
        start = rows[-1][0] + 1


_Page = TypeVar("_Page")


@contextlib.contextmanager
def read_ahead(pages: Iterator[_Page]) -> Iterator[Iterator[_Page]]:
    """``pages``, the next one read by a thread of its own while this one is used.

    The database then finds and sends a page while the caller hashes the one before:
    its work and ours overlap instead of adding up. At most one page waits, so memory
    stays constant; leaving the block early stops the thread.
    """
    waiting: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for page in pages:
                if not hand_over((True, page)):
                    return
        except BaseException as e:  # the reader's failure is the caller's to see
            hand_over((False, e))
        else:
            hand_over((False, None))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def received() -> Iterator[_Page]:
        while True:
            is_page, item = waiting.get()
            if not is_page:
                if item is not None:
                    raise item
                return
            yield item

    thread = threading.Thread(target=read, name="closedloop-audit-read", daemon=True)
    thread.start()
    try:
        yield received()
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def reading_log(
    center: CommandCenter, start: int = 1, page: int = 5000
) -> Iterator[Iterator[StoredRow]]:
    """The stored events from ``start`` in log order, as :func:`verify` reads them.

    On PostgreSQL the next page is fetched while this one is used (:func:`read_ahead`);
    on SQLite, in line.
    """
    ahead = read_ahead if _on_postgres(center) else contextlib.nullcontext
    with ahead(log_pages(center, start, page)) as pages:
        yield itertools.chain.from_iterable(pages)


# -- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
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
    ahead = read_ahead if _on_postgres(center) else contextlib.nullcontext
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


# -- export ------------------------------------------------------------------------------


def export_lines(
    center: CommandCenter,
    store: ViewStore,
    *,
    start: int | None = None,
    stop: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 2000,
) -> Iterator[bytes]:
    """The log (or a slice by position or recorded time) as NDJSON, one event a line.

    Each line is the record of the event (position, aggregate, version, type,
    recorded_at, payload, metadata) plus ``chain``: the row's ``form``, the hash
    before it (``prev``), its own (``hash``) and ``state``, the stored state bytes in
    base64, so that anyone can check a slice with SHA-256 alone. Form 2 (ADR 0021):
    hash after ``prev`` the :func:`frame` of position, aggregate, version, type and
    the decoded ``state``. Form 1 (ADR 0013): strip ``chain``, RFC 8785, hash after
    ``prev``. Events not chained yet carry ``"form": null, "hash": null``.
    """
    position = max(start or 1, 1)
    prev: bytes | None = chain_hash_before(store, position)
    while True:
        notifications = center.recorder.select_notifications(position, page, stop=stop)
        if not notifications:
            return
        first, last = notifications[0].id, notifications[-1].id
        with store.read() as tx:
            hashes = {
                position: (digest, form)
                for position, digest, form in tx.execute(
                    f"SELECT position, hash, form FROM {CHAIN_TABLE} "
                    "WHERE position BETWEEN ? AND ?",
                    (first, last),
                )
            }
        for n in notifications:
            rec = record(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            digest, form = hashes.get(n.id, (None, None))
            if since is not None or until is not None:
                recorded = _recorded_at(rec)
                if recorded is not None and (
                    (since is not None and recorded < since)
                    or (until is not None and recorded >= until)
                ):
                    prev = bytes.fromhex(digest) if digest else None
                    continue
            rec["chain"] = {
                "form": form,
                "prev": prev.hex() if prev else None,
                "hash": digest,
                "state": base64.b64encode(n.state).decode(),
            }
            prev = bytes.fromhex(digest) if digest else None
            yield json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        if len(notifications) < page:
            return
        position = last + 1


def _recorded_at(rec: Mapping[str, Any]) -> datetime | None:
    value = rec.get("recorded_at")
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(value)
    return None


# -- the events of some aggregates, with their positions ---------------------------------


def events_of(center: CommandCenter, ids: Sequence[UUID]) -> list[Notification]:
    """Every stored event of these aggregates in log order, each with its position.

    One keyed read on the events table (its primary key starts with the aggregate id),
    instead of one read per aggregate and a scan of the log for positions.
    """
    if not ids:
        return []
    recorder: Any = center.recorder
    table = recorder.events_table_name
    module = center.env.get("PERSISTENCE_MODULE", "") if center.env else ""
    if "postgres" in module or hasattr(recorder, "channel_name"):
        from psycopg.sql import SQL, Identifier

        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s) ORDER BY notification_id"
        ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(table))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (list(ids),))
            return [
                Notification(
                    id=r["notification_id"],
                    originator_id=r["originator_id"],
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=bytes(r["state"]),
                )
                for r in cursor.fetchall()
            ]
    if hasattr(recorder, "datastore"):
        marks = ",".join("?" * len(ids))
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                f"WHERE originator_id IN ({marks}) ORDER BY rowid",
                [i.hex for i in ids],
            )
            return [
                Notification(
                    id=r["rowid"],
                    originator_id=UUID(r["originator_id"]),
                    originator_version=r["originator_version"],
                    topic=r["topic"],
                    state=r["state"],
                )
                for r in cursor.fetchall()
            ]
    # The in-memory store (unit tests): a scan is fine there.
    wanted = set(ids)
    return [n for n in center.iter_log() if n.originator_id in wanted]

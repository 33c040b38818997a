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

The rooms: :mod:`audit.forms` (what is hashed), :mod:`audit.notes` (the key and the
checkpoints), :mod:`audit.tables` (the chain's tables in the view store),
:mod:`audit.reading` (the log, read raw), :mod:`audit.follower`, :mod:`audit.verifier`,
:mod:`audit.export`, :mod:`audit.settings`. The chain depends on the domain and the view
store only (ADR 0034); this package names what its callers use.
"""

from audit.export import export_lines
from audit.follower import SETTLE, AuditChain, ChainBroken
from audit.forms import (
    CHAIN_FORM,
    FORMS,
    FRAME_TAG,
    GENESIS,
    StoredRow,
    canonical,
    canonical_of,
    chain_bytes,
    frame,
    framed_of,
    link,
    record,
)
from audit.notes import Checkpoint, PublicKey, Signer, key_id
from audit.reading import events_of, log_pages, read_ahead, reading_log
from audit.settings import DEFAULT_KEY_PATH, DEFAULT_ORIGIN, AuditSettings
from audit.tables import (
    CHAIN_TABLE,
    CHECKPOINT_TABLE,
    TRACKING,
    chain_hash_before,
    chain_pages,
    chain_rows,
    checkpoints,
    ensure_tables,
)
from audit.verifier import Fault, Verification, verify

__all__ = [
    "CHAIN_FORM",
    "CHAIN_TABLE",
    "CHECKPOINT_TABLE",
    "DEFAULT_KEY_PATH",
    "DEFAULT_ORIGIN",
    "FORMS",
    "FRAME_TAG",
    "GENESIS",
    "SETTLE",
    "TRACKING",
    "AuditChain",
    "AuditSettings",
    "ChainBroken",
    "Checkpoint",
    "Fault",
    "PublicKey",
    "Signer",
    "StoredRow",
    "Verification",
    "canonical",
    "canonical_of",
    "chain_bytes",
    "chain_hash_before",
    "chain_pages",
    "chain_rows",
    "checkpoints",
    "ensure_tables",
    "events_of",
    "export_lines",
    "frame",
    "framed_of",
    "key_id",
    "link",
    "log_pages",
    "read_ahead",
    "reading_log",
    "record",
    "verify",
]

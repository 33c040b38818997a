"""What the chain hashes of a stored event, in each of its two forms.

Form 2 (ADR 0021, every row chained since) hashes :func:`frame`: a fixed framing of
the event's position, aggregate, version and topic and its stored state bytes exactly
as written. Form 1 (ADR 0013, rows chained before) hashes :func:`canonical`: RFC 8785
JSON of the record of the event, written by msgspec on a fast path beside the
``rfc8785`` package. Both are read from the stored row, never from a decoded domain
event; a frame begins with ``closedloop-chain/2`` and canonical JSON with ``{``, so the
two sets of bytes never meet.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
import rfc8785
from eventsourcing.persistence import Notification

GENESIS = bytes(32)
#: The form the follower chains new events in (ADR 0021); form 1 rows stay verifiable.
CHAIN_FORM = 2
#: After a short batch, how long the chain lets the next events gather (seconds).
FORMS = (1, 2)
#: The first line of every form-2 frame.
FRAME_TAG = "closedloop-chain/2"

#: A stored event as the chain reads it: position, aggregate id (text), version, topic
#: and stored state, the arguments of :func:`frame` and :func:`canonical`.
StoredRow = tuple[int, str, int, str, bytes]


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

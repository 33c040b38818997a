"""The MQTT door's topics and payloads (ADR 0079), read without any I/O.

A topic is ``closedloop/<unit>/<station>`` or ``closedloop/<unit>/<station>/<metric>``: the
unit that speaks, the station it speaks for and, optionally, the one metric every reading
of the message is of. A payload is one of two formats, told apart by its first byte:

- **JSON** (first byte ``{`` or ``[``): one reading object or a list of them, each with
  ``value``, ``observed_at`` (RFC 3339 with an offset), and ``metric`` (unless the topic
  names it), optionally ``unit_of_measure`` and ``source``.
- **Compact** (anything else): one reading a line, four fields separated by commas,
  ``metric,value,unit_of_measure,time``; ``metric`` may be empty when the topic names
  it, ``time`` is whole milliseconds since 1970 (UTC) or an RFC 3339 time, ``value`` a
  decimal number or empty (a reading without a value). For example
  ``water_level,3.42,m,1796630400000``.

What cannot be read raises :class:`Unreadable` with the reason; whether a reading is
acceptable (the station, the metric, a finite number, the unit of measure) is the
intake's to judge, as at the HTTP door.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

#: The first level of every topic the door reads.
PREFIX = "closedloop"
#: The most readings one message may carry (the HTTP door's batch limit).
MAX_READINGS = 1000
#: The most bytes of a payload a dead letter keeps.
KEPT_PAYLOAD = 2048
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Unreadable(ValueError):
    """A topic or payload the door cannot read; the message goes to the dead letters."""


@dataclass(frozen=True)
class Topic:
    unit: str
    station: str
    metric: str | None = None


@dataclass(frozen=True)
class MessageReading:
    metric: str
    value: float | str | bool | None
    unit_of_measure: str
    observed_at: datetime
    source: str = ""


class _JsonReading(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    value: float | str | bool | None
    observed_at: datetime
    metric: str | None = None
    unit_of_measure: str = ""
    source: str = ""


_decode_one = msgspec.json.Decoder(_JsonReading)
_decode_many = msgspec.json.Decoder(list[_JsonReading])


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) not in (3, 4) or parts[0] != PREFIX or not all(parts[1:]):
        raise Unreadable(f"topic {topic[:200]!r} is not {PREFIX}/<unit>/<station>[/<metric>]")
    return Topic(parts[1], parts[2], parts[3] if len(parts) == 4 else None)


def parse_payload(payload: bytes, topic: Topic) -> list[MessageReading]:
    """The message's readings, in order; :class:`Unreadable` if any cannot be read (a
    message is one unit of delivery: it is kept or dead-lettered whole, never half)."""
    body = payload.lstrip()
    if not body:
        raise Unreadable("the payload is empty")
    readings = _json(body, topic) if body[:1] in (b"{", b"[") else _compact(body, topic)
    if not readings:
        raise Unreadable("the payload holds no reading")
    if len(readings) > MAX_READINGS:
        raise Unreadable(f"a message carries at most {MAX_READINGS} readings")
    return readings


def _metric(named: str | None, topic: Topic, where: str) -> str:
    if topic.metric is not None:
        if named and named != topic.metric:
            raise Unreadable(f"{where}: metric {named!r} is not the topic's {topic.metric!r}")
        return topic.metric
    if not named:
        raise Unreadable(f"{where}: no metric (name it in the reading or the topic)")
    return named


def _json(body: bytes, topic: Topic) -> list[MessageReading]:
    try:
        items = _decode_many.decode(body) if body[:1] == b"[" else [_decode_one.decode(body)]
    except msgspec.DecodeError as e:
        raise Unreadable(f"not a reading in JSON: {e}") from None
    out = []
    for i, r in enumerate(items):
        if r.observed_at.tzinfo is None:
            raise Unreadable(f"readings[{i}].observed_at: a time needs its offset")
        out.append(
            MessageReading(
                _metric(r.metric, topic, f"readings[{i}]"),
                r.value,
                r.unit_of_measure,
                r.observed_at,
                r.source,
            )
        )
    return out


def _compact(body: bytes, topic: Topic) -> list[MessageReading]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("the payload is neither JSON nor UTF-8 text") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 4:
            raise Unreadable(f"line {n}: four fields metric,value,unit_of_measure,time")
        metric, value, uom, at = (f.strip() for f in fields)
        out.append(
            MessageReading(
                _metric(metric, topic, f"line {n}"),
                reading_value(value),
                uom,
                _time(at, n),
            )
        )
    return out


def reading_value(text: str) -> float | str | None:
    """A reading's value written as text (a CSV cell, here or in an imported file): a
    number, none when empty, else the text, which the intake refuses as not a number
    (naming its line), as at the HTTP door."""
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _time(text: str, line: int) -> datetime:
    if text.isdigit():
        return _EPOCH + timedelta(milliseconds=int(text))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Unreadable(
            f"line {line}: time {text[:40]!r} is neither milliseconds nor RFC 3339"
        ) from None
    if at.tzinfo is None:
        raise Unreadable(f"line {line}: a time needs its offset")
    return at


def compact(readings: Sequence[MessageReading]) -> bytes:
    """Readings in the compact format (what a small sensor sends; the bench's load)."""
    lines = []
    for r in readings:
        at = r.observed_at.astimezone(UTC)
        delta = at - _EPOCH
        if delta.microseconds % 1000 == 0:
            when = str(delta // timedelta(milliseconds=1))
        else:
            when = at.isoformat()
        lines.append(f"{r.metric},{_text(r.value)},{r.unit_of_measure},{when}")
    return "\n".join(lines).encode()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)


def bounded(payload: bytes) -> str:
    """What a dead letter keeps of a payload: its first bytes, as text."""
    kept = payload[:KEPT_PAYLOAD].decode("utf-8", errors="replace")
    return kept if len(payload) <= KEPT_PAYLOAD else kept + f"… ({len(payload)} bytes)"

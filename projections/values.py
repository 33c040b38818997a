"""How the views write values into their columns: one home for every view's helpers.

Instants are ISO-8601 UTC text (sortable as text), aggregate ids their text, lists and
objects JSON with sorted keys (equal values, equal text).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any


def iso(instant: datetime | None) -> str | None:
    """An instant as the views store it: ISO-8601 in UTC with microseconds, sortable."""
    if instant is None:
        return None
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    # Without a timespec the text is the same whenever there are microseconds to show,
    # and cheaper to ask for: a rebuild writes a few of these per event.
    if instant.microsecond:
        return instant.isoformat()
    return instant.isoformat(timespec="microseconds")


#: How many ids :func:`id_text` remembers.
ID_TEXTS = 16_384
_ID_TEXTS: dict[uuid.UUID, str] = {}


def id_text(value: uuid.UUID) -> str:
    """``str(value)``, remembered: the views key their rows by an aggregate's id as text,
    and the same few ids recur in many events of a batch (a UUID turns into text in
    Python, slowly)."""
    text = _ID_TEXTS.get(value)
    if text is None:
        if len(_ID_TEXTS) >= ID_TEXTS:
            _ID_TEXTS.clear()
        text = _ID_TEXTS[value] = str(value)
    return text


def from_iso(text: str | None) -> datetime | None:
    """The instant :func:`iso` wrote."""
    return None if text is None else datetime.fromisoformat(text)


def dumps(value: Any) -> str:
    """JSON as the views store it: sorted keys, no spaces (equal values, equal text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def add_to_lists(row: dict[str, Any], item: Any, *columns: str) -> None:
    """Append ``item`` (as text) to each JSON list column of a buffered row."""
    for column in columns:
        row[column] = dumps([*json.loads(row[column]), str(item)])


def remove_from_list(row: dict[str, Any], item: Any, column: str) -> None:
    """Take ``item`` (as text) out of a JSON list column of a buffered row, if it is there."""
    values = json.loads(row[column])
    if str(item) in values:
        values.remove(str(item))
    row[column] = dumps(values)

"""The one-line description of each event on a loop's timeline, in either language.

``timeline.<Aggregate>.<Event>`` in the catalogue is the line; where the line depends on
a flag or an optional list (accepted or not, cooperating units or none) a suffix names
the variant. The event's own fields fill the placeholders: codes become words, times
are shown in the calendar's zone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from texts.catalogue import catalogue, placeholders, variant_id


def message_id(event_type: str, fields: Mapping[str, Any]) -> str:
    """The id of the line of an event (a ``KeyError`` if its choosing field is missing)."""
    return variant_id("timeline", event_type, fields.__getitem__)


def describe(
    event_type: str,
    fields: Mapping[str, Any],
    language: str,
    zone: ZoneInfo | str | None,
    unit_name: Callable[[str], str] | None = None,
) -> str:
    """One line for an event, from its type (``Instruction.Issued``) and its fields;
    with ``unit_name``, its units by their names (see :meth:`Catalogue.readable`).

    An event with no line yet, or of an older shape that lacks a field the line names,
    is described by its type: what happened is still said.
    """
    texts = catalogue()
    try:
        line = message_id(event_type, fields)
        if not texts.has(line):
            return event_type
        wanted = {p.removesuffix("_count") for p in placeholders(texts.raw(line, language))}
        values = texts.readable({n: fields[n] for n in wanted}, language, zone, unit_name=unit_name)
        return texts.text(line, language, values).strip()
    except KeyError:
        return event_type

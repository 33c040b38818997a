"""The short text of a webhook notification, relayed to SMS or chat as it is.

``webhook.<type>`` in the catalogue is the text of a notification type
(``webhook.warning.raised``); a suffix names a variant chosen by a flag of the event or
summary. Placeholders name the notification's parts: ``%(summary.title)s``,
``%(event.reason)s``, ``%(actor.unit)s``; codes become words and times are shown in the
calendar's zone. A part the notification lacks reads as nothing: the body still goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from texts.catalogue import catalogue, variant_id

PARTS = ("event", "summary", "actor")


def message_id(type_: str, values: Mapping[str, Any]) -> str:
    return variant_id("webhook", type_, values.get)


def webhook_text(
    type_: str, language: str, context: Mapping[str, Any], zone: ZoneInfo | str | None
) -> str:
    """The text of one notification (a ``KeyError`` for a type with no text)."""
    values = notification_values(language, context, zone)
    return catalogue().lenient(message_id(type_, values), language, values)


def notification_values(
    language: str, context: Mapping[str, Any], zone: ZoneInfo | str | None
) -> dict[str, Any]:
    """The values a text names, ``summary.title`` and the like, as people read them."""
    texts = catalogue()
    values: dict[str, Any] = {}
    for part in PARTS:
        values.update(texts.readable(context.get(part) or {}, language, zone, f"{part}."))
    return values

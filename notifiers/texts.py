"""The short human text of a notification, in Chinese or English, from the catalogue.

The texts of every notification type live in the one translation catalogue that the
timeline and the pages share (``texts/``, ADR 0038), as ``webhook.<type>``, written to
be relayed to SMS or chat as they are; times in them are shown in the calendar's zone.
A subscription may bring its own Jinja2 template instead; it is rendered in Jinja2's
sandbox, so a template can read the notification and nothing else.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from domain.errors import InvalidValue
from texts.catalogue import DEFAULT_ZONE, catalogue, zone_of
from texts.webhooks import webhook_text

MAX_TEXT = 1_000


@lru_cache(maxsize=256)
def _compiled(env: SandboxedEnvironment, source: str) -> jinja2.Template:
    return env.from_string(source)


class TemplateRefused(InvalidValue, code="template-invalid"):
    """A subscription's own template that Jinja2 cannot parse (no schema can say so)."""


class Texts:
    """Renders the text of a notification."""

    def __init__(self, zone: ZoneInfo | str = DEFAULT_ZONE) -> None:
        self.zone = zone_of(zone)
        # Loaded and checked here, when the outbox is built: a broken catalogue stops
        # the start instead of the first notification.
        catalogue()
        self.sandbox = SandboxedEnvironment(
            autoescape=False,
            undefined=jinja2.ChainableUndefined,
        )

    def render(self, type_: str, language: str, custom: str, context: dict[str, Any]) -> str:
        try:
            if custom:
                text = _compiled(self.sandbox, custom).render(**context)
            else:
                text = webhook_text(type_, language, context, self.zone)
        except (jinja2.TemplateError, KeyError, ValueError) as e:
            # A broken custom template must not stop the follower: the body still goes.
            text = f"[{type_}] ({type(e).__name__})"
        return " ".join(text.split())[:MAX_TEXT]

    def check(self, custom: str) -> None:
        """Refuse a custom template that does not even parse."""
        try:
            _compiled(self.sandbox, custom)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateRefused(f"the template does not parse: {e.message}") from None

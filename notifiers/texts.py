"""The short human text of a notification, in Chinese or English, from Jinja2 templates.

One template per event type and language (``templates/<type>.<lang>.j2``), written to be
relayed to SMS or chat as it is. A subscription may bring its own template instead; it
is rendered in Jinja2's sandbox, so a template can read the notification and nothing
else.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from domain.errors import InvalidValue

TEMPLATES = Path(__file__).parent / "templates"
MAX_TEXT = 1_000


@lru_cache(maxsize=256)
def _compiled(env: SandboxedEnvironment, source: str) -> jinja2.Template:
    return env.from_string(source)


class Texts:
    """Renders the text of a notification."""

    def __init__(self, folder: Path = TEMPLATES) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=False,  # noqa: S701 (plain text for SMS and chat, never HTML)
            undefined=jinja2.ChainableUndefined,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.sandbox = SandboxedEnvironment(
            autoescape=False,
            undefined=jinja2.ChainableUndefined,
        )

    def template_name(self, type_: str, language: str) -> str:
        return f"{type_}.{language}.j2"

    def render(self, type_: str, language: str, custom: str, context: dict[str, Any]) -> str:
        try:
            if custom:
                text = _compiled(self.sandbox, custom).render(**context)
            else:
                text = self.env.get_template(self.template_name(type_, language)).render(**context)
        except jinja2.TemplateError as e:
            # A broken custom template must not stop the follower: the body still goes.
            text = f"[{type_}] ({type(e).__name__})"
        return " ".join(text.split())[:MAX_TEXT]

    def check(self, custom: str) -> None:
        """Refuse a custom template that does not even parse."""
        try:
            _compiled(self.sandbox, custom)
        except jinja2.TemplateSyntaxError as e:
            raise InvalidValue(f"the template does not parse: {e.message}") from None

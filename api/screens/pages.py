"""Rendering a page: one Jinja2 template per page on a shared layout (ADR 0053).

A template reads its texts from the one catalogue (``t("page.…")``, ``w("theme",
code)``), its times in the calendar's zone (``|local``), and never builds markup from
data: autoescaping is on for every template, and no filter marks data safe. The page's
policy allows scripts, styles and images from this server only, no inline script or
style at all, so markup that slipped through could run nothing.

:class:`Page` is what every template knows of the request: who is signed in, in which
language, the CSRF token its forms carry and the menu this person's roles open.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response

from api.tokens import Principal
from texts.catalogue import DEFAULT_LANGUAGE, LANGUAGES, catalogue, local_time

TEMPLATES = Path(__file__).parent / "templates"
#: The screens' own files (styles, scripts, vendored libraries), served at this path.
STATIC_PATH = "/screens/static"
#: A page loads nothing from another host, runs no inline script and no inline style.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
LANGUAGE_COOKIE = "cl_lang"
#: Each language by its own name (an autonym is not translated: it is what a reader of
#: the other language looks for).
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

#: The menu: (path, text id, the roles that see it; empty: everyone signed in but a screen).
MENU: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("/board", "page.menu.board", frozenset()),
    ("/inbox", "page.menu.inbox", frozenset({"handler", "dispatcher", "duty_officer"})),
    ("/warnings", "page.menu.warnings", frozenset()),
    ("/roster", "page.menu.roster", frozenset({"handler", "dispatcher", "duty_officer"})),
    ("/whistles", "page.menu.whistles", frozenset({"handler", "dispatcher"})),
    ("/notices", "page.menu.notices", frozenset({"dispatcher", "duty_officer"})),
    ("/audit", "page.menu.audit", frozenset({"auditor", "admin"})),
    ("/reports", "page.menu.reports", frozenset()),
    ("/admin", "page.menu.admin", frozenset({"admin"})),
)


def language_of(request: Request[Any, Any, Any]) -> str:
    """The language a browser chose (its cookie), Chinese unless it chose another."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def is_kiosk(principal: Principal) -> bool:
    """A hall screen: the read-only ``screen`` role and no other."""
    return set(principal.roles) == {"screen"}


def local_path(target: str | None, default: str = "/") -> str:
    """A path on this server to go back to, never another host's address (an open
    redirect would let a link signed with our name lead elsewhere)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\r\n\x00") or len(target) > 2000:
        return default
    return target


@dataclass
class Page:
    """What every template knows of the request it answers."""

    language: str
    zone: str
    path: str
    principal: Principal | None = None
    csrf: str = ""
    #: Messages beside the fields they concern: {field name: message}.
    errors: dict[str, str] = field(default_factory=dict)
    #: The form's values as sent, shown again with the errors.
    values: Mapping[str, Any] = field(default_factory=dict)
    #: A unit's name by its code (the code itself when it is not known).
    unit_names: Callable[[str], str] = str

    def t(self, message_id: str, **values: Any) -> str:
        cat = catalogue()
        return (
            cat.lenient(message_id, self.language, values)
            if values
            else cat.raw(message_id, self.language)
        )

    def w(self, family: str, code: Any) -> str:
        return catalogue().word(family, code, self.language)

    def unit_name(self, code: str) -> str:
        """The name people know a unit by; its code stays in the addresses."""
        return self.unit_names(code)

    def local(self, value: Any) -> str:
        return local_time(value, self.zone)

    @property
    def other_language(self) -> str:
        return next(lang for lang in LANGUAGES if lang != self.language)

    @property
    def other_language_name(self) -> str:
        return LANGUAGE_NAMES[self.other_language]

    def switch_language(self) -> str:
        return f"/language/{self.other_language}?next={quote(self.path, safe='/')}"

    def menu(self) -> list[tuple[str, str, bool]]:
        """The menu entries this person may open: (path, text, whether it is this page)."""
        principal = self.principal
        if principal is None:
            return []
        roles = set(principal.roles)
        if is_kiosk(principal):
            return [("/board", self.t("page.menu.board"), self.path.startswith("/board"))]
        return [
            (path, self.t(text), self.path.startswith(path))
            for path, text, needs in MENU
            if not needs or needs & roles
        ]

    def command_id(self) -> str:
        """A fresh id for one form: sent twice (a double click), it is one command."""
        return secrets.token_hex(16)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = STATIC_PATH
    env.filters["local"] = lambda value, zone: local_time(value, zone)
    env.filters["iso"] = lambda value: value.isoformat() if isinstance(value, datetime) else ""
    return env


def page_of(request: Request[Any, Any, Any], **kwargs: Any) -> Page:
    """The :class:`Page` of a request: its language, the calendar's zone, the person
    the page guard found and their session's CSRF token."""
    services = request.app.state.services
    state = request.state
    center = services.center
    language = language_of(request)

    def unit_names(code: str) -> str:
        try:
            unit = center.unit(code)
        except Exception:  # an unknown or malformed code is shown as it is
            return code
        return str((language == "en" and unit.name_en) or unit.name)

    kwargs.setdefault("unit_names", unit_names)
    return Page(
        language=language,
        zone=services.views.zone.key,
        path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        principal=state.get("principal"),
        csrf=state.get("csrf", ""),
        **kwargs,
    )


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    page: Page | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    """The page ``template`` with ``context`` as the response, with the pages' policy;
    never cached (it shows what this person may see, now)."""
    page = page or page_of(request)
    html = environment().get_template(template).render(page=page, **context)
    return Response(
        html,
        status_code=status,
        media_type="text/html",
        headers={
            "Content-Security-Policy": PAGE_POLICY,
            "Cache-Control": "no-store",
            "Content-Language": page.language,
            **(headers or {}),
        },
    )

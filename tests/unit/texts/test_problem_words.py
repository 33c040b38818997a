"""Every refusal the engine can give has words in both languages.

A page shows a refusal by its code's words (``problem.<code>``) and falls back to the
engine's own English sentence only when the catalogue has none; a duty officer reading a
Chinese page must never meet that fallback. So every code a domain error or an API
problem carries is named here, found in the code itself rather than listed by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import domain
from domain.errors import DomainError
from texts.catalogue import catalogue

ROOT = Path(__file__).resolve().parents[3]
#: Codes given to ``ProblemError`` or ``invalid(...)`` by the API and the adapters.
_GIVEN_CODE = re.compile(r'code="([a-z0-9-]+)"')
#: The rooms whose refusals reach a client or a page.
_ROOMS = ("domain", "api", "closedloop", "projections", "notifiers", "audit", "telemetry")


def _domain_codes() -> set[str]:
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    codes: set[str] = set()
    stack: list[type[DomainError]] = [DomainError]
    while stack:
        cls = stack.pop()
        codes.add(cls.code)
        stack.extend(cls.__subclasses__())
    return codes


def _given_codes() -> set[str]:
    return {
        code
        for room in _ROOMS
        for path in (ROOT / room).rglob("*.py")
        for code in _GIVEN_CODE.findall(path.read_text(encoding="utf-8"))
    }


def test_every_domain_error_has_words_in_both_languages() -> None:
    texts = catalogue()
    missing = sorted(c for c in _domain_codes() - {"domain-error"} if not texts.has(f"problem.{c}"))

    assert missing == []


def test_every_code_the_api_gives_has_words_in_both_languages() -> None:
    texts = catalogue()
    missing = sorted(c for c in _given_codes() if not texts.has(f"problem.{c}"))

    assert missing == []


def test_the_search_finds_the_codes_it_must() -> None:
    # A search that found nothing would pass the two tests above by finding no code.
    assert {"merge-mismatch", "shift-refused", "not-found"} <= _domain_codes()
    assert {"busy", "store-unavailable", "cursor-unknown"} <= _given_codes()

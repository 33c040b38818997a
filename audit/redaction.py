"""What an export never shows, to anyone: secret material and credentials in URLs
(issue 19, item 5; ADR 0042).

A token's hash, a password's hash, a sign-in ticket's hash, a webhook secret's
ciphertext and whatever a webhook URL carries beyond its scheme, host and port stay on
the server. An event that holds any of them is
exported with those fields replaced by :data:`REDACTED`, the paths of what was replaced in
``redacted``, and no stored state (``chain.state`` is null): the stored bytes hold the
secret too, so they cannot leave either. Its ``hash`` and ``prev`` still link the chain,
and the server's own verification (``closedloop audit verify``) checks every byte.

The table is keyed by the event classes themselves, so an event stored under an older
module's topic (``register_topic``) is redacted like a new one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.utils import TopicError, resolve_topic

from domain.access_token import AccessToken
from domain.account import Account
from domain.sign_in_ticket import SignInTicket
from domain.subscription import Subscription

REDACTED = "[redacted]"


def redact_url(url: Any) -> Any:
    """A URL as scheme, host and port only: user names, passwords, paths, queries and
    fragments may all carry a credential (``https://hooks.example/services/T0/B0/XXXX``
    is a secret by its path alone), so none of them leaves.

    ``https://ops:pw@hooks.example:8443/in?key=1`` becomes
    ``https://[redacted]@hooks.example:8443/[redacted]``; ``https://hooks.example/``
    stays as it is.
    """
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    where = host if port is None else f"{host}:{port}"
    user = f"{REDACTED}@" if "@" in parts.netloc else ""
    rest = parts.path not in ("", "/") or parts.query or parts.fragment
    return f"{parts.scheme}://{user}{where}/{REDACTED if rest else ''}"


def _secret(value: Any) -> Any:
    return REDACTED if value else value


#: For each event class: the payload fields it never shows, with how each is shown
#: instead. A dotted path reaches into a mapping (an update's ``changes``).
RULES: dict[type[Any], dict[str, Callable[[Any], Any]]] = {
    AccessToken.Issued: {"token_hash": _secret},
    # A password's Argon2id hash and a sign-in ticket's SHA-256 (ADR 0052).
    Account.Opened: {"password_hash": _secret},
    Account.PasswordChanged: {"password_hash": _secret},
    SignInTicket.Issued: {"ticket_hash": _secret},
    Subscription.Registered: {"url": redact_url, "secret_ciphertext": _secret},
    Subscription.Updated: {"changes.url": redact_url},
    Subscription.SecretRotated: {"secret_ciphertext": _secret, "previous_ciphertext": _secret},
}


@functools.lru_cache(maxsize=1024)
def _rules_of(topic: str) -> dict[str, Callable[[Any], Any]] | None:
    try:
        cls = resolve_topic(topic)
    except (TopicError, ImportError, AttributeError, ValueError):
        return None
    return RULES.get(cls)


def has_secrets(topic: str) -> bool:
    """Whether events stored under ``topic`` hold something an export never shows."""
    return _rules_of(topic) is not None


def redact(topic: str, payload: Any) -> list[str]:
    """Replace, in ``payload`` (the record's, edited in place), every field of ``topic``
    that an export never shows; answer the paths replaced (present in the payload)."""
    rules = _rules_of(topic)
    if rules is None or not isinstance(payload, dict):
        return []
    done = []
    for path, shown in rules.items():
        *outer, name = path.split(".")
        holder: Any = payload
        for step in outer:
            holder = holder.get(step) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and name in holder:
            holder[name] = shown(holder[name])
            done.append(path)
    return done

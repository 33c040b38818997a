"""A webhook subscription: where a unit wants to hear about the closed loop, and how.

A unit's admin registers an endpoint (a URL), the filters that choose what it hears,
the language and template of the human text, and a signing secret. Every change is an
event, so who pointed notifications where, and when, is on the record like everything
else (ADR 0014).

The signing secret is never in an event in clear: the edge encrypts it before it
reaches the aggregate, which keeps only the ciphertext and a fingerprint (a short hash
that lets an admin tell two secrets apart without seeing either). During a rotation the
previous secret is kept, encrypted, until its grace period ends, so that receivers can
switch over without losing a delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition, InvalidValue
from domain.meta import Meta, derived_id

LANGUAGES = ("zh", "en")
MAX_URL = 2_000
MAX_FILTER_ITEMS = 64
MAX_TEMPLATE = 4_000
MAX_REASON = 500
#: How many of an endpoint's notifications may be on their way at once, each of a
#: different loop (a loop's own go one after another, in log order; ADR 0081).
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32

#: The fields an update may change, with the check each value must pass.
UPDATABLE = (
    "url",
    "event_types",
    "themes",
    "min_level",
    "units",
    "subtrees",
    "addressed_only",
    "language",
    "template",
    "description",
    "concurrency",
)


def subscription_id(command_id: str) -> UUID:
    """The id of the subscription registered by the command with this id."""
    return derived_id("subscription", command_id)


def check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidValue("a subscription needs the URL of its endpoint")
    text: str = url.strip()
    if len(text) > MAX_URL:
        raise InvalidValue(f"an endpoint URL is limited to {MAX_URL} characters")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in ("https", "http"):
        raise InvalidValue("an endpoint URL starts with https:// (or http://)")
    return text


def check_names(values: Any, what: str) -> list[str]:
    """A filter list: distinct short strings, at most :data:`MAX_FILTER_ITEMS`."""
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise InvalidValue(f"{what} is a list of names")
    if len(values) > MAX_FILTER_ITEMS:
        raise InvalidValue(f"{what} holds at most {MAX_FILTER_ITEMS} names")
    if any(len(v) > 128 for v in values):
        raise InvalidValue(f"a name in {what} is limited to 128 characters")
    return list(dict.fromkeys(values))


def check_min_level(level: Any) -> int | None:
    if level is None:
        return None
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 4:
        raise InvalidValue("a minimum warning level is 1 (I, red) to 4 (IV, blue)")
    return level


def check_language(language: Any) -> str:
    if language not in LANGUAGES:
        raise InvalidValue(f"a notification's language is one of: {', '.join(LANGUAGES)}")
    return str(language)


def check_template(template: Any) -> str:
    if template is None:
        return ""
    if not isinstance(template, str) or len(template) > MAX_TEMPLATE:
        raise InvalidValue(f"a template is text of at most {MAX_TEMPLATE} characters")
    return template


def check_description(text: Any) -> str:
    if text is None:
        return ""
    if not isinstance(text, str) or len(text) > 200:
        raise InvalidValue("a subscription's description is limited to 200 characters")
    return text.strip()


def check_concurrency(value: Any) -> int:
    if value is None:
        return DEFAULT_CONCURRENCY
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidValue(
            f"an endpoint's concurrency is a whole number from 1 to {MAX_CONCURRENCY} "
            "(notifications of different loops on their way at once)"
        )
    return value


def check_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidValue("say why")
    if len(reason) > MAX_REASON:
        raise InvalidValue(f"a reason is limited to {MAX_REASON} characters")
    return reason.strip()


_CHECKS = {
    "url": check_url,
    "event_types": lambda v: check_names(v, "event_types"),
    "themes": lambda v: check_names(v, "themes"),
    "min_level": check_min_level,
    "units": lambda v: check_names(v, "units"),
    "subtrees": lambda v: check_names(v, "subtrees"),
    "addressed_only": bool,
    "language": check_language,
    "template": check_template,
    "description": check_description,
    "concurrency": check_concurrency,
}


@dataclass(frozen=True)
class EventFacts:
    """What a subscription's filters look at in one event."""

    type: str
    #: Every unit the event concerns, and those it is addressed to (a subset).
    units: tuple[str, ...]
    addressed: tuple[str, ...]
    theme: str | None = None
    level: int | None = None
    #: A subscription never hears about itself (its own disabling, say).
    exclude: str | None = None


@dataclass(frozen=True)
class Filters:
    """What one subscription hears: its unit's subtree, narrowed by its filters.

    The filters narrow, they never widen: event types, units or subtrees,
    addressed-to-the-unit, themes, and a minimum warning level (an event that carries no
    level does not pass a level filter; level I is the most severe).
    """

    unit: str
    addressed_only: bool = False
    only_units: tuple[str, ...] = ()
    only_subtrees: tuple[str, ...] = ()
    only_types: tuple[str, ...] = ()
    only_themes: tuple[str, ...] = ()
    min_level: int | None = None

    def hear(self, facts: EventFacts, within: Callable[[str, str], bool]) -> bool:
        if self.only_types and facts.type not in self.only_types:
            return False
        scope = facts.addressed if self.addressed_only else facts.units
        scope = tuple(u for u in scope if within(u, self.unit))
        if not scope:
            return False
        if (self.only_units or self.only_subtrees) and not any(
            u in self.only_units or any(within(u, top) for top in self.only_subtrees) for u in scope
        ):
            return False
        if self.only_themes and facts.theme not in self.only_themes:
            return False
        if self.min_level is None:
            return True
        return facts.level is not None and facts.level <= self.min_level


class Subscription(LoopAggregate):
    """One endpoint of one unit, its filters, its (encrypted) secret and its state."""

    class Registered(LoopAggregate.Created):
        unit: str
        url: str
        event_types: list[str]
        themes: list[str]
        min_level: int | None
        units: list[str]
        subtrees: list[str]
        addressed_only: bool
        language: str
        template: str
        description: str
        active: bool
        secret_ciphertext: str
        secret_fingerprint: str
        #: Since ADR 0081; a subscription registered before it has the default.
        concurrency: int = DEFAULT_CONCURRENCY

    class Updated(LoopAggregate.Event):
        changes: dict[str, Any]

    class SecretRotated(LoopAggregate.Event):
        secret_ciphertext: str
        secret_fingerprint: str
        previous_ciphertext: str
        previous_fingerprint: str
        previous_until: datetime

    class Disabled(LoopAggregate.Event):
        reason: str
        #: Set when the delivery worker disabled a failing endpoint (not a person).
        failing: bool

    class Enabled(LoopAggregate.Event):
        pass

    class Deleted(LoopAggregate.Event):
        reason: str

    @staticmethod
    def create_id(meta: Meta) -> UUID:
        return subscription_id(meta.command_id)

    @event(Registered)
    def __init__(
        self,
        unit: str,
        url: str,
        event_types: list[str],
        themes: list[str],
        min_level: int | None,
        units: list[str],
        subtrees: list[str],
        addressed_only: bool,
        language: str,
        template: str,
        description: str,
        active: bool,
        secret_ciphertext: str,
        secret_fingerprint: str,
        meta: Meta,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.unit = unit
        self.url = url
        self.event_types = list(event_types)
        self.themes = list(themes)
        self.min_level = min_level
        self.units = list(units)
        self.subtrees = list(subtrees)
        self.addressed_only = addressed_only
        self.language = language
        self.template = template
        self.description = description
        self.active = active
        self.secret_ciphertext = secret_ciphertext
        self.secret_fingerprint = secret_fingerprint
        self.previous_ciphertext = ""
        self.previous_fingerprint = ""
        self.previous_until: datetime | None = None
        self.deleted = False
        self.disabled_reason = ""
        self.created_at = meta.occurred_at
        self.concurrency = concurrency

    @classmethod
    def register(
        cls,
        *,
        unit: str,
        url: str,
        event_types: list[str] | None,
        themes: list[str] | None,
        min_level: int | None,
        units: list[str] | None,
        subtrees: list[str] | None,
        addressed_only: bool,
        language: str,
        template: str | None,
        description: str | None,
        active: bool,
        secret_ciphertext: str,
        secret_fingerprint: str,
        meta: Meta,
        concurrency: int | None = None,
    ) -> Subscription:
        if not secret_ciphertext or not secret_fingerprint:
            raise InvalidValue("a subscription needs its (encrypted) signing secret")
        return cls(
            unit=unit,
            url=check_url(url),
            event_types=check_names(event_types, "event_types"),
            themes=check_names(themes, "themes"),
            min_level=check_min_level(min_level),
            units=check_names(units, "units"),
            subtrees=check_names(subtrees, "subtrees"),
            addressed_only=bool(addressed_only),
            language=check_language(language),
            template=check_template(template),
            description=check_description(description),
            active=bool(active),
            secret_ciphertext=secret_ciphertext,
            secret_fingerprint=secret_fingerprint,
            meta=meta,
            concurrency=check_concurrency(concurrency),
        )

    def _check_not_deleted(self, doing: str) -> None:
        if self.deleted:
            raise InvalidTransition(f"the subscription was deleted; it cannot be {doing}")

    def update(self, changes: dict[str, Any], meta: Meta) -> None:
        """Change some of the settings; only what differs is recorded (nothing: no event)."""
        self._check_not_deleted("updated")
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise InvalidValue(f"these cannot be updated: {', '.join(unknown)}")
        checked = {name: _CHECKS[name](value) for name, value in changes.items()}
        different = {k: v for k, v in checked.items() if getattr(self, k) != v}
        if different:
            self._updated(changes=different, meta=meta)

    @event(Updated)
    def _updated(self, changes: dict[str, Any], meta: Meta) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def rotate_secret(
        self, secret_ciphertext: str, secret_fingerprint: str, grace_until: datetime, meta: Meta
    ) -> None:
        """A new secret; the current one stays valid (sent alongside) until ``grace_until``."""
        self._check_not_deleted("given a new secret")
        if not secret_ciphertext or not secret_fingerprint:
            raise InvalidValue("a rotation needs the new (encrypted) secret")
        if secret_fingerprint == self.secret_fingerprint:
            raise InvalidValue("the new secret is the current one")
        if grace_until.tzinfo is None:
            raise InvalidValue("the end of the grace period must carry a time-zone offset")
        self._secret_rotated(
            secret_ciphertext=secret_ciphertext,
            secret_fingerprint=secret_fingerprint,
            previous_ciphertext=self.secret_ciphertext,
            previous_fingerprint=self.secret_fingerprint,
            previous_until=grace_until,
            meta=meta,
        )

    @event(SecretRotated)
    def _secret_rotated(
        self,
        secret_ciphertext: str,
        secret_fingerprint: str,
        previous_ciphertext: str,
        previous_fingerprint: str,
        previous_until: datetime,
        meta: Meta,
    ) -> None:
        self.secret_ciphertext = secret_ciphertext
        self.secret_fingerprint = secret_fingerprint
        self.previous_ciphertext = previous_ciphertext
        self.previous_fingerprint = previous_fingerprint
        self.previous_until = previous_until

    def disable(self, reason: str, meta: Meta, *, failing: bool = False) -> None:
        self._check_not_deleted("disabled")
        if not self.active:
            raise InvalidTransition("the subscription is already disabled")
        self._disabled(reason=check_reason(reason), failing=failing, meta=meta)

    @event(Disabled)
    def _disabled(self, reason: str, failing: bool, meta: Meta) -> None:
        self.active = False
        self.disabled_reason = reason

    def enable(self, meta: Meta) -> None:
        self._check_not_deleted("enabled")
        if self.active:
            raise InvalidTransition("the subscription is already active")
        self._enabled(meta=meta)

    @event(Enabled)
    def _enabled(self, meta: Meta) -> None:
        self.active = True
        self.disabled_reason = ""

    def delete(self, reason: str, meta: Meta) -> None:
        self._check_not_deleted("deleted again")
        self._deleted(reason=check_reason(reason), meta=meta)

    @event(Deleted)
    def _deleted(self, reason: str, meta: Meta) -> None:
        self.deleted = True
        self.active = False

"""The export's two rules stay complete as the domain grows (ADR 0042): every record
kind has its units for an admin's scope, and every field that looks like secret
material or a URL is redacted or named here as harmless."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate

import domain
from audit.redaction import REDACTED, RULES, redact, redact_url
from audit.scope import SCOPED_KINDS
from domain.access_token import AccessToken
from domain.subscription import Subscription


def _domain_classes() -> list[type[Any]]:
    found = []
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"domain.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                found.append(cls)
    return found


def _aggregates() -> list[type[Any]]:
    return [
        c for c in _domain_classes() if issubclass(c, Aggregate) and c.__name__ != "LoopAggregate"
    ]


def _events() -> list[type[Any]]:
    return [
        event
        for aggregate in _aggregates()
        for _, event in inspect.getmembers(aggregate, inspect.isclass)
        if issubclass(event, CanMutateAggregate)
        and event.__qualname__.startswith(aggregate.__name__)
    ]


def test_every_kind_of_record_has_its_units_for_an_admins_export() -> None:
    missing = [a.__name__ for a in _aggregates() if a not in SCOPED_KINDS]
    assert not missing, f"give these records their units in audit/scope.py: {missing}"


#: A field name that may hold secret material or a credential.
_SUSPECT = re.compile(r"secret|cipher|password|token_hash|url|credential|api_key", re.I)
#: Suspect by name, harmless by design: a public name of a secret, reveals nothing.
_HARMLESS = {
    (Subscription.Registered, "secret_fingerprint"),
    (Subscription.SecretRotated, "secret_fingerprint"),
    (Subscription.SecretRotated, "previous_fingerprint"),
}


def test_every_field_that_may_hold_a_secret_is_redacted_or_named_harmless() -> None:
    unruled = [
        f"{event.__qualname__}.{field.name}"
        for event in _events()
        for field in dataclasses.fields(event)
        if _SUSPECT.search(field.name)
        and (event, field.name) not in _HARMLESS
        and field.name not in RULES.get(event, {})
    ]
    assert not unruled, f"redact these in audit/redaction.py, or name them harmless: {unruled}"


def test_the_suspect_fields_are_found_at_all() -> None:
    assert AccessToken.Issued in RULES
    assert "token_hash" in {f.name for f in dataclasses.fields(AccessToken.Issued)}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example/", "https://hooks.example/"),
        ("https://hooks.example", "https://hooks.example/"),
        ("https://hooks.example:8443/", "https://hooks.example:8443/"),
        ("https://ops:pw@hooks.example/", f"https://{REDACTED}@hooks.example/"),
        ("https://ops@hooks.example/", f"https://{REDACTED}@hooks.example/"),
        ("https://hooks.example/services/T0/B0/XXXX", f"https://hooks.example/{REDACTED}"),
        ("https://hooks.example/?key=abc", f"https://hooks.example/{REDACTED}"),
        ("https://hooks.example/#sig=abc", f"https://hooks.example/{REDACTED}"),
        ("http://[2001:db8::1]:8080/in", f"http://[2001:db8::1]:8080/{REDACTED}"),
        ("https://hooks.example:99999/", REDACTED),
        ("not a url with pw", REDACTED),
        ("", REDACTED),
    ],
)
def test_a_webhook_url_is_exported_as_its_scheme_host_and_port(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redacting_replaces_only_the_fields_present() -> None:
    topic = "domain.subscription:Subscription.Updated"
    kept = {"changes": {"description": "night desk"}}
    assert redact(topic, kept) == []
    assert kept == {"changes": {"description": "night desk"}}
    changed = {"changes": {"url": "https://a:b@x.example/p"}}
    assert redact(topic, changed) == ["changes.url"]
    assert changed["changes"]["url"] == f"https://{REDACTED}@x.example/{REDACTED}"


def test_events_under_an_old_modules_topic_are_redacted_too() -> None:
    payload = {"token_hash": "ab" * 32, "user": "li.ming"}
    assert redact("api.tokens:AccessToken.Issued", payload) == ["token_hash"]
    assert payload == {"token_hash": REDACTED, "user": "li.ming"}

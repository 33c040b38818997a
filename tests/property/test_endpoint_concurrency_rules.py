"""An endpoint's concurrency (ADR 0081), as the subscription aggregate keeps it: any
whole number from 1 to the bound is kept as given, anything else is refused and changes
nothing; an update records only a change (hypothesis)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValue
from domain.meta import Actor, Context
from domain.subscription import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, Subscription

ADMIN = Context(actor=Actor(person="admin", unit="HW", role="admin"))
LOOP = UUID(int=1)
ALLOWED = st.integers(min_value=1, max_value=MAX_CONCURRENCY)
REFUSED = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=MAX_CONCURRENCY + 1),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)


def registered(**fields: Any) -> Subscription:
    return Subscription.register(
        unit="HW",
        url="https://example.org/hook",
        event_types=None,
        themes=None,
        min_level=None,
        units=None,
        subtrees=None,
        addressed_only=False,
        language="zh",
        template=None,
        description=None,
        active=True,
        secret_ciphertext="ciphertext",
        secret_fingerprint="fingerprint",
        meta=ADMIN.meta("RegisterSubscription", LOOP),
        **fields,
    )


def test_a_subscription_registered_without_one_has_the_default() -> None:
    assert registered().concurrency == DEFAULT_CONCURRENCY


@given(ALLOWED)
def test_a_concurrency_within_bounds_is_kept_as_given(n: int) -> None:
    assert registered(concurrency=n).concurrency == n


@given(REFUSED)
def test_a_concurrency_out_of_bounds_or_not_a_whole_number_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidValue, match="concurrency"):
        registered(concurrency=bad)


@given(ALLOWED, st.lists(st.one_of(ALLOWED, REFUSED), max_size=6))
def test_updates_keep_the_last_allowed_value_and_record_only_changes(
    first: int, changes: list[Any]
) -> None:
    subscription = registered(concurrency=first)
    expected = first
    subscription.collect_events()
    for value in changes:
        allowed = isinstance(value, int) and not isinstance(value, bool)
        allowed = allowed and 1 <= value <= MAX_CONCURRENCY
        if not allowed:
            with pytest.raises(InvalidValue):
                subscription.update({"concurrency": value}, ADMIN.meta("UpdateSubscription", LOOP))
            assert subscription.collect_events() == []
            assert subscription.concurrency == expected
            continue
        subscription.update({"concurrency": value}, ADMIN.meta("UpdateSubscription", LOOP))
        assert len(subscription.collect_events()) == int(value != expected)
        expected = value
        assert subscription.concurrency == expected

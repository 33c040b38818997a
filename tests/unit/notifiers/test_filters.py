"""Which subscription hears which event: the filters alone, no store (events in, yes/no out)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.subscription import EventFacts, Filters
from notifiers.outbox import SubscriptionRow, matches

PARENTS = {"HW": None, "HW-DH": "HW", "HW-DH-QS": "HW-DH", "HW-XL": "HW"}


def within(code: str, ancestor: str) -> bool:
    current: str | None = code
    while current is not None:
        if current == ancestor:
            return True
        current = PARENTS[current]
    return False


def sub(unit: str = "HW", **filters: Any) -> SubscriptionRow:
    return SubscriptionRow(id="s", filters=Filters(unit, **filters), language="zh", template="")


WARNING_QS = EventFacts("warning.raised", ("HW-DH-QS",), ("HW-DH-QS",), "reservoir", 2)
WARNING_XL = EventFacts("warning.raised", ("HW-XL",), ("HW-XL",), "meteorological", 4)


@pytest.mark.parametrize(
    ("subscription", "facts", "hears"),
    [
        (sub(only_themes=("reservoir",)), WARNING_QS, True),
        (sub(only_themes=("reservoir",)), WARNING_XL, False),
        (sub(only_subtrees=("HW-DH",)), WARNING_QS, True),
        (sub(only_subtrees=("HW-DH",)), WARNING_XL, False),
        (sub(only_units=("HW-DH",)), WARNING_QS, False),  # a unit, not its subtree
        (sub(only_units=("HW-DH-QS",)), WARNING_QS, True),
        (sub(min_level=2), WARNING_QS, True),  # level I is the most severe
        (sub(min_level=2), WARNING_XL, False),
        (sub(unit="HW-XL"), WARNING_QS, False),  # a unit hears only its own subtree
        (sub(unit="HW-DH", only_subtrees=("HW",)), WARNING_XL, False),  # filters cannot widen it
        (sub(only_types=("instruction.issued",)), WARNING_QS, False),
        (sub(min_level=4), EventFacts("instruction.issued", ("HW",), ("HW",)), False),
        (sub(), EventFacts("subscription.disabled", ("HW",), ("HW",), exclude="s"), False),
    ],
)
def test_filters_narrow_what_a_unit_hears(
    subscription: SubscriptionRow, facts: EventFacts, hears: bool
) -> None:
    assert matches(subscription, facts, within) is hears

"""``closedloop intake mqtt --share GROUP`` (ADR 0095): the filters become shared
subscriptions, and a copy without a client id of its own does not start."""

from __future__ import annotations

import pytest

from closedloop.mqtt_door import share_refusal, subscriptions


def test_the_filters_are_subscribed_in_the_group_only_when_shared() -> None:
    topics = ["closedloop/#", "closedloop/HW/+"]
    assert subscriptions(topics, None) == topics
    assert subscriptions(topics, "readings") == [
        "$share/readings/closedloop/#",
        "$share/readings/closedloop/HW/+",
    ]


def test_a_single_door_needs_nothing_more() -> None:
    assert share_refusal(None, None, "HW") is None
    assert share_refusal("readings", "closedloop-intake-HW-a", "HW") is None


@pytest.mark.parametrize(
    ("group", "client_id", "why"),
    [
        ("readings", None, "needs --client-id"),
        ("readings", "", "needs --client-id"),
        ("readings", "closedloop-intake-HW", "of its own"),
        ("", "copy-a", "not empty"),
        ("a/b", "copy-a", "no '/'"),
        ("a+", "copy-a", "no '/'"),
        ("#", "copy-a", "no '/'"),
    ],
)
def test_a_shared_copy_is_refused_without_an_id_of_its_own_or_with_a_bad_group(
    group: str, client_id: str | None, why: str
) -> None:
    refusal = share_refusal(group, client_id, "HW")
    assert refusal is not None
    assert why in refusal

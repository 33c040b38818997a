"""Inputs at the edges of what the record accepts: refused with a named error, stored
nothing, and never folded into someone else's case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.application import CommandCenter, Outcome
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.disposition import DispositionStatus
from domain.errors import ConcurrencyConflict, InvalidValue
from domain.meta import Actor, Context

DISTRICT = Actor("li", "HW", "dispatcher")
OFFICE = Actor("zhao", "HW-DH", "handler")
OTHER_OFFICE = Actor("sun", "HW-XL", "handler")


def raise_(center: CommandCenter, unit: str, rule: str, **extra: Any) -> Outcome:
    return center.raise_warning(
        Context(Actor("sensor", unit, "monitor")),
        source="net",
        rule=rule,
        theme="reservoir",
        level=3,
        unit=unit,
        dedup_key="res-qs",
        **{"title": "above the limit", **extra},
    )


def test_the_same_dedup_key_from_another_unit_or_rule_opens_its_own_warning(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    first = raise_(memory_center, "HW-DH-QS", "reservoir.flood_limit")
    elsewhere = raise_(memory_center, "HW-XL", "reservoir.flood_limit")
    other_rule = raise_(memory_center, "HW-DH-QS", "generic.threshold")
    again = raise_(memory_center, "HW-DH-QS", "reservoir.flood_limit")

    assert elsewhere.created
    assert other_rule.created
    assert len({first.id, elsewhere.id, other_rule.id}) == 3
    assert not again.created
    assert again.id == first.id
    assert memory_center.warning(first.id).repeats == 1


def test_a_repeat_with_a_naive_or_future_observed_time_is_refused_and_stores_nothing(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    raise_(memory_center, "HW-DH-QS", "reservoir.flood_limit")
    head = memory_center.head_position()

    with pytest.raises(InvalidValue, match="time-zone offset"):
        raise_(memory_center, "HW-DH-QS", "reservoir.flood_limit", observed_at=datetime(2026, 1, 1))
    with pytest.raises(InvalidValue, match="future"):
        raise_(
            memory_center,
            "HW-DH-QS",
            "reservoir.flood_limit",
            observed_at=datetime.now(UTC) + timedelta(days=400),
        )
    assert memory_center.head_position() == head


def test_a_business_time_before_1970_is_refused() -> None:
    with pytest.raises(InvalidValue, match="1970"):
        Context(DISTRICT, occurred_at=datetime(1, 1, 1, tzinfo=UTC))


def test_a_deadline_more_than_ten_years_ahead_is_refused_on_issue_and_extension(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    far = datetime(9999, 12, 31, tzinfo=UTC)
    with pytest.raises(InvalidValue, match="ten years"):
        memory_center.issue_instruction(
            Context(DISTRICT), lead_unit="HW-DH", title="Patrol", deadline=far
        )
    iid = memory_center.issue_instruction(
        Context(DISTRICT), lead_unit="HW-DH", title="Patrol", due_in=WorkingDuration(days=1)
    ).id
    memory_center.sign_for(Context(OFFICE), iid)
    with pytest.raises(InvalidValue, match="ten years"):
        memory_center.request_extension(Context(OFFICE), iid, deadline=far, reason="slow")
    assert memory_center.instruction(iid).pending_extension is None


def test_a_cooperating_unit_that_never_submitted_has_its_disposition_ended_at_closure(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    iid = memory_center.issue_instruction(
        Context(DISTRICT),
        lead_unit="HW-DH",
        cooperating_units=["HW-XL"],
        title="Joint patrol",
        due_in=WorkingDuration(days=1),
    ).id
    memory_center.sign_for(Context(OFFICE), iid)
    memory_center.sign_for(Context(OTHER_OFFICE), iid)
    memory_center.submit(Context(OFFICE), iid, "patrolled")
    memory_center.verify(Context(DISTRICT), iid, accepted=True)

    dispositions = memory_center.instruction(iid).dispositions
    assert memory_center.disposition(dispositions["HW-DH"]).status == DispositionStatus.ACCEPTED
    assert (
        memory_center.disposition(dispositions["HW-XL"]).status
        == DispositionStatus.CLOSED_UNVERIFIED
    )


def test_text_with_a_nul_character_is_refused_before_it_reaches_any_store(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    head = memory_center.head_position()
    with pytest.raises(InvalidValue, match="NUL"):
        raise_(memory_center, "HW-DH-QS", "reservoir.flood_limit", title="above\x00")
    with pytest.raises(InvalidValue, match="NUL"):
        raise_(memory_center, "HW-DH-QS", "rule.two", attributes={"gauge": ["a\x00"]})
    with pytest.raises(InvalidValue, match="NUL"):
        memory_center.issue_instruction(
            Context(DISTRICT), lead_unit="HW-DH", title="Patrol\x00", due_in=WorkingDuration(days=1)
        )
    with pytest.raises(InvalidValue, match="NUL"):
        Actor("li\x00", "HW", "dispatcher")
    assert memory_center.head_position() == head


def test_progress_with_an_expected_version_is_checked_against_the_instruction(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    iid = memory_center.issue_instruction(
        Context(DISTRICT), lead_unit="HW-DH", title="Patrol", due_in=WorkingDuration(days=1)
    ).id
    memory_center.sign_for(Context(OFFICE), iid)
    version = memory_center.instruction(iid).version

    with pytest.raises(ConcurrencyConflict):
        memory_center.report_progress(
            Context(OFFICE, expected_version=version - 1), iid, "on the way"
        )
    outcome = memory_center.report_progress(
        Context(OFFICE, expected_version=version), iid, "on the way"
    )
    assert outcome.recorded

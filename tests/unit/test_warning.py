"""Early warnings driven directly, events in and events out: raised, acknowledged, assessed,
worked, resolved or cancelled, closed. Through the application: ``test_warning_commands.py``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.errors import (
    InvalidTransition,
    InvalidValue,
)
from domain.meta import now
from domain.warning import EarlyWarning, WarningStatus
from tests.unit.builders import (
    WATER,
    meta,
)


def raised(**changes: Any) -> EarlyWarning:
    fields: dict[str, Any] = {
        "source": "reservoir-telemetry",
        "rule": "RES-FLOOD-LIMIT",
        "theme": "reservoir",
        "level": 2,
        "title": "Qingshan reservoir above its flood-control limit",
        "description": "Level 31.2 m, limit 30.5 m",
        "location": "Qingshan reservoir",
        "unit": WATER,
        "observed_at": now() - timedelta(minutes=3),
        "dedup_key": "reservoir:qingshan",
        "attributes": {"level_m": 31.2},
        "meta": meta(WATER, "RaiseWarning"),
        **changes,
    }
    warning = EarlyWarning.raise_(**fields)
    warning.collect_events()
    return warning


def acknowledged() -> EarlyWarning:
    warning = raised()
    warning.acknowledge(meta())
    warning.collect_events()
    return warning


def confirmed() -> EarlyWarning:
    warning = acknowledged()
    warning.assess(True, None, meta())
    warning.collect_events()
    return warning


def in_status(status: WarningStatus) -> EarlyWarning:
    if status == WarningStatus.RAISED:
        return raised()
    if status == WarningStatus.ACKNOWLEDGED:
        return acknowledged()
    if status == WarningStatus.FALSE_ALARM:
        warning = acknowledged()
        warning.assess(False, "sensor fault", meta())
    else:
        warning = confirmed()
        if status == WarningStatus.RESOLVED:
            warning.resolve(None, meta())
        elif status == WarningStatus.CANCELLED:
            warning.cancel("withdrawn by the observatory", meta())
        elif status == WarningStatus.CLOSED:
            warning.close(None, meta())
        elif status == WarningStatus.MERGED:  # ADR 0082
            warning.merge_into(raised(), "one matter", False, meta(), meta())
    warning.collect_events()
    assert warning.status == status
    return warning


OPEN = [WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED, WarningStatus.CONFIRMED]
NOT_OPEN = [
    WarningStatus.FALSE_ALARM,
    WarningStatus.RESOLVED,
    WarningStatus.CANCELLED,
    WarningStatus.CLOSED,
]


# -- the aggregate on its own ---------------------------------------------------------


def test_raising_records_the_signal_and_opens_a_loop_of_its_own() -> None:
    the_meta = meta(WATER, "RaiseWarning")
    warning = EarlyWarning.raise_(
        source=" reservoir-telemetry ",
        rule="RES-FLOOD-LIMIT",
        theme="reservoir",
        level=2,
        title="Qingshan reservoir above its flood-control limit",
        description=None,
        location=None,
        unit=WATER,
        observed_at=now(),
        dedup_key="reservoir:qingshan",
        attributes=None,
        meta=the_meta,
    )
    [event] = warning.collect_events()
    assert isinstance(event, EarlyWarning.Raised)
    assert (event.source, event.level, event.dedup_key) == (
        "reservoir-telemetry",
        2,
        "reservoir:qingshan",
    )
    assert (event.description, event.location, event.attributes) == ("", "", {})
    assert warning.status == WarningStatus.RAISED
    assert warning.loop_id == the_meta.loop_id


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"theme": "astrology"}, "unknown theme"),
        ({"level": 0}, "level"),
        ({"level": 5}, "level"),
        ({"level": True}, "level"),
        ({"title": "  "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"source": ""}, "source"),
        ({"dedup_key": ""}, "deduplication key"),
        ({"observed_at": datetime(2026, 3, 1, 8, 0)}, "time-zone"),
    ],
)
def test_raising_with_a_bad_value_is_refused(changes: dict[str, Any], what: str) -> None:
    with pytest.raises(InvalidValue, match=what):
        raised(**changes)


@pytest.mark.parametrize("status", OPEN)
def test_a_repeat_is_counted_on_an_open_warning(status: WarningStatus) -> None:
    warning = in_status(status)
    latest = now()
    warning.repeat(latest, 3, meta())
    warning.repeat(latest - timedelta(hours=1), 3, meta())
    events = warning.collect_events()
    assert [type(e) for e in events] == [EarlyWarning.Repeated, EarlyWarning.Repeated]
    assert warning.repeats == 2
    assert warning.last_observed_at == latest  # a late-arriving reading does not go back
    assert warning.level == 2  # a repeat alone never changes the level


@pytest.mark.parametrize("status", NOT_OPEN)
def test_a_repeat_on_a_warning_no_longer_open_is_refused(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.repeat(now(), 2, meta())
    assert warning.collect_events() == []


def test_changing_the_level_records_the_previous_one_and_why() -> None:
    warning = confirmed()
    warning.change_level(1, "rain intensifying upstream", meta())
    [changed] = warning.collect_events()
    assert isinstance(changed, EarlyWarning.LevelChanged)
    assert (changed.level, changed.previous_level, changed.reason) == (
        1,
        2,
        "rain intensifying upstream",
    )


@pytest.mark.parametrize(
    ("level", "reason", "error"),
    [
        (2, "same again", InvalidTransition),
        (1, " ", InvalidValue),
        (9, "off the scale", InvalidValue),
    ],
)
def test_a_level_change_to_the_same_level_or_without_a_reason_is_refused(
    level: int, reason: str, error: type[Exception]
) -> None:
    warning = confirmed()
    with pytest.raises(error):
        warning.change_level(level, reason, meta())
    assert warning.collect_events() == []


@pytest.mark.parametrize("status", NOT_OPEN)
def test_the_level_of_a_warning_no_longer_open_cannot_change(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.change_level(1, "worse", meta())
    assert warning.collect_events() == []


def test_acknowledging_records_when() -> None:
    warning = raised()
    the_meta = meta()
    warning.acknowledge(the_meta)
    [event] = warning.collect_events()
    assert isinstance(event, EarlyWarning.Acknowledged)
    assert warning.acknowledged_at == the_meta.occurred_at


@pytest.mark.parametrize("status", [s for s in WarningStatus if s != WarningStatus.RAISED])
def test_only_a_raised_warning_can_be_acknowledged(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.acknowledge(meta())
    assert warning.collect_events() == []


def test_assessing_confirms_the_warning() -> None:
    warning = acknowledged()
    warning.assess(True, "gauge read on site", meta())
    [event] = warning.collect_events()
    assert isinstance(event, EarlyWarning.Assessed)
    assert event.confirmed
    assert warning.status == WarningStatus.CONFIRMED


def test_a_false_alarm_needs_a_reason() -> None:
    warning = acknowledged()
    with pytest.raises(InvalidValue):
        warning.assess(False, None, meta())
    assert warning.collect_events() == []
    warning.assess(False, "the gauge was being calibrated", meta())
    assert warning.status == WarningStatus.FALSE_ALARM


def test_assessing_before_acknowledging_is_refused() -> None:
    warning = raised()
    with pytest.raises(InvalidTransition, match="acknowledge"):
        warning.assess(True, None, meta())
    assert warning.collect_events() == []


@pytest.mark.parametrize(
    "status", [s for s in WarningStatus if s not in (WarningStatus.RAISED, "acknowledged")]
)
def test_a_warning_is_assessed_only_once(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.assess(True, None, meta())
    assert warning.collect_events() == []


@pytest.mark.parametrize("status", [*OPEN, WarningStatus.RESOLVED])
def test_an_instruction_can_be_linked_while_the_warning_is_live(status: WarningStatus) -> None:
    warning = in_status(status)
    iid = uuid4()
    warning.link_instruction(iid, meta())
    warning.link_instruction(iid, meta())  # linking the same one again changes nothing
    [linked] = warning.collect_events()
    assert isinstance(linked, EarlyWarning.InstructionLinked)
    assert warning.open_instructions == [iid]


@pytest.mark.parametrize(
    "status", [WarningStatus.FALSE_ALARM, WarningStatus.CANCELLED, WarningStatus.CLOSED]
)
def test_no_instruction_can_be_linked_to_a_dead_warning(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.link_instruction(uuid4(), meta())
    assert warning.collect_events() == []


def test_a_finished_instruction_is_counted_once() -> None:
    warning = confirmed()
    iid = uuid4()
    warning.link_instruction(iid, meta())
    warning.collect_events()
    warning.instruction_finished(iid, "closed", meta())
    warning.instruction_finished(iid, "closed", meta())
    warning.instruction_finished(uuid4(), "closed", meta())  # not linked here: ignored
    [finished] = warning.collect_events()
    assert isinstance(finished, EarlyWarning.InstructionFinished)
    assert warning.open_instructions == []
    assert warning.instructions == [iid]


@pytest.mark.parametrize("status", OPEN)
def test_an_open_warning_can_be_resolved(status: WarningStatus) -> None:
    warning = in_status(status)
    warning.resolve("water back below the limit", meta())
    [resolved] = warning.collect_events()
    assert isinstance(resolved, EarlyWarning.Resolved)
    assert warning.status == WarningStatus.RESOLVED


@pytest.mark.parametrize("status", NOT_OPEN)
def test_a_warning_no_longer_open_cannot_be_resolved(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.resolve(None, meta())
    assert warning.collect_events() == []


@pytest.mark.parametrize("status", [*OPEN, WarningStatus.RESOLVED])
def test_a_live_warning_can_be_cancelled_with_a_reason(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidValue):
        warning.cancel("", meta())
    warning.cancel("withdrawn by the observatory", meta())
    [cancelled] = warning.collect_events()
    assert isinstance(cancelled, EarlyWarning.Cancelled)
    assert warning.status == WarningStatus.CANCELLED


@pytest.mark.parametrize(
    "status", [WarningStatus.FALSE_ALARM, WarningStatus.CANCELLED, WarningStatus.CLOSED]
)
def test_a_dead_warning_cannot_be_cancelled(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.cancel("withdrawn", meta())
    assert warning.collect_events() == []


@pytest.mark.parametrize(
    "status",
    [
        WarningStatus.CONFIRMED,
        WarningStatus.FALSE_ALARM,
        WarningStatus.RESOLVED,
        WarningStatus.CANCELLED,
    ],
)
def test_an_assessed_warning_with_nothing_open_can_be_closed(status: WarningStatus) -> None:
    warning = in_status(status)
    the_meta = meta()
    warning.close("done", the_meta)
    [closed] = warning.collect_events()
    assert isinstance(closed, EarlyWarning.Closed)
    assert warning.status == WarningStatus.CLOSED
    assert warning.closed_at == the_meta.occurred_at


@pytest.mark.parametrize(
    "status", [WarningStatus.RAISED, WarningStatus.ACKNOWLEDGED, WarningStatus.CLOSED]
)
def test_an_unassessed_or_closed_warning_cannot_be_closed(status: WarningStatus) -> None:
    warning = in_status(status)
    with pytest.raises(InvalidTransition):
        warning.close(None, meta())
    assert warning.collect_events() == []


def test_a_warning_closes_only_after_its_linked_instructions() -> None:
    warning = confirmed()
    first, second = uuid4(), uuid4()
    warning.link_instruction(first, meta())
    warning.link_instruction(second, meta())
    warning.resolve(None, meta())
    warning.instruction_finished(first, "closed", meta())
    warning.collect_events()
    with pytest.raises(InvalidTransition, match="1 instruction"):
        warning.close(None, meta())
    assert warning.collect_events() == []
    warning.instruction_finished(second, "cancelled", meta())
    warning.close(None, meta())
    assert warning.status == WarningStatus.CLOSED

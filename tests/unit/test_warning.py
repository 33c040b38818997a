"""Early warnings: raised, acknowledged, assessed, worked, resolved or cancelled, closed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import CommandCenter
from domain.demo import load_demo
from domain.errors import (
    CommandIdReused,
    InvalidTransition,
    InvalidValue,
    NotFound,
    NotPermitted,
)
from domain.meta import now
from domain.warning import EarlyWarning, WarningStatus
from domain.warning_key import condition_key, warning_key_id
from tests.unit.builders import (
    DISTRICT,
    OFFICE,
    SCENIC,
    WATER,
    close_instruction,
    confirmed_warning,
    ctx,
    event_names,
    issue,
    last_event,
    meta,
    nothing_stored,
    raise_warning,
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


# -- deduplication, through the application --------------------------------------------


@pytest.fixture
def app(memory_center: CommandCenter) -> CommandCenter:
    load_demo(memory_center)
    return memory_center


def test_a_new_condition_raises_a_warning_and_claims_its_key(app: CommandCenter) -> None:
    outcome = app.raise_warning(
        ctx(WATER),
        source="reservoir-telemetry",
        rule="RES-FLOOD-LIMIT",
        theme="reservoir",
        level=2,
        title="Qingshan above limit",
        unit=WATER,
        dedup_key="reservoir:qingshan",
    )
    assert outcome.created
    assert event_names(app, outcome.id) == ["Raised"]
    claimed = last_event(
        app, warning_key_id(condition_key(WATER, "RES-FLOOD-LIMIT", "reservoir:qingshan"))
    )
    assert claimed.warning_id == outcome.id


def test_a_repeat_with_the_same_key_folds_into_the_open_warning(app: CommandCenter) -> None:
    first = raise_warning(app, dedup_key="reservoir:qingshan", level=3)
    outcome = app.raise_warning(
        ctx(WATER),
        source="reservoir-telemetry",
        rule="RES-FLOOD-LIMIT",
        theme="reservoir",
        level=3,
        title="Qingshan above limit",
        unit=WATER,
        dedup_key="reservoir:qingshan",
    )
    assert not outcome.created
    assert outcome.id == first
    assert event_names(app, first) == ["Raised", "Repeated"]
    assert app.warning(first).repeats == 1


def test_a_worse_repeat_escalates_the_open_warning(app: CommandCenter) -> None:
    first = raise_warning(app, dedup_key="reservoir:qingshan", level=3)
    raise_warning(app, dedup_key="reservoir:qingshan", level=1)
    assert event_names(app, first) == ["Raised", "Repeated", "LevelChanged"]
    assert app.warning(first).level == 1


def test_a_milder_repeat_leaves_the_level_as_it_is(app: CommandCenter) -> None:
    first = raise_warning(app, dedup_key="reservoir:qingshan", level=2)
    raise_warning(app, dedup_key="reservoir:qingshan", level=4)
    assert event_names(app, first) == ["Raised", "Repeated"]
    assert app.warning(first).level == 2


def test_without_a_key_the_source_rule_unit_and_location_name_the_condition(
    app: CommandCenter,
) -> None:
    def raise_at(location: str) -> UUID:
        return app.raise_warning(
            ctx(WATER),
            source="reservoir-telemetry",
            rule="RES-FLOOD-LIMIT",
            theme="reservoir",
            level=2,
            title="above limit",
            unit=WATER,
            location=location,
        ).id

    first = raise_at("Qingshan")
    assert raise_at("Qingshan") == first
    assert raise_at("Baisha") != first


@pytest.mark.parametrize("finish", ["resolve", "close-after-false-alarm", "cancel"])
def test_once_the_warning_is_no_longer_open_the_same_key_opens_a_new_one(
    app: CommandCenter, finish: str
) -> None:
    first = raise_warning(app, dedup_key="reservoir:qingshan")
    if finish == "resolve":
        app.resolve_warning(ctx(DISTRICT), first, "water receded")
    elif finish == "cancel":
        app.cancel_warning(ctx(DISTRICT), first, "withdrawn")
    else:
        app.acknowledge_warning(ctx(DISTRICT), first)
        app.assess_warning(ctx(DISTRICT), first, confirmed=False, note="sensor fault")
        app.close_warning(ctx(DISTRICT), first)
    second = raise_warning(app, dedup_key="reservoir:qingshan")
    assert second != first
    assert event_names(app, second) == ["Raised"]
    repointed = last_event(
        app, warning_key_id(condition_key(WATER, "RES-FLOOD-LIMIT", "reservoir:qingshan"))
    )
    assert (repointed.warning_id, repointed.previous_warning_id) == (second, first)
    # And the next repeat belongs to the new one.
    assert raise_warning(app, dedup_key="reservoir:qingshan") == second


#: A raise as the reservoir telemetry sends it.
QINGSHAN: dict[str, Any] = {
    "source": "reservoir-telemetry",
    "rule": "RES-FLOOD-LIMIT",
    "theme": "reservoir",
    "level": 2,
    "title": "Qingshan above limit",
    "unit": WATER,
    "dedup_key": "reservoir:qingshan",
}


def test_raising_the_same_warning_again_with_its_command_id_is_a_no_op(
    app: CommandCenter,
) -> None:
    command = ctx(WATER, command_id="telemetry-0001")
    first = app.raise_warning(command, **QINGSHAN)
    with nothing_stored(app):
        again = app.raise_warning(command, **QINGSHAN)
    assert (again.id, again.created, again.position) == (first.id, True, None)


def test_the_same_command_id_on_a_different_warning_is_refused_and_the_first_kept(
    app: CommandCenter,
) -> None:
    command = ctx(WATER, command_id="telemetry-0001")
    first = app.raise_warning(command, **QINGSHAN)
    other = {**QINGSHAN, "title": "Baisha above limit", "dedup_key": "reservoir:baisha"}
    with nothing_stored(app), pytest.raises(CommandIdReused, match="raise a warning"):
        app.raise_warning(command, **other)
    assert app.warning(first.id).title == "Qingshan above limit"


def test_a_command_id_reused_to_close_an_acknowledged_warning_is_refused(
    app: CommandCenter,
) -> None:
    wid = raise_warning(app)
    reused = ctx(DISTRICT, command_id="duty-desk-1")
    app.acknowledge_warning(reused, wid)
    with nothing_stored(app), pytest.raises(CommandIdReused, match="acknowledge warning"):
        app.cancel_warning(reused, wid, "false alarm")
    assert app.warning(wid).is_open


def test_a_repeat_given_again_with_its_command_id_is_counted_once(app: CommandCenter) -> None:
    first = raise_warning(app, dedup_key="reservoir:qingshan")
    command = ctx(WATER, command_id="telemetry-0002")
    app.raise_warning(command, **QINGSHAN)
    with nothing_stored(app):
        again = app.raise_warning(command, **QINGSHAN)
    assert (again.id, again.created, again.position) == (first, False, None)
    assert app.warning(first).repeats == 1


def test_a_repeat_given_again_after_a_new_warning_took_its_key_is_not_counted_again(
    app: CommandCenter,
) -> None:
    first = raise_warning(app, dedup_key="reservoir:qingshan")
    command = ctx(WATER, command_id="telemetry-0003")
    app.raise_warning(command, **QINGSHAN)  # folds into the first warning
    app.resolve_warning(ctx(DISTRICT), first, "receded")
    second = raise_warning(app, dedup_key="reservoir:qingshan")
    with nothing_stored(app):
        again = app.raise_warning(command, **QINGSHAN)  # the client's retry of the repeat
    assert again.position is None
    assert app.warning(second).repeats == 0


def test_a_warning_for_an_unknown_or_deactivated_unit_is_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        raise_warning(app, unit="NOWHERE")
    app.deactivate_unit(ctx(DISTRICT), SCENIC, "concession ended")
    with nothing_stored(app), pytest.raises(InvalidValue, match="deactivated"):
        raise_warning(app, unit=SCENIC)


def test_commands_on_an_unknown_warning_are_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        app.acknowledge_warning(ctx(DISTRICT), uuid4())


def test_each_warning_command_through_the_application_records_its_event(
    app: CommandCenter,
) -> None:
    wid = raise_warning(app)
    app.acknowledge_warning(ctx(DISTRICT), wid)
    app.assess_warning(ctx(DISTRICT), wid, confirmed=True, note="seen on site")
    app.change_warning_level(ctx(DISTRICT), wid, 1, "rain upstream")
    app.resolve_warning(ctx(DISTRICT), wid, "receded")
    app.close_warning(ctx(DISTRICT), wid, "closed")
    assert event_names(app, wid) == [
        "Raised",
        "Acknowledged",
        "Assessed",
        "LevelChanged",
        "Resolved",
        "Closed",
    ]


def test_a_refused_warning_command_stores_nothing(app: CommandCenter) -> None:
    wid = raise_warning(app)
    version = app.warning(wid).version
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.close_warning(ctx(DISTRICT), wid)
    assert app.warning(wid).version == version


# -- a warning and its instructions ------------------------------------------------------


def test_a_warning_closes_only_once_every_linked_instruction_is_finished(
    app: CommandCenter,
) -> None:
    wid = confirmed_warning(app)
    closing = issue(app, DISTRICT, OFFICE, warning_ids=[wid])
    cancelling = issue(app, DISTRICT, WATER, warning_ids=[wid])
    app.resolve_warning(ctx(DISTRICT), wid)
    with nothing_stored(app), pytest.raises(InvalidTransition, match="2 instruction"):
        app.close_warning(ctx(DISTRICT), wid)
    close_instruction(app, closing)
    app.cancel_instruction(ctx(DISTRICT), cancelling, "the water went down")
    assert app.warning(wid).open_instructions == []
    app.close_warning(ctx(DISTRICT), wid)
    assert app.warning(wid).status == WarningStatus.CLOSED
    finished = [e for e in app.history(wid) if type(e).__name__ == "InstructionFinished"]
    assert {(e.instruction_id, e.outcome) for e in finished} == {
        (closing, "closed"),
        (cancelling, "cancelled"),
    }


def test_an_instruction_already_issued_can_be_linked_by_its_issuer(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    iid = issue(app, DISTRICT, OFFICE)
    app.link_instruction(ctx(DISTRICT), wid, iid)
    assert app.warning(wid).open_instructions == [iid]
    assert app.instruction(iid).warning_ids == [wid]
    assert event_names(app, wid)[-1] == "InstructionLinked"
    assert event_names(app, iid)[-1] == "LinkedToWarning"


def test_only_the_issuer_may_link_its_instruction_to_a_warning(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    iid = issue(app, DISTRICT, OFFICE)
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.link_instruction(ctx(OFFICE), wid, iid)


def test_a_finished_instruction_cannot_be_linked_to_a_warning(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    iid = issue(app, DISTRICT, OFFICE)
    app.cancel_instruction(ctx(DISTRICT), iid, "not needed")
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.link_instruction(ctx(DISTRICT), wid, iid)


def test_no_instruction_is_issued_for_a_false_alarm(app: CommandCenter) -> None:
    wid = raise_warning(app)
    app.acknowledge_warning(ctx(DISTRICT), wid)
    app.assess_warning(ctx(DISTRICT), wid, confirmed=False, note="sensor fault")
    with nothing_stored(app), pytest.raises(InvalidTransition):
        issue(app, DISTRICT, OFFICE, warning_ids=[wid])


def test_an_instruction_for_an_unknown_warning_is_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        issue(app, DISTRICT, OFFICE, warning_ids=[uuid4()])

"""Early warnings through the application on the in-memory store: deduplicated by their
condition's key, and closed only after their instructions."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import CommandCenter
from domain.errors import (
    CommandIdReused,
    InvalidTransition,
    InvalidValue,
    NotFound,
    NotPermitted,
)
from domain.warning import WarningStatus
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
    nothing_stored,
    raise_warning,
)

# -- deduplication, through the application --------------------------------------------


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

"""The desk offers a step on a warning exactly when the warning would take it: random
histories of the aggregate, each state asked of both (ADR 0055)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from api.screens.warning_desk import STEP_ORDER
from api.screens.warning_steps import DESK_STEPS, INSTRUCT, steps_in_state
from domain.errors import DomainError, InvalidTransition
from domain.meta import now
from domain.warning import EarlyWarning
from tests.unit.builders import WATER, meta


def raised(level: int) -> EarlyWarning:
    warning = EarlyWarning.raise_(
        source="reservoir-telemetry",
        rule="RES-FLOOD-LIMIT",
        theme="reservoir",
        level=level,
        title="Qingshan reservoir above its flood-control limit",
        description=None,
        location="Qingshan reservoir",
        unit=WATER,
        observed_at=now() - timedelta(minutes=3),
        dedup_key="reservoir:qingshan",
        attributes=None,
        meta=meta(WATER, "RaiseWarning"),
    )
    warning.collect_events()
    return warning


def _other_level(w: EarlyWarning) -> int:
    return 1 if w.level != 1 else 2


#: Each step of the desk as the aggregate's command, with values the domain takes.
STEP_COMMANDS: dict[str, Callable[[EarlyWarning], None]] = {
    "acknowledge": lambda w: w.acknowledge(meta()),
    "assess": lambda w: w.assess(True, None, meta()),
    "level": lambda w: w.change_level(_other_level(w), "worse", meta()),
    "resolve": lambda w: w.resolve(None, meta()),
    "cancel": lambda w: w.cancel("withdrawn by the source", meta()),
    "close": lambda w: w.close(None, meta()),
    INSTRUCT: lambda w: w.link_instruction(uuid4(), meta()),
}

#: What may happen to a warning, its desk's steps and the rest of its life.
HAPPENINGS: dict[str, Callable[[EarlyWarning], None]] = {
    **STEP_COMMANDS,
    "false_alarm": lambda w: w.assess(False, "a gull on the sensor", meta()),
    "finish": lambda w: (
        w.instruction_finished(w.open_instructions[0], "closed", meta())
        if w.open_instructions
        else None
    ),
}


def accepts(warning: EarlyWarning, step: str) -> bool:
    trial = copy.deepcopy(warning)
    try:
        STEP_COMMANDS[step](trial)
    except InvalidTransition:
        return False
    return True


def test_every_step_of_the_desk_is_asked_of_the_aggregate_and_shown() -> None:
    assert set(STEP_COMMANDS) == {*DESK_STEPS, INSTRUCT}
    assert sorted(STEP_ORDER) == sorted(STEP_COMMANDS)


@settings(max_examples=300, deadline=None)
@given(
    level=st.integers(1, 4),
    history=st.lists(st.sampled_from(sorted(HAPPENINGS)), max_size=10),
)
def test_a_step_is_offered_exactly_when_the_warning_takes_it(
    level: int, history: list[str]
) -> None:
    warning = raised(level)
    for happening in history:
        with contextlib.suppress(DomainError):  # refused: the warning is as it was
            HAPPENINGS[happening](warning)
        warning.collect_events()
        offered = steps_in_state(warning.status, len(warning.open_instructions))
        for step in STEP_COMMANDS:
            assert (step in offered) == accepts(warning, step), (step, warning.status)

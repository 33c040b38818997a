"""Commands racing on one record, on each real store: no update is ever lost (ADR 0007).

Threads start together at a barrier and give their commands at once, either through one
``CommandCenter`` (threads of one server process) or through two applications on the
same database (two server processes). A command that loses the race is decided again on
the new state: it goes through if it is still valid, otherwise its domain error is
reported; it is never silently dropped or written over another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier
from typing import Any, TypeVar
from uuid import UUID

import pytest

from domain.application import CommandCenter, Outcome
from domain.demo import load_demo
from domain.disposition import disposition_id
from domain.errors import ConcurrencyConflict, DomainError, InvalidTransition
from domain.instruction import AssigneeStatus, InstructionStatus
from domain.meta import Actor, Context, now
from domain.warning_key import WarningKey, condition_key, warning_key_id
from tests.conftest import make_center

T = TypeVar("T")

DISPATCHER = Actor(person="li.wei", unit="HW", role="dispatcher")
DEPUTY = Actor(person="chen.jie", unit="HW", role="dispatcher")
LEAD = "HW-DH"
COOPERATING = ["HW-URBAN", "HW-PSB", "HW-WATER"]


def race(apps: list[CommandCenter], calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run every call in its own thread and make them collide.

    Each thread's first save waits until every thread has reached its own first save,
    so all of them decide on the same state and all but one lose the write: the retry
    path is exercised on every run, not only when the scheduler happens to interleave.
    """
    start = Barrier(len(calls))
    collide = Barrier(len(calls))
    local = threading.local()
    originals = [app.save for app in apps]

    def holding(save: Callable[..., Any]) -> Callable[..., Any]:
        def save_after_everyone_decided(*aggregates: Any, **kwargs: Any) -> Any:
            if not getattr(local, "collided", False):
                local.collided = True
                collide.wait(timeout=10)
            return save(*aggregates, **kwargs)

        return save_after_everyone_decided

    def run(call: Callable[[], T]) -> T | Exception:
        start.wait(timeout=10)
        try:
            return call()
        except Exception as e:  # the caller inspects every failure
            return e

    for app, save in zip(apps, originals, strict=True):
        app.save = holding(save)  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, calls))
    finally:
        for app in apps:
            del app.save


@pytest.fixture(params=["one process", "two processes"])
def apps(
    request: pytest.FixtureRequest, center: CommandCenter, database_url: str
) -> Iterator[list[CommandCenter]]:
    """The applications the racing threads use in turn: one shared, or two on one store."""
    load_demo(center)
    if request.param == "one process":
        yield [center]
        return
    other = make_center(database_url)
    try:
        yield [center, other]
    finally:
        other.close()


def issue(center: CommandCenter, cooperating: list[str] | None = None) -> UUID:
    return center.issue_instruction(
        Context(DISPATCHER),
        lead_unit=LEAD,
        cooperating_units=cooperating,
        title="东湖路段防汛巡查",
        deadline=now() + timedelta(days=2),
    ).id


def submitted_instruction(center: CommandCenter) -> UUID:
    iid = issue(center)
    handler = Context(Actor(person="zhang.min", unit=LEAD, role="handler"))
    center.sign_for(handler, iid)
    center.submit(Context(handler.actor), iid, "road checked, two drains cleared")
    return iid


def event_names(center: CommandCenter, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in center.history(aggregate_id)]


def test_the_lead_and_three_cooperating_units_signing_at_once_are_all_recorded(
    apps: list[CommandCenter],
) -> None:
    center = apps[0]
    iid = issue(center, COOPERATING)
    units = [LEAD, *COOPERATING]

    def sign(n: int, unit: str) -> Callable[[], Outcome]:
        actor = Actor(person=f"handler-{unit.lower()}", unit=unit, role="handler")
        return lambda: apps[n % len(apps)].sign_for(Context(actor), iid)

    results = race(apps, [sign(n, unit) for n, unit in enumerate(units)])

    assert [r for r in results if isinstance(r, Exception)] == []
    assert all(isinstance(r, Outcome) and r.recorded for r in results)
    for app in apps:
        instruction = app.instruction(iid)
        assert instruction.assignees == dict.fromkeys(units, AssigneeStatus.SIGNED)
        assert instruction.status == InstructionStatus.IN_PROGRESS
        assert instruction.version == 1 + len(units)
        assert event_names(app, iid).count("SignedFor") == len(units)
        assert instruction.dispositions == {u: disposition_id(iid, u) for u in units}
        for unit in units:
            assert app.disposition(disposition_id(iid, unit)).unit == unit


def test_of_two_verifications_racing_exactly_one_is_recorded_and_the_other_refused(
    apps: list[CommandCenter],
) -> None:
    center = apps[0]
    for _ in range(3):  # a few rounds, so both orders of winning get a chance
        iid = submitted_instruction(center)

        def accept(iid: UUID = iid) -> Outcome:
            return center.verify(Context(DISPATCHER), iid, accepted=True)

        def reject(iid: UUID = iid) -> Outcome:
            return apps[-1].verify(Context(DEPUTY), iid, accepted=False, note="photos missing")

        results = race(apps, [accept, reject])

        outcomes = [r for r in results if isinstance(r, Outcome)]
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(outcomes) == 1, results
        assert len(errors) == 1, results
        assert isinstance(errors[0], InvalidTransition), repr(errors[0])
        instruction = center.instruction(iid)
        assert event_names(center, iid).count("Verified") == 1
        accepted = results[0] is outcomes[0]
        expected = InstructionStatus.CLOSED if accepted else InstructionStatus.REWORK
        assert instruction.status == expected
        verifications = center.disposition(instruction.dispositions[LEAD]).verifications
        assert [v["accepted"] for v in verifications] == [accepted]


def test_a_command_against_a_version_that_moved_on_is_refused_as_a_conflict(
    apps: list[CommandCenter],
) -> None:
    center = apps[0]
    iid = issue(center)
    seen = center.instruction(iid).version
    apps[-1].remind(Context(DEPUTY), iid, "due tomorrow")
    head = center.head_position()

    with pytest.raises(ConcurrencyConflict):
        center.remind(Context(DISPATCHER, expected_version=seen), iid, "please hurry")

    assert center.head_position() == head
    assert center.instruction(iid).reminders == 1
    current = center.instruction(iid).version
    assert center.remind(Context(DISPATCHER, expected_version=current), iid).recorded


def test_of_commands_racing_on_the_same_expected_version_only_one_is_recorded(
    apps: list[CommandCenter],
) -> None:
    center = apps[0]
    iid = issue(center)
    seen = center.instruction(iid).version

    def remind(n: int) -> Callable[[], Outcome]:
        app = apps[n % len(apps)]
        return lambda: app.remind(Context(DISPATCHER, expected_version=seen), iid, f"nudge {n}")

    results = race(apps, [remind(n) for n in range(4)])

    assert sum(isinstance(r, Outcome) for r in results) == 1, results
    assert all(isinstance(r, ConcurrencyConflict) for r in results if not isinstance(r, Outcome))
    assert center.instruction(iid).reminders == 1
    assert center.instruction(iid).version == seen + 1


def test_eight_monitors_raising_the_same_condition_at_once_open_one_warning_with_seven_repeats(
    apps: list[CommandCenter],
) -> None:
    monitor = Actor(person="reservoir-gauge", unit="HW-WATER", role="monitor")

    def raise_(n: int) -> Callable[[], Outcome]:
        app = apps[n % len(apps)]
        return lambda: app.raise_warning(
            Context(monitor, command_id=f"gauge-reading-{n}"),
            source="reservoir-gauge",
            rule="level-over-flood-limit",
            theme="reservoir",
            level=3,
            title="青山水库水位超汛限",
            unit="E-QSRES",
            dedup_key="qingshan-reservoir|flood-limit",
        )

    results = race(apps, [raise_(n) for n in range(8)])

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    outcomes = [r for r in results if isinstance(r, Outcome)]
    assert sum(o.created for o in outcomes) == 1
    assert len({o.id for o in outcomes}) == 1
    (wid,) = {o.id for o in outcomes}
    for app in apps:
        warning = app.warning(wid)
        assert warning.repeats == 7
        assert event_names(app, wid).count("Repeated") == 7
        pointer: WarningKey = app.repository.get(
            warning_key_id(
                condition_key("E-QSRES", "level-over-flood-limit", "qingshan-reservoir|flood-limit")
            )
        )
        assert pointer.warning_id == wid
        assert pointer.version == 1


def test_a_refused_racer_gets_a_domain_error_never_a_storage_error(
    apps: list[CommandCenter],
) -> None:
    center = apps[0]
    iid = issue(center)
    handler = Actor(person="zhang.min", unit=LEAD, role="handler")

    # The same unit signing from two screens at once: one signature, one refusal.
    def sign(app: CommandCenter) -> Callable[[], Outcome]:
        return lambda: app.sign_for(Context(handler), iid)

    results = race(apps, [sign(apps[0]), sign(apps[-1])])

    assert sum(isinstance(r, Outcome) for r in results) == 1, results
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1
    assert isinstance(refused[0], DomainError), repr(refused[0])
    assert event_names(center, iid).count("SignedFor") == 1


@pytest.mark.parametrize("if_match", [False, True], ids=["plain", "with If-Match"])
def test_an_instruction_issued_again_by_a_process_that_never_saw_it_is_issued_once(
    center: CommandCenter, database_url: str, if_match: bool
) -> None:
    # The second server's cache is cold: it assumes the command's id is free, the save
    # fails on it, and the answer must still be the first issue's, with nothing added.
    load_demo(center)
    other = make_center(database_url)
    try:

        def ctx() -> Context:
            return Context(
                DISPATCHER, command_id="HW:flood-patrol-1", expected_version=1 if if_match else None
            )

        def issue_once(app: CommandCenter) -> Outcome:
            return app.issue_instruction(
                ctx(), lead_unit=LEAD, title="东湖路段防汛巡查", deadline=now() + timedelta(days=2)
            )

        first = issue_once(center)
        head = center.head_position()
        again = issue_once(other)

        assert (again.id, again.created, again.version) == (first.id, True, 1)
        assert not again.recorded
        assert center.head_position() == head
        assert event_names(other, first.id) == ["Issued"]
    finally:
        other.close()


def test_a_forward_against_a_parent_version_that_moved_on_is_refused_and_stores_nothing(
    center: CommandCenter,
) -> None:
    load_demo(center)
    iid = issue(center)
    handler = Actor(person="zhang.min", unit=LEAD, role="handler")
    center.sign_for(Context(handler), iid)
    seen = center.instruction(iid).version
    center.remind(Context(DISPATCHER), iid, "the rain is coming back tonight")
    assert center.instruction(iid).version > seen
    head = center.head_position()

    with pytest.raises(ConcurrencyConflict):
        center.forward(
            Context(handler, expected_version=seen),
            iid,
            to_unit="HW-DH-QS",
            deadline=now() + timedelta(days=1),
        )

    assert center.head_position() == head

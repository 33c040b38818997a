"""Instructions through the application on the in-memory store: the metadata every stored
event carries, the business time, command ids retried or reused, stale versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CommandCenter
from domain.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    InvalidTransition,
    InvalidValue,
    NotFound,
)
from domain.meta import Context, Meta, now
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    SHANGHAI,
    TWO_DAYS,
    closed,
    confirmed_warning,
    ctx,
    issue,
    last_event,
    later,
    nothing_stored,
    signed,
)

# -- metadata, business time, idempotency, concurrency ----------------------------------


def test_every_stored_event_says_who_did_what_when_and_in_which_loop(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    iid = closed(app, DISTRICT, OFFICE, warning_ids=[wid])
    app.close_warning(ctx(DISTRICT), wid)
    seen: set[str] = set()
    for notification in app.iter_log():
        event = app.mapper.to_domain_event(notification)
        m = event.meta
        assert isinstance(m, Meta)
        assert all(
            isinstance(value, str) and value
            for value in (m.person, m.unit, m.role, m.command, m.command_id)
        )
        assert m.occurred_at.tzinfo is not None
        assert isinstance(m.loop_id, UUID)
        seen.add(m.command)
    assert {"RaiseWarning", "IssueInstruction", "SignFor", "Submit", "Verify"} <= seen
    issued_event = app.history(iid)[0]
    assert (issued_event.meta.person, issued_event.meta.unit) == ("duty-hw", DISTRICT)
    assert issued_event.meta.cause == str(wid)


def test_the_business_time_is_kept_apart_from_the_recorded_time(app: CommandCenter) -> None:
    happened = (now() - timedelta(hours=5)).replace(microsecond=0)
    # Issued before it was signed for: a step cannot say it happened before its record.
    iid = app.issue_instruction(
        ctx(DISTRICT, occurred_at=happened - timedelta(hours=1)),
        lead_unit=OFFICE,
        title="Inspect the dam",
        due_in=TWO_DAYS,
    ).id
    app.sign_for(ctx(OFFICE, occurred_at=happened.astimezone(SHANGHAI)), iid)
    signed_event = last_event(app, iid)
    assert signed_event.meta.occurred_at == happened
    assert signed_event.timestamp > happened + timedelta(hours=4)
    assert app.instruction(iid).signed_at == happened


RETRIED: dict[str, Callable[[CommandCenter, Context, UUID], Any]] = {
    "sign for": lambda app, c, iid: app.sign_for(c, iid),
    "report progress": lambda app, c, iid: app.report_progress(c, iid, "on site"),
    "submit": lambda app, c, iid: app.submit(c, iid, "done"),
    "request an extension": lambda app, c, iid: app.request_extension(
        c, iid, deadline=later(days=30), reason="flooded"
    ),
}


@pytest.mark.parametrize("command", RETRIED.values(), ids=RETRIED.keys())
def test_a_command_retried_with_the_same_command_id_is_a_no_op(
    app: CommandCenter, command: Callable[[CommandCenter, Context, UUID], Any]
) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    if command is not RETRIED["sign for"]:
        app.sign_for(ctx(OFFICE), iid)
    retry = ctx(OFFICE, command_id="client-7f3a")
    first = command(app, retry, iid)
    assert first.recorded
    with nothing_stored(app):
        again = command(app, retry, iid)
    assert again.position is None
    assert (again.id, again.version) == (first.id, first.version)


def test_issuing_again_with_the_same_command_id_is_a_no_op(app: CommandCenter) -> None:
    retry = ctx(DISTRICT, command_id="dispatch-0042")
    first = app.issue_instruction(retry, lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS)
    with nothing_stored(app):
        again = app.issue_instruction(retry, lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS)
    assert (again.id, again.position, again.created) == (first.id, None, True)


def test_the_same_command_id_on_a_different_instruction_is_refused_and_the_first_kept(
    app: CommandCenter,
) -> None:
    reused = ctx(DISTRICT, command_id="dispatch-0042")
    first = app.issue_instruction(reused, lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS)
    with nothing_stored(app), pytest.raises(CommandIdReused, match="issue an instruction"):
        app.issue_instruction(reused, lead_unit=OFFICE, title="Evacuate", due_in=TWO_DAYS)
    assert app.instruction(first.id).title == "Inspect"


def test_another_unit_reusing_a_command_id_is_refused_not_shown_the_first_units_instruction(
    app: CommandCenter,
) -> None:
    app.issue_instruction(
        ctx(DISTRICT, command_id="order-1"), lead_unit=OFFICE, title="Inspect", due_in=TWO_DAYS
    )
    with nothing_stored(app), pytest.raises(CommandIdReused) as refused:
        app.issue_instruction(
            ctx(OFFICE, command_id="order-1"), lead_unit=COMMUNITY, title="Inspect", due_in=TWO_DAYS
        )
    assert "Inspect" not in str(refused.value)  # nothing of the district's record


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.text(min_size=1, max_size=40).filter(str.strip),
    second=st.text(min_size=1, max_size=40).filter(str.strip),
)
def test_an_issue_given_again_under_its_command_id_is_answered_as_the_first_or_refused(
    app: CommandCenter, first: str, second: str
) -> None:
    """Never a different instruction answered as if it were the one asked for: the same
    title (as stored, trimmed) is the first issue again; any other is refused."""
    reused = ctx(DISTRICT, command_id=f"c-{uuid4().hex}")
    try:
        original = app.issue_instruction(reused, lead_unit=OFFICE, title=first, due_in=TWO_DAYS)
    except InvalidValue:  # a title the domain refuses (control characters): no first issue
        return
    with nothing_stored(app):
        try:
            again = app.issue_instruction(reused, lead_unit=OFFICE, title=second, due_in=TWO_DAYS)
        except CommandIdReused:
            assert first.strip() != second.strip()
        else:
            assert first.strip() == second.strip()
            assert (again.id, again.created) == (original.id, True)


def test_a_command_id_reused_for_another_step_is_refused_and_the_step_not_taken_for_done(
    app: CommandCenter,
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    reused = ctx(DISTRICT, command_id="desk-17")
    app.remind(reused, iid, "report by noon")
    with nothing_stored(app), pytest.raises(CommandIdReused, match="remind, not supervise"):
        app.supervise(reused, iid, "two days late")
    assert app.instruction(iid).supervised_by is None


def test_a_command_id_of_a_step_that_touched_another_record_is_refused_there(
    app: CommandCenter,
) -> None:
    """Verifying a forwarded part tells its parent; the same id given again for a step on
    the parent is a reuse, not a retry of what the parent already recorded under it."""
    parent = issue(app, DISTRICT, OFFICE)
    app.sign_for(ctx(OFFICE), parent)
    child = app.forward(ctx(OFFICE), parent, to_unit=COMMUNITY).id
    app.sign_for(ctx(COMMUNITY), child)
    app.submit(ctx(COMMUNITY), child, "done")
    shared = ctx(OFFICE, command_id="office-desk-3")
    app.verify(shared, child, accepted=True)
    with nothing_stored(app), pytest.raises(CommandIdReused):
        app.remind(shared, parent)


#: Steps a district may take on the instruction it issued, any order (some refused).
DISTRICT_STEPS: dict[str, Callable[[CommandCenter, Context, UUID], Any]] = {
    "Remind": lambda app, c, iid: app.remind(c, iid, "report by noon"),
    "Supervise": lambda app, c, iid: app.supervise(c, iid, "late"),
    "Park": lambda app, c, iid: app.park(c, iid, "after the flood season"),
    "Resume": lambda app, c, iid: app.resume(c, iid, "season over"),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(DISTRICT_STEPS)), st.sampled_from(["a", "b", "c"])),
        min_size=1,
        max_size=8,
    )
)
def test_a_command_id_is_recorded_once_answered_again_only_for_its_own_step_else_refused(
    app: CommandCenter, steps: list[tuple[str, str]]
) -> None:
    """Whatever steps come under whatever ids, a step is recorded, refused, or, only when
    it is the very step its id first came with, answered as that step again: never
    silently dropped."""
    iid = signed(app, DISTRICT, OFFICE)
    prefix = uuid4().hex  # a fresh namespace of ids for each example
    first_step: dict[str, str] = {}
    for step, cid in steps:
        head = app.head_position()
        try:
            outcome = DISTRICT_STEPS[step](app, ctx(DISTRICT, command_id=f"{prefix}:{cid}"), iid)
        except CommandIdReused:
            assert first_step.get(cid) not in (None, step)
            assert app.head_position() == head
            continue
        except (InvalidTransition, InvalidValue):  # not valid now (say, resuming a live case)
            assert cid not in first_step
            assert app.head_position() == head
            continue
        if outcome.position is None:
            assert first_step.get(cid) == step  # the same step again: a retry
        else:
            assert cid not in first_step  # recorded: the id was new to this instruction
            first_step[cid] = step


def test_the_same_command_id_on_another_instruction_is_a_new_command(app: CommandCenter) -> None:
    first, second = issue(app, DISTRICT, OFFICE), issue(app, DISTRICT, OFFICE)
    shared = ctx(DISTRICT, command_id="remind-all")
    assert app.remind(shared, first).recorded
    assert app.remind(shared, second).recorded


def test_a_progress_report_retried_after_the_instruction_closed_is_still_a_no_op(
    app: CommandCenter,
) -> None:
    iid = signed(app, DISTRICT, OFFICE)
    retry = ctx(OFFICE, command_id="progress-0001")
    app.report_progress(retry, iid, "on site")
    app.submit(ctx(OFFICE), iid, "done")
    app.verify(ctx(DISTRICT), iid, accepted=True)
    assert app.report_progress(retry, iid, "on site").position is None


def test_a_command_expecting_an_older_version_is_refused(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    seen = app.instruction(iid).version
    app.remind(ctx(DISTRICT), iid)
    with nothing_stored(app), pytest.raises(ConcurrencyConflict):
        app.sign_for(ctx(OFFICE, expected_version=seen), iid)
    assert app.sign_for(ctx(OFFICE, expected_version=seen + 1), iid).recorded


def test_commands_on_an_unknown_instruction_are_refused(app: CommandCenter) -> None:
    with nothing_stored(app), pytest.raises(NotFound):
        app.sign_for(ctx(OFFICE), uuid4())


def test_an_instruction_id_is_not_mistaken_for_another_aggregate(app: CommandCenter) -> None:
    wid = confirmed_warning(app)
    with nothing_stored(app), pytest.raises(NotFound):
        app.sign_for(ctx(OFFICE), wid)


def test_a_refused_command_leaves_the_instruction_at_its_version(app: CommandCenter) -> None:
    iid = issue(app, DISTRICT, OFFICE)
    version = app.instruction(iid).version
    with nothing_stored(app), pytest.raises(InvalidTransition):
        app.verify(ctx(DISTRICT), iid, accepted=True)
    assert app.instruction(iid).version == version
    assert len(app.history(iid)) == version

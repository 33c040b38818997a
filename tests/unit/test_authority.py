"""Who may act on what, and when a step may say it happened (issue 19), in the domain:
each refusal a named error, with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import BusinessTimeRefused, NotPermitted
from domain.meta import CLOCK_SKEW, Actor, Context
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    OTHER_OFFICE,
    TWO_DAYS,
    ctx,
    frozen_clock_center,
    nothing_stored,
)

ISSUED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing


def admin_of(unit: str) -> Context:
    return Context(Actor(person=f"admin-{unit.lower()}", unit=unit, role="admin"))


# -- moving units ------------------------------------------------------------------------


def test_an_admin_moves_a_unit_only_between_places_under_it(app: CommandCenter) -> None:
    for admin in (OFFICE, OTHER_OFFICE):
        with nothing_stored(app), pytest.raises(NotPermitted, match="between places under it"):
            app.move_unit(admin_of(admin), COMMUNITY, OTHER_OFFICE)
    assert app.unit(COMMUNITY).parent == OFFICE

    app.move_unit(admin_of(DISTRICT), COMMUNITY, OTHER_OFFICE)

    assert app.unit(COMMUNITY).parent == OTHER_OFFICE


# -- business times ------------------------------------------------------------------------


@pytest.fixture
def frozen(calendar: WorkingCalendar) -> CommandCenter:
    with freeze_time(ISSUED):
        app = frozen_clock_center(calendar)
        load_demo(app)
    return app


def _issue(app: CommandCenter) -> UUID:
    return app.issue_instruction(
        ctx(DISTRICT), lead_unit=OFFICE, title="Inspect the dam", due_in=TWO_DAYS
    ).id


def test_no_step_may_say_it_happened_before_the_instruction_was_issued(
    frozen: CommandCenter,
) -> None:
    with freeze_time(ISSUED):
        iid = _issue(frozen)
    with freeze_time(ISSUED + timedelta(hours=1)):
        for when in (datetime(2020, 1, 1, tzinfo=UTC), ISSUED - timedelta(seconds=1)):
            with nothing_stored(frozen), pytest.raises(BusinessTimeRefused, match="occurred_at"):
                frozen.sign_for(ctx(OFFICE, occurred_at=when), iid)

        frozen.sign_for(ctx(OFFICE, occurred_at=ISSUED), iid)


def test_no_step_may_say_it_happened_before_the_step_it_follows(frozen: CommandCenter) -> None:
    with freeze_time(ISSUED):
        iid = _issue(frozen)
    signed = ISSUED + timedelta(minutes=30)
    with freeze_time(ISSUED + timedelta(hours=2)):
        frozen.sign_for(ctx(OFFICE, occurred_at=signed), iid)
        early = signed - timedelta(minutes=1)
        with nothing_stored(frozen), pytest.raises(BusinessTimeRefused, match="step before it"):
            frozen.submit(ctx(OFFICE, occurred_at=early), iid, "done")
        frozen.submit(ctx(OFFICE, occurred_at=signed), iid, "done")
        with nothing_stored(frozen), pytest.raises(BusinessTimeRefused):
            frozen.verify(ctx(DISTRICT, occurred_at=early), iid, accepted=True)


def test_a_business_time_may_run_ahead_of_the_clock_by_the_skew_only() -> None:
    with freeze_time(ISSUED):
        Context(Actor("p", DISTRICT, "handler"), occurred_at=ISSUED + CLOCK_SKEW)
        with pytest.raises(BusinessTimeRefused, match="future") as refused:
            Context(Actor("p", DISTRICT, "handler"), occurred_at=ISSUED + CLOCK_SKEW * 2)
    assert refused.value.field == "occurred_at"


def test_a_forward_or_an_answer_to_a_warning_is_not_dated_before_its_record(
    frozen: CommandCenter,
) -> None:
    with freeze_time(ISSUED):
        iid = _issue(frozen)
        wid = frozen.raise_warning(
            ctx(DISTRICT),
            source="test",
            rule="manual",
            theme="other",
            level=2,
            title="Dam seeping",
            unit=OFFICE,
        ).id
    early = ISSUED - timedelta(hours=1)
    with freeze_time(ISSUED + timedelta(hours=1)):
        frozen.sign_for(ctx(OFFICE), iid)
        with nothing_stored(frozen), pytest.raises(BusinessTimeRefused):
            frozen.forward(ctx(OFFICE, occurred_at=early), iid, to_unit=COMMUNITY)
        with nothing_stored(frozen), pytest.raises(BusinessTimeRefused):
            frozen.issue_instruction(
                ctx(DISTRICT, occurred_at=early),
                lead_unit=OFFICE,
                title="Check the seepage",
                due_in=TWO_DAYS,
                warning_ids=[wid],
            )

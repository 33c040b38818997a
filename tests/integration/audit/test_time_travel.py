"""What a loop looked like at any past moment, rebuilt from its events (freezegun)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from api.history import state_of
from closedloop.settings import Settings
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from tests.unit.builders import (
    COMMUNITY,
    DISTRICT,
    OFFICE,
    ONE_DAY,
    FrozenClockCenter,
    close_instruction,
    confirmed_warning,
    ctx,
    issue,
)

START = datetime(2026, 3, 13, 1, 0, tzinfo=UTC)  # Friday 09:00 in Beijing


@pytest.fixture
def frozen_center(database_url: str, calendar: WorkingCalendar) -> Iterator[FrozenClockCenter]:
    app = FrozenClockCenter(env=Settings(database_url=database_url).store_env(), calendar=calendar)
    try:
        yield app
    finally:
        app.close()


def test_every_step_of_a_loop_can_be_seen_as_it_was_before_and_after(
    frozen_center: FrozenClockCenter,
) -> None:
    app = frozen_center
    with freeze_time(START) as clock:
        load_demo(app)
        wid = confirmed_warning(app, unit=OFFICE)
        iid = issue(app, DISTRICT, OFFICE, warning_ids=[wid])
        child: list[Any] = []

        def forward() -> Any:
            return app.forward(ctx(OFFICE), iid, to_unit=COMMUNITY, due_in=ONE_DAY).id

        steps: list[tuple[str, Callable[[], Any]]] = [
            ("signed for", lambda: app.sign_for(ctx(OFFICE), iid)),
            ("forwarded", lambda: child.append(forward())),
            ("child closed", lambda: close_instruction(app, child[0])),
            ("submitted", lambda: app.submit(ctx(OFFICE), iid, "done")),
            ("verified", lambda: app.verify(ctx(DISTRICT), iid, accepted=True)),
        ]
        moments: list[tuple[str, datetime, datetime]] = []
        for name, act in steps:
            clock.tick(timedelta(minutes=10))
            before = datetime.now(UTC)
            clock.tick(timedelta(seconds=1))
            act()
            clock.tick(timedelta(seconds=1))
            moments.append((name, before, datetime.now(UTC)))

    def state(at: datetime) -> dict[str, Any]:
        then = app.as_of(iid, at)
        assert then is not None
        return state_of(then)

    assert app.as_of(iid, START - timedelta(seconds=1)) is None
    (_, b0, a0), (_, b1, a1), (_, bc, ac), (_, b2, a2), (_, b3, a3) = moments
    assert state(b0)["status"] == "dispatched"
    assert state(b0)["signed_at"] is None
    assert state(a0)["status"] == "in_progress"
    assert state(a0)["signed_at"] is not None
    assert state(b1)["children"] == []
    assert len(state(a1)["children"]) == 1
    assert state(bc)["open_children"] == [str(child[0])]
    assert state(ac)["open_children"] == []
    assert state(b2)["status"] == "in_progress"
    assert state(a2)["status"] == "submitted"
    assert state(b3)["status"] == "submitted"
    assert state(a3)["status"] == "closed"
    # The present is untouched by looking at the past.
    assert app.instruction(iid).status == "closed"
    assert app.as_of_version(iid, 1).version == 1

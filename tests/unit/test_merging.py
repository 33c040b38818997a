"""Merging (并单, ADR 0082) through the application on the in-memory store: a dispatcher
merges a warning into the main case about the same matter; the merged one closes as
merged with a link, its repeats follow the main case, and un-merging is a recorded step.
Every refusal is a named error, with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from freezegun import freeze_time

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import (
    CircularMerge,
    InvalidValue,
    MergeIntoItself,
    MergeMismatch,
    MergeRefused,
    MergeTargetClosed,
    NotFound,
    NotPermitted,
)
from domain.meta import now
from domain.warning import MERGE_WINDOW, WarningStatus
from tests.unit.builders import (
    DISTRICT,
    OFFICE,
    OTHER_OFFICE,
    WATER,
    confirmed_warning,
    ctx,
    event_names,
    frozen_clock_center,
    issue,
    last_event,
    nothing_stored,
    raise_warning,
)


def _pair(app: CommandCenter, **kw: object) -> tuple[UUID, UUID]:
    return raise_warning(app, location="青山水库"), raise_warning(app, **kw)  # type: ignore[arg-type]


def test_a_merged_warning_closes_as_merged_with_a_link_both_ways(app: CommandCenter) -> None:
    main, other = _pair(app, location="青山水库 ")
    app.merge_warning(ctx(DISTRICT), other, main, "the same gauge, reported twice")
    merged, kept = app.warning(other), app.warning(main)
    assert merged.status == WarningStatus.MERGED
    assert merged.merged_into == main
    assert merged.closed_at is not None
    assert kept.merged == (other,)
    assert kept.is_open
    event = last_event(app, other)
    assert type(event).__name__ == "MergedInto"
    assert event.reason == "the same gauge, reported twice"
    assert event.mismatch == []
    assert event.meta.unit == DISTRICT
    assert event.meta.command == "MergeWarning"
    assert event_names(app, main)[-1] == "MergeTaken"


def test_un_merging_restores_the_status_it_had_and_is_recorded(app: CommandCenter) -> None:
    main = raise_warning(app)
    other = confirmed_warning(app)
    app.merge_warning(ctx(DISTRICT), other, main, "one matter")
    app.unmerge_warning(ctx(DISTRICT), other, "two dams after all")
    assert app.warning(other).status == WarningStatus.CONFIRMED
    assert app.warning(other).merged_into is None
    assert app.warning(main).merged == ()
    assert event_names(app, other)[-1] == "Unmerged"
    assert event_names(app, main)[-1] == "MergeReleased"
    assert last_event(app, other).reason == "two dams after all"


def test_a_repeat_of_a_merged_condition_counts_on_the_main_case(app: CommandCenter) -> None:
    main = raise_warning(app)
    key = uuid4().hex
    other = raise_warning(app, dedup_key=key)
    app.merge_warning(ctx(DISTRICT), other, main, "one matter")
    again = raise_warning(app, dedup_key=key)
    assert again == main
    assert app.warning(main).repeats == 1
    assert app.warning(other).repeats == 0


def test_a_merge_into_itself_is_refused(app: CommandCenter) -> None:
    wid = raise_warning(app)
    with nothing_stored(app), pytest.raises(MergeIntoItself):
        app.merge_warning(ctx(DISTRICT), wid, wid, "oops")


def test_a_merge_into_a_closed_or_merged_case_is_refused(app: CommandCenter) -> None:
    closed = raise_warning(app)
    app.cancel_warning(ctx(DISTRICT), closed, "withdrawn")
    wid = raise_warning(app)
    with nothing_stored(app), pytest.raises(MergeTargetClosed, match="cancelled"):
        app.merge_warning(ctx(DISTRICT), wid, closed, "one matter")
    main, merged = raise_warning(app), raise_warning(app)
    app.merge_warning(ctx(DISTRICT), merged, main, "one matter")
    with nothing_stored(app), pytest.raises(MergeTargetClosed, match="itself merged"):
        app.merge_warning(ctx(DISTRICT), wid, merged, "one matter")
    with nothing_stored(app), pytest.raises(MergeTargetClosed, match="merged"):
        app.merge_warning(ctx(DISTRICT), merged, wid, "again")


def test_a_circular_merge_is_refused(app: CommandCenter) -> None:
    a, b = raise_warning(app), raise_warning(app)
    app.merge_warning(ctx(DISTRICT), b, a, "one matter")
    with nothing_stored(app), pytest.raises(CircularMerge):
        app.merge_warning(ctx(DISTRICT), a, b, "the other way round")
    c = raise_warning(app)
    with nothing_stored(app), pytest.raises(CircularMerge, match="main case of 1"):
        app.merge_warning(ctx(DISTRICT), a, c, "a chain")


def test_another_hazard_or_place_needs_an_override_and_is_recorded(
    app: CommandCenter,
) -> None:
    main = raise_warning(app, location="青山水库")
    other = app.raise_warning(
        ctx(DISTRICT),
        source="inspector",
        rule="OTHER-RULE",
        theme="reservoir",
        level=2,
        title="Seepage at the dam",
        unit=WATER,
        location="白沙水库",
    ).id
    with nothing_stored(app), pytest.raises(MergeMismatch, match="another hazard"):
        app.merge_warning(ctx(DISTRICT), other, main, "one matter")
    app.merge_warning(ctx(DISTRICT), other, main, "the same dam, two names", override=True)
    assert last_event(app, other).mismatch == ["rule", "location"]


def _frozen(calendar: WorkingCalendar) -> CommandCenter:
    center = frozen_clock_center(calendar)
    load_demo(center)
    return center


def test_warnings_observed_more_than_a_day_apart_need_an_override(
    calendar: WorkingCalendar,
) -> None:
    with freeze_time("2026-03-10 02:00:00") as clock:
        app = _frozen(calendar)
        main = raise_warning(app)
        clock.tick(timedelta(hours=24, seconds=1))
        other = raise_warning(app)
        assert now() - app.warning(main).observed_at > MERGE_WINDOW
        with nothing_stored(app), pytest.raises(MergeMismatch, match="24 h apart"):
            app.merge_warning(ctx(DISTRICT), other, main, "one matter")
        app.merge_warning(ctx(DISTRICT), other, main, "a long storm", override=True)
        assert last_event(app, other).mismatch == ["window"]


def test_a_repeat_keeps_the_main_case_in_the_window(calendar: WorkingCalendar) -> None:
    with freeze_time("2026-03-10 02:00:00") as clock:
        app = _frozen(calendar)
        key = uuid4().hex
        main = raise_warning(app, dedup_key=key)
        clock.tick(timedelta(hours=20))
        raise_warning(app, dedup_key=key)  # the main case observed again
        clock.tick(timedelta(hours=20))
        other = raise_warning(app)
        app.merge_warning(ctx(DISTRICT), other, main, "the same storm")
        assert app.warning(other).status == WarningStatus.MERGED


def test_within_the_window_needs_no_override(calendar: WorkingCalendar) -> None:
    with freeze_time("2026-03-10 02:00:00") as clock:
        app = _frozen(calendar)
        main = raise_warning(app)
        clock.tick(timedelta(hours=24))
        other = raise_warning(app)
        app.merge_warning(ctx(DISTRICT), other, main, "one matter")
        assert app.warning(other).status == WarningStatus.MERGED


def test_a_reason_is_required(app: CommandCenter) -> None:
    main, other = raise_warning(app), raise_warning(app)
    with nothing_stored(app), pytest.raises(InvalidValue, match="reason for merging"):
        app.merge_warning(ctx(DISTRICT), other, main, "  ")


def test_a_warning_with_open_instructions_is_not_merged(app: CommandCenter) -> None:
    main = raise_warning(app)
    other = confirmed_warning(app)
    issue(app, warning_ids=[other])
    with nothing_stored(app), pytest.raises(MergeRefused, match="not finished"):
        app.merge_warning(ctx(DISTRICT), other, main, "one matter")


def test_a_dispatcher_outside_either_warnings_subtree_is_refused(app: CommandCenter) -> None:
    main, other = raise_warning(app, unit=OFFICE), raise_warning(app, unit=OFFICE)
    with nothing_stored(app), pytest.raises(NotPermitted, match="merges only"):
        app.merge_warning(ctx(OTHER_OFFICE), other, main, "one matter")
    mine = raise_warning(app, unit=OFFICE)
    theirs = raise_warning(app, unit=WATER)
    with nothing_stored(app), pytest.raises(NotPermitted):
        app.merge_warning(ctx(OFFICE), mine, theirs, "one matter")


def test_an_unknown_main_case_is_not_found(app: CommandCenter) -> None:
    wid = raise_warning(app)
    with nothing_stored(app), pytest.raises(NotFound):
        app.merge_warning(ctx(DISTRICT), wid, uuid4(), "one matter")


def test_un_merging_what_is_not_merged_or_whose_main_closed_is_refused(
    app: CommandCenter,
) -> None:
    wid = raise_warning(app)
    with nothing_stored(app), pytest.raises(MergeRefused, match="not merged"):
        app.unmerge_warning(ctx(DISTRICT), wid, "why not")
    main = confirmed_warning(app)
    other = raise_warning(app)
    app.merge_warning(ctx(DISTRICT), other, main, "one matter")
    app.resolve_warning(ctx(DISTRICT), main)
    app.close_warning(ctx(DISTRICT), main)
    with nothing_stored(app), pytest.raises(MergeRefused, match="closed"):
        app.unmerge_warning(ctx(DISTRICT), other, "too late")


def test_the_same_merge_again_is_answered_as_the_first_time(app: CommandCenter) -> None:
    main, other = raise_warning(app), raise_warning(app)
    first = app.merge_warning(ctx(DISTRICT, command_id="merge-1"), other, main, "one")
    with nothing_stored(app):
        again = app.merge_warning(ctx(DISTRICT, command_id="merge-1"), other, main, "one")
    assert again.version == first.version
    assert not again.recorded

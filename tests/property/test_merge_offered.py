"""The warning desk offers a merge into a main case, and an un-merge, exactly when the
warnings would take it: random histories of three warnings, each pair asked of both
(ADR 0082, 0090). The desk's own steps on each of them, merged ones too, are offered
exactly when the warning takes them (ADR 0093)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.screens.warning_steps import may_be_merged, may_unmerge, merge_targets, steps_in_state
from api.tokens import Principal
from domain.errors import DomainError, MergeMismatch, WarningMerged
from domain.meta import now
from domain.warning import EarlyWarning, WarningStatus
from tests.api.screens.test_warning_steps import HAPPENINGS, STEP_COMMANDS, accepts
from tests.unit.builders import WATER, meta

DISPATCHER = Principal("t", "p", WATER, ("dispatcher",))
#: The three warnings' rules and places: two alike, one another matter.
LOOKS = (("RES-FLOOD", "Qingshan dam"), ("RES-FLOOD", "Qingshan dam"), ("DRAIN", "Hupan 12"))


class Network:
    """The command center's subtree rule, for a dispatcher of the water bureau."""

    def is_within(self, unit: str, ancestor: str) -> bool:
        return unit == ancestor


def raised(rule: str, location: str) -> EarlyWarning:
    w = EarlyWarning.raise_(
        source="telemetry",
        rule=rule,
        theme="reservoir",
        level=2,
        title=f"{rule} at {location}",
        description=None,
        location=location,
        unit=WATER,
        observed_at=now() - timedelta(minutes=3),
        dedup_key=f"{rule}:{location}:{uuid4()}",
        attributes=None,
        meta=meta(WATER, "RaiseWarning"),
    )
    w.collect_events()
    return w


def merge(w: EarlyWarning, main: EarlyWarning, *, override: bool = True) -> None:
    w.merge_into(main, "one matter", override, meta(), meta())


def unmerge(w: EarlyWarning, main: EarlyWarning) -> None:
    w.unmerge(main, "two matters", meta(), meta())


def accepted(act: Callable[..., None], *warnings: EarlyWarning, **kw: Any) -> bool:
    trial = copy.deepcopy(warnings)
    try:
        act(*trial, **kw)
    except DomainError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(
    history=st.lists(
        st.tuples(
            st.sampled_from([*sorted(HAPPENINGS), "merge", "unmerge"]),
            st.integers(0, 2),
            st.integers(0, 2),
        ),
        max_size=12,
    )
)
def test_a_merge_is_offered_exactly_when_the_warnings_take_it(
    history: list[tuple[str, int, int]],
) -> None:
    ws = [raised(*look) for look in LOOKS]
    center: Any = Network()
    by_id = {w.id: w for w in ws}
    for happening, a, b in history:
        with contextlib.suppress(DomainError, IndexError):
            if happening == "merge":
                merge(ws[a], ws[b])
            elif happening == "unmerge":
                main = by_id.get(ws[a].merged_into) if ws[a].merged_into else None
                if main is not None:
                    unmerge(ws[a], main)
            else:
                HAPPENINGS[happening](ws[a])
        for w in ws:
            w.collect_events()
        for w in ws:
            steps = steps_in_state(w.status, len(w.open_instructions))
            for step in STEP_COMMANDS:
                assert (step in steps) == accepts(w, step), (step, w.status)
            offered = {t.warning.id: t for t in merge_targets(center, DISPATCHER, w, ws)}
            for main in ws:
                assert (main.id in offered) == accepted(merge, w, main), (w.status, main.status)
                if main.id in offered:
                    assert may_be_merged(w)
                    plain = accepted(merge, w, main, override=False)
                    assert plain == (not offered[main.id].mismatch)
                    if not plain:
                        trial = copy.deepcopy((w, main))
                        with contextlib.suppress(MergeMismatch):
                            merge(*trial, override=False)
            main = by_id.get(w.merged_into) if w.merged_into else None
            expected = main is not None and accepted(unmerge, w, main)
            assert may_unmerge(center, DISPATCHER, w, main) == expected


def test_a_handler_or_another_unit_is_offered_no_merge() -> None:
    a, b, _ = (raised(*look) for look in LOOKS)
    center: Any = Network()
    assert merge_targets(center, DISPATCHER, a, [b])
    assert merge_targets(center, Principal("t", "p", WATER, ("handler",)), a, [b]) == []
    assert merge_targets(center, Principal("t", "p", "HW-ECO", ("dispatcher",)), a, [b]) == []


def test_a_merged_warning_is_neither_cancelled_nor_given_instructions() -> None:
    a, b, _ = (raised(*look) for look in LOOKS)
    merge(a, b)
    a.collect_events()
    assert a.status == WarningStatus.MERGED
    assert steps_in_state(a.status, 0) == frozenset()
    for step in ("cancel", "instruct"):
        trial = copy.deepcopy(a)
        with pytest.raises(WarningMerged, match="merged into a main case"):
            STEP_COMMANDS[step](trial)
        assert trial.collect_events() == []

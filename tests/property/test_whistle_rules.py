"""Whistle rules for any order of check-ins (ADR 0078): a department checks in at most
once, and once the whistle ends, on time + late + absent = summoned for every one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import AlreadyCheckedIn, NotSummoned
from domain.whistle import Whistle
from tests.unit.builders import meta

START = datetime(2026, 3, 13, 2, 0, tzinfo=UTC)
DEPARTMENTS = ["HW-WATER", "HW-URBAN", "HW-TRANS", "HW-ECO"]


def _at(unit: str, minutes: int) -> object:
    return replace(meta(unit), occurred_at=START + timedelta(minutes=minutes))


@settings(max_examples=200, deadline=None)
@given(
    summoned=st.lists(st.sampled_from(DEPARTMENTS), min_size=1, unique=True),
    arrivals=st.lists(
        st.tuples(st.sampled_from([*DEPARTMENTS, "HW-PSB"]), st.integers(0, 120)), max_size=12
    ),
)
def test_each_department_is_counted_once_as_on_time_late_or_absent(
    summoned: list[str], arrivals: list[tuple[str, int]]
) -> None:
    w = Whistle.blow(
        unit="HW-DH",
        matter="a blocked drain",
        place="Hupan road 12",
        departments=summoned,
        limit=timedelta(minutes=30),
        meta=_at("HW-DH", 0),  # type: ignore[arg-type]
    )
    came: dict[str, int] = {}
    for department, minute in sorted(arrivals, key=lambda a: a[1]):
        try:
            w.check_in(department, "someone", _at(department, minute))  # type: ignore[arg-type]
        except NotSummoned:
            assert department not in summoned
            continue
        except AlreadyCheckedIn:
            assert department in came
            continue
        assert department not in came
        came[department] = minute
    w.close(None, _at("HW-DH", 200))  # type: ignore[arg-type]
    figures = w.figures()
    assert list(figures) == summoned
    for department, f in figures.items():
        assert f["on_time"] + f["late"] + f["absent"] == 1
        if department in came:
            assert f["late"] == (came[department] > 30)
            assert f["seconds"] == came[department] * 60
    assert sum(f["on_time"] + f["late"] + f["absent"] for f in figures.values()) == len(summoned)

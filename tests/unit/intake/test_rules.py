"""Every shipped rule's thresholds, at and around their boundaries.

A value exactly at a limit is within it; only a value beyond it breaches (ADR 0012).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedloop.catalogues import catalogue_from_mapping, load_catalogue
from closedloop.intake_config import DEFAULT_CATALOGUE
from domain.rules import Catalogue, CatalogueError, Rule
from tests.unit.intake.conftest import reading

CATALOGUE = load_catalogue(DEFAULT_CATALOGUE)
DAY = "2026-03-02T10:00:00+08:00"
NIGHT = "2026-03-02T23:00:00+08:00"


def level(code: str, metric: str, value: float, at: str = DAY, **attrs: object) -> int | None:
    rule = CATALOGUE.rule(code)
    assert rule is not None
    judgement = rule.judge(reading(metric, value, at, **attrs), CATALOGUE.tz)
    assert judgement.judged
    return judgement.level


@pytest.mark.parametrize(
    ("value", "expected"),
    [(52.5, None), (52.51, 4), (53.0, 4), (53.01, 3), (53.5, 3), (53.51, 2), (54.51, 1)],
)
def test_a_reservoir_breaches_only_above_its_flood_control_limit_level(
    value: float, expected: int | None
) -> None:
    assert level("reservoir.flood_limit", "water_level", value) == expected


def test_a_reservoir_limit_sent_with_the_reading_overrides_the_configured_one() -> None:
    assert level("reservoir.flood_limit", "water_level", 53.0, flood_limit=53.0) is None
    assert level("reservoir.flood_limit", "water_level", 53.0, flood_limit=52.0) == 3


def test_a_reservoir_without_any_known_limit_cannot_be_judged() -> None:
    rule = CATALOGUE.rule("reservoir.flood_limit")
    assert rule is not None
    judgement = rule.judge(reading("water_level", 99.0, DAY, subject="unknown"), CATALOGUE.tz)

    assert not judgement.judged
    assert not judgement.breach


@pytest.mark.parametrize(
    ("value", "expected"), [(100, None), (101, 4), (150, 4), (151, 3), (201, 2), (301, 1)]
)
def test_the_air_quality_index_is_graded_by_its_ratio_to_the_standard(
    value: float, expected: int | None
) -> None:
    assert level("environment.aqi", "aqi", value) == expected


@pytest.mark.parametrize(("value", "expected"), [(75, None), (75.1, 4), (150.1, 2), (225.1, 1)])
def test_pm2_5_is_graded_against_its_standard_of_75(value: float, expected: int | None) -> None:
    assert level("environment.pm2_5", "pm2_5", value) == expected


@pytest.mark.parametrize(("value", "expected"), [(55, None), (55.5, 4), (61, 3), (77.1, 1)])
def test_noise_is_graded_against_its_standard(value: float, expected: int | None) -> None:
    assert level("environment.noise", "noise_db", value) == expected


@pytest.mark.parametrize(
    ("value", "at", "expected"),
    [
        (100, DAY, None),
        (101, DAY, 4),
        (110, DAY, 4),
        (111, DAY, 3),
        (121, DAY, 2),
        (151, DAY, 1),
        (80, NIGHT, None),
        (81, NIGHT, 4),
        (100, NIGHT, 3),
        (101, NIGHT, 2),
    ],
)
def test_coach_speed_has_a_night_limit_of_80_percent_of_the_day_limit(
    value: float, at: str, expected: int | None
) -> None:
    assert level("transport.coach_speed", "speed", value, at, subject="粤B12345") == expected


@pytest.mark.parametrize(
    ("at", "night"),
    [
        ("2026-03-02T21:59:59+08:00", False),
        ("2026-03-02T22:00:00+08:00", True),
        ("2026-03-03T05:59:59+08:00", True),
        ("2026-03-03T06:00:00+08:00", False),
        # 14:30 UTC is 22:30 in Beijing: night is read in the catalogue's zone.
        ("2026-03-02T14:30:00+00:00", True),
    ],
)
def test_night_runs_from_22_00_to_06_00_local_time(at: str, night: bool) -> None:
    expected = 4 if night else None
    assert level("transport.coach_speed", "speed", 90, at, subject="c") == expected


def test_a_coach_limit_sent_with_the_reading_is_used_by_day_and_scaled_at_night() -> None:
    assert level("transport.coach_speed", "speed", 81, DAY, speed_limit=80) == 4
    assert level("transport.coach_speed", "speed", 65, NIGHT, speed_limit=80) == 4
    assert level("transport.coach_speed", "speed", 64, NIGHT, speed_limit=80) is None


@pytest.mark.parametrize(
    ("minutes", "at", "expected"),
    [
        (240, DAY, None),
        (241, DAY, 4),
        (261, DAY, 3),
        (301, DAY, 1),
        (120, NIGHT, None),
        (121, NIGHT, 4),
        (181, NIGHT, 1),
    ],
)
def test_continuous_driving_over_4_hours_by_day_or_2_at_night_is_fatigue(
    minutes: float, at: str, expected: int | None
) -> None:
    code, metric = "transport.fatigue.continuous", "continuous_driving_minutes"
    assert level(code, metric, minutes, at, subject="driver-7") == expected


@pytest.mark.parametrize(("minutes", "expected"), [(480, None), (481, 3), (541, 2), (601, 1)])
def test_driving_over_8_hours_in_24_hours_is_fatigue(minutes: float, expected: int | None) -> None:
    code, metric = "transport.fatigue.daily", "driving_minutes_24h"
    assert level(code, metric, minutes, subject="driver-7") == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(40, None), (40.5, 4), (60, 4), (61, 3), (80.5, 2), (100.1, 1)]
)
def test_the_generic_threshold_rule_has_four_levels(value: float, expected: int | None) -> None:
    assert level("generic.threshold", "generic_index", value, subject="s") == expected


def test_a_reading_without_a_value_is_not_judged() -> None:
    rule = CATALOGUE.rule("generic.threshold")
    assert rule is not None
    assert not rule.judge(reading("generic_index", None, DAY), CATALOGUE.tz).judged


def _with(**changes: object) -> dict[str, object]:
    rule: dict[str, object] = {
        "code": "x.rule",
        "kind": "threshold",
        "theme": "other",
        "title": "X",
        "metric": "x",
        "levels": {"IV": 1, "III": 2},
        "settle_readings": 2,
    }
    rule.update(changes)
    return {"rules": [rule]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "magic"}, "kind 'magic'"),
        ({"theme": "weather"}, "theme 'weather'"),
        ({"levels": {"V": 1}}, "levels are I, II, III, IV"),
        ({"levels": {"IV": 2, "III": 1}}, "level I must lie furthest"),
        ({"settle_readings": None}, "needs settle"),
        ({"limitt": 3}, "unknown setting(s) limitt"),
        ({"kind": "limit", "bands": {"IV": 0}}, "needs a limit"),
        ({"settle": "P1M"}, "settle"),
    ],
)
def test_a_bad_catalogue_entry_is_refused_with_its_name_and_reason(
    changes: dict[str, object], message: str
) -> None:
    data = _with(**changes)
    if changes.get("settle_readings", 1) is None:
        del data["rules"][0]["settle_readings"]  # type: ignore[index]

    with pytest.raises(CatalogueError) as e:
        catalogue_from_mapping(data)

    assert "rule 'x.rule'" in str(e.value)
    assert message in str(e.value)


def test_loading_a_broken_catalogue_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text("[[rules]]\ncode = 'a'\n", encoding="utf-8")

    with pytest.raises(CatalogueError, match=r"catalogue\.toml: rule 'a'"):
        load_catalogue(path)


def test_the_shipped_catalogue_loads_every_rule_the_issue_names() -> None:
    assert isinstance(CATALOGUE, Catalogue)
    assert {r.code for r in CATALOGUE.rules} >= {
        "reservoir.flood_limit",
        "environment.aqi",
        "transport.coach_speed",
        "transport.fatigue.continuous",
        "transport.fatigue.daily",
        "generic.threshold",
    }


@given(
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-200, 200)),
    direction=st.sampled_from(["above", "below"]),
    bands=st.lists(st.tuples(st.integers(1, 4), st.floats(-100, 100)), max_size=4),
)
def test_a_calm_answer_is_the_judgement_or_none(
    value: float, direction: str, bands: list[tuple[int, float]]
) -> None:
    # ADR 0099: the door's quiet readings take ``calm`` before ``judge``; whenever it
    # answers, it answers what judge does, for every rule of the catalogue too.
    made = Rule("t", "threshold", "other", "T", "m", direction=direction, bands=tuple(bands))
    for rule in (made, *CATALOGUE.rules):
        calm = rule.calm(value)
        if calm is not None:
            assert calm == rule.judge(reading("m", value, DAY), CATALOGUE.tz)
    if type(value) is float and math.isfinite(value) and made.calm(value) is None:
        assert made.judge(reading("m", value, DAY), CATALOGUE.tz).level is not None

"""The comprehensive evaluation's scoring (ADR 0086): a score is its lines within the
bounds, a rank follows the scores, each band takes its colour; the file is checked at
start."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedloop.evaluation_config import load_evaluation_policy
from closedloop.settings import DEFAULT_EVALUATION, Settings
from domain.evaluation import (
    DEDUCTION_INDICATORS,
    DEFAULT_POLICY,
    RATE_INDICATORS,
    CountFact,
    EvaluationPolicyError,
    Facts,
    RateFact,
    evaluate,
    ranked,
    score,
)


@st.composite
def facts(draw: st.DrawFn) -> Facts:
    f = Facts()
    for name in RATE_INDICATORS:
        judged = draw(st.integers(0, 500))
        good = draw(st.integers(0, judged))
        f.rates[name] = RateFact(good, judged, [f"{name}-{i}" for i in range(judged - good)])
    for name in DEDUCTION_INDICATORS:
        f.counts[name] = CountFact([f"{name}-{i}" for i in range(draw(st.integers(0, 40)))])
    return f


@given(facts())
def test_a_score_lies_within_its_bounds_and_is_the_sum_of_its_lines(f: Facts) -> None:
    s = score("U", f, DEFAULT_POLICY)

    assert Decimal(0) <= s.score <= DEFAULT_POLICY.full
    total = sum((line.points for line in s.lines), Decimal(0))
    assert s.score == max(Decimal(0), min(DEFAULT_POLICY.full, total))
    for line in s.lines:
        if line.kind == "rate":
            assert line.points + line.lost == line.weight
            assert Decimal(0) <= line.points <= line.weight
        else:
            assert line.cap is not None
            assert -line.cap <= line.points <= 0
            assert line.lost == -line.points
        # Points are lost only with a case to show for it.
        assert (line.lost > 0) == bool(line.cases)


@given(st.lists(facts(), min_size=1, max_size=8))
def test_the_ranking_follows_the_scores(members: list[Facts]) -> None:
    scores = [score(f"U{i}", f, DEFAULT_POLICY) for i, f in enumerate(members)]

    order = ranked(scores)

    assert [s.score for s in order] == sorted((s.score for s in scores), reverse=True)
    assert order[0].rank == 1
    for a, b in pairwise(order):
        assert a.rank is not None
        assert b.rank is not None
        assert (a.rank == b.rank) == (a.score == b.score)
        assert b.rank <= order.index(b) + 1
    assert all(s.peers == len(members) for s in order)


@given(facts())
def test_the_colour_is_the_band_the_score_falls_in(f: Facts) -> None:
    s = score("U", f, DEFAULT_POLICY)

    expected = "green" if s.score >= 90 else "yellow" if s.score >= 75 else "red"
    assert s.colour == expected


def test_nothing_to_judge_is_full_marks_and_a_deduction_stops_at_its_cap() -> None:
    f = Facts()
    f.counts["rework"] = CountFact([f"c{i}" for i in range(9)])  # 9 × 2 = 18, cap 10

    s = score("U", f, DEFAULT_POLICY)

    assert s.score == Decimal("90.00")
    rework = next(line for line in s.lines if line.indicator == "rework")
    assert rework.points == Decimal("-10.00")
    assert len(rework.cases) == 9


def test_peers_are_one_level_and_kind_under_one_parent_and_the_top_has_no_rank() -> None:
    late = Facts()
    late.rates["on_time_closure"] = RateFact(0, 1, ["B"])
    units = [
        ("HW", "HC", "district", "government", True),
        ("HW-DH", "HW", "office", "government", True),
        ("HW-XL", "HW", "office", "government", True),
        ("HW-WATER", "HW", "district", "department", True),
        ("HW-OLD", "HW", "office", "government", False),
    ]

    scores = evaluate(units, {"HW-XL": late}, DEFAULT_POLICY, top="HW")

    assert scores["HW"].rank is None
    assert (scores["HW-DH"].rank, scores["HW-XL"].rank, scores["HW-DH"].peers) == (1, 2, 2)
    assert (scores["HW-WATER"].rank, scores["HW-WATER"].peers) == (1, 1)
    assert "HW-OLD" not in scores  # deactivated: not scored


def test_the_shipped_file_is_the_default_policy_and_settings_name_it() -> None:
    assert load_evaluation_policy(DEFAULT_EVALUATION) == DEFAULT_POLICY
    assert Settings.from_env({}).evaluation_path == DEFAULT_EVALUATION
    chosen = Settings.from_env({"CLOSEDLOOP_EVALUATION_POLICY": "/etc/x.toml"})
    assert chosen.evaluation_path == Path("/etc/x.toml")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("weight = 35", "weight = 30"), "add up to 95, not 100"),
        (('indicator = "rework"', 'indicator = "lateness"'), "unknown indicator 'lateness'"),
        (("at_least = 75", "at_least = 95"), "from the highest down"),
        (('colour = "red"', 'colour = "blue"'), "unknown colour 'blue'"),
        (("per_case = 2\n", "per_case = 2\nper_cse = 3\n"), "unknown setting(s) per_cse"),
        (("cap = 10", "cap = -1"), "deductions[0].cap"),
        (("at_least = 0", "at_least = 10"), "the lowest starts at 0"),
        (("[[rates]]", "[[rates]"), "not valid TOML"),
    ],
)
def test_a_broken_file_stops_the_start_naming_the_file_and_the_reason(
    tmp_path: Path, change: tuple[str, str], reason: str
) -> None:
    text = DEFAULT_EVALUATION.read_text("utf-8").replace(*change, 1)
    path = tmp_path / "evaluation.toml"
    path.write_text(text, "utf-8")

    with pytest.raises(EvaluationPolicyError) as e:
        load_evaluation_policy(path)

    assert str(path) in str(e.value)
    assert reason in str(e.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EvaluationPolicyError, match="does not exist"):
        load_evaluation_policy(tmp_path / "nowhere.toml")

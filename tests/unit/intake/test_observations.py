"""Readings through the intake: raise, fold, escalate, de-escalate, resolve, and the
edge cases (missing values, out-of-order readings, the same batch again)."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.intake import Intake
from domain.warning import WarningStatus
from tests.unit.intake.conftest import monitor, reading


def first_at(hours: int) -> datetime:
    return datetime.fromisoformat("2026-03-02T10:00:00+08:00") + timedelta(hours=hours)


def observe(intake: Intake, batch: str, *readings_: object) -> list[dict[str, object]]:
    return intake.observe(monitor(batch), batch, list(readings_)).results  # type: ignore[arg-type]


def test_a_breach_raises_a_warning_at_the_rules_level_as_the_system(intake: Intake) -> None:
    [result] = observe(intake, "b1", reading("water_level", 53.2, "2026-03-02T10:00:00+08:00"))

    w = intake.center.warning(result["warning_id"])  # type: ignore[arg-type]
    raised = intake.center.history(w.id)[0]
    assert result["action"] == "raised"
    assert (w.level, w.rule, w.theme, w.unit) == (
        3,
        "reservoir.flood_limit",
        "reservoir",
        "E-QSRES",
    )
    assert raised.meta.role == "system"
    assert "reservoir.flood_limit" in raised.meta.cause


def test_repeats_fold_and_a_worse_reading_escalates_a_better_one_de_escalates(
    intake: Intake,
) -> None:
    first, same, worse, better = observe(
        intake,
        "b1",
        reading("water_level", 52.7, "2026-03-02T10:00:00+08:00"),
        reading("water_level", 52.8, "2026-03-02T10:10:00+08:00"),
        reading("water_level", 54.6, "2026-03-02T10:20:00+08:00"),
        reading("water_level", 53.2, "2026-03-02T10:30:00+08:00"),
    )

    w = intake.center.warning(first["warning_id"])  # type: ignore[arg-type]
    assert [r["action"] for r in (first, same, worse, better)] == [
        "raised",
        "repeated",
        "escalated",
        "de-escalated",
    ]
    assert {r["warning_id"] for r in (first, same, worse, better)} == {str(w.id)}
    assert w.level == 3
    # A repeat at the same level changes no decision: it is a row in the readings store,
    # not an event on the log (ADR 0073); the level changes are.
    assert w.repeats == 0
    reasons = [e.reason for e in intake.center.history(w.id) if hasattr(e, "previous_level")]
    assert "water_level of qingshan-reservoir = 54.6" in reasons[0]


def test_the_condition_resolves_after_its_settle_readings_of_normal(intake: Intake) -> None:
    results = observe(
        intake,
        "b1",
        reading("water_level", 53.0, "2026-03-02T10:00:00+08:00"),
        reading("water_level", 52.0, "2026-03-02T10:10:00+08:00"),
        reading("water_level", 52.1, "2026-03-02T10:20:00+08:00"),
        reading("water_level", 52.2, "2026-03-02T10:30:00+08:00"),
    )

    assert [r["action"] for r in results] == ["raised", "settling", "settling", "resolved"]
    w = intake.center.warning(results[0]["warning_id"])  # type: ignore[arg-type]
    assert w.status == WarningStatus.RESOLVED


def test_the_condition_resolves_after_its_settle_time_of_normal(intake: Intake) -> None:
    # environment.aqi settles after 2 h or 3 readings, whichever comes first.
    station = {"subject": "station-dh", "unit": "HW-DH"}
    results = observe(
        intake,
        "b1",
        reading("aqi", 180, "2026-03-02T08:00:00+08:00", **station),
        reading("aqi", 90, "2026-03-02T09:00:00+08:00", **station),
        reading("aqi", 80, "2026-03-02T11:00:00+08:00", **station),
    )

    assert [r["action"] for r in results] == ["raised", "settling", "resolved"]


def test_a_breach_during_settling_starts_the_count_again(intake: Intake) -> None:
    results = observe(
        intake,
        "b1",
        reading("water_level", 53.0, "2026-03-02T10:00:00+08:00"),
        reading("water_level", 52.0, "2026-03-02T10:10:00+08:00"),
        reading("water_level", 52.0, "2026-03-02T10:20:00+08:00"),
        reading("water_level", 52.6, "2026-03-02T10:30:00+08:00"),
        reading("water_level", 52.0, "2026-03-02T10:40:00+08:00"),
        reading("water_level", 52.0, "2026-03-02T10:50:00+08:00"),
    )

    assert [r["action"] for r in results][-3:] == ["repeated", "settling", "settling"]


def test_an_older_reading_is_recorded_but_changes_nothing(intake: Intake) -> None:
    first, late = observe(
        intake,
        "b1",
        reading("water_level", 53.0, "2026-03-02T10:00:00+08:00"),
        reading("water_level", 56.0, "2026-03-02T09:00:00+08:00"),
    )

    w = intake.center.warning(first["warning_id"])  # type: ignore[arg-type]
    assert late["action"] == "stale"
    assert w.level == 4
    assert w.repeats == 0
    assert (
        intake.readings.series(  # kept all the same
            "qingshan-reservoir", "water_level", first_at(-2), first_at(2), None
        )[0].max
        == 56.0
    )


def test_a_reading_without_a_value_neither_breaches_nor_counts_as_normal(intake: Intake) -> None:
    results = observe(
        intake,
        "b1",
        reading("water_level", 53.0, "2026-03-02T10:00:00+08:00"),
        reading("water_level", None, "2026-03-02T10:10:00+08:00"),
        reading("water_level", None, "2026-03-02T10:20:00+08:00"),
        reading("water_level", None, "2026-03-02T10:30:00+08:00"),
    )

    w = intake.center.warning(results[0]["warning_id"])  # type: ignore[arg-type]
    assert [r["action"] for r in results[1:]] == ["unjudged"] * 3
    assert w.is_open


def test_a_metric_no_rule_reads_is_reported_and_ignored(intake: Intake) -> None:
    [result] = observe(intake, "b1", reading("humidity", 99, "2026-03-02T10:00:00+08:00"))

    assert result["action"] == "no_rule"
    assert result["warning_id"] is None


def test_the_same_batch_again_answers_the_first_result_and_records_nothing(
    intake: Intake,
) -> None:
    batch = [reading("water_level", 53.0, "2026-03-02T10:00:00+08:00")]
    first = intake.observe(monitor("b1"), "b1", batch)
    head = intake.center.head_position()

    again = intake.observe(monitor("b1"), "b1", batch)

    assert again.replayed
    assert again.results == first.results
    assert intake.center.head_position() == head


def test_a_warning_closed_by_people_lets_the_next_breach_raise_a_new_one(intake: Intake) -> None:
    [first] = observe(intake, "b1", reading("water_level", 53.0, "2026-03-02T10:00:00+08:00"))
    from domain.meta import Actor, Context

    duty = Context(Actor("duty", "HW", "duty_officer"))
    intake.center.resolve_warning(duty, first["warning_id"], "level checked by hand")  # type: ignore[arg-type]

    [second] = observe(intake, "b2", reading("water_level", 53.1, "2026-03-02T11:00:00+08:00"))

    assert second["action"] == "raised"
    assert second["warning_id"] != first["warning_id"]

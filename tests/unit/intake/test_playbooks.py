"""Each shipped playbook end to end, and emergency mode's tighter clock-time deadlines."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from closedloop.catalogues import playbook_from_mapping
from domain.errors import InvalidTransition, NotFound, NotPermitted
from domain.instruction import Priority
from domain.intake import Intake
from domain.meta import Actor, Context
from domain.playbooks import PlaybookError
from tests.unit.intake.conftest import monitor, reading

MONITOR = Actor("monitor", "HW", "monitor")
DUTY = Actor("duty", "HW", "duty_officer")
DISPATCHER = Actor("dispatcher", "HW", "dispatcher")


def raise_(intake: Intake, **fields: object) -> UUID:
    args: dict[str, object] = {
        "source": "test",
        "rule": "manual",
        "theme": "other",
        "level": 2,
        "title": "t",
        "unit": "HW-DH",
        **fields,
    }
    return intake.center.raise_warning(Context(MONITOR), **args).id  # type: ignore[arg-type]


def leads(intake: Intake, wid: UUID) -> set[str]:
    return {intake.center.instruction(i).lead for i in intake.center.warning(wid).instructions}


def test_a_typhoon_warning_sets_every_office_and_the_departments_moving(intake: Intake) -> None:
    wid = raise_(intake, theme="meteorological", title="台风橙色预警", level=2)

    issued = intake.run_playbooks(wid, "raise")

    assert leads(intake, wid) == {"HW-DH", "HW-XL", "HW-NG", "HW-EM", "HW-URBAN"}
    first = intake.center.history(intake.center.instruction(UUID(issued[0]["instruction_id"])).id)[
        0
    ]
    assert first.meta.role == "system"
    assert first.meta.unit == "HW"
    # The command id names the playbook step; the cause is the warning it answers.
    assert first.meta.command_id.startswith("playbook:")
    assert first.meta.cause == str(wid)


def test_a_playbook_run_twice_issues_each_instruction_once(intake: Intake) -> None:
    wid = raise_(intake, theme="meteorological", title="Typhoon warning", level=1)
    intake.run_playbooks(wid, "raise")
    head = intake.center.head_position()

    intake.run_playbooks(wid, "raise")

    assert intake.center.head_position() == head


def test_a_rainstorm_below_the_minimum_level_sets_nothing_moving(intake: Intake) -> None:
    wid = raise_(intake, theme="meteorological", title="暴雨蓝色预警", level=4)

    assert intake.run_playbooks(wid, "raise") == []


def test_a_rainstorm_warning_reaches_the_offices_and_the_water_bureau(intake: Intake) -> None:
    wid = raise_(intake, theme="meteorological", title="暴雨黄色预警", level=3)

    intake.run_playbooks(wid, "raise")

    assert leads(intake, wid) == {"HW-DH", "HW-XL", "HW-NG", "HW-WATER"}


def test_a_reservoir_breach_instructs_its_operator_and_the_water_bureau(intake: Intake) -> None:
    [r] = intake.observe(
        monitor("b1"), "b1", [reading("water_level", 52.9, "2026-03-02T10:00:00+08:00")]
    ).results

    assert {i["unit"] for i in r["instructions"]} == {"E-QSRES", "HW-WATER"}


def test_fatigue_driving_instructs_the_coach_operator_urgently(intake: Intake) -> None:
    coach = {"subject": "driver-7", "unit": "E-HWBUS"}
    [r] = intake.observe(
        monitor("b1"),
        "b1",
        [reading("continuous_driving_minutes", 250, "2026-03-02T10:00:00+08:00", **coach)],
    ).results

    by_unit = {i["unit"]: i for i in r["instructions"]}
    rest = intake.center.instruction(UUID(by_unit["E-HWBUS"]["instruction_id"]))
    assert set(by_unit) == {"E-HWBUS", "HW-TRANS"}
    assert rest.priority == Priority.URGENT
    assert rest.deadline - rest.issued_at == timedelta(minutes=30)


def test_food_safety_waits_for_confirmation(intake: Intake) -> None:
    wid = raise_(
        intake, theme="food_safety", title="学校食堂疑似食物中毒", unit="E-XLFOOD", level=2
    )
    start = intake.center.head_position() + 1
    assert intake.run_playbooks(wid, "raise") == []

    intake.center.acknowledge_warning(Context(DUTY), wid)
    intake.center.assess_warning(Context(DUTY), wid, confirmed=True)
    intake.follow(start)

    assert leads(intake, wid) == {"HW-MARKET", "E-XLFOOD"}


def test_falling_objects_raised_through_the_api_are_followed_from_the_log(intake: Intake) -> None:
    start = intake.center.head_position() + 1
    wid = raise_(intake, theme="high_places", title="高空坠物隐患", unit="HW-NG-GK", level=3)

    intake.follow(start)

    assert leads(intake, wid) == {"HW-NG-GK", "HW-URBAN"}


def test_in_emergency_mode_deadlines_run_on_clock_time_with_the_tighter_limit(
    intake: Intake,
) -> None:
    intake.switch_emergency(Context(DUTY), "typhoon", on=True, reason="Typhoon Haikui lands")
    wid = raise_(intake, theme="meteorological", title="台风红色预警", level=1)

    issued = intake.run_playbooks(wid, "raise")

    respond = next(i for i in issued if i["step"] == "respond")
    instruction = intake.center.instruction(UUID(respond["instruction_id"]))
    assert respond["emergency"] is True
    assert instruction.priority == Priority.URGENT
    assert instruction.deadline - instruction.issued_at == timedelta(minutes=30)
    # On the record, for the reports' emergency figures (ADR 0071).
    assert instruction.emergency
    assert intake.center.history(instruction.id)[0].emergency is True


def test_out_of_emergency_mode_a_playbooks_instruction_is_no_emergency_case(
    intake: Intake,
) -> None:
    wid = raise_(intake, theme="meteorological", title="台风红色预警", level=1)
    issued = intake.run_playbooks(wid, "raise")
    respond = next(i for i in issued if i["step"] == "respond")
    assert not intake.center.instruction(UUID(respond["instruction_id"])).emergency


def test_switching_emergency_mode_is_on_the_record_with_who_and_why(intake: Intake) -> None:
    intake.switch_emergency(Context(DUTY), "typhoon", on=True, reason="landfall")
    intake.switch_emergency(Context(DUTY), "typhoon", on=False, reason="all clear")

    scenario = intake.scenario("typhoon")
    assert scenario is not None
    assert not scenario.emergency
    events = intake.center.history(scenario.id)
    assert [type(e).__name__ for e in events] == [
        "Started",
        "EmergencySwitchedOn",
        "EmergencySwitchedOff",
    ]
    assert events[1].meta.person == "duty"
    assert events[2].reason == "all clear"


def test_emergency_mode_cannot_be_switched_on_twice_nor_for_an_unknown_scenario(
    intake: Intake,
) -> None:
    intake.switch_emergency(Context(DUTY), "typhoon", on=True, reason="landfall")

    with pytest.raises(InvalidTransition):
        intake.switch_emergency(Context(DUTY), "typhoon", on=True, reason="again")
    with pytest.raises(NotFound):
        intake.switch_emergency(Context(DUTY), "volcano", on=True, reason="?")


def test_only_a_duty_officer_of_the_owner_or_above_switches_emergency_mode(
    intake: Intake,
) -> None:
    """The typhoon playbook dispatches as HW: the scenario is HW's (issue 19)."""
    head = intake.center.head_position()
    for actor, says in [
        (DISPATCHER, "only a duty officer"),
        (Actor("community", "HW-DH-QS", "dispatcher"), "only a duty officer"),
        (Actor("office duty", "HW-XL", "duty_officer"), "belongs to HW"),
        (Actor("system", "HW", "system"), "only a duty officer"),
    ]:
        with pytest.raises(NotPermitted, match=says):
            intake.switch_emergency(Context(actor), "typhoon", on=True, reason="landfall")
    assert intake.center.head_position() == head
    assert intake.scenario_owner("typhoon") == "HW"

    intake.switch_emergency(
        Context(Actor("city duty", "HC", "duty_officer")), "typhoon", on=True, reason="landfall"
    )

    assert intake.in_emergency("typhoon")


def test_an_offices_duty_officer_declares_emergency_for_its_own_subtree_only(
    intake: Intake,
) -> None:
    def donghu() -> Context:
        return Context(Actor("donghu duty", "HW-DH", "duty_officer"))

    head = intake.center.head_position()
    for scope, says in [(None, "for HW$"), ("HW-XL", "for HW-XL"), ("HC", "not in its subtree")]:
        with pytest.raises(NotPermitted, match=says):
            intake.switch_emergency(donghu(), "typhoon", on=True, reason="landfall", scope=scope)
    assert intake.center.head_position() == head

    intake.switch_emergency(donghu(), "typhoon", on=True, reason="landfall", scope="HW-DH")
    wid = raise_(intake, theme="meteorological", title="台风红色预警", level=1)
    issued = {i["unit"]: i for i in intake.run_playbooks(wid, "raise")}

    scenario = intake.scenario("typhoon")
    assert scenario is not None
    assert not scenario.emergency
    assert list(scenario.subtrees) == ["HW-DH"]
    assert intake.center.history(scenario.id)[-1].scope == "HW-DH"
    assert issued["HW-DH"]["emergency"] is True
    assert issued["HW-XL"]["emergency"] is False
    assert issued["HW-EM"]["emergency"] is False
    donghu_order = intake.center.instruction(UUID(issued["HW-DH"]["instruction_id"]))
    assert donghu_order.priority == Priority.URGENT
    assert donghu_order.deadline - donghu_order.issued_at == timedelta(hours=1)
    assert intake.center.instruction(UUID(issued["HW-XL"]["instruction_id"])).priority == "high"

    intake.switch_emergency(donghu(), "typhoon", on=False, reason="all clear", scope="HW-DH")
    assert not intake.in_emergency("typhoon", "HW-DH-QS")


def test_a_playbook_with_a_bad_target_is_refused_naming_the_step() -> None:
    with pytest.raises(PlaybookError, match=r"step 'a'.*every:LEVEL"):
        playbook_from_mapping(
            {
                "code": "x",
                "title": "x",
                "dispatcher": "HW",
                "match": {"themes": ["other"]},
                "steps": [{"code": "a", "to": "everyone", "title": "t", "due_in": "PT1H"}],
            }
        )

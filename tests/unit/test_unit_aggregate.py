"""Units of the command network: their own life, and where they may sit in the tree."""

from __future__ import annotations

import pytest

from domain.application import CommandCenter
from domain.demo import DEMO_UNITS, load_demo
from domain.errors import AlreadyExists, InvalidTransition, InvalidValue, NotFound
from domain.network import NETWORK_ID
from domain.unit import Kind, Level, Unit, check_placement, unit_id
from tests.unit.builders import (
    CITY,
    COMMUNITY,
    DISTRICT,
    OFFICE,
    OTHER_OFFICE,
    RESERVOIR,
    SCENIC,
    WATER,
    ctx,
    event_names,
    last_event,
    meta,
    nothing_stored,
)


def registered(code: str = "HW-NEW", level: str = "office", kind: str = "government") -> Unit:
    unit = Unit(
        code=code,
        name="新区街道办事处",
        name_en="Xinqu Sub-district Office",
        level=level,
        kind=kind,
        parent=DISTRICT,
        meta=meta(CITY, "RegisterUnit"),
    )
    unit.collect_events()
    return unit


def a_unit(level: str, kind: str, *, active: bool = True) -> Unit:
    unit = registered(f"X-{level}-{kind}", level, kind)
    if not active:
        unit.deactivate("merged into another office", meta())
    return unit


# -- the aggregate on its own ---------------------------------------------------------


def test_registering_a_unit_records_its_place_and_starts_it_active() -> None:
    unit = Unit(
        code="HW-NEW",
        name="新区街道办事处",
        name_en="Xinqu Sub-district Office",
        level="office",
        kind="government",
        parent=DISTRICT,
        meta=meta(CITY, "RegisterUnit"),
    )
    [registered_event] = unit.collect_events()
    assert isinstance(registered_event, Unit.Registered)
    assert (registered_event.code, registered_event.parent) == ("HW-NEW", DISTRICT)
    assert (registered_event.level, registered_event.kind) == ("office", "government")
    assert unit.active
    assert unit.id == unit_id("HW-NEW")


def test_renaming_records_both_names() -> None:
    unit = registered()
    unit.rename("新区街道", "Xinqu Street Office", meta())
    [renamed] = unit.collect_events()
    assert isinstance(renamed, Unit.Renamed)
    assert (renamed.name, renamed.name_en) == ("新区街道", "Xinqu Street Office")


def test_renaming_without_an_english_name_keeps_the_old_one() -> None:
    unit = registered()
    unit.rename("新区街道", None, meta())
    assert unit.name_en == "Xinqu Sub-district Office"


def test_renaming_to_the_same_names_records_nothing() -> None:
    unit = registered()
    unit.rename("新区街道办事处", "Xinqu Sub-district Office", meta())
    assert unit.collect_events() == []


@pytest.mark.parametrize("name", ["", "   ", "名" * 201])
def test_renaming_to_an_empty_or_overlong_name_is_refused(name: str) -> None:
    unit = registered()
    with pytest.raises(InvalidValue):
        unit.rename(name, None, meta())
    assert unit.collect_events() == []


def test_moving_records_the_previous_parent() -> None:
    community = registered("X-C", "community", "government")
    community.move(a_unit("office", "government"), meta())
    [moved] = community.collect_events()
    assert isinstance(moved, Unit.Moved)
    assert (moved.parent, moved.previous_parent) == ("X-office-government", DISTRICT)


def test_moving_under_the_parent_it_already_has_records_nothing() -> None:
    office = registered()
    district = a_unit("district", "government")
    office.move(district, meta())
    office.collect_events()
    office.move(district, meta())
    assert office.collect_events() == []


def test_moving_to_a_place_its_level_may_not_sit_is_refused() -> None:
    office = registered()
    with pytest.raises(InvalidValue):
        office.move(a_unit("community", "government"), meta())
    assert office.collect_events() == []


def test_moving_under_a_deactivated_unit_is_refused() -> None:
    office = registered()
    with pytest.raises(InvalidValue, match="deactivated"):
        office.move(a_unit("district", "government", active=False), meta())
    assert office.collect_events() == []


def test_deactivating_records_the_reason_and_stops_the_unit() -> None:
    unit = registered()
    unit.deactivate("  merged into Donghu  ", meta())
    [deactivated] = unit.collect_events()
    assert isinstance(deactivated, Unit.Deactivated)
    assert deactivated.reason == "merged into Donghu"
    assert not unit.active


def test_deactivating_without_a_reason_is_refused() -> None:
    unit = registered()
    with pytest.raises(InvalidValue):
        unit.deactivate("  ", meta())
    assert unit.collect_events() == []
    assert unit.active


def test_deactivating_twice_is_refused() -> None:
    unit = registered()
    unit.deactivate("merged", meta())
    unit.collect_events()
    with pytest.raises(InvalidTransition):
        unit.deactivate("merged again", meta())
    assert unit.collect_events() == []


def test_reactivating_a_deactivated_unit_makes_it_active_again() -> None:
    unit = registered()
    unit.deactivate("merged", meta())
    unit.reactivate(meta())
    assert [type(e) for e in unit.collect_events()] == [Unit.Deactivated, Unit.Reactivated]
    assert unit.active


def test_reactivating_an_active_unit_is_refused() -> None:
    unit = registered()
    with pytest.raises(InvalidTransition):
        unit.reactivate(meta())
    assert unit.collect_events() == []


# -- placement: where a level and kind may sit -----------------------------------------


@pytest.mark.parametrize(
    ("level", "kind", "parent"),
    [
        ("city", "government", None),
        ("city", "department", ("city", "government")),
        ("district", "government", ("city", "government")),
        ("district", "department", ("district", "government")),
        ("office", "government", ("district", "government")),
        ("community", "government", ("office", "government")),
        ("enterprise", "enterprise", ("community", "government")),
        ("enterprise", "enterprise", ("district", "department")),
        ("enterprise", "enterprise", ("city", "department")),
    ],
)
def test_a_unit_may_sit_where_the_network_puts_its_level(
    level: str, kind: str, parent: tuple[str, str] | None
) -> None:
    above = a_unit(*parent) if parent else None
    check_placement(Level(level), Kind(kind), above)


@pytest.mark.parametrize(
    ("level", "kind", "parent", "why"),
    [
        ("district", "government", None, "only a city government"),
        ("city", "government", ("city", "government"), "top of the network"),
        ("district", "department", ("city", "government"), "district government"),
        ("district", "department", ("district", "department"), "district government"),
        ("office", "department", ("district", "government"), "office government"),
        ("office", "government", ("city", "government"), "one level up"),
        ("office", "government", ("district", "department"), "one level up"),
        ("community", "government", ("district", "government"), "one level up"),
        ("enterprise", "enterprise", ("office", "government"), "community or a department"),
        ("enterprise", "enterprise", ("district", "government"), "community or a department"),
        ("enterprise", "enterprise", ("enterprise", "enterprise"), "community or a department"),
        ("community", "enterprise", ("community", "government"), "enterprise level"),
        ("enterprise", "government", ("community", "government"), "of kind enterprise"),
    ],
)
def test_a_unit_may_not_sit_where_its_level_does_not_belong(
    level: str, kind: str, parent: tuple[str, str] | None, why: str
) -> None:
    above = a_unit(*parent) if parent else None
    with pytest.raises(InvalidValue, match=why):
        check_placement(Level(level), Kind(kind), above)


# -- the network, through the application -----------------------------------------------


def test_the_demo_district_registers_every_unit_once(memory_center: CommandCenter) -> None:
    assert load_demo(memory_center) == len(DEMO_UNITS)
    assert load_demo(memory_center) == 0
    assert [u.code for u in memory_center.units()] == [row[0] for row in DEMO_UNITS]


def test_registering_a_unit_adds_it_to_the_roster(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    outcome = memory_center.register_unit(
        ctx(CITY),
        code="HW-NEW",
        name="新区街道",
        level="office",
        kind="government",
        parent=DISTRICT,
    )
    assert outcome.created
    assert outcome.recorded
    assert event_names(memory_center, outcome.id) == ["Registered"]
    assert last_event(memory_center, NETWORK_ID).code == "HW-NEW"
    assert [u.code for u in memory_center.children(DISTRICT)][-1] == "HW-NEW"


def test_registering_a_code_already_on_the_record_is_refused(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    with nothing_stored(memory_center), pytest.raises(AlreadyExists):
        memory_center.register_unit(
            ctx(CITY),
            code=OFFICE,
            name="又一个",
            level="office",
            kind="government",
            parent=DISTRICT,
        )


def test_registering_again_with_the_same_command_id_is_a_no_op(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    command = ctx(CITY, command_id="register-xinqu")
    first = memory_center.register_unit(
        command, code="HW-NEW", name="新区街道", level="office", kind="government", parent=DISTRICT
    )
    with nothing_stored(memory_center):
        again = memory_center.register_unit(
            command,
            code="HW-NEW",
            name="新区街道",
            level="office",
            kind="government",
            parent=DISTRICT,
        )
    assert again.position is None
    assert (again.id, again.version) == (first.id, first.version)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code": "has space"}, InvalidValue),
        ({"code": ""}, InvalidValue),
        ({"name": " "}, InvalidValue),
        ({"level": "province"}, InvalidValue),
        ({"kind": "committee"}, InvalidValue),
        ({"parent": "NOWHERE"}, NotFound),
    ],
)
def test_registering_with_a_bad_value_is_refused(
    memory_center: CommandCenter, changes: dict[str, str], error: type[Exception]
) -> None:
    load_demo(memory_center)
    fields = {
        "code": "HW-NEW",
        "name": "新区街道",
        "level": "office",
        "kind": "government",
        "parent": DISTRICT,
        **changes,
    }
    with nothing_stored(memory_center), pytest.raises(error):
        memory_center.register_unit(ctx(CITY), **fields)


@pytest.mark.parametrize(
    ("level", "kind", "parent"),
    [
        ("district", "department", CITY),  # a department beside a government of another level
        ("office", "government", CITY),  # an office belongs under a district
        ("office", "government", WATER),  # ... under its government, not a department
        ("enterprise", "enterprise", OFFICE),  # an enterprise under a community or department
        ("community", "government", DISTRICT),
    ],
)
def test_registering_where_the_level_does_not_belong_is_refused(
    memory_center: CommandCenter, level: str, kind: str, parent: str
) -> None:
    load_demo(memory_center)
    with nothing_stored(memory_center), pytest.raises(InvalidValue):
        memory_center.register_unit(
            ctx(CITY), code="X-NEW", name="新单位", level=level, kind=kind, parent=parent
        )


def test_registering_under_a_deactivated_unit_is_refused(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    memory_center.deactivate_unit(ctx(CITY), SCENIC, "concession ended")
    memory_center.deactivate_unit(ctx(CITY), COMMUNITY, "merged into Liuying")
    with nothing_stored(memory_center), pytest.raises(InvalidValue, match="deactivated"):
        memory_center.register_unit(
            ctx(CITY),
            code="E-NEW",
            name="新公司",
            level="enterprise",
            kind="enterprise",
            parent=COMMUNITY,
        )


def test_renaming_a_unit_records_the_new_name(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    memory_center.rename_unit(ctx(CITY), OFFICE, "东湖街道", "Donghu Street")
    assert memory_center.unit(OFFICE).name == "东湖街道"
    assert event_names(memory_center, unit_id(OFFICE))[-1] == "Renamed"


def test_renaming_to_the_current_name_writes_nothing(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    current = memory_center.unit(OFFICE)
    with nothing_stored(memory_center):
        outcome = memory_center.rename_unit(ctx(CITY), OFFICE, current.name, current.name_en)
    assert outcome.position is None


def test_renaming_an_unknown_unit_is_refused(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    with nothing_stored(memory_center), pytest.raises(NotFound):
        memory_center.rename_unit(ctx(CITY), "NOWHERE", "无")


def test_moving_a_community_to_another_office_keeps_the_old_parent_on_record(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    memory_center.move_unit(ctx(CITY), COMMUNITY, OTHER_OFFICE)
    moved = last_event(memory_center, unit_id(COMMUNITY))
    assert (type(moved).__name__, moved.parent, moved.previous_parent) == (
        "Moved",
        OTHER_OFFICE,
        OFFICE,
    )
    assert memory_center.ancestors(SCENIC) == [COMMUNITY, OTHER_OFFICE, DISTRICT, CITY]


@pytest.mark.parametrize(("code", "under"), [(OFFICE, OFFICE), (DISTRICT, COMMUNITY)])
def test_moving_a_unit_under_itself_or_its_own_subtree_is_refused(
    memory_center: CommandCenter, code: str, under: str
) -> None:
    load_demo(memory_center)
    with nothing_stored(memory_center), pytest.raises(InvalidValue, match="own subtree"):
        memory_center.move_unit(ctx(CITY), code, under)


def test_moving_a_unit_where_its_level_does_not_belong_is_refused(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    with nothing_stored(memory_center), pytest.raises(InvalidValue):
        memory_center.move_unit(ctx(CITY), COMMUNITY, DISTRICT)


def test_deactivating_a_unit_with_active_units_under_it_is_refused(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    with nothing_stored(memory_center), pytest.raises(InvalidValue, match=SCENIC):
        memory_center.deactivate_unit(ctx(CITY), COMMUNITY, "merged into Liuying")


def test_deactivating_a_unit_once_its_children_are_gone(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    memory_center.deactivate_unit(ctx(CITY), SCENIC, "concession ended")
    memory_center.deactivate_unit(ctx(CITY), COMMUNITY, "merged into Liuying")
    assert not memory_center.unit(COMMUNITY).active
    assert event_names(memory_center, unit_id(COMMUNITY))[-1] == "Deactivated"


def test_reactivating_a_unit_under_a_deactivated_parent_is_refused(
    memory_center: CommandCenter,
) -> None:
    load_demo(memory_center)
    memory_center.deactivate_unit(ctx(CITY), SCENIC, "concession ended")
    memory_center.deactivate_unit(ctx(CITY), COMMUNITY, "merged into Liuying")
    with nothing_stored(memory_center), pytest.raises(InvalidValue, match=COMMUNITY):
        memory_center.reactivate_unit(ctx(CITY), SCENIC)
    memory_center.reactivate_unit(ctx(CITY), COMMUNITY)
    memory_center.reactivate_unit(ctx(CITY), SCENIC)
    assert memory_center.unit(SCENIC).active


def test_a_unit_as_it_stood_before_a_change_can_be_read(memory_center: CommandCenter) -> None:
    load_demo(memory_center)
    registered_at = memory_center.unit_history(RESERVOIR)[0].timestamp
    memory_center.rename_unit(ctx(CITY), RESERVOIR, "青山水库集团")
    then = memory_center.unit_as_of(RESERVOIR, registered_at)
    assert then is not None
    assert then.name == "青山水库管理有限公司"
    assert memory_center.unit(RESERVOIR).name == "青山水库集团"
    assert memory_center.unit_as_of(RESERVOIR, registered_at.replace(year=2000)) is None

"""The whole closed loop on each real store: an SQLite file and a PostgreSQL schema.

A warning goes from raise to close through an instruction forwarded down to a community,
and what was stored is read back by a second application on the same database, as after
a restart. The log, the audit metadata, idempotent retries, snapshots and time travel
are checked on what the store really holds, not on the in-memory store of the unit tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate

from domain.application import CommandCenter, Outcome
from domain.demo import DEMO_UNITS, load_demo
from domain.disposition import DispositionStatus, disposition_id
from domain.errors import InvalidValue
from domain.instruction import AssigneeStatus, Instruction, InstructionStatus, instruction_id
from domain.meta import Actor, Context, now
from domain.network import NETWORK_ID
from domain.unit import Unit, unit_id
from domain.warning import EarlyWarning, WarningStatus, warning_id
from tests.conftest import opened_center

MONITOR = Actor(person="rain-gauge-feed", unit="HW-WATER", role="monitor")
DISPATCHER = Actor(person="li.wei", unit="HW", role="dispatcher")
OFFICE = Actor(person="zhang.min", unit="HW-DH", role="handler")
COMMUNITY = Actor(person="wang.fang", unit="HW-DH-QS", role="handler")

# Every id of the loop derives from a command id (ADR 0006), so it is known in advance.
WARNING = warning_id("raise-rainstorm")
PARENT = instruction_id("issue-to-office")
CHILD = instruction_id("forward-to-community")
OFFICE_DISPOSITION = disposition_id(PARENT, "HW-DH")
COMMUNITY_DISPOSITION = disposition_id(CHILD, "HW-DH-QS")

Step = Callable[[CommandCenter], Outcome]


def ctx(actor: Actor, command_id: str) -> Context:
    return Context(actor, command_id=command_id)


def closed_loop(deadline: datetime) -> list[tuple[str, Step]]:
    """The commands of one loop, in order, each with a fixed command id (for retries)."""

    def raise_rainstorm(command_id: str) -> Step:
        return lambda c: c.raise_warning(
            ctx(MONITOR, command_id),
            source="rain-gauge",
            rule="rainstorm-over-50mm-1h",
            theme="meteorological",
            level=3,
            title="暴雨预警：东湖街道一小时降雨量超过50毫米",
            unit="HW-DH",
            location="东湖路与湖畔街交叉口",
            dedup_key="rain-gauge|DH-07|rainstorm",
        )

    return [
        ("raise", raise_rainstorm("raise-rainstorm")),
        ("repeat", raise_rainstorm("raise-rainstorm-again")),
        ("acknowledge", lambda c: c.acknowledge_warning(ctx(DISPATCHER, "ack"), WARNING)),
        (
            "confirm",
            lambda c: c.assess_warning(
                ctx(DISPATCHER, "confirm"), WARNING, confirmed=True, note="gauge and video agree"
            ),
        ),
        (
            "issue",
            lambda c: c.issue_instruction(
                ctx(DISPATCHER, "issue-to-office"),
                lead_unit="HW-DH",
                title="排查东湖路积水点并设置警示",
                content="Close the underpass, pump it out, report the depth every hour.",
                deadline=deadline,
                warning_ids=[WARNING],
            ),
        ),
        ("office signs", lambda c: c.sign_for(ctx(OFFICE, "office-signs"), PARENT)),
        (
            "forward",
            lambda c: c.forward(ctx(OFFICE, "forward-to-community"), PARENT, to_unit="HW-DH-QS"),
        ),
        ("community signs", lambda c: c.sign_for(ctx(COMMUNITY, "community-signs"), CHILD)),
        (
            "progress",
            lambda c: c.report_progress(
                ctx(COMMUNITY, "progress"), CHILD, "two pumps on site, water at 40 cm"
            ),
        ),
        (
            "action",
            lambda c: c.record_action(
                ctx(COMMUNITY, "action"),
                COMMUNITY_DISPOSITION,
                "underpass closed with barriers",
                ["https://files.example/dh-07/barrier.jpg", "video:DH-07-cam3@10:42"],
            ),
        ),
        (
            "submit",
            lambda c: c.submit(ctx(COMMUNITY, "submit-1"), CHILD, "water pumped out, open again"),
        ),
        (
            "reject",
            lambda c: c.verify(
                ctx(OFFICE, "reject"), CHILD, accepted=False, note="the drain is still blocked"
            ),
        ),
        (
            "rework",
            lambda c: c.record_action(
                ctx(COMMUNITY, "rework"),
                COMMUNITY_DISPOSITION,
                "drain cleared by the urban management crew",
                ["https://files.example/dh-07/drain.jpg"],
            ),
        ),
        (
            "submit again",
            lambda c: c.submit(ctx(COMMUNITY, "submit-2"), CHILD, "drain cleared, road open"),
        ),
        ("accept", lambda c: c.verify(ctx(OFFICE, "accept"), CHILD, accepted=True)),
        (
            "parent submitted",
            lambda c: c.submit(ctx(OFFICE, "office-submits"), PARENT, "the community handled it"),
        ),
        (
            "parent accepted",
            lambda c: c.verify(ctx(DISPATCHER, "close-parent"), PARENT, accepted=True),
        ),
        (
            "warning closed",
            lambda c: c.close_warning(ctx(DISPATCHER, "close-warning"), WARNING, "loop closed"),
        ),
    ]


@dataclass
class LoopRun:
    steps: list[tuple[str, Step]]
    outcomes: dict[str, Outcome]
    demo_head: int


def run_closed_loop(center: CommandCenter) -> LoopRun:
    assert load_demo(center) == len(DEMO_UNITS)
    demo_head = center.head_position()
    steps = closed_loop(deadline=now() + timedelta(days=3))
    outcomes: dict[str, Outcome] = {}
    for name, step in steps:
        outcome = step(center)
        assert outcome.recorded, f"{name} stored nothing"
        # Read-your-writes: the position handed back is the newest in the log.
        assert outcome.position == center.head_position(), name
        outcomes[name] = outcome
    return LoopRun(steps, outcomes, demo_head)


def states(center: CommandCenter) -> dict[str, Any]:
    """What a dispatcher would read about the loop, in comparable form."""
    warning = center.warning(WARNING)
    parent = center.instruction(PARENT)
    child = center.instruction(CHILD)
    office = center.disposition(OFFICE_DISPOSITION)
    community = center.disposition(COMMUNITY_DISPOSITION)
    return {
        "warning": (warning.status, warning.repeats, warning.instructions, warning.version),
        "parent": (parent.status, parent.assignees, parent.children, parent.version),
        "child": (child.status, child.assignees, child.rework_count, child.version),
        "office": (office.status, office.results, office.version),
        "community": (
            community.status,
            community.actions,
            community.results,
            [v["accepted"] for v in community.verifications],
            community.version,
        ),
    }


def whole_log(center: CommandCenter) -> list[Any]:
    # A small batch, so that reading across batch boundaries is exercised too.
    return list(center.iter_log(batch=10))


def test_a_warning_goes_round_the_whole_loop_down_to_a_community_and_closes(
    center: CommandCenter,
) -> None:
    run = run_closed_loop(center)

    assert run.outcomes["raise"].created
    assert not run.outcomes["repeat"].created
    assert run.outcomes["repeat"].id == WARNING
    assert run.outcomes["forward"].id == CHILD
    warning = center.warning(WARNING)
    assert warning.status == WarningStatus.CLOSED
    assert warning.repeats == 1
    assert warning.instructions == [PARENT]
    assert warning.open_instructions == []
    parent = center.instruction(PARENT)
    assert parent.status == InstructionStatus.CLOSED
    assert parent.children == [CHILD]
    assert parent.open_children == []
    assert parent.assignees == {"HW-DH": AssigneeStatus.ACCEPTED}
    child = center.instruction(CHILD)
    assert child.status == InstructionStatus.CLOSED
    assert child.parent_id == PARENT
    assert child.issuer == "HW-DH"
    assert child.rework_count == 1
    assert child.loop_id == parent.loop_id == warning.loop_id == WARNING
    community = center.disposition(COMMUNITY_DISPOSITION)
    assert community.status == DispositionStatus.ACCEPTED
    assert [(a["kind"], a["person"]) for a in community.actions] == [
        ("progress", "wang.fang"),
        ("action", "wang.fang"),
        ("action", "wang.fang"),
    ]
    assert community.actions[1]["evidence"] == [
        "https://files.example/dh-07/barrier.jpg",
        "video:DH-07-cam3@10:42",
    ]
    assert community.results == ["water pumped out, open again", "drain cleared, road open"]
    assert [v["accepted"] for v in community.verifications] == [False, True]
    assert center.disposition(OFFICE_DISPOSITION).status == DispositionStatus.ACCEPTED


def test_a_restarted_application_reads_back_every_state_of_the_loop(
    center: CommandCenter, database_url: str
) -> None:
    run_closed_loop(center)
    before = states(center)
    head = center.head_position()

    with opened_center(database_url) as again:
        assert states(again) == before
        assert again.head_position() == head
        assert [u.code for u in again.units()] == [code for code, *_ in DEMO_UNITS]


def test_the_log_holds_every_event_once_in_one_order(
    center: CommandCenter, database_url: str
) -> None:
    run_closed_loop(center)

    log = whole_log(center)
    positions = [n.id for n in log]
    assert positions == sorted(set(positions)), "positions must strictly increase"
    assert positions[-1] == center.head_position()
    # Each aggregate's events appear in the log in version order, none missing.
    versions: dict[UUID, list[int]] = {}
    for n in log:
        versions.setdefault(n.originator_id, []).append(n.originator_version)
    for aggregate_id, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), aggregate_id
        assert len(center.history(aggregate_id)) == len(seen)
    # The log read after a restart is the same log, event for event.
    with opened_center(database_url) as again:
        assert [
            (n.id, n.originator_id, n.originator_version, n.topic) for n in whole_log(again)
        ] == [(n.id, n.originator_id, n.originator_version, n.topic) for n in log]
        assert [n.id for n in again.iter_log(start=positions[5], batch=3)] == positions[5:]


def test_every_stored_event_names_the_person_unit_role_command_and_loop(
    center: CommandCenter,
) -> None:
    run = run_closed_loop(center)

    events: list[Any] = [center.mapper.to_domain_event(n) for n in whole_log(center)]
    assert len(events) == center.head_position()
    for e in events:
        meta = e.meta
        for name in ("person", "unit", "role", "command", "command_id"):
            assert isinstance(getattr(meta, name), str), (type(e).__qualname__, name)
            assert getattr(meta, name).strip(), (type(e).__qualname__, name)
        assert isinstance(meta.loop_id, UUID)
        assert meta.occurred_at.tzinfo is not None
    loop_events = events[run.demo_head :]
    # Everything after the demo belongs to the warning's loop, the forwarded part included.
    assert {e.meta.loop_id for e in loop_events} == {WARNING}
    signed = [e for e in loop_events if type(e).__qualname__ == "Instruction.SignedFor"]
    assert [(e.meta.person, e.meta.unit, e.meta.role, e.meta.command) for e in signed] == [
        ("zhang.min", "HW-DH", "handler", "SignFor"),
        ("wang.fang", "HW-DH-QS", "handler", "SignFor"),
    ]
    repeated = [e for e in loop_events if isinstance(e, EarlyWarning.Repeated)]
    assert [e.meta.command_id for e in repeated] == ["raise-rainstorm-again"]
    finished = [e for e in loop_events if type(e).__qualname__ == "Instruction.ChildFinished"]
    assert [e.meta.cause for e in finished] == [str(CHILD)]


def test_a_retried_command_stores_nothing_new_even_after_a_restart(
    center: CommandCenter, database_url: str
) -> None:
    run = run_closed_loop(center)
    head = center.head_position()
    before = states(center)

    with opened_center(database_url) as again:
        for name, step in run.steps:
            outcome = step(again)
            assert not outcome.recorded, f"retrying {name} stored something"
            assert outcome.id == run.outcomes[name].id, name
            assert outcome.created == run.outcomes[name].created, name
        assert again.head_position() == head
        assert states(again) == before


def test_the_whole_log_can_be_read_with_the_default_batch(center: CommandCenter) -> None:
    load_demo(center)

    assert [n.id for n in center.iter_log()] == list(range(1, center.head_position() + 1))


def test_a_progress_report_retried_after_the_instruction_closed_is_a_no_op(
    center: CommandCenter,
) -> None:
    run = run_closed_loop(center)
    head = center.head_position()

    retried = dict(run.steps)["progress"](center)

    assert not retried.recorded
    assert center.head_position() == head


# -- snapshots -------------------------------------------------------------------------


def test_a_warning_repeated_past_the_snapshot_interval_loads_from_its_snapshot(
    center: CommandCenter, database_url: str
) -> None:
    load_demo(center)
    for n in range(101):
        center.raise_warning(
            Context(MONITOR, command_id=f"gauge-reading-{n}"),
            source="reservoir-gauge",
            rule="level-over-flood-limit",
            theme="reservoir",
            level=2,
            title="青山水库水位超汛限",
            unit="E-QSRES",
        )
    first = warning_id("gauge-reading-0")

    with opened_center(database_url) as again:
        assert again.snapshots is not None
        snapshots = list(again.snapshots.get(first))
        assert [s.originator_version for s in snapshots] == [100]
        warning = again.warning(first)
        assert warning.repeats == 100
        assert warning.version == 101
        # The snapshot plus one event gives exactly what replaying all 101 events gives.
        replayed = project_aggregate(None, again.events.get(first))
        assert replayed is not None
        assert vars(warning) == vars(replayed)


def test_the_network_roster_past_the_snapshot_interval_loads_from_its_snapshot(
    center: CommandCenter, database_url: str
) -> None:
    load_demo(center)
    admin = Actor(person="registrar", unit="HW", role="admin")
    extra = [f"E-DH-SHOP{n:03d}" for n in range(80)]
    for code in extra:
        center.register_unit(
            Context(admin),
            code=code,
            name=f"东湖商铺{code[-3:]}号",
            level="enterprise",
            kind="enterprise",
            parent="HW-DH-QS",
        )

    with opened_center(database_url) as again:
        assert again.snapshots is not None
        assert [s.originator_version for s in again.snapshots.get(NETWORK_ID)] == [100]
        codes = [u.code for u in again.units()]
        assert codes == [code for code, *_ in DEMO_UNITS] + extra
        assert [u.code for u in again.children("HW-DH-QS")] == extra


# -- time travel -----------------------------------------------------------------------


def tick() -> datetime:
    """A moment strictly between two commands' recorded times."""
    time.sleep(0.002)
    moment = now()
    time.sleep(0.002)
    return moment


def test_an_instruction_can_be_seen_as_it_stood_at_any_past_moment(
    center: CommandCenter, database_url: str
) -> None:
    load_demo(center)
    before_issue = tick()
    center.issue_instruction(
        ctx(DISPATCHER, "issue"),
        lead_unit="HW-DH",
        cooperating_units=["HW-URBAN"],
        title="清理东湖路倒伏树木",
        deadline=now() + timedelta(days=1),
    )
    iid = instruction_id("issue")
    issued = tick()
    center.sign_for(ctx(OFFICE, "sign"), iid)
    signed = tick()
    center.submit(ctx(OFFICE, "submit"), iid, "trees removed")

    with opened_center(database_url) as again:

        def seen_at(when: datetime) -> Instruction:
            then = again.as_of(iid, when)
            assert isinstance(then, Instruction)
            return then

        def seen_at_version(version: int) -> Instruction:
            then = again.as_of_version(iid, version)
            assert isinstance(then, Instruction)
            return then

        assert again.as_of(iid, before_issue) is None
        at_issue = seen_at(issued)
        assert (at_issue.version, at_issue.status) == (1, InstructionStatus.DISPATCHED)
        at_signing = seen_at(signed)
        assert (at_signing.version, at_signing.status) == (2, InstructionStatus.IN_PROGRESS)
        assert seen_at(now()).status == InstructionStatus.SUBMITTED
        assert seen_at_version(1).status == InstructionStatus.DISPATCHED
        assert seen_at_version(2).assignees == {
            "HW-DH": AssigneeStatus.SIGNED,
            "HW-URBAN": AssigneeStatus.DISPATCHED,
        }
        with pytest.raises(InvalidValue):
            again.as_of_version(iid, 0)


def test_a_unit_moved_and_renamed_shows_its_old_parent_and_name_as_of_before(
    center: CommandCenter, database_url: str
) -> None:
    load_demo(center)
    admin = Actor(person="registrar", unit="HW", role="admin")
    before = tick()
    center.register_unit(
        Context(admin),
        code="E-DH-FERRY",
        name="东湖渡船有限公司",
        level="enterprise",
        kind="enterprise",
        parent="HW-DH-QS",
    )
    registered = tick()
    center.move_unit(Context(admin), "E-DH-FERRY", "HW-DH-HP")
    moved = tick()
    center.rename_unit(Context(admin), "E-DH-FERRY", "东湖水上客运有限公司", "Donghu Water Bus Co.")

    with opened_center(database_url) as again:
        history = again.unit_history("E-DH-FERRY")
        assert [type(e).__qualname__ for e in history] == [
            "Unit.Registered",
            "Unit.Moved",
            "Unit.Renamed",
        ]
        assert (history[1].previous_parent, history[1].parent) == ("HW-DH-QS", "HW-DH-HP")
        assert again.unit_as_of("E-DH-FERRY", before) is None
        then = again.unit_as_of("E-DH-FERRY", registered)
        assert then is not None
        assert (then.parent, then.name) == ("HW-DH-QS", "东湖渡船有限公司")
        after_move = again.unit_as_of("E-DH-FERRY", moved)
        assert after_move is not None
        assert (after_move.parent, after_move.name) == ("HW-DH-HP", "东湖渡船有限公司")
        current = again.unit("E-DH-FERRY")
        assert (current.parent, current.name, current.name_en) == (
            "HW-DH-HP",
            "东湖水上客运有限公司",
            "Donghu Water Bus Co.",
        )
        assert isinstance(again.repository.get(unit_id("E-DH-FERRY")), Unit)

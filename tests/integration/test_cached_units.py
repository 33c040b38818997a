"""Units changed by another process, and a command center that holds them in its cache.

A command reads the units it checks (the issuer, the lead, their ancestors). On
PostgreSQL a first attempt takes them from this process's cache without asking the store,
and the store checks at the write that none of them has moved on (ADR 0027); on SQLite
every read asks the store. Either way the command is judged on the units as they are
when it is written: these tests change a unit through a second application on the same
database (a second server process) and give the next command to the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from closedloop.eventstore import CheckingPostgresRecorder
from domain.application import CommandCenter
from domain.demo import load_demo
from domain.errors import ConcurrencyConflict, DomainError
from domain.instruction import Instruction
from domain.meta import Actor, Context, now
from domain.unit import unit_id
from domain.unit_of_work import ChecksReads, WritesLater
from tests.conftest import opened_center

DISPATCHER = Actor(person="li.wei", unit="HW", role="dispatcher")
ADMIN = Actor(person="registrar", unit="HW", role="admin")
COMMUNITY = "HW-DH-QS"


@pytest.fixture
def two(center: CommandCenter, database_url: str) -> Iterator[tuple[CommandCenter, CommandCenter]]:
    """Two applications on one store: the first has every unit in its cache."""
    load_demo(center)
    with opened_center(database_url) as other:
        yield center, other


def issue(center: CommandCenter, lead: str) -> Any:
    return center.issue_instruction(
        Context(DISPATCHER),
        lead_unit=lead,
        title="Check the drains before the rain",
        deadline=now() + timedelta(days=1),
    )


def free_community(center: CommandCenter) -> str:
    """A community of HW-DH with no active unit under it, so that it can be deactivated."""
    for unit in center.children("HW-DH"):
        if unit.active and not any(c.active for c in center.children(unit.code)):
            return unit.code
    raise AssertionError("the demo district has no such community")


def test_a_unit_deactivated_in_another_process_gets_no_new_instruction(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, other = two
    community = free_community(first)
    issue(first, community)  # the first process now holds the community in its cache
    head = first.head_position()

    other.deactivate_unit(Context(ADMIN), community, "merged into its neighbour")

    with pytest.raises(DomainError, match="is deactivated"):
        issue(first, community)
    assert first.head_position() == head + 1  # only the deactivation was written


def returned(center: CommandCenter) -> Any:
    """An instruction HW-DH was given and sent back: the dispatcher must redirect it."""
    iid = issue(center, "HW-DH").id
    handler = Actor(person="zhang.min", unit="HW-DH", role="handler")
    center.return_to_issuer(Context(handler), iid, "not ours: the drains are the district's")
    return iid


def test_a_unit_reactivated_in_another_process_takes_instructions_again(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, other = two
    community = free_community(first)
    iid = returned(first)
    first.deactivate_unit(Context(ADMIN), community, "merged into its neighbour")
    with pytest.raises(DomainError):
        first.redirect(Context(DISPATCHER), iid, to_unit=community)

    other.reactivate_unit(Context(ADMIN), community)

    first.redirect(Context(DISPATCHER), iid, to_unit=community)
    assert first.instruction(iid).lead == community


def test_a_unit_renamed_elsewhere_does_not_turn_if_match_into_a_conflict(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, other = two
    iid = returned(first)
    first.unit(COMMUNITY)  # in the first process's cache
    version = first.instruction(iid).version

    other.rename_unit(Context(ADMIN), COMMUNITY, "青山新社区", "New Qingshan Community")

    # The redirect checks the community (renamed, so out of date in the first process's
    # cache) and carries If-Match on the instruction, which did not change: no 412.
    first.redirect(Context(DISPATCHER, expected_version=version), iid, to_unit=COMMUNITY)
    assert first.instruction(iid).lead == COMMUNITY
    assert first.instruction(iid).version == version + 1


def test_if_match_on_a_record_that_did_move_is_still_a_conflict(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, other = two
    handler = Actor(person="zhang.min", unit="HW-DH", role="handler")
    iid = issue(first, "HW-DH").id
    first.sign_for(Context(handler), iid)
    version = first.instruction(iid).version

    other.remind(Context(DISPATCHER), iid, "the rain starts at six")

    with pytest.raises(ConcurrencyConflict):
        first.forward(Context(handler, expected_version=version), iid, to_unit=COMMUNITY)


# -- PostgreSQL: the write that checks what was read -----------------------------------


@pytest.mark.postgres
def test_on_postgresql_an_instruction_to_cached_units_is_one_round_trip(
    pg_center: CommandCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(pg_center)
    issue(pg_center, "HW-DH")  # every unit it checks is now cached
    recorder = pg_center.recorder
    assert isinstance(recorder, CheckingPostgresRecorder)
    reads: list[Any] = []
    writes: list[Any] = []
    select_events = recorder.select_events
    insert_events = recorder.insert_events

    def reading(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return select_events(*args, **kwargs)

    def writing(*args: Any, **kwargs: Any) -> Any:
        writes.append(kwargs)
        return insert_events(*args, **kwargs)

    monkeypatch.setattr(recorder, "select_events", reading)
    monkeypatch.setattr(recorder, "insert_events", writing)

    issue(pg_center, "HW-DH")

    assert reads == []
    assert len(writes) == 1
    # The units the decision checked, at the versions it saw, went with the write.
    checked = dict(writes[0]["reads"])
    assert checked[unit_id("HW")] == pg_center.unit("HW").version
    assert checked[unit_id("HW-DH")] == pg_center.unit("HW-DH").version


@pytest.mark.postgres
def test_on_postgresql_a_write_whose_reads_moved_on_stores_nothing(
    pg_center: CommandCenter,
) -> None:
    load_demo(pg_center)
    recorder = pg_center.recorder
    unit = pg_center.unit("HW-DH")
    # The events of a new instruction, as a decision hands them to the store.
    meta = Context(DISPATCHER).meta("IssueInstruction", uuid4())
    new = Instruction.issue(
        issuer="HW",
        lead="HW-DH",
        cooperating=[],
        title="Check the drains before the rain",
        content=None,
        priority="normal",
        deadline=now() + timedelta(days=1),
        warning_ids=[],
        parent_id=None,
        meta=meta,
    )
    instruction_events = [pg_center.mapper.to_stored_event(e) for e in new.collect_events()]
    head = pg_center.head_position()

    with pytest.raises(IntegrityError, match="changed since"):
        recorder.insert_events(instruction_events, reads=[(unit.id, unit.version - 1)])
    assert pg_center.head_position() == head

    positions = recorder.insert_events(instruction_events, reads=[(unit.id, unit.version)])
    assert positions is not None
    assert len(positions) == 1
    assert pg_center.head_position() == head + 1


def test_the_checking_recorder_offers_what_the_unit_of_work_asks_through_its_protocols(
    pg_recorder: CheckingPostgresRecorder, pg_center: CommandCenter
) -> None:
    assert isinstance(pg_recorder, ChecksReads)
    assert isinstance(pg_recorder, WritesLater)
    assert pg_center.unit_of_work.checks_reads
    assert pg_center.writes_later

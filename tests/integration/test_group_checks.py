"""PostgreSQL: the commands of one group are checked as if written one after the other,
whether or not they touch the same records (ADRs 0027 and 0037).

A group whose commands touch records apart is checked in one pass against what was
stored before it; a group in which one command writes what another writes or reads is
checked command by command. Each group here is handed to the write as it stands, with no
threads, so that it is exactly the group named.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from closedloop.eventstore import CheckingPostgresRecorder, _Write

pytestmark = pytest.mark.postgres


def command(
    aggregate_id: UUID, *versions: int, reads: list[tuple[UUID, int]] | None = None
) -> _Write:
    stored = [StoredEvent(aggregate_id, v, "tests:Recorded", b"{}") for v in versions]
    return _Write.of(stored, reads or [])


def written(recorder: CheckingPostgresRecorder, group: list[_Write]) -> list[list[int] | str]:
    """Write ``group`` in one call; each command's positions, or why it was refused."""
    recorder._call(group)
    answers: list[list[int] | str] = []
    for write in group:
        try:
            answers.append(write.result())
        except IntegrityError as e:
            answers.append(str(e))
    return answers


def test_a_command_that_read_a_record_an_earlier_one_in_its_group_writes_is_refused(
    pg_recorder: CheckingPostgresRecorder,
) -> None:
    unit = uuid4()
    pg_recorder.insert_events([StoredEvent(unit, 1, "tests:Recorded", b"{}")])

    answers = written(
        pg_recorder,
        [command(unit, 2), command(uuid4(), 1, reads=[(unit, 1)]), command(uuid4(), 1)],
    )

    assert answers[0] == [2]
    assert "changed since" in str(answers[1])
    assert answers[2] == [3]


def test_a_command_that_read_a_record_a_later_one_in_its_group_writes_is_written(
    pg_recorder: CheckingPostgresRecorder,
) -> None:
    unit = uuid4()
    pg_recorder.insert_events([StoredEvent(unit, 1, "tests:Recorded", b"{}")])

    answers = written(pg_recorder, [command(uuid4(), 1, reads=[(unit, 1)]), command(unit, 2)])

    assert answers == [[2], [3]]  # it read the unit before the other one changed it


def test_two_commands_of_a_group_writing_the_same_version_the_second_is_refused(
    pg_recorder: CheckingPostgresRecorder,
) -> None:
    raced = uuid4()

    answers = written(pg_recorder, [command(raced, 1), command(raced, 1, 2)])

    assert answers[0] == [1]
    assert "first" in str(answers[1])
    assert [e.originator_version for e in pg_recorder.select_events(raced)] == [1]


def test_commands_apart_are_each_refused_or_written_together_in_their_order(
    pg_recorder: CheckingPostgresRecorder,
) -> None:
    unit, taken = uuid4(), uuid4()
    pg_recorder.insert_events(
        [
            StoredEvent(unit, 1, "tests:Recorded", b"{}"),
            StoredEvent(unit, 2, "tests:Recorded", b"{}"),
            StoredEvent(taken, 1, "tests:Recorded", b"{}"),
        ]
    )
    fresh = [uuid4() for _ in range(3)]

    answers = written(
        pg_recorder,
        [
            command(fresh[0], 1, 2, 3, reads=[(unit, 2)]),  # current
            command(fresh[1], 1, reads=[(unit, 1)]),  # stale
            command(taken, 1),  # already there
            command(fresh[2], 1, 2),
            command(uuid4(), 1, reads=[(unit, 1)]),  # stale
        ],
    )

    assert answers[0] == [4, 5, 6]
    assert "changed since" in str(answers[1])
    assert "first" in str(answers[2])
    assert answers[3] == [7, 8]
    assert "changed since" in str(answers[4])
    assert pg_recorder.select_events(fresh[1]) == []
    notified = pg_recorder.select_notifications(4, 10)
    assert [(n.originator_id, n.originator_version) for n in notified] == [
        (fresh[0], 1),
        (fresh[0], 2),
        (fresh[0], 3),
        (fresh[2], 1),
        (fresh[2], 2),
    ]


def test_a_command_both_stale_and_beaten_is_answered_as_stale_either_way(
    pg_recorder: CheckingPostgresRecorder,
) -> None:
    unit, taken = uuid4(), uuid4()
    pg_recorder.insert_events(
        [
            StoredEvent(unit, 1, "tests:Recorded", b"{}"),
            StoredEvent(unit, 2, "tests:Recorded", b"{}"),
            StoredEvent(taken, 1, "tests:Recorded", b"{}"),
        ]
    )

    apart = written(pg_recorder, [command(taken, 1, reads=[(unit, 1)]), command(uuid4(), 1)])
    together = written(
        pg_recorder, [command(taken, 1, reads=[(unit, 1)]), command(taken, 1, reads=[(unit, 1)])]
    )

    assert "changed since" in str(apart[0])
    assert isinstance(apart[1], list)
    assert all("changed since" in str(a) for a in together)

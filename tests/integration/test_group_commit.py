"""PostgreSQL: commands waiting at the same moment are written together, each on its own
terms (ADR 0027). One stale or beaten command in a group never costs the others theirs."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from closedloop.eventstore import CheckingPostgresRecorder

pytestmark = pytest.mark.postgres


def events(aggregate_id: UUID, *versions: int) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=aggregate_id,
            originator_version=v,
            topic="tests:Recorded",
            state=f'{{"v": {v}}}'.encode(),
        )
        for v in versions
    ]


def grouped(
    recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch, behind: int
) -> list[int]:
    """Hold the first write until ``behind`` more commands queue behind it, so that they
    are written as one group; answers the size of each group written."""
    sizes: list[int] = []
    call = recorder._call
    first = threading.Event()

    def slow_first(batch: list[Any]) -> None:
        sizes.append(len(batch))
        if not first.is_set():
            first.set()
            deadline = time.monotonic() + 10
            while len(recorder._queue) < behind and time.monotonic() < deadline:
                time.sleep(0.005)
            assert len(recorder._queue) >= behind, "the other commands never queued"
        call(batch)

    monkeypatch.setattr(recorder, "_call", slow_first)
    return sizes


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    def run(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as e:
            return e

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = []
        for call in calls:
            futures.append(pool.submit(run, call))
            time.sleep(0.01)  # the first one leads; the others queue behind it
        return [f.result() for f in futures]


def test_commands_waiting_together_are_written_in_one_group_each_with_its_positions(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    sizes = grouped(recorder, monkeypatch, behind=7)
    ids = [uuid4() for _ in range(8)]

    results = at_once([functools.partial(recorder.insert_events, events(a, 1, 2)) for a in ids])

    assert max(sizes) > 1  # some were written together
    assert sum(sizes) == 8
    positions = [p for r in results for p in r]
    assert sorted(positions) == list(range(1, 17))
    for aggregate_id, written in zip(ids, results, strict=True):
        # Each command's events lie together and in order, under its own positions.
        assert written[1] == written[0] + 1
        stored = recorder.select_events(aggregate_id)
        assert [e.originator_version for e in stored] == [1, 2]
    notified = recorder.select_notifications(1, 100)
    assert [n.id for n in notified] == list(range(1, 17))


def test_a_stale_or_beaten_command_in_a_group_is_refused_alone(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    unit, raced = uuid4(), uuid4()
    recorder.insert_events(events(unit, 1, 2))  # a record at version 2
    sizes = grouped(recorder, monkeypatch, behind=4)
    fresh = [uuid4() for _ in range(3)]

    results = at_once(
        [
            lambda: recorder.insert_events(events(fresh[0], 1)),
            lambda: recorder.insert_events(events(fresh[1], 1), reads=[(unit, 1)]),  # stale
            lambda: recorder.insert_events(events(raced, 1)),
            lambda: recorder.insert_events(events(raced, 1)),  # the same version again
            lambda: recorder.insert_events(events(fresh[2], 1), reads=[(unit, 2)]),  # current
        ]
    )

    assert max(sizes) > 1
    assert isinstance(results[0], list)
    assert isinstance(results[1], IntegrityError)
    assert "changed since" in str(results[1])
    assert isinstance(results[4], list)
    beaten = [r for r in results[2:4] if isinstance(r, IntegrityError)]
    assert len(beaten) == 1
    assert "first" in str(beaten[0])
    assert recorder.select_events(fresh[1]) == []
    assert [e.originator_version for e in recorder.select_events(raced)] == [1]
    assert len(recorder.select_notifications(1, 100)) == 2 + 3


def test_a_command_whose_events_the_store_refuses_does_not_take_its_group_down(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    sizes = grouped(recorder, monkeypatch, behind=2)
    good = [uuid4(), uuid4()]
    # A topic with a NUL byte: PostgreSQL refuses the text, and so the whole call.
    bad = [StoredEvent(uuid4(), 1, "tests:\x00Recorded", b"{}")]

    results = at_once(
        [
            lambda: recorder.insert_events(events(good[0], 1)),
            lambda: recorder.insert_events(bad),
            lambda: recorder.insert_events(events(good[1], 1)),
        ]
    )

    assert 2 in sizes  # the refused command and the one after it were sent together
    assert isinstance(results[0], list)
    assert isinstance(results[1], Exception)
    assert isinstance(results[2], list)
    assert all(len(recorder.select_events(a)) == 1 for a in good)

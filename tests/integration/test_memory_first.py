"""PostgreSQL: a command decided from memory, its write awaited without a thread
blocked on it (ADR 0029).

The server decides ``POST /v1/instructions`` on its event loop when the units it holds in
memory are all the decision needs, and hands the events to the store's queue. These
tests hold it to what a dispatcher relies on: nothing of a decision that needed the store
is kept; nothing is written before the store says so; a unit changed by another process
in the meantime makes the store refuse the write, and the command, run again the usual
way, is judged on the unit as it is.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from litestar.testing import TestClient

from api.app import create_app
from api.tokens import TokenBook
from closedloop import eventstore
from closedloop.bootstrap import build_read_models
from closedloop.eventstore import CheckingPostgresRecorder
from domain.application import CommandCenter, Outcome, PendingCommand
from domain.demo import load_demo
from domain.errors import DomainError
from domain.instruction import Instruction
from domain.meta import Actor, Context, now
from domain.unit import unit_id
from tests.conftest import opened_center
from tests.integration.test_group_commit import at_once, events, grouped

pytestmark = pytest.mark.postgres

DISPATCHER = Actor(person="li.wei", unit="HW", role="dispatcher")
ADMIN = Actor(person="registrar", unit="HW", role="admin")


@pytest.fixture
def two(
    pg_center: CommandCenter, postgres_url: str
) -> Iterator[tuple[CommandCenter, CommandCenter]]:
    """Two applications on one store (two server processes); the first has every unit of
    the demo district in its cache, the second none."""
    load_demo(pg_center)
    with opened_center(postgres_url) as other:
        yield pg_center, other


def issuing(center: CommandCenter, lead: str, **fields: Any) -> Any:
    return lambda: center.issue_instruction(
        Context(DISPATCHER),
        lead_unit=lead,
        title="Check the drains before the rain",
        deadline=now() + timedelta(days=1),
        **fields,
    )


def written(center: CommandCenter, pending: PendingCommand) -> tuple[Outcome | None, str]:
    """Hand the pending command to the store; its outcome, and the thread that wrote it."""
    results: queue.Queue[tuple[Any, str]] = queue.Queue()
    center.write_later(pending, lambda w: results.put((w, threading.current_thread().name)))
    write, thread = results.get(timeout=10)
    return center.finish(pending, write.result), thread


def forbid_store_reads(center: CommandCenter, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the decision read the store")

    monkeypatch.setattr(center.recorder, "select_events", refuse)
    monkeypatch.setattr(center.repository, "get", refuse)


def dispatcher(center: CommandCenter) -> dict[str, str]:
    """Headers of a district dispatcher (HW) with a fresh token."""
    book = TokenBook(center)
    secret = book.issue(user="li.wei", unit="HW", roles=["dispatcher"], label="test").secret
    return {"Authorization": f"Bearer {secret}"}


def spied(center: CommandCenter, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each of the center's tries from memory answered, in order."""
    decided: list[Any] = []
    decide = center.decide_in_memory

    def spy(command: Any) -> Any:
        decided.append(decide(command))
        return decided[-1]

    monkeypatch.setattr(center, "decide_in_memory", spy)
    return decided


def test_an_instruction_decided_from_memory_is_on_record_only_once_the_store_wrote_it(
    two: tuple[CommandCenter, CommandCenter], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two
    head = first.head_position()
    with monkeypatch.context() as m:
        forbid_store_reads(first, m)
        pending = first.decide_in_memory(issuing(first, "HW-DH"))
    assert isinstance(pending, PendingCommand)
    assert first.head_position() == head  # decided, not yet written

    outcome, thread = written(first, pending)

    assert outcome is not None
    assert outcome.created
    assert thread == "closedloop-writer"  # no worker thread waited on it
    assert first.head_position() == outcome.position == head + 1
    instruction = first.instruction(outcome.id)
    assert isinstance(instruction, Instruction)
    assert (instruction.issuer, instruction.lead) == ("HW", "HW-DH")


def test_a_decision_that_needs_the_store_is_left_to_the_usual_way_with_nothing_kept(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, other = two
    head = first.head_position()
    # The second process has never read the units; a linked warning is read from the
    # store; an instruction upwards is refused on cached units, so decided again fresh.
    assert other.decide_in_memory(issuing(other, "HW-DH")) is None
    assert first.decide_in_memory(issuing(first, "HW-DH", warning_ids=[uuid4()])) is None
    assert first.decide_in_memory(issuing(first, "HC")) is None
    assert first.head_position() == head

    # The usual way then answers as it always did.
    assert other.issue_instruction(
        Context(DISPATCHER), lead_unit="HW-DH", title="Check", deadline=now() + timedelta(days=1)
    ).created
    with pytest.raises(DomainError):
        issuing(first, "HC")()


def test_a_unit_deactivated_elsewhere_meanwhile_makes_the_store_refuse_the_write(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, other = two
    community = "HW-DH-QS"
    pending = first.decide_in_memory(issuing(first, community))
    assert isinstance(pending, PendingCommand)
    # Another process takes the community out of service before the write lands.
    other.deactivate_unit(Context(ADMIN), community, "merged into its neighbour")
    head = first.head_position()

    outcome, _ = written(first, pending)

    assert outcome is None  # refused: run it again the usual way
    assert first.head_position() == head
    with pytest.raises(DomainError, match="is deactivated"):
        issuing(first, community)()
    assert first.head_position() == head


def queue_later(
    recorder: CheckingPostgresRecorder,
    handed: queue.Queue[tuple[UUID, Any]],
    aggregate: UUID,
    reads: Sequence[tuple[UUID, int]] = (),
) -> None:
    """Queue one event of ``aggregate`` without waiting; its write arrives in ``handed``."""
    recorder.insert_events_later(
        events(aggregate, 1), reads=reads, on_done=lambda w: handed.put((aggregate, w))
    )


def test_writes_nobody_waits_on_join_the_group_of_those_a_thread_waits_on(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    unit = uuid4()
    recorder.insert_events(events(unit, 1, 2))
    sizes = grouped(recorder, monkeypatch, behind=3)
    handed: queue.Queue[tuple[UUID, Any]] = queue.Queue()
    waited, later, stale = uuid4(), uuid4(), uuid4()

    results = at_once(
        [
            lambda: recorder.insert_events(events(uuid4(), 1)),  # leads, held a moment
            lambda: queue_later(recorder, handed, later, [(unit, 2)]),
            lambda: recorder.insert_events(events(waited, 1)),
            lambda: queue_later(recorder, handed, stale, [(unit, 1)]),  # read an older version
        ]
    )
    writes = dict(handed.get(timeout=10) for _ in range(2))

    assert sizes == [1, 3]  # the three that came while the first was written, together
    assert isinstance(results[2], list)
    assert len(results[2]) == 1
    assert len(writes[later].result()) == 1
    with pytest.raises(IntegrityError):
        writes[stale].result()
    assert recorder.select_events(stale) == []
    assert [e.originator_version for e in recorder.select_events(later)] == [1]


def test_the_api_issues_from_memory_and_answers_a_unit_changed_elsewhere_as_before(
    two: tuple[CommandCenter, CommandCenter], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other = two
    auth = dispatcher(first)
    decided = spied(first, monkeypatch)
    body = {"lead_unit": "HW-DH-QS", "title": "Clear the culverts", "due_in": "P1D"}

    with TestClient(create_app(first, reads=build_read_models(first))) as client:
        r = client.post("/v1/instructions", json=body, headers=auth)
        assert r.status_code == 201, r.text
        assert isinstance(decided[-1], PendingCommand)
        assert first.instruction(UUID(r.json()["id"])).lead == "HW-DH-QS"
        assert r.headers["etag"] == '"1"'

        other.deactivate_unit(Context(ADMIN), "HW-DH-QS", "merged into its neighbour")
        head = first.head_position()
        r = client.post("/v1/instructions", json=body, headers=auth)
        # Decided from memory on the unit as this process last saw it, then refused
        # at the write and run again the usual way.
        assert isinstance(decided[-1], PendingCommand)

    assert r.status_code == 422, r.text
    assert "is deactivated" in r.json()["detail"]
    assert first.head_position() == head


def test_writes_nobody_waits_on_are_written_when_only_they_are_left_in_the_queue(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    sizes = grouped(recorder, monkeypatch, behind=2)
    handed: queue.Queue[tuple[UUID, Any]] = queue.Queue()
    later = [uuid4(), uuid4()]

    results = at_once(
        [
            lambda: recorder.insert_events(events(uuid4(), 1)),  # leads, held a moment
            lambda: queue_later(recorder, handed, later[0]),
            lambda: queue_later(recorder, handed, later[1]),
        ]
    )
    writes = dict(handed.get(timeout=10) for _ in range(2))

    assert isinstance(results[0], list)
    assert sizes == [1, 2]  # the writer thread took the two over from the thread that led
    assert all(len(writes[a].result()) == 1 for a in later)
    assert all(len(recorder.select_events(a)) == 1 for a in later)


def test_the_writer_thread_ends_when_idle_and_a_new_one_takes_the_next_write(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    monkeypatch.setattr(eventstore, "WRITER_IDLE", 0.05)
    handed: queue.Queue[tuple[Any, threading.Thread]] = queue.Queue()
    threads = []
    for _ in range(2):
        aggregate = uuid4()
        recorder.insert_events_later(
            events(aggregate, 1), on_done=lambda w: handed.put((w, threading.current_thread()))
        )
        write, thread = handed.get(timeout=10)
        assert len(write.result()) == 1
        assert len(recorder.select_events(aggregate)) == 1
        thread.join(timeout=10)
        assert not thread.is_alive()  # no thread left behind
        threads.append(thread)
    assert threads[0] is not threads[1]


def test_a_writer_thread_that_cannot_start_fails_the_write_and_leaves_the_queue_free(
    pg_recorder: CheckingPostgresRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_recorder
    handed: queue.Queue[Any] = queue.Queue()

    class Unstartable(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't start new thread")

    with monkeypatch.context() as m:
        m.setattr(threading, "Thread", Unstartable)  # as the recorder starts its thread
        recorder.insert_events_later(events(uuid4(), 1), on_done=handed.put)
        write = handed.get(timeout=10)
    with pytest.raises(RuntimeError, match="can't start"):
        write.result()

    # Nothing is left waiting on a thread that never ran: both kinds of write go on.
    assert recorder.insert_events(events(uuid4(), 1)) is not None
    recorder.insert_events_later(events(uuid4(), 1), on_done=handed.put)
    assert len(handed.get(timeout=10).result()) == 1


def test_the_event_loop_does_not_wait_for_a_unit_another_thread_is_reading(
    two: tuple[CommandCenter, CommandCenter],
) -> None:
    first, _ = two
    # A worker thread bringing HW up to date from the store holds this lock meanwhile.
    lock = first.repository._use_fastforward_lock(unit_id("HW"))
    lock.acquire()
    try:
        assert first.decide_in_memory(issuing(first, "HW-DH")) is None
    finally:
        lock.release()
        first.repository._disuse_fastforward_lock(unit_id("HW"))
    assert isinstance(first.decide_in_memory(issuing(first, "HW-DH")), PendingCommand)


def test_a_command_sent_again_to_another_server_process_answers_as_the_first_time(
    two: tuple[CommandCenter, CommandCenter], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other = two
    auth = dispatcher(first)
    body = {"lead_unit": "HW-DH", "title": "Clear the culverts", "due_in": "P1D"}
    decided = spied(other, monkeypatch)
    with (
        TestClient(create_app(first, reads=build_read_models(first))) as a,
        TestClient(create_app(other, reads=build_read_models(other))) as b,
    ):
        assert b.post("/v1/instructions", json=body, headers=auth).status_code == 201
        # The second process now holds the units; a client's command goes to the first,
        # and its retry (the answer was lost) to the second.
        again = {**body, "command_id": "culverts-1"}
        r1 = a.post("/v1/instructions", json=again, headers=auth)
        head = first.head_position()
        r2 = b.post("/v1/instructions", json=again, headers=auth)

    assert r1.status_code == 201, r1.text
    assert isinstance(decided[-1], PendingCommand)  # decided from memory, refused at the write
    assert r2.status_code == 201, r2.text
    assert r2.json()["id"] == r1.json()["id"]
    assert r2.headers["etag"] == r1.headers["etag"]
    assert first.head_position() == head  # nothing recorded twice

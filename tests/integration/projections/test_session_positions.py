"""Each principal's last write position in the view store (ADR 0045), on SQLite and
PostgreSQL: kept for every process to read, never going back, written in batches."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import CommandCenter
from projections.sessions import SessionClosed, SessionPositions
from projections.store import ViewStore


@pytest.fixture
def sessions(store: ViewStore) -> Iterator[SessionPositions]:
    book = SessionPositions(store)
    try:
        yield book
    finally:
        book.close()


def test_a_principal_that_never_wrote_stands_at_zero(sessions: SessionPositions) -> None:
    assert sessions.last("tok_never") == 0


def test_a_noted_write_is_read_by_another_process_on_the_same_database(
    sessions: SessionPositions, center: CommandCenter
) -> None:
    sessions.note_and_wait("tok_a", 41)
    sessions.note_and_wait("tok_b", 7)

    elsewhere = ViewStore.for_env(center.env)  # as another server's store would be
    try:
        seen = SessionPositions(elsewhere)
        assert (seen.last("tok_a"), seen.last("tok_b")) == (41, 7)
    finally:
        elsewhere.close()


def test_an_older_write_noted_late_leaves_the_newer_position_standing(
    sessions: SessionPositions,
) -> None:
    sessions.note_and_wait("tok_a", 90)
    sessions.note_and_wait("tok_a", 12)

    assert sessions.last("tok_a") == 90


def test_many_principals_noting_at_once_each_end_at_their_highest(
    sessions: SessionPositions,
) -> None:
    errors: list[BaseException] = []

    def writes(principal: str, positions: range) -> None:
        try:
            for p in positions:
                sessions.note_and_wait(principal, p)
        except BaseException as e:
            errors.append(e)

    threads = [
        threading.Thread(target=writes, args=(f"tok_{i % 4}", range(i, 400, 8))) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    # tok_k wrote i = k and i = k + 4: its highest is the largest of both ranges.
    assert {f"tok_{k}": sessions.last(f"tok_{k}") for k in range(4)} == {
        f"tok_{k}": max(max(range(k, 400, 8)), max(range(k + 4, 400, 8))) for k in range(4)
    }


def test_a_note_after_the_close_is_told_it_was_not_written(sessions: SessionPositions) -> None:
    sessions.note_and_wait("tok_a", 3)
    sessions.close()

    with pytest.raises(SessionClosed):
        sessions.note_and_wait("tok_a", 4)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 2**63 - 1))))
def test_the_position_kept_is_the_highest_ever_noted(notes: list[tuple[str, int]]) -> None:
    store = ViewStore.for_env({})  # a temporary SQLite file
    book = SessionPositions(store)
    try:
        done = threading.Semaphore(0)
        for principal, position in notes:
            book.note(principal, position, lambda _error: done.release())
        for _ in notes:
            done.acquire()
        highest = {p: max(pos for q, pos in notes if q == p) for p, _ in notes}
        assert {p: book.last(p) for p in ("a", "b", "c")} == {
            p: highest.get(p, 0) for p in ("a", "b", "c")
        }
    finally:
        book.close()
        store.discard()

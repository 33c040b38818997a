"""Copies of a follower dividing its work on PostgreSQL (ADR 0074), in one process: each
copy is a :class:`Leadership` with its own connection, as each process would have."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from domain.application import CommandCenter
from domain.demo import load_demo
from projections.leadership import AUDIT_CHAIN, PROJECTIONS, Leadership, copies_of, leaders
from projections.registry import view_names
from projections.runner import Runner
from projections.service import ReadModels
from projections.store import ViewStore
from projections.verify import verify_views
from tests.conftest import POSTGRES_URL
from tests.integration.intake.test_background import raise_reservoir_warning

PIECES = dict.fromkeys(view_names(), 1) | {AUDIT_CHAIN: 1}
#: Each of two copies' even share: as many pieces as there are views and the chain, halved.
HALF = sorted([len(PIECES) // 2, len(PIECES) - len(PIECES) // 2])


def until(condition: Callable[[], bool], timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def store(postgres_url: str) -> Iterator[ViewStore]:
    views = ViewStore.for_url(postgres_url)
    yield views
    views.close()


@pytest.fixture
def copies(store: ViewStore) -> Iterator[Callable[..., Leadership]]:
    started: list[Leadership] = []

    def start(versions: dict[str, int] = PIECES) -> Leadership:
        copy = Leadership(store, PROJECTIONS, versions, beat_every=0.2)
        started.append(copy.start())
        return copy

    yield start
    for copy in started:
        copy.stop()


def even(*copies: Leadership) -> bool:
    led = [c.led for c in copies]
    whole = frozenset().union(*led)
    return (
        whole == frozenset(PIECES)
        and sum(len(x) for x in led) == len(PIECES)
        and max(len(x) for x in led) - min(len(x) for x in led) <= 1
    )


pytestmark = pytest.mark.postgres


def test_two_copies_split_the_work_evenly_and_a_clean_stop_hands_over_at_once(
    copies: Callable[..., Leadership], store: ViewStore
) -> None:
    a = copies()
    assert until(lambda: a.led == frozenset(PIECES)), a.led
    b = copies()
    assert until(lambda: even(a, b)), (a.led, b.led)
    assert sorted([len(a.led), len(b.led)]) == HALF
    # Status says who leads what (once each copy wrote down what it took).
    assert until(lambda: set(leaders(copies_of(store, PROJECTIONS))) == set(PIECES))
    shown = leaders(copies_of(store, PROJECTIONS))
    assert {shown[p] for p in a.led} == {a.me.describe()}

    a.stop()
    # At once: B looks again on A's goodbye, not at its next beat.
    assert until(lambda: b.led == frozenset(PIECES), timeout=2.0), b.led


def test_a_copy_whose_connection_drops_leads_nothing_until_it_holds_the_locks_again(
    copies: Callable[..., Leadership],
) -> None:
    a, b = copies(), copies()
    assert until(lambda: even(a, b))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (a.backend_pid,))
    assert until(lambda: not a.led, timeout=3.0), a.led
    # B takes everything, then A, connected again, takes its share back.
    assert until(lambda: even(a, b) and a.led), (a.led, b.led)


def test_a_newer_version_of_a_view_waits_for_the_older_copy_and_says_why(
    copies: Callable[..., Leadership], store: ViewStore
) -> None:
    old = copies()
    assert until(lambda: old.led == frozenset(PIECES))
    newer = copies(PIECES | {"units": 2})
    assert until(lambda: even(old, newer))
    assert "units" in old.led
    assert "units" not in newer.led
    assert "version 2 here" in newer.waiting["units"]
    assert "runs version 1" in newer.waiting["units"]
    assert until(lambda: bool(copies_of(store, PROJECTIONS)[-1]["waiting"]))
    old.stop()
    assert until(lambda: newer.led == frozenset(PIECES))
    assert newer.waiting == {}


def test_on_sqlite_one_copy_leads_everything(sqlite_url: str) -> None:
    views = ViewStore.for_url(sqlite_url)
    try:
        copy = Leadership(views, PROJECTIONS, PIECES).start()
        assert copy.led == frozenset(PIECES)
        assert not copy.divided
        copy.stop()
        assert copies_of(views) == []
    finally:
        views.close()


def test_two_runners_each_feed_their_own_views_and_together_all(
    pg_center: CommandCenter, store: ViewStore, copies: Callable[..., Leadership]
) -> None:
    load_demo(pg_center)
    runners = []
    for _ in range(2):
        copy = copies()
        runners.append(Runner(pg_center, store, leadership=copy).start())
    try:
        head = pg_center.head_position()
        reads = ReadModels(pg_center, store, None)
        views = view_names()
        assert until(lambda: reads.reached(views) >= head, timeout=15)

        def divided() -> bool:
            held = [r._held for r in runners]
            return held[0].isdisjoint(held[1]) and held[0] | held[1] == set(views)

        # Each feeds only what it leads (the first fed everything until the second came).
        assert until(divided), [r._held for r in runners]
        for n in range(3):  # more events, now fed by both
            raise_reservoir_warning(pg_center, f"res-{n}")
        head = pg_center.head_position()
        assert until(lambda: reads.reached(views) >= head, timeout=15)
        assert all(v.ok for v in verify_views(pg_center, store)), "views differ from a replay"
        assert {row["leader"] for row in reads.status()} <= {
            c.me.describe() for c in (r.leadership for r in runners) if c is not None
        }
    finally:
        for r in runners:
            r.stop()


def test_health_says_which_copy_leads_each_view(
    pg_center: CommandCenter, store: ViewStore, copies: Callable[..., Leadership]
) -> None:
    from litestar.testing import TestClient

    from api.app import create_app

    newer = copies(PIECES | {"loops": 3})
    assert until(lambda: newer.led == frozenset(PIECES))  # alone, it leads all
    older = copies()
    # An older version started beside it takes the view back (a rollback).
    assert until(lambda: "loops" in older.led and "loops" not in newer.led)

    def settled() -> bool:
        rows = copies_of(store)
        return sorted(len(c["leads"]) for c in rows) == HALF and any(c["waiting"] for c in rows)

    # Once each copy wrote down what it took and what it waits for.
    assert until(settled)
    reads = ReadModels(pg_center, store, None)
    with TestClient(create_app(pg_center, reads=reads)) as client:
        health = client.get("/health").json()
    # Both copies are in this process: host and pid are the same, and their starts differ
    # only when they fall either side of a second's turn.
    both = {older.me.describe(), newer.me.describe()}
    assert {p["leader"] for p in health["projections"]} <= both
    assert [c["role"] for c in health["copies"]] == [PROJECTIONS, PROJECTIONS]
    assert sorted(len(c["leads"]) for c in health["copies"]) == HALF
    (waiting,) = [c["waiting"] for c in health["copies"] if c["waiting"]]
    assert list(waiting) == ["loops"]
    assert "version 3 here" in waiting["loops"]
    assert "runs version 1" in waiting["loops"]

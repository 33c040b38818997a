"""The copies of a shared MQTT group as the store knows them (ADR 0096), on SQLite (file
locks beside the database) and on PostgreSQL (session advisory locks and a table): an id
whose copy is gone is adopted by one survivor, an owner waits for its id's lock, and a
copy stopping cleanly ends its session only while another live copy goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from closedloop.mqtt_copies import Copies, FileRoster, Takeover, roster_for
from closedloop.settings import Settings

FILTERS = ["$share/readings/closedloop/#"]


def soon(check: Callable[[], bool]) -> bool:
    """A closed PostgreSQL session lets go of its locks a moment after the client closes."""
    deadline = time.monotonic() + 5
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def released(by: Copies, client_id: str) -> bool:
    if by.roster.try_lock(client_id):
        by.roster.unlock(client_id)
        return True
    return False


Make = Callable[..., Copies]


def holding(make: Make, *ids: str) -> list[Copies]:
    """Copies under ``ids``, each holding its own id's lock, registered."""
    copies = [make(i) for i in ids]
    for c in copies:
        assert c.hold_own(0), c.me
    return copies


@pytest.fixture
def make(database_url: str) -> Iterator[Make]:
    made: list[Copies] = []

    def copy(client_id: str, group: str = "readings") -> Copies:
        roster = roster_for(Settings(database_url=database_url).store(), group)
        assert roster is not None
        c = Copies(roster, client_id, FILTERS)
        made.append(c)
        return c

    yield copy
    for c in made:
        c.close()


def test_a_dead_copys_id_is_adopted_by_one_survivor_and_then_forgotten(make: Make) -> None:
    a, b, c = holding(make, "a", "b", "c")
    assert [cid for cid, _ in b.dead()] == ["a", "c"]
    assert not b.adopt("a")  # alive: its lock is held
    a.close()  # killed: the lock goes with the process (the connection, the files)
    assert soon(lambda: b.adopt("a"))
    assert not c.adopt("a")  # one adopter at a time
    assert dict(c.dead())["a"] == FILTERS  # the filters to unsubscribe under its id
    b.let_go("a", ended=True)
    assert [cid for cid, _ in c.dead()] == ["b"]
    assert not c.adopt("a")  # forgotten: nothing left to adopt


def test_a_session_not_ended_is_adopted_again_at_the_next_look(make: Make) -> None:
    a, b = holding(make, "a", "b")
    a.close()
    assert soon(lambda: b.adopt("a"))
    b.let_go("a", ended=False)  # the broker did not take the connection, say
    assert b.adopt("a")


def test_an_owner_started_again_waits_for_its_id_while_it_is_adopted(make: Make) -> None:
    a, b = holding(make, "a", "b")
    a.close()
    assert soon(lambda: b.adopt("a"))
    again = make("a")
    assert not again.hold_own(0.3, pause=0.05)  # bounded: it gives up
    threading.Timer(0.3, lambda: b.let_go("a", ended=True)).start()
    began = time.monotonic()
    assert again.hold_own(5, pause=0.05)
    assert time.monotonic() - began >= 0.25
    assert "a" in {cid for cid, _ in b.dead()}  # registered again, under its own lock
    assert not b.adopt("a")


def test_a_copy_ends_its_session_on_a_clean_stop_only_while_another_goes_on(
    make: Make,
) -> None:
    a, b, c = holding(make, "a", "b", "c")
    c.close()  # dead, not yet adopted: no copy to hand over to
    assert soon(lambda: released(a, "c"))
    assert a.leave()  # b is live
    # b stops too: a is leaving and c is dead, so b is the last live copy and keeps its
    # session (the broker queues for it until a copy of the group comes back).
    assert not b.leave()
    a.let_go("a", ended=True)
    b.let_go("b", ended=False)
    d = make("d")
    assert d.hold_own(0)
    assert [cid for cid, _ in d.dead()] == ["b", "c"]  # both for d to adopt
    assert d.adopt("b")
    assert d.adopt("c")


def test_groups_do_not_see_each_other(make: Make) -> None:
    a, b = make("a", "readings"), make("b", "other")
    assert a.hold_own(0)
    assert b.hold_own(0)
    assert a.dead() == []
    assert b.dead() == []


def test_the_takeover_hands_a_dead_copys_session_over_and_stops_when_the_store_goes(
    make: Make,
) -> None:
    a, b = holding(make, "a", "b")
    a.close()
    handed: list[tuple[str, list[str]]] = []
    lost = threading.Event()
    takeover = Takeover(b, lambda cid, f: handed.append((cid, f)) or True, lost.set, 0.05)
    takeover.start()
    deadline = time.monotonic() + 5
    while not handed and time.monotonic() < deadline:
        time.sleep(0.05)
    takeover.stop()
    assert handed == [("a", FILTERS)]
    assert takeover.adopted == 1
    assert b.dead() == []

    def broken() -> list[tuple[str, list[str]]]:
        raise OSError("the store is away")

    b.dead = broken  # type: ignore[method-assign]
    takeover = Takeover(b, lambda cid, f: True, lost.set, 0.05).start()
    assert lost.wait(5)
    takeover.stop()
    assert takeover.failed


def test_a_store_in_memory_has_no_roster_and_a_sqlite_file_has_one_beside_it(
    tmp_path: Path,
) -> None:
    assert roster_for(Settings(database_url="sqlite:///:memory:").store(), "readings") is None
    roster = roster_for(Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite3").store(), "g")
    assert isinstance(roster, FileRoster)
    assert roster.folder == tmp_path / "x-mqtt-copies"


def test_ids_and_groups_with_any_characters_are_kept_apart(tmp_path: Path) -> None:
    one, other = FileRoster(tmp_path, "g"), FileRoster(tmp_path, "g~x")
    assert one.try_lock("x~a/b")
    one.register("x~a/b", FILTERS)
    assert other.try_lock("a/b")
    other.register("a/b", ["other"])
    assert one.registered() == {"x~a/b": (FILTERS, False)}
    assert other.registered() == {"a/b": (["other"], False)}
    one.close()
    other.close()


def test_projections_status_lists_each_groups_copies_live_or_gone(
    make: Make, database_url: str
) -> None:
    from closedloop.mqtt_copies import registered_copies

    store = Settings(database_url=database_url).store()
    a, b = holding(make, "a", "b")
    holding(lambda cid: make(cid, group="gauges"), "g")
    b.roster.mark_leaving("b")

    def states() -> dict[tuple[str, str], tuple[bool, bool]]:
        return {(m.group, m.client_id): (m.live, m.leaving) for m in registered_copies(store)}

    assert states() == {
        ("gauges", "g"): (True, False),
        ("readings", "a"): (True, False),
        ("readings", "b"): (True, True),
    }
    a.close()  # killed: still registered, its lock free
    assert soon(lambda: states()[("readings", "a")] == (False, False))
    # Looking takes nothing: a survivor still adopts the gone copy's id.
    assert b.adopt("a")
    assert states()[("readings", "a")] == (True, False)

"""The unit of work leans on one private of the event store library: pinned here.

``domain.unit_of_work._cached_copy`` takes a cached aggregate under the lock the
library's repository holds while it fast-forwards that aggregate in place
(``Repository._use_fastforward_lock`` / ``_disuse_fastforward_lock``, eventsourcing 9.5).
An upgrade that renames, reshapes or stops taking that lock must fail here, not
corrupt a decision quietly (ADRs 0027, 0033).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import StoredEvent

from domain.application import CommandCenter
from domain.meta import SYSTEM, Context
from domain.unit import unit_id
from domain.unit_of_work import ChecksReads, ReadStrategy, WritesLater, _cached_copy


def test_the_installed_event_store_library_is_the_version_the_private_lock_was_read_in() -> None:
    major, minor, *_ = (int(p) for p in version("eventsourcing").split(".")[:3])

    assert (major, minor) == (9, 5), "re-read Repository.get's fast-forward lock, then re-pin"


def test_the_fastforward_lock_methods_keep_their_names_and_signatures() -> None:
    use = inspect.signature(Repository._use_fastforward_lock)
    disuse = inspect.signature(Repository._disuse_fastforward_lock)

    assert list(use.parameters) == ["self", "aggregate_id"]
    assert list(disuse.parameters) == ["self", "aggregate_id"]


def test_a_fast_forward_waits_for_the_lock_a_cached_copy_holds() -> None:
    center = CommandCenter({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    center.register_unit(
        Context(SYSTEM, command_id="reg"),
        code="HW",
        name="Huangwei",
        level="city",
        kind="government",
        parent=None,
    )
    uid = unit_id("HW")
    repository = center.repository
    repository.get(uid)  # in the cache now
    lock = repository._use_fastforward_lock(uid)
    lock.acquire()
    fast_forwarded = threading.Event()

    def read() -> None:
        repository.get(uid)
        fast_forwarded.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # The library's fast-forward takes the very lock a cached copy is taken under.
        assert not fast_forwarded.wait(0.3)
        assert _cached_copy(repository, uid, wait=False) is None
    finally:
        lock.release()
        repository._disuse_fastforward_lock(uid)
    reader.join(5)

    assert fast_forwarded.is_set()
    copy = _cached_copy(repository, uid)
    assert copy is not None
    assert copy.code == "HW"


class _Checking:
    checks_reads = True

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Sequence[tuple[UUID, int]] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        return None

    def insert_events_later(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        reads: Sequence[tuple[UUID, int]] = (),
        on_done: Callable[[Any], None],
    ) -> None:
        return None


def test_the_store_says_what_it_offers_through_the_domains_protocols() -> None:
    center = CommandCenter({"PERSISTENCE_MODULE": "eventsourcing.popo"})

    assert isinstance(_Checking(), ChecksReads)
    assert isinstance(_Checking(), WritesLater)
    assert not isinstance(center.recorder, ChecksReads)
    assert not center.unit_of_work.checks_reads
    assert not center.writes_later
    assert {s.name for s in ReadStrategy} == {"STORE", "CACHED_REFERENCE", "MEMORY_ONLY"}

"""Every event's Meta reads back from the store as the Meta that was written."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from domain.base import REMEMBERED_COMMANDS, LoopAggregate, _RemembersCommand
from domain.meta import Meta, MetaAsDict


def meta(**changes: object) -> Meta:
    written = Meta(
        "li", "HW", "dispatcher", "IssueInstruction", "HW:c-1", datetime.now(UTC), uuid4()
    )
    return dataclasses.replace(written, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("cause", [None, "instruction 42"])
def test_a_meta_decodes_equal_hashable_and_frozen(cause: str | None) -> None:
    written = meta(cause=cause)
    read = MetaAsDict().decode(MetaAsDict().encode(written))
    assert read == written
    assert hash(read) == hash(written)
    assert repr(read) == repr(written)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.unit = "HC"  # type: ignore[misc]


def test_a_meta_stored_before_cause_existed_gets_the_default() -> None:
    stored = MetaAsDict().encode(meta())
    del stored["cause"]
    assert MetaAsDict().decode(stored).cause is None


def test_unknown_fields_are_refused_not_kept() -> None:
    stored = {**MetaAsDict().encode(meta()), "extra": 1}
    with pytest.raises(TypeError):
        MetaAsDict().decode(stored)


def test_meta_is_still_a_dataclass_that_decode_may_fill_directly() -> None:
    # The decoder skips __init__ when every field is present: that is the same object
    # only while Meta runs nothing after __init__ and keeps its fields in __dict__.
    assert not hasattr(Meta, "__post_init__")
    assert not hasattr(Meta, "__slots__")


def _apply(record: Any, command_id: str, command: str) -> None:
    event = SimpleNamespace(meta=SimpleNamespace(command_id=command_id, command=command))
    _RemembersCommand._remember(event, record)  # type: ignore[arg-type]


def test_an_id_seen_again_keeps_its_command_until_it_is_the_least_recent() -> None:
    """A cascade records one id on one record twice (two verifications under one id,
    each telling the same warning): seeing it again keeps it remembered, under the
    command it first came with, so a reuse of that id is still told from a retry
    (ADR 0025)."""
    record = SimpleNamespace()
    _apply(record, "x", "InstructionFinished")
    _apply(record, "y", "AcknowledgeWarning")
    _apply(record, "x", "InstructionFinished")
    for n in range(REMEMBERED_COMMANDS - 1):  # "y" goes, being the least recent
        _apply(record, f"filler-{n}", "Remind")
    assert LoopAggregate.has_seen(record, "x")  # type: ignore[arg-type]
    assert not LoopAggregate.has_seen(record, "y")  # type: ignore[arg-type]
    assert LoopAggregate.command_seen(record, "x") == "InstructionFinished"  # type: ignore[arg-type]
    _apply(record, "z", "Remind")  # now "x" is the least recent, and goes
    assert not LoopAggregate.has_seen(record, "x")  # type: ignore[arg-type]
    assert LoopAggregate.command_seen(record, "x") is None  # type: ignore[arg-type]
    assert len(record.recent_command_names) == REMEMBERED_COMMANDS


def test_a_record_from_a_snapshot_of_before_the_names_still_knows_its_ids() -> None:
    """A snapshot taken before ADR 0025 kept the ids alone: they are still retries, with
    their commands unknown (so never refused as reuses), and new ones get names."""
    record = SimpleNamespace(recent_commands=["old-1", "old-2"])
    assert LoopAggregate.has_seen(record, "old-1")  # type: ignore[arg-type]
    assert LoopAggregate.command_seen(record, "old-1") is None  # type: ignore[arg-type]
    _apply(record, "new", "Remind")
    assert LoopAggregate.has_seen(record, "old-2")  # type: ignore[arg-type]
    assert LoopAggregate.command_seen(record, "new") == "Remind"  # type: ignore[arg-type]
    assert not hasattr(record, "recent_commands")  # one memory from then on

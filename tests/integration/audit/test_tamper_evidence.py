"""Every kind of tampering with the record, done with direct SQL on SQLite and on
PostgreSQL, is caught by verification at the first position at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import audit
from domain.application import CommandCenter
from projections.store import ViewStore
from tests.integration.audit.conftest import Tamper, forms


def position_of(center: CommandCenter, topic_suffix: str, after: int = 0) -> int:
    position: int = next(n.id for n in center.iter_log(after + 1) if n.topic.endswith(topic_suffix))
    return position


def verified(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain
) -> audit.Verification:
    assert chain.signer is not None
    return audit.verify(center, store, chain.signer.public, page=7)


def test_an_untouched_store_verifies_clean(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, recorded: dict[str, Any]
) -> None:
    chain.checkpoint_now()
    result = verified(center, store, chain)
    assert result.ok, result.faults
    assert result.chained == result.events == center.head_position()
    # Every 10 events, and the head signed on demand.
    assert result.checkpoints == len(audit.checkpoints(store)) >= result.events // 10


def test_events_written_after_the_chain_are_pending_not_faults(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, recorded: dict[str, Any]
) -> None:
    chain.catch_up()
    from tests.integration.audit.conftest import a_whole_loop

    a_whole_loop(center)
    result = verified(center, store, chain)
    assert result.ok
    assert result.pending > 0
    chain.catch_up()
    assert verified(center, store, chain).pending == 0


def test_one_byte_changed_in_one_payload_is_caught_at_its_position(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.checkpoint_now()
    target = position_of(center, "Instruction.Issued", after=20)
    tamper.change_one_byte(target, b'"title":"')
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == target
    assert "differs" in fault.reason


def test_a_byte_changed_into_broken_json_is_caught_at_its_position(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.catch_up()
    tamper.change_one_byte(12, b"{")
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == 12


def test_a_deleted_row_is_caught_at_its_position(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.catch_up()
    tamper.delete(33)
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == 33
    assert "missing" in fault.reason


def test_two_swapped_rows_are_caught_at_the_first_of_them(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.catch_up()
    tamper.swap(40, 44)
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == 40


def test_a_tail_cut_off_is_caught_where_it_was_cut(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.catch_up()
    head = center.head_position()
    tamper.cut_tail(head - 4)
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == head - 4
    assert "tail" in fault.reason


def test_a_tail_cut_off_from_the_log_and_the_chain_is_caught_by_the_checkpoint(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.checkpoint_now()
    head = center.head_position()
    tamper.cut_tail(head - 4)
    with store.transaction() as tx:
        tx.execute("DELETE FROM audit_chain WHERE position >= ?", (head - 4,))
        tx.execute(
            "UPDATE projection_tracking SET notification_id = ? WHERE application_name = ?",
            (head - 5, audit.TRACKING),
        )
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == head - 4
    assert "tail was cut off" in fault.reason


def test_a_log_and_chain_rewritten_together_are_caught_by_the_next_checkpoint(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    recorded: dict[str, Any],
) -> None:
    chain.checkpoint_now()
    target = position_of(center, "Instruction.Issued", after=20)
    tamper.change_one_byte(target, b'"title":"')
    # Someone who can write the database recomputes the chain from the change on, each
    # row in its own form.
    written = forms(store)
    with store.transaction() as tx:
        _seq, prev = audit.AuditChain._head(tx, target - 1)
        for n in center.iter_log(target):
            row = (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            prev = audit.link(prev, audit.chain_bytes(written[n.id], row))
            tx.execute("UPDATE audit_chain SET hash = ? WHERE position = ?", (prev.hex(), n.id))
    fault = verified(center, store, chain).first_fault
    signed = [c["position"] for c in audit.checkpoints(store) if c["position"] >= target]
    assert fault is not None
    assert fault.position == signed[0]
    assert "rewritten" in fault.reason


def test_a_checkpoint_re_signed_with_another_key_is_caught(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    recorded: dict[str, Any],
    tmp_path: Path,
) -> None:
    chain.catch_up()
    forger = audit.Signer.from_file(tmp_path / "forged.key", audit.DEFAULT_ORIGIN)
    row = audit.checkpoints(store)[2]
    original = audit.Checkpoint.parse(row["note"])
    forged = audit.Checkpoint.signed(
        forger, original.origin, original.size, original.head, original.position, original.signed_at
    )
    with store.transaction() as tx:
        tx.execute(
            "UPDATE audit_checkpoints SET note = ?, key_id = ? WHERE size = ?",
            (forged.note(), forged.key_id.hex(), original.size),
        )
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == original.position
    assert "not signed by the audit key" in fault.reason


@pytest.mark.parametrize("edit", ["size in the note", "head in the note", "stored size column"])
def test_a_checkpoint_whose_size_or_head_was_edited_is_caught(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    recorded: dict[str, Any],
    edit: str,
) -> None:
    chain.catch_up()
    row = audit.checkpoints(store)[1]
    lines = row["note"].split("\n")
    if edit == "size in the note":
        lines[1] = str(row["size"] + 1)
    elif edit == "head in the note":
        lines[2] = "A" + lines[2][1:] if lines[2][0] != "A" else "B" + lines[2][1:]
    with store.transaction() as tx:
        if edit == "stored size column":
            tx.execute(
                "UPDATE audit_checkpoints SET size = ? WHERE size = ?",
                (row["size"] - 1, row["size"]),
            )
        else:
            tx.execute(
                "UPDATE audit_checkpoints SET note = ? WHERE size = ?",
                ("\n".join(lines), row["size"]),
            )
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == row["position"]


def test_the_follower_refuses_to_extend_a_chain_whose_rows_were_removed(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, recorded: dict[str, Any]
) -> None:
    chain.catch_up()
    head = center.head_position()
    with store.transaction() as tx:
        tx.execute("DELETE FROM audit_chain WHERE position = ?", (head,))
    from tests.integration.audit.conftest import a_whole_loop

    a_whole_loop(center)
    with pytest.raises(audit.ChainBroken):
        chain.step()
    fault = verified(center, store, chain).first_fault
    assert fault is not None
    assert fault.position == head


def test_checkpoints_come_at_least_every_n_events_and_extend_each_other(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, recorded: dict[str, Any]
) -> None:
    chain.batch = 25  # catching up in batches larger than N still signs every N
    chain.catch_up()
    sizes = [c["size"] for c in audit.checkpoints(store)]
    assert all(b - a <= 10 for a, b in zip([0, *sizes], sizes, strict=False))
    assert sizes[-1] > center.head_position() - 10

"""Chain form 2 (ADR 0021): the stored bytes, framed; and chains begun in form 1.

Form 2 sees every byte of a stored event, also a change that canonical JSON (form 1)
lets through; a chain written in form 1 stays verifiable and is continued in form 2;
a row's form cannot be edited to let tampering through; and the export carries what an
outside auditor needs to recompute every link of both forms.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import audit
from domain.application import CommandCenter
from projections.store import ViewStore
from tests.integration.audit.conftest import (
    SWITCH,
    Tamper,
    a_whole_loop,
    forms,
    rechain_as_an_outsider,
)

#: An Instruction.Issued event, chained in form 2 in both kinds of chain.
ISSUED = 62


def verified(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain
) -> audit.Verification:
    assert chain.signer is not None
    return audit.verify(center, store, chain.signer.public, page=7)


def first_fault_at(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, position: int
) -> str:
    """Verification stops first at ``position``; answers why."""
    fault = verified(center, store, chain).first_fault
    assert fault is not None, "the change was not caught"
    assert fault.position == position
    return fault.reason


def test_the_frame_is_the_documented_bytes() -> None:
    """The framing an outside verifier implements from the README, byte for byte."""
    state = b'{"title":"caf\xc3\xa9"}'
    framed = audit.frame(7, "4d7f7a4a-1c05-5b9d-86af-64ebf13d2f59", 3, "domain.x:X.Happened", state)
    assert framed == (
        b"closedloop-chain/2\n7\n4d7f7a4a-1c05-5b9d-86af-64ebf13d2f59\n3\n"
        b"19:domain.x:X.Happened\n17:" + state
    )
    # A topic beyond ASCII is counted in bytes, not characters.
    framed = audit.frame(1, "a", 1, "domain.x:\xc9t\xe9", b"{}")
    assert b"\n14:domain.x:\xc3\x89t\xc3\xa9\n" in framed
    # Form 1 always begins with "{": the bytes of the two forms never meet.
    assert audit.canonical(7, "a", 3, "t", state).startswith(b"{")


def test_new_rows_are_chained_in_form_2_after_rows_chained_in_form_1(
    request: pytest.FixtureRequest,
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
) -> None:
    mixed = request.node.callspec.params["chain"] == "form 1 then 2"
    chain.checkpoint_now()
    written = forms(store)
    expected = {p: 1 if mixed and p <= SWITCH else 2 for p in range(1, center.head_position() + 1)}
    assert written == expected
    result = verified(center, store, chain)
    assert result.ok, result.faults
    # Checkpoints signed before the switch still check, beside those signed after it.
    signed = [c["position"] for c in audit.checkpoints(store)]
    assert result.checkpoints == len(signed)
    if mixed:
        assert any(p <= SWITCH for p in signed)
        assert any(p > SWITCH for p in signed)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"title":"I', b'"title":"\\u0049'),  # a letter written as its escape
        (b'"issuer":"HW","lead":"HW-DH"', b'"lead":"HW-DH","issuer":"HW"'),  # keys reordered
        (b'"title":"', b'"title": "'),  # a space after a colon
    ],
    ids=["escape", "keys reordered", "whitespace"],
)
def test_a_change_of_bytes_that_keeps_the_meaning_is_caught_in_form_2(
    center: CommandCenter,
    store: ViewStore,
    chain: audit.AuditChain,
    tamper: Tamper,
    old: bytes,
    new: bytes,
) -> None:
    chain.checkpoint_now()
    assert forms(store)[ISSUED] == 2
    before = tamper.replace(ISSUED, old, new)
    after = tamper.state(ISSUED)
    assert json.loads(after) == json.loads(before)
    row: tuple[Any, ...] = (ISSUED, "a", 1, "t")
    assert audit.canonical(*row, after) == audit.canonical(*row, before)  # form 1 is blind
    assert "differs" in first_fault_at(center, store, chain, ISSUED)


def test_a_character_beyond_ascii_written_as_its_escape_is_caught_in_form_2(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, tamper: Tamper
) -> None:
    chain.catch_up()
    target = max(forms(store))
    target = next(p for p in range(SWITCH + 1, target) if not tamper.state(p).isascii())
    state = tamper.state(target)
    first = next(c for c in state.decode() if not c.isascii())
    tamper.replace(target, first.encode(), f"\\u{ord(first):04x}".encode())
    assert json.loads(tamper.state(target)) == json.loads(state)
    first_fault_at(center, store, chain, target)


def test_a_row_marked_as_form_1_to_hide_a_change_is_caught_at_its_position(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, tamper: Tamper
) -> None:
    """The downgrade: a change form 1 cannot see, and the row's form edited to 1."""
    chain.checkpoint_now()
    tamper.replace(ISSUED, b'"title":"I', b'"title":"\\u0049')
    with store.transaction() as tx:
        tx.execute("UPDATE audit_chain SET form = 1 WHERE position = ?", (ISSUED,))
    assert "differs" in first_fault_at(center, store, chain, ISSUED)


def _edit_a_form_and_verify(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, to: int
) -> None:
    chain.checkpoint_now()
    written = forms(store)
    target = next(p for p in sorted(written) if written[p] != to and p > 10)
    with store.transaction() as tx:
        tx.execute("UPDATE audit_chain SET form = ? WHERE position = ?", (to, target))
    reason = first_fault_at(center, store, chain, target)
    assert ("unknown form" if to == 3 else "differs") in reason


@pytest.mark.parametrize("to", [1, 3])
def test_a_row_whose_form_alone_was_edited_is_caught_at_its_position(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain, to: int
) -> None:
    _edit_a_form_and_verify(center, store, chain, to)


@pytest.mark.parametrize("chain", ["form 1 then 2"], indirect=True)
def test_a_form_1_row_marked_as_form_2_is_caught_at_its_position(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain
) -> None:
    # Only a chain begun in form 1 has a row to mark as form 2.
    _edit_a_form_and_verify(center, store, chain, 2)


def test_a_chain_table_from_before_forms_is_upgraded_and_continued_in_form_2(
    center: CommandCenter,
    store: ViewStore,
    audit_settings: audit.AuditSettings,
    recorded: dict[str, Any],
    tamper: Tamper,
) -> None:
    # The chain as a follower from before ADR 0021 left it: no form column.
    old = audit.AuditChain.beside(center, store, audit_settings)
    old.form = 1
    old.catch_up()
    switched = center.head_position()
    with store.transaction() as tx:
        tx.execute("ALTER TABLE audit_chain DROP COLUMN form")
    a_whole_loop(center)

    today = audit.AuditChain.beside(center, store, audit_settings)
    today.checkpoint_now()
    written = forms(store)
    assert {p for p, f in written.items() if f == 1} == set(range(1, switched + 1))
    assert {p for p, f in written.items() if f == 2} == set(
        range(switched + 1, center.head_position() + 1)
    )
    assert verified(center, store, today).ok

    tamper.change_one_byte(switched + 5, b'"command":"')
    tamper.change_one_byte(switched - 5, b'"command":"')
    first_fault_at(center, store, today, switched - 5)


def test_an_export_of_a_chain_that_switched_rechains_with_sha256_and_base64_and_rfc8785(
    center: CommandCenter, store: ViewStore, chain: audit.AuditChain
) -> None:
    checkpoint = chain.checkpoint_now()
    assert checkpoint is not None
    lines = [json.loads(x) for x in audit.export_lines(center, store, page=9)]
    assert rechain_as_an_outsider(lines) == checkpoint.head
    # A slice across the switch rechains from the hash before it.
    part = [json.loads(x) for x in audit.export_lines(center, store, start=SWITCH - 3, stop=50)]
    assert [x["position"] for x in part] == list(range(SWITCH - 3, 51))
    before, last = bytes.fromhex(part[0]["chain"]["prev"]), part[-1]["chain"]["hash"]
    assert rechain_as_an_outsider(part, before).hex() == last

"""The CAP sender registry and the intake's checks on the in-memory store (ADR 0041): who
may bind, who may speak, and messages recorded before senders were bound."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.cap_xml import parse_cap
from domain.cap import (
    CapAreaUnplaced,
    CapMessage,
    CapOutsideSubtree,
    CapReferenceRefused,
    CapSenderRefused,
    legacy_cap_message_id,
)
from domain.cap_sender_commands import CapSenderCases
from domain.cap_senders import CapSenders
from domain.errors import CommandIdReused, InvalidValue, NotPermitted
from domain.intake import Intake
from domain.meta import Actor, Context
from domain.warning import WarningStatus
from tests.api.cap_builders import haiwan_alert, key
from tests.unit.intake.conftest import REGISTRAR, bind_senders

MET = "met@haiwan"
DISTRICT = Actor(person="district gateway", unit="HW", role="monitor")
OFFICE = Actor(person="donghu gateway", unit="HW-DH", role="monitor")


def cap(intake: Intake, actor: Actor, body: bytes, token: str | None = None):  # type: ignore[no-untyped-def]
    return intake.receive_cap(Context(actor), parse_cap(body), token=token)


# -- the registry's rule, for any sequence of bindings -------------------------------------

SENDERS_ = st.sampled_from(["a@x", "b@x", "c@x"])
UNITS = st.lists(st.sampled_from(["HW", "HW-DH", "HW-XL"]), max_size=3)
TOKENS = st.lists(st.sampled_from(["tok_1", "tok_2"]), max_size=2)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("bind"), SENDERS_, UNITS, TOKENS), st.tuples(st.just("unbind"), SENDERS_)
    ),
    max_size=12,
)


@given(STEPS)
def test_a_token_speaks_for_a_sender_only_through_its_last_binding(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    meta = Context(REGISTRAR).meta("BindCapSender", UUID(int=1))
    registry = CapSenders(meta=meta)
    last: dict[str, tuple[list[str], list[str]]] = {}
    for step in steps:
        try:
            if step[0] == "bind":
                registry.bind(step[1], list(step[2]), list(step[3]), meta)
                last[step[1]] = (list(step[2]), list(step[3]))
            else:
                registry.unbind(step[1], "moved", meta)
                del last[step[1]]
        except InvalidValue:
            continue  # an empty binding, or unbinding what is not bound: nothing changed
    for sender in ("a@x", "b@x", "c@x"):
        for unit in ("HW", "HW-DH", "HW-XL", "HW-DH-QS"):
            for token in ("tok_1", "tok_2", None):
                units, tokens = last.get(sender, ([], []))
                expected = unit in units or (token is not None and token in tokens)
                assert registry.may_speak(sender, unit, token) is expected


# -- who binds --------------------------------------------------------------------------


def test_an_admin_binds_within_its_subtree_and_the_system_is_trusted(intake: Intake) -> None:
    book = CapSenderCases(intake.center)
    office = Actor(person="dh admin", unit="HW-DH", role="admin")
    book.bind(Context(office), "qs@x", units=["HW-DH-QS"])
    book.bind(Context(REGISTRAR), "hw@x", units=["HW"])

    with pytest.raises(NotPermitted, match="only to units under it"):
        book.bind(Context(office), "xl@x", units=["HW-XL"])
    with pytest.raises(NotPermitted, match="outside HW-DH's subtree"):
        book.bind(Context(office), "hw@x", units=["HW-DH"])
    with pytest.raises(NotPermitted, match="only an admin"):
        book.bind(Context(DISTRICT), "m@x", units=["HW"])
    book.bind(Context(Actor(person="cli", unit="SYSTEM", role="system")), "s@x", units=["HW"])
    # After the demo's own senders, in the order they were first bound.
    assert [b["sender"] for b in book.bindings()][-3:] == ["qs@x", "hw@x", "s@x"]


def test_a_command_id_given_again_is_a_retry_only_for_the_same_binding(intake: Intake) -> None:
    book = CapSenderCases(intake.center)
    ctx = Context(REGISTRAR, command_id="HC:bind-1")
    first = book.bind(ctx, "a@x", units=["HW"])

    again = book.bind(ctx, "a@x", units=["HW"])

    assert first.recorded
    assert not again.recorded
    with pytest.raises(CommandIdReused):
        book.bind(ctx, "b@x", units=["HW"])
    assert "b@x" not in {b["sender"] for b in book.bindings()}


def test_a_deactivated_unit_speaks_for_no_sender(intake: Intake) -> None:
    intake.center.deactivate_unit(Context(REGISTRAR), "E-NGFAB", "closed down")

    with pytest.raises(InvalidValue, match="deactivated"):
        CapSenderCases(intake.center).bind(Context(REGISTRAR), "fab@x", units=["E-NGFAB"])


# -- who speaks ---------------------------------------------------------------------------


def test_a_unit_is_bound_as_itself_not_with_the_units_above_it(intake: Intake) -> None:
    bind_senders(intake, MET, units=("HW",))

    with pytest.raises(CapSenderRefused):
        cap(intake, OFFICE, haiwan_alert("A-1", sender=MET))

    assert cap(intake, DISTRICT, haiwan_alert("A-1", sender=MET)).outcome == "raised"


def test_every_refusal_leaves_the_record_as_it_was(intake: Intake) -> None:
    bind_senders(intake, MET, units=("HW", "HW-DH"))
    raised = cap(intake, DISTRICT, haiwan_alert("R-1", sender=MET, area="西岭"))
    bind_senders(intake, "dh@x", units=("HW-DH",))
    head = intake.center.head_position()
    cancel = {"msg": "Cancel", "sent": "2026-07-01T09:00:00+08:00"}

    for refusal, body in [
        (CapOutsideSubtree, haiwan_alert("R-2", sender=MET, area="西岭")),
        (CapAreaUnplaced, haiwan_alert("R-3", sender=MET, area="Atlantis")),
        (CapOutsideSubtree, haiwan_alert("R-4", sender=MET, refs=key("R-1", sender=MET), **cancel)),
        (
            CapReferenceRefused,
            haiwan_alert("R-5", sender="dh@x", refs=key("R-1", sender=MET), **cancel),
        ),
    ]:
        with pytest.raises(refusal):
            cap(intake, OFFICE, body)

    assert intake.center.head_position() == head
    assert intake.center.warning(raised.warning_ids[0]).status == WarningStatus.RAISED


# -- messages received before senders were bound ------------------------------------------


def _legacy(intake: Intake, sender_key: str, unit: str, wids: list[UUID]) -> None:
    """A message recorded as the release before ADR 0041 recorded it."""
    lid = legacy_cap_message_id(sender_key)
    ctx = Context(Actor(person="old gateway", unit=unit, role="monitor"))
    message = CapMessage._create(
        CapMessage.Received,
        id=lid,
        key=sender_key,
        msg_type="Alert",
        status="Actual",
        references=[],
        warning_ids=wids,
        outcome="raised",
        meta=ctx.meta("ReceiveCap", lid),
    )
    intake.center.save(message)


def test_a_message_recorded_before_by_a_bound_unit_is_a_replay_and_can_be_cancelled(
    intake: Intake,
) -> None:
    bind_senders(intake, MET, units=("HW",))
    wid = cap(intake, DISTRICT, haiwan_alert("OLD-0", sender=MET)).warning_ids[0]
    _legacy(intake, key("OLD-1", sender=MET), "HW", [wid])

    again = cap(intake, DISTRICT, haiwan_alert("OLD-1", sender=MET))
    cancel = haiwan_alert(
        "OLD-2",
        sender=MET,
        msg="Cancel",
        refs=key("OLD-1", sender=MET),
        sent="2026-07-01T09:00:00+08:00",
    )
    withdrawn = cap(intake, DISTRICT, cancel)

    assert again.replayed
    assert again.warning_ids == [wid]
    assert withdrawn.outcome == "withdrew"


def test_a_key_someone_else_took_before_senders_were_bound_holds_back_nothing(
    intake: Intake,
) -> None:
    bind_senders(intake, MET, units=("HW",))
    _legacy(intake, key("TAKEN-1", sender=MET), "HW-DH-HP", [])  # the community's "Test"

    real = cap(intake, DISTRICT, haiwan_alert("TAKEN-1", sender=MET))

    assert not real.replayed
    assert real.outcome == "raised"

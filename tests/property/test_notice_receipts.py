"""Receipts of a notice (ADR 0077), whatever the order and timing of the attempts: a unit
confirms at most once, and on time + late + missing = addressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ReceiptAlreadyConfirmed, ReceiptRefused
from domain.meta import Meta
from domain.notice import Notice

UNITS = [f"U{i}" for i in range(6)]
SENT = datetime(2026, 3, 13, 1, 0, tzinfo=UTC)
LIMIT = SENT + timedelta(hours=4)


def _meta(unit: str, command: str) -> Meta:
    return Meta(
        person=f"p-{unit}",
        unit=unit,
        role="duty_officer",
        command=command,
        command_id=uuid4().hex,
        occurred_at=SENT,
        loop_id=uuid4(),
    )


@given(
    addressed=st.lists(st.sampled_from(UNITS), min_size=1, unique=True),
    attempts=st.lists(
        st.tuples(st.sampled_from([*UNITS, "OUTSIDER"]), st.integers(0, 8 * 60)), max_size=30
    ),
    reminded_at=st.none() | st.integers(0, 8 * 60),
)
def test_a_unit_confirms_at_most_once_and_the_counts_add_up(
    addressed: list[str], attempts: list[tuple[str, int]], reminded_at: int | None
) -> None:
    n = Notice(
        sender="S",
        title="t",
        body="b",
        kind="meeting",
        confirm_by=LIMIT,
        addressees=addressed,
        meta=_meta("S", "SendNotice"),
    )
    confirmed: dict[str, datetime] = {}
    for unit, minutes in sorted(attempts, key=lambda a: a[1]):
        at = SENT + timedelta(minutes=minutes)
        if reminded_at is not None and minutes >= reminded_at:
            n.remind_late(SENT + timedelta(minutes=reminded_at), _meta("S", "Remind"))
        try:
            n.confirm_receipt(unit, at, _meta(unit, "ConfirmReceipt"))
        except (ReceiptAlreadyConfirmed, ReceiptRefused):
            assert unit in confirmed or unit not in addressed
            continue
        assert unit not in confirmed
        confirmed[unit] = at

    assert set(n.receipts) == set(confirmed)
    counts = n.counts()
    assert counts["on_time"] + counts["late"] + counts["missing"] == counts["addressed"]
    assert counts["on_time"] == sum(1 for at in confirmed.values() if at <= LIMIT)
    assert counts["missing"] == len(set(addressed) - set(confirmed))
    # The reminder, if any, went once, only to units unconfirmed when it was sent.
    assert set(n.reminded) <= set(addressed)

"""The indicators view's own bookkeeping for fast reports (ADR 0024): the links between a
case's verifications, and the numbers it gives to units and (theme, level) pairs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.indicators import IndicatorsView, Numbers, chain_verifications
from projections.store import SQLiteViewStore

# A verification: (case, business time in seconds, accepted). Times repeat and go
# backwards on purpose: verifications may be recorded with an earlier business time.
verifications = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 40), st.booleans()), max_size=25
)


def linked(recorded: list[tuple[int, int, bool]]) -> list[dict[str, Any]]:
    """The rows as the view keeps them: each case linked again at each verification."""
    cases: dict[int, list[dict[str, Any]]] = {}
    for seq, (case, at, accepted) in enumerate(recorded, start=1):
        rows = cases.setdefault(case, [])
        rows.append({"case_id": case, "seq": seq, "at_epoch": at, "accepted": int(accepted)})
        chain_verifications(rows)
    return [row for rows in cases.values() for row in rows]


@given(recorded=verifications, start=st.integers(0, 41), length=st.integers(1, 41))
def test_the_rows_of_a_period_count_each_verified_and_each_reworked_case_once(
    recorded: list[tuple[int, int, bool]], start: int, length: int
) -> None:
    end = start + length
    rows = linked(recorded)
    in_period = [r for r in rows if start <= r["at_epoch"] < end]

    verified = sum(r["prev_epoch"] is None or r["prev_epoch"] < start for r in in_period)
    reworked = sum(
        not r["accepted"] and (r["prev_rejected_epoch"] is None or r["prev_rejected_epoch"] < start)
        for r in in_period
    )

    assert verified == len({case for case, at, _ in recorded if start <= at < end})
    assert reworked == len({case for case, at, ok in recorded if start <= at < end and not ok})


@pytest.fixture
def store() -> Iterator[SQLiteViewStore]:
    store = SQLiteViewStore.temporary()
    store.reset(IndicatorsView(store))
    try:
        yield store
    finally:
        store.discard()


def test_a_text_keeps_its_number_and_a_new_one_takes_the_next(store: SQLiteViewStore) -> None:
    with store.transaction() as tx:
        first = Numbers()
        assert [first.of(tx, n) for n in ("unit:HW", "theme:reservoir:2", "unit:HW")] == [1, 2, 1]
        first.flush(tx)
    with store.transaction() as tx:
        later = Numbers()
        later.load(tx, ["unit:HW", "unit:HW-DH"])
        assert later.of(tx, "unit:HW-DH") == 3
        assert later.of(tx, "theme:reservoir:2") == 2
        later.flush(tx)
        assert sorted(tx.execute("SELECT name, no FROM indicator_numbers")) == [
            ("theme:reservoir:2", 2),
            ("unit:HW", 1),
            ("unit:HW-DH", 3),
        ]


def number_then_fail(store: SQLiteViewStore) -> None:
    with store.transaction() as tx:
        lost = Numbers()
        lost.of(tx, "unit:HW")
        lost.flush(tx)
        raise RuntimeError("the batch failed after numbering")


def test_a_number_given_in_a_batch_that_failed_is_given_again(store: SQLiteViewStore) -> None:
    with pytest.raises(RuntimeError):
        number_then_fail(store)
    with store.transaction() as tx:
        again = Numbers()
        assert again.of(tx, "unit:HW-XL") == 1
        again.flush(tx)

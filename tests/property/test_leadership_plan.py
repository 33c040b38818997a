"""The plan every copy of a follower computes alike (ADR 0074): each piece of work one
leader, an even share each, a newer version never leading, and a plan that stands."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given
from hypothesis import strategies as st

from projections.leadership import Copy, plan

PIECES = ["units", "warnings", "instructions", "loops", "indicators", "audit-chain"]


@st.composite
def copies(draw: st.DrawFn, *, versions: bool = False) -> list[Copy]:
    """Live copies, each leading some pieces (never two the same), maybe of other versions."""
    count = draw(st.integers(1, 5))
    pieces = draw(st.lists(st.sampled_from(PIECES), min_size=1, unique=True))
    leader = {p: draw(st.integers(-1, count - 1)) for p in pieces}
    return [
        Copy(
            copy_id=f"copy-{n}",
            host="here",
            pid=n,
            started="2026-12-07T12:00:00+00:00",
            versions={p: draw(st.integers(1, 2)) if versions else 1 for p in pieces},
            leads=frozenset(p for p in pieces if leader[p] == n),
        )
        for n in range(count)
    ]


@given(copies())
def test_every_piece_gets_one_leader_and_no_copy_more_than_its_share(live: list[Copy]) -> None:
    chosen = plan(live)
    pieces = set(live[0].versions)
    assert set(chosen) == pieces
    assert all(chosen[p] is not None for p in pieces)
    share = math.ceil(len(pieces) / len(live))
    for c in live:
        assert sum(1 for cid in chosen.values() if cid == c.copy_id) <= share


@given(copies())
def test_a_plan_carried_out_is_planned_again_unchanged(live: list[Copy]) -> None:
    chosen = plan(live)
    carried = [
        dataclasses.replace(c, leads=frozenset(p for p, cid in chosen.items() if cid == c.copy_id))
        for c in live
    ]
    assert plan(carried) == chosen


@given(copies(versions=True))
def test_a_piece_never_goes_to_a_copy_with_a_newer_version_than_another(
    live: list[Copy],
) -> None:
    for piece, cid in plan(live).items():
        oldest = min(c.versions[piece] for c in live)
        (leader,) = [c for c in live if c.copy_id == cid]
        assert leader.versions[piece] == oldest


@given(copies())
def test_the_order_the_rows_come_in_does_not_change_the_plan(live: list[Copy]) -> None:
    assert plan(list(reversed(live))) == plan(live)

"""Property: whatever merges and un-merges a dispatcher tries, in any order, among a few
warnings, the merges never form a circle nor a chain: every warning is either a case of
its own or merged into one main case that is itself merged into nothing; each main case
lists exactly the warnings merged into it; a refused step stores nothing (ADR 0082)."""

from __future__ import annotations

from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CommandCenter
from domain.demo import load_demo
from domain.errors import DomainError
from domain.meta import Actor, Context
from domain.warning import WarningStatus

N = 5
STEPS = st.lists(
    st.tuples(st.booleans(), st.integers(0, N - 1), st.integers(0, N - 1)), max_size=25
)


def _dispatcher() -> Context:
    return Context(Actor(person="p-HW", unit="HW", role="dispatcher"))


def _world() -> tuple[CommandCenter, list[UUID]]:
    app = CommandCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    load_demo(app)
    ids = [
        app.raise_warning(
            Context(Actor(person="m", unit="HW", role="monitor")),
            source="gauge",
            rule="RES-FLOOD-LIMIT",
            theme="reservoir",
            level=2,
            title=f"gauge {n}",
            unit="HW-WATER",
            dedup_key=f"k{n}",
        ).id
        for n in range(N)
    ]
    return app, ids


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_merges_never_form_a_circle_or_a_chain(steps: list[tuple[bool, int, int]]) -> None:
    app, ids = _world()
    for merge, a, b in steps:
        before = app.head_position()
        try:
            if merge:
                app.merge_warning(_dispatcher(), ids[a], ids[b], "one matter")
            else:
                app.unmerge_warning(_dispatcher(), ids[a], "two matters")
        except DomainError:
            assert app.head_position() == before
        warnings = {wid: app.warning(wid) for wid in ids}
        for wid, w in warnings.items():
            if w.merged_into is None:
                assert w.status != WarningStatus.MERGED
                assert set(w.merged) == {o for o, x in warnings.items() if x.merged_into == wid}
            else:
                main = warnings[w.merged_into]
                assert w.status == WarningStatus.MERGED
                assert w.merged == ()
                assert main.merged_into is None
                assert wid in main.merged
                assert w.merged_into != wid

"""Property: for random loops, a whole month's report read from the month rollup equals
the report read from the facts, for any unit and any moment (ADR 0097); and the rollup
the projection kept, batch after batch, is the rollup made anew from the fact rows."""

from __future__ import annotations

from datetime import UTC, timedelta
from uuid import UUID

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar
from domain.demo import load_demo
from domain.errors import DomainError
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from projections.indicator_months import MONTHS
from projections.indicators import rebuild_month_rollup
from projections.reports import SignForLimits, reading, resolve_period, unit_report
from projections.store import SQLiteViewStore
from tests.integration.reports.conftest import as_unit, local, project
from tests.integration.reports.test_projected_equals_naive import (
    LEADS,
    START,
    LoopSpec,
    loops,
    play,
)
from tests.unit.builders import FrozenClockCenter

#: After playing a loop: none, a dispute of its dispatch (upheld or not), a merge of its
#: warning into the warning of the loop before (then, perhaps, undone).
EXTRAS = st.sampled_from(["none", "dispute upheld", "dispute refused", "merge", "merge undone"])


def _extra(center: FrozenClockCenter, extra: str, spec: LoopSpec, iid: UUID | None) -> None:
    at = START + timedelta(minutes=spec.start_minutes, seconds=30)
    try:
        with freeze_time(at):
            if extra.startswith("dispute") and iid is not None:
                lead = center.instruction(iid).lead
                center.file_dispute(as_unit(lead), iid, "not ours")
                upheld = extra == "dispute upheld"
                other = next(u for u in LEADS if u != lead)
                center.arbitrate_dispute(
                    as_unit("HW"), iid, upheld=upheld, to_unit=other if upheld else None,
                    note=None if upheld else "yours",
                )  # fmt: skip
    except DomainError:
        pass  # the case's state refuses a dispute now: the loop stays as it was


def _new_ids(center: FrozenClockCenter, seen: int) -> tuple[list[UUID], list[UUID], int]:
    """The instructions issued and the warnings raised since the log's first ``seen``
    events, and how many events the log now holds."""
    log = list(center.iter_log())
    events = [center.mapper.to_domain_event(n) for n in log[seen:]]
    issued = [e.originator_id for e in events if isinstance(e, Instruction.Issued)]
    raised = [e.originator_id for e in events if isinstance(e, EarlyWarning.Raised)]
    return issued, raised, len(log)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(st.tuples(loops, EXTRAS), min_size=1, max_size=10),
    month=st.sampled_from(["2026-03-15", "2026-04-15", "2026-05-15"]),
    as_of_hours=st.integers(0, 90 * 24),
    top=st.sampled_from(["HC", "HW", "HW-DH", "HW-XL", "HW-DH-QS"]),
)
def test_a_month_read_from_the_rollup_equals_the_month_read_from_the_facts(
    calendar: WorkingCalendar,
    specs: list[tuple[LoopSpec, str]],
    month: str,
    as_of_hours: int,
    top: str,
) -> None:
    center = FrozenClockCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=calendar)
    store = SQLiteViewStore.temporary()
    try:
        with freeze_time(local("2026-03-01 09:00")):
            load_demo(center)
        warnings: list[UUID] = []
        seen = 0
        for n, (spec, extra) in enumerate(specs):
            play(center, n, spec)
            issued, raised, seen = _new_ids(center, seen)
            _extra(center, extra, spec, issued[0] if issued else None)
            if extra.startswith("merge") and raised and warnings:
                moment = START + timedelta(minutes=spec.start_minutes, seconds=45)
                try:
                    with freeze_time(moment):
                        center.merge_warning(as_unit("HW"), raised[0], warnings[-1], "same")
                        if extra == "merge undone":
                            center.unmerge_warning(as_unit("HW"), raised[0], "not the same")
                except DomainError:
                    pass
            warnings += raised
            # Project after each loop: the rollup is kept batch after batch.
            project(center, store)
        period = resolve_period(zone="Asia/Shanghai", today=START.date(), period="month", on=month)
        as_of = (START + timedelta(hours=as_of_hours)).astimezone(UTC)

        from_rollup = unit_report(store, top, period, as_of=as_of)
        from_facts = unit_report(store, top, period, as_of=as_of, months=False)

        assert from_rollup == from_facts
        # …and the first was read from the rollup indeed.
        read = reading._read_month(store, top, period, as_of, SignForLimits())
        assert read is not None
        assert not isinstance(read, reading._NotAMonth)
        kept = store.table_rows(MONTHS)
        with store.transaction() as tx:
            rebuild_month_rollup(tx, calendar.zone)
        assert store.table_rows(MONTHS) == kept
    finally:
        store.discard()
        center.close()

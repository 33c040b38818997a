"""Property: for random loops, the projected report equals the figures computed directly
from the events by a deliberately naive function written here, independently of the view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.demo import load_demo
from domain.errors import DomainError
from domain.instruction import Instruction
from domain.warning import EarlyWarning
from projections.reports import Durations, Period, SignForLimits, unit_report
from projections.store import SQLiteViewStore
from tests.integration.reports.conftest import as_unit, local, project
from tests.unit.builders import FrozenClockCenter

LEADS = ["HW-DH", "HW-DH-QS", "HW-DH-HP", "HW-XL", "HW-XL-SQ", "HW-NG-GK"]
START = local("2026-03-20 00:00")
THEMES = ["reservoir", "environment", "meteorological"]


@dataclass
class LoopSpec:
    lead: int
    start_minutes: int
    urgent: bool
    due_hours: int
    warning: tuple[int, int, int | None] | None  # theme, level, minutes to acknowledge
    redirect_to: int | None
    sign_after: int | None
    verdicts: list[bool]
    step_minutes: int
    cancel: bool
    emergency: bool = False
    #: After signing for it: ask to defer; approved or not; minutes until resumed (None:
    #: still deferred).
    defer: tuple[bool, int | None] | None = None


loops = st.builds(
    LoopSpec,
    lead=st.integers(0, len(LEADS) - 1),
    start_minutes=st.integers(0, 50 * 24 * 60),
    urgent=st.booleans(),
    due_hours=st.integers(1, 30),
    warning=st.none()
    | st.tuples(st.integers(0, 2), st.integers(1, 4), st.none() | st.integers(0, 3000)),
    redirect_to=st.none() | st.integers(0, len(LEADS) - 1),
    sign_after=st.none() | st.integers(0, 4000),
    verdicts=st.lists(st.booleans(), max_size=3),
    step_minutes=st.integers(1, 3000),
    cancel=st.booleans(),
    emergency=st.booleans(),
    defer=st.none() | st.tuples(st.booleans(), st.none() | st.integers(1, 6000)),
)


def play(center: CommandCenter, n: int, spec: LoopSpec) -> None:
    t = START + timedelta(minutes=spec.start_minutes)

    def at(command: Any, actor: str, *args: Any, **kwargs: Any) -> Any:
        with freeze_time(t):
            return command(as_unit(actor), *args, **kwargs)

    warning_ids: list[UUID] = []
    if spec.warning is not None:
        theme, level, ack = spec.warning
        wid = at(
            center.raise_warning,
            "HW",
            source="prop",
            rule="r",
            theme=THEMES[theme],
            level=level,
            title="w",
            unit=LEADS[spec.lead],
            dedup_key=f"w{n}",
        ).id
        warning_ids.append(wid)
        if ack is not None:
            t += timedelta(minutes=ack)
            at(center.acknowledge_warning, "HW", wid)
    due = WorkingDuration(seconds=3600 * spec.due_hours)
    iid = at(
        center.issue_instruction,
        "HW",
        lead_unit=LEADS[spec.lead],
        title=f"loop {n}",
        priority="urgent" if spec.urgent else "normal",
        due_in=due,
        warning_ids=warning_ids,
        emergency=spec.emergency,
    ).id
    lead = LEADS[spec.lead]
    step = timedelta(minutes=spec.step_minutes)
    if spec.redirect_to is not None and LEADS[spec.redirect_to] != lead:
        t += step
        at(center.return_to_issuer, lead, iid, "not ours")
        t += step
        at(center.redirect, "HW", iid, to_unit=LEADS[spec.redirect_to])
        lead = LEADS[spec.redirect_to]
    if spec.sign_after is not None:
        t += timedelta(minutes=spec.sign_after)
        at(center.sign_for, lead, iid)
        if spec.defer is not None:
            t += step
            approve, resume_after = spec.defer
            try:
                at(center.request_deferral, lead, iid, "a court case")
                t += step
                at(center.decide_deferral, "HW", iid, granted=approve, note="no")
            except DomainError:  # asked or approved after the deadline: refused
                if center.instruction(iid).pending_deferral is not None:
                    at(center.decide_deferral, "HW", iid, granted=False, note="late")
            if center.instruction(iid).is_deferred:
                if resume_after is None:
                    if spec.cancel:
                        t += step
                        at(center.cancel_instruction, "HW", iid, "no longer needed")
                    return
                t += timedelta(minutes=resume_after)
                at(center.resume, "HW", iid)
        for accepted in spec.verdicts:
            t += step
            at(center.submit, lead, iid, "done")
            t += step
            at(center.verify, "HW", iid, accepted=accepted, note=None if accepted else "again")
            if accepted:
                return
    if spec.cancel:
        t += step
        at(center.cancel_instruction, "HW", iid, "no longer needed")


@dataclass
class Case:
    unit: str
    priority: str
    filed: datetime
    deadline: datetime
    received: datetime
    signed: datetime | None = None
    closed: datetime | None = None
    cancelled: datetime | None = None
    verdicts: list[tuple[datetime, bool]] = field(default_factory=list)
    emergency: bool = False
    deferred: bool = False


def naive(
    center: CommandCenter,
    calendar: WorkingCalendar,
    units: set[str],
    p: Period,
    as_of: datetime,
    only: Callable[[Case], bool] | None = None,
) -> dict[str, Any]:
    """The indicators of ``units`` straight from the log, one plain pass, no SQL
    (``only``: of the cases it takes, and no warnings)."""
    cases: dict[UUID, Case] = {}
    raised: dict[UUID, tuple[str, datetime]] = {}
    acks: list[int] = []
    warnings_raised = 0
    for notification in center.iter_log():
        e = center.mapper.to_domain_event(notification)
        when = e.meta.occurred_at if hasattr(e, "meta") else None
        if isinstance(e, EarlyWarning.Raised):
            raised[e.originator_id] = (e.unit, when)
            warnings_raised += e.unit in units and p.start <= when < p.end
        elif isinstance(e, EarlyWarning.Acknowledged):
            unit, at = raised[e.originator_id]
            if unit in units and p.start <= when < p.end:
                acks.append(max(0, int((when - at).total_seconds())))
        elif isinstance(e, Instruction.Issued):
            cases[e.originator_id] = Case(
                e.lead, e.priority, when, e.deadline, when, emergency=e.emergency
            )
        elif isinstance(e, Instruction.DeferralDecided):
            cases[e.originator_id].deferred |= e.granted
        elif isinstance(e, Instruction.DeferralEnded):
            c = cases[e.originator_id]
            c.deferred, c.deadline = False, e.deadline
        elif isinstance(e, Instruction.Redirected):
            c = cases[e.originator_id]
            c.unit, c.received = e.to_unit, when
        elif isinstance(e, Instruction.SignedFor):
            c = cases[e.originator_id]
            if e.unit == c.unit and c.signed is None:
                c.signed = when
        elif isinstance(e, Instruction.ExtensionDecided):
            cases[e.originator_id].deadline = e.deadline
        elif isinstance(e, Instruction.Verified):
            c = cases[e.originator_id]
            c.verdicts.append((when, e.accepted))
            if e.accepted:
                c.closed = when
        elif isinstance(e, Instruction.Cancelled):
            cases[e.originator_id].cancelled = when
    mine = [c for c in cases.values() if c.unit in units and (only is None or only(c))]
    if only is not None:
        warnings_raised, acks = 0, []

    def within(t: datetime | None) -> bool:
        return t is not None and p.start <= t < p.end

    # Due so far: deadlines in [start, min(end, as_of)) (ADR 0071).
    due = [
        c
        for c in mine
        if p.start <= c.deadline < min(p.end, as_of)
        and not (c.cancelled is not None and (c.deferred or c.cancelled <= c.deadline))
    ]
    deferred = [c for c in due if c.deferred]
    closed = [c for c in due if c.closed is not None and c.closed < p.end]
    signed = [c for c in mine if within(c.signed)]
    limits = SignForLimits()

    def on_time(c: Case) -> bool:
        assert c.signed is not None
        if c.priority == "urgent":
            return (c.signed - c.received).total_seconds() <= limits.urgent_seconds
        work = calendar.working_time_between(c.received, c.signed)
        return work.total_seconds() <= limits.working_seconds

    def ended(c: Case) -> datetime | None:
        return c.closed or c.cancelled

    return {
        "filed": sum(within(c.filed) for c in mine),
        "due": len(due),
        "deferred": len(deferred),
        "closed": len(closed),
        "closed_on_time": sum(c.closed is not None and c.closed <= c.deadline for c in closed),
        "verified": sum(any(within(t) for t, _ in c.verdicts) for c in mine),
        "reworked": sum(any(within(t) and not ok for t, ok in c.verdicts) for c in mine),
        "signed": len(signed),
        "signed_on_time": sum(on_time(c) for c in signed),
        "time_to_sign_for": Durations.of(
            max(0, int((c.signed - c.received).total_seconds())) for c in signed if c.signed
        ),
        "time_to_close": Durations.of(
            max(0, int((c.closed - c.filed).total_seconds()))
            for c in mine
            if c.closed is not None and within(c.closed)
        ),
        "time_to_acknowledge": Durations.of(acks),
        "warnings_raised": warnings_raised,
        "overdue_now": sum(
            c.filed <= as_of
            and not c.deferred
            and c.deadline < as_of
            and ((end := ended(c)) is None or end > as_of)
            for c in mine
        ),
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(loops, min_size=1, max_size=12),
    day=st.integers(0, 40),
    days=st.integers(1, 31),
    as_of_hours=st.integers(0, 60 * 24),
    top=st.sampled_from(["HC", "HW", "HW-DH", "HW-XL", "HW-DH-QS"]),
)
def test_projected_figures_equal_figures_computed_directly_from_the_events(
    calendar: WorkingCalendar,
    specs: list[LoopSpec],
    day: int,
    days: int,
    as_of_hours: int,
    top: str,
) -> None:
    center = FrozenClockCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=calendar)
    store = SQLiteViewStore.temporary()
    try:
        with freeze_time(local("2026-03-01 09:00")):
            load_demo(center)
        for n, spec in enumerate(specs):
            play(center, n, spec)
        project(center, store)
        start = START + timedelta(days=day)
        period = Period(start, start + timedelta(days=days), "Asia/Shanghai", "random")
        as_of = (START + timedelta(hours=as_of_hours)).astimezone(UTC)
        units = {top} | {u.code for u in center.units() if top in center.ancestors(u.code)}

        report = unit_report(store, top, period, as_of=as_of)
        expected = naive(center, calendar, units, period, as_of)

        assert report is not None
        got = {name: getattr(report.total, name) for name in expected}
        assert got == expected
        # Emergency and urgent cases on their own (ADR 0071).
        for section, only in (
            (report.emergency, lambda c: c.emergency),
            (report.urgent, lambda c: c.priority == "urgent"),
        ):
            own = naive(center, calendar, units, period, as_of, only)
            assert {name: getattr(section, name) for name in own} == own
        t = report.total
        assert t.on_time_closure_rate.denominator == t.due - t.deferred
    finally:
        store.discard()
        center.close()

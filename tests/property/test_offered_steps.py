"""A step is offered on the instruction page exactly when the domain would take it
(ADR 0056): random walks over an instruction's life, each step tried by a unit whether
it was offered or not, the command's answer held against the offer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.screens.offered import (
    ROLE_OF,
    STEPS,
    instructable_units,
    may_uphold,
    offered_steps,
    redirect_targets,
)
from api.tokens import Principal
from closedloop.bootstrap import load_calendar
from closedloop.settings import DEFAULT_CALENDAR
from domain.application import CommandCenter
from domain.calendar import WorkingDuration
from domain.demo import load_demo
from domain.disposition import disposition_id
from domain.errors import DomainError
from domain.instruction import AssigneeStatus, Instruction
from domain.meta import Actor, Context, now

#: The units that act: the issuer, one above it, the lead, the units below the lead,
#: a department across, a neighbour that is no part of it.
UNITS = ("HW", "HC", "HW-DH", "HW-DH-QS", "HW-DH-HP", "HW-WATER", "HW-XL")
BOTH = ("handler", "dispatcher")
#: The steps that take an instruction on through its life rather than end or pause it.
ONWARD = frozenset(STEPS) - {"cancel", "park", "remind", "supervise"}


def _center() -> CommandCenter:
    app = CommandCenter(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=load_calendar(DEFAULT_CALENDAR)
    )
    load_demo(app)
    return app


def _ctx(unit: str, step: str) -> Context:
    return Context(Actor(person=f"p-{unit}", unit=unit, role=ROLE_OF[step]))


def _try(app: CommandCenter, i: Instruction, unit: str, step: str, accept: bool) -> bool:
    """Take ``step`` on ``i`` as ``unit`` with sensible values; whether it was taken."""
    c = _ctx(unit, step)
    iid = i.id
    returned = [u for u, s in i.assignees.items() if s == AssigneeStatus.RETURNED]
    below = instructable_units(app, unit, below_only=True)
    targets = redirect_targets(app, i)
    acts: dict[str, Any] = {
        "sign": lambda: app.sign_for(c, iid),
        "return": lambda: app.return_to_issuer(c, iid, "not ours"),
        "progress": lambda: app.report_progress(c, iid, "half done"),
        "actions": lambda: app.record_action(c, disposition_id(iid, unit), "gate closed"),
        "extension-requests": lambda: app.request_extension(
            c, iid, deadline=i.deadline + timedelta(days=1), reason="the rain"
        ),
        "deferral-requests": lambda: app.request_deferral(c, iid, "a court case"),
        "deferral-decisions": lambda: app.decide_deferral(c, iid, granted=accept, note="no"),
        "disputes": lambda: app.file_dispute(c, iid, "not ours"),
        # Upheld when it can be (the page offers the button only then), else refused.
        "dispute-arbitrations": lambda: app.arbitrate_dispute(
            c,
            iid,
            upheld=accept and may_uphold(app, i),
            to_unit=targets[0].code if accept and may_uphold(app, i) else None,
            note="no",
        ),
        "forward": lambda: app.forward(c, iid, to_unit=below[0].code if below else "HC"),
        "submit": lambda: app.submit(c, iid, "done"),
        "redirect": lambda: app.redirect(
            c,
            iid,
            to_unit=targets[0].code if targets else "HC",
            from_unit=returned[0] if returned else None,
        ),
        "extension-decisions": lambda: app.decide_extension(c, iid, granted=accept, note="no"),
        "verify": lambda: app.verify(c, iid, accepted=accept, note="again"),
        # Offered on a closed case from the public (ADR 0083, 0090).
        "follow-ups": lambda: app.follow_up(
            c, iid, contacted=True, resolved=accept, satisfaction="satisfied"
        ),
        # The caller not reached: an attempt under the same rules (ADR 0093).
        "follow-up-attempts": lambda: app.record_unreached_follow_up(c, iid, "no answer"),
        "remind": lambda: app.remind(c, iid, "soon"),
        "supervise": lambda: app.supervise(c, iid, "watched"),
        "park": lambda: app.park(c, iid, "winter"),
        "resume": lambda: app.resume(c, iid, "spring"),
        "cancel": lambda: app.cancel_instruction(c, iid, "no longer needed"),
    }
    try:
        acts[step]()
    except DomainError:
        return False
    return True


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), cooperating=st.booleans(), public=st.booleans())
def test_a_step_is_offered_exactly_when_the_domain_takes_it(
    data: st.DataObject, cooperating: bool, public: bool
) -> None:
    app = _center()
    warnings = []
    if public:  # a caller's case: followed up once closed (回访)
        warnings.append(
            app.raise_warning(
                Context(Actor(person="p-HW", unit="HW", role="monitor")),
                source="12345",
                rule="hotline.drain",
                theme="other",
                level=4,
                title="Drain blocked",
                unit="HW-DH",
                attributes={"reporter": "Ms Li"},
            ).id
        )
    issued = app.issue_instruction(
        Context(Actor(person="p-HW", unit="HW", role="dispatcher")),
        lead_unit="HW-DH",
        cooperating_units=["HW-WATER"] if cooperating else [],
        title="Inspect the dam",
        due_in=WorkingDuration(days=2),
        warning_ids=warnings,
    )
    known: list[UUID] = [issued.id]
    for _ in range(data.draw(st.integers(min_value=5, max_value=30), label="steps")):
        iid = data.draw(st.sampled_from(known), label="instruction")
        i = app.instruction(iid)
        offers = {
            unit: offered_steps(app, i, Principal("t", f"p-{unit}", unit, BOTH), now())
            for unit in UNITS
        }
        pairs = [(u, s) for u, steps in offers.items() for s in steps if s in ONWARD]
        # Mostly a step onward offered to someone, so the walk goes deep; else any step.
        if pairs and data.draw(st.booleans(), label="offered"):
            unit, step = data.draw(st.sampled_from(pairs), label="pair")
        else:
            unit = data.draw(st.sampled_from(UNITS), label="unit")
            step = data.draw(st.sampled_from(STEPS), label="step")
        accept = data.draw(st.booleans(), label="accept")
        taken = _try(app, i, unit, step, accept)
        assert taken == (step in offers[unit]), (unit, step, i.status, dict(i.assignees))
        after = app.instruction(iid)
        known += [child for child in after.children if child not in known]


def test_a_step_is_offered_only_to_a_holder_of_its_role() -> None:
    app = _center()
    issued = app.issue_instruction(
        Context(Actor(person="p-HW", unit="HW", role="dispatcher")),
        lead_unit="HW-DH",
        title="Inspect the dam",
        due_in=WorkingDuration(days=2),
    )
    i = app.instruction(issued.id)
    handler = Principal("t", "p", "HW-DH", ("handler",))
    dispatcher = Principal("t", "p", "HW-DH", ("dispatcher",))
    issuer_handler = Principal("t", "p", "HW", ("handler",))
    assert offered_steps(app, i, handler, now()) == ["sign", "return", "disputes"]
    assert offered_steps(app, i, dispatcher, now()) == []
    assert offered_steps(app, i, issuer_handler, now()) == []
    issuer = Principal("t", "p", "HW", ("dispatcher",))
    assert set(offered_steps(app, i, issuer, now())) == {"remind", "supervise", "park", "cancel"}

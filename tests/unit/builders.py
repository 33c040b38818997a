"""Actors, contexts and small scenarios for the domain's unit tests.

Everything here talks to the application only through its public commands, so a
scenario built here is one a user could have produced; the tests then check the
events it left and the errors it raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.persistence import Transcoder, Transcoding
from freezegun.api import FakeDatetime

from domain.application import CommandCenter
from domain.calendar import WorkingCalendar, WorkingDuration
from domain.instruction import Instruction
from domain.meta import Actor, Context, Meta, now

#: Units of the demo district (domain/demo.py) the tests refer to by role.
CITY = "HC"
CITY_DEPARTMENT = "HC-EM"
DISTRICT = "HW"
EMERGENCY = "HW-EM"
WATER = "HW-WATER"
ECOLOGY = "HW-ECO"
TRANSPORT = "HW-TRANS"
OFFICE = "HW-DH"  # Donghu sub-district office
OTHER_OFFICE = "HW-XL"
COMMUNITY = "HW-DH-HP"  # under Donghu
OTHER_COMMUNITY = "HW-DH-LY"  # under Donghu
FOREIGN_COMMUNITY = "HW-XL-SQ"  # under Xiling
RESERVOIR = "E-QSRES"  # enterprise under the water bureau
SCENIC = "E-DHSCENIC"  # enterprise under the Hupan community

ONE_DAY = WorkingDuration(days=1)
TWO_DAYS = WorkingDuration(days=2)


def actor(unit: str, person: str | None = None, role: str = "dispatcher") -> Actor:
    return Actor(person=person or f"duty-{unit.lower()}", unit=unit, role=role)


def ctx(unit: str, **kwargs: Any) -> Context:
    """A fresh command (new command id) given on behalf of ``unit``."""
    return Context(actor(unit), **kwargs)


def meta(unit: str = DISTRICT, command: str = "Test", loop_id: UUID | None = None) -> Meta:
    """Event metadata for driving an aggregate directly, without the application."""
    return ctx(unit).meta(command, loop_id or uuid4())


def later(**delta: float) -> datetime:
    return now() + timedelta(**delta)


class _FrozenDatetimeAsISO(Transcoding):
    """Stores freezegun's datetimes, which the library's transcoder does not know by type."""

    type = FakeDatetime
    name = "frozen_datetime_iso"

    def encode(self, obj: datetime) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> datetime:
        return datetime.fromisoformat(data)


class FrozenClockCenter(CommandCenter):
    """The application on the in-memory store, able to save events under ``freeze_time``.

    Under freezegun every datetime the code creates is a ``FakeDatetime``, a subclass the
    transcoder refuses (it looks transcodings up by exact type).
    """

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_FrozenDatetimeAsISO())  # type: ignore[attr-defined]


def frozen_clock_center(calendar: WorkingCalendar) -> FrozenClockCenter:
    return FrozenClockCenter(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, calendar=calendar)


@contextmanager
def nothing_stored(app: CommandCenter) -> Iterator[None]:
    """Asserts that the block wrote no event at all (its command was refused)."""
    before = app.head_position()
    yield
    assert app.head_position() == before, "a refused command left events in the store"


def event_names(app: CommandCenter, aggregate_id: UUID) -> list[str]:
    return [type(e).__name__ for e in app.history(aggregate_id)]


def last_event(app: CommandCenter, aggregate_id: UUID) -> Any:
    return app.history(aggregate_id)[-1]


# -- scenarios -----------------------------------------------------------------------


def raise_warning(
    app: CommandCenter,
    *,
    unit: str = WATER,
    level: int = 2,
    dedup_key: str | None = None,
    by: str = EMERGENCY,
    **kwargs: Any,
) -> UUID:
    outcome = app.raise_warning(
        ctx(by),
        source="reservoir-telemetry",
        rule="RES-FLOOD-LIMIT",
        theme="reservoir",
        level=level,
        title="Qingshan reservoir above its flood-control limit",
        unit=unit,
        dedup_key=dedup_key if dedup_key is not None else uuid4().hex,
        **kwargs,
    )
    return outcome.id


def confirmed_warning(app: CommandCenter, **kwargs: Any) -> UUID:
    wid = raise_warning(app, **kwargs)
    app.acknowledge_warning(ctx(DISTRICT), wid)
    app.assess_warning(ctx(DISTRICT), wid, confirmed=True)
    return wid


def issue(
    app: CommandCenter,
    issuer: str = DISTRICT,
    lead: str = OFFICE,
    *,
    due_in: WorkingDuration | None = None,
    deadline: datetime | None = None,
    **kwargs: Any,
) -> UUID:
    if deadline is None and due_in is None:
        due_in = TWO_DAYS
    outcome = app.issue_instruction(
        ctx(issuer),
        lead_unit=lead,
        title="Inspect the dam and evacuate the low bank",
        due_in=due_in,
        deadline=deadline,
        **kwargs,
    )
    return outcome.id


def signed(app: CommandCenter, issuer: str = DISTRICT, lead: str = OFFICE, **kw: Any) -> UUID:
    iid = issue(app, issuer, lead, **kw)
    app.sign_for(ctx(lead), iid)
    return iid


def submitted(app: CommandCenter, issuer: str = DISTRICT, lead: str = OFFICE, **kw: Any) -> UUID:
    iid = signed(app, issuer, lead, **kw)
    app.submit(ctx(lead), iid, "Dam inspected; 40 residents moved to the school")
    return iid


def closed(app: CommandCenter, issuer: str = DISTRICT, lead: str = OFFICE, **kw: Any) -> UUID:
    iid = submitted(app, issuer, lead, **kw)
    app.verify(ctx(issuer), iid, accepted=True)
    return iid


def close_instruction(app: CommandCenter, iid: UUID) -> None:
    """Sign, submit and accept an instruction already issued (by its own units)."""
    i = app.instruction(iid)
    app.sign_for(ctx(i.lead), iid)
    app.submit(ctx(i.lead), iid, "done")
    app.verify(ctx(i.issuer), iid, accepted=True)


# -- an instruction driven directly (no application) ------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
COOPERATING = "HW-NG"


def issuer_meta(command: str = "Test") -> Meta:
    return meta(DISTRICT, command)


def of(unit: str, command: str = "Test") -> Meta:
    return meta(unit, command)


def issued(**changes: Any) -> Instruction:
    the_meta = changes.pop("meta", None) or issuer_meta("IssueInstruction")
    fields: dict[str, Any] = {
        "issuer": DISTRICT,
        "lead": OFFICE,
        "cooperating": [COOPERATING],
        "title": "Inspect the dam",
        "content": "Check the spillway and the low bank",
        "priority": "normal",
        "deadline": the_meta.occurred_at + timedelta(days=2),
        "warning_ids": None,
        "parent_id": None,
        **changes,
    }
    instruction = Instruction.issue(meta=the_meta, **fields)
    instruction.collect_events()
    return instruction


def signed_for(unit: str = OFFICE) -> Instruction:
    instruction = issued()
    instruction.sign_for(unit, uuid4(), of(unit))
    instruction.collect_events()
    return instruction


def submitted_by_lead() -> Instruction:
    instruction = signed_for()
    instruction.submit(OFFICE, "done", of(OFFICE))
    instruction.collect_events()
    return instruction


def closed_one() -> Instruction:
    instruction = submitted_by_lead()
    instruction.verify(True, None, issuer_meta())
    instruction.collect_events()
    return instruction


def cancelled_one() -> Instruction:
    instruction = signed_for()
    instruction.cancel("no longer needed", issuer_meta())
    instruction.collect_events()
    return instruction


def parked_one() -> Instruction:
    instruction = signed_for()
    instruction.park("waiting for the dry season", issuer_meta())
    instruction.collect_events()
    return instruction


def only(instruction: Instruction) -> Any:
    events = instruction.collect_events()
    assert len(events) == 1, events
    return events[0]

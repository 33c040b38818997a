"""Whistle and check-in (吹哨报到, ADR 0078): an office or community summons departments
to a scene, and each summoned department checks in there within a limit of clock time.

Its life: blown (the matter, the place, the departments summoned, the limit) → each
department checks in once, on time or late → a department not there at the limit is
reminded once, and at twice the limit escalated once to its own government's duty →
closed, at which moment every department that never came is counted absent.

The figures of a whistle (:meth:`Whistle.figures`) are defined here, for the API and
the read model to count alike: summoned = on time + late + absent, once closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import (
    AlreadyCheckedIn,
    InvalidValue,
    NotSummoned,
    WhistleClosed,
    WhistleIncomplete,
)
from domain.limits import MAX_LOCATION, MAX_NOTE, MAX_SHORT, MAX_TITLE, check_text
from domain.meta import Meta, derived_id
from domain.on_duty import NamesOnDutyAtUnit

#: The limit when no setting names one: thirty minutes of clock time.
DEFAULT_CHECK_IN_LIMIT = timedelta(minutes=30)
#: At most this many departments are summoned by one whistle.
MAX_SUMMONED = 50


class WhistleStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def whistle_id(command_id: str) -> UUID:
    """The id of the whistle blown by the command with this id."""
    return derived_id("whistle", command_id)


def _checked_departments(departments: list[str]) -> list[str]:
    seen: list[str] = []
    for code in departments:
        if not isinstance(code, str) or not code.strip():
            raise WhistleIncomplete("a summoned department's code cannot be empty")
        if code not in seen:
            seen.append(code)
    if not seen:
        raise WhistleIncomplete("a whistle summons at least one department")
    if len(seen) > MAX_SUMMONED:
        raise InvalidValue(f"a whistle summons at most {MAX_SUMMONED} departments")
    return seen


def _checked_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise InvalidValue("a place's coordinates are a latitude and a longitude, both or none")
    if latitude is not None and not -90.0 <= latitude <= 90.0:
        raise InvalidValue("a latitude lies between -90 and 90")
    if longitude is not None and not -180.0 <= longitude <= 180.0:
        raise InvalidValue("a longitude lies between -180 and 180")


class Whistle(LoopAggregate):
    """One whistle blown at a place, and who came."""

    class Blown(LoopAggregate.Created):
        unit: str
        matter: str
        place: str
        latitude: float | None
        longitude: float | None
        warning_id: UUID | None
        instruction_id: UUID | None
        departments: list[str]
        limit_minutes: int
        blown_at: datetime

    class CheckedIn(LoopAggregate.Event):
        department: str
        person: str
        arrived_at: datetime
        late: bool

    class Reminded(NamesOnDutyAtUnit, LoopAggregate.Event):
        """Names who was on duty at the department when it was reminded (ADR 0090)."""

        department: str

    class Escalated(NamesOnDutyAtUnit, LoopAggregate.Event):
        """Names who was on duty at ``to`` when it was told (ADR 0090)."""

        department: str
        to: str

    class Closed(LoopAggregate.Event):
        note: str
        absent: list[str]

    @classmethod
    def blow(
        cls,
        *,
        unit: str,
        matter: str,
        place: str,
        departments: list[str],
        limit: timedelta,
        meta: Meta,
        latitude: float | None = None,
        longitude: float | None = None,
        warning_id: UUID | None = None,
        instruction_id: UUID | None = None,
    ) -> Whistle:
        if not isinstance(place, str) or not place.strip():
            raise WhistleIncomplete("a whistle names the place the departments are to come to")
        place = check_text(place, "a whistle's place", MAX_LOCATION, required=True)
        matter = check_text(matter, "a whistle's matter", MAX_TITLE, required=True)
        _checked_coordinates(latitude, longitude)
        minutes = int(limit.total_seconds() // 60)
        if minutes < 1:
            raise InvalidValue("a check-in limit is at least one minute")
        return cls(
            unit=unit,
            matter=matter,
            place=place,
            latitude=latitude,
            longitude=longitude,
            warning_id=warning_id,
            instruction_id=instruction_id,
            departments=_checked_departments(departments),
            limit_minutes=minutes,
            blown_at=meta.occurred_at,
            meta=meta,
        )

    @staticmethod
    def create_id(meta: Meta) -> UUID:
        return whistle_id(meta.command_id)

    @event(Blown)
    def __init__(
        self,
        unit: str,
        matter: str,
        place: str,
        latitude: float | None,
        longitude: float | None,
        warning_id: UUID | None,
        instruction_id: UUID | None,
        departments: list[str],
        limit_minutes: int,
        blown_at: datetime,
        meta: Meta,
    ) -> None:
        self.unit = unit
        self.matter = matter
        self.place = place
        self.latitude = latitude
        self.longitude = longitude
        self.warning_id = warning_id
        self.instruction_id = instruction_id
        self.departments = list(departments)
        self.limit_minutes = limit_minutes
        self.blown_at = blown_at
        self.status = WhistleStatus.OPEN
        # department -> {"person", "arrived_at", "late"}
        self.check_ins: dict[str, dict[str, Any]] = {}
        self.reminded: list[str] = []
        self.escalated: dict[str, str] = {}
        self.closed_at: datetime | None = None
        self.absent: list[str] = []

    # -- reading ---------------------------------------------------------------------

    @property
    def limit(self) -> timedelta:
        return timedelta(minutes=self.limit_minutes)

    @property
    def due_at(self) -> datetime:
        """The moment by which every summoned department is to have checked in."""
        return self.blown_at + self.limit

    @property
    def is_open(self) -> bool:
        return self.status == WhistleStatus.OPEN

    def not_arrived(self) -> list[str]:
        """The summoned departments that have not checked in, in the order summoned."""
        return [d for d in self.departments if d not in self.check_ins]

    # -- rules -------------------------------------------------------------------------

    def _check_open(self, doing: str) -> None:
        if not self.is_open:
            raise WhistleClosed(f"the whistle was closed; {doing} is no longer possible")

    def _check_summoned(self, department: str) -> None:
        if department not in self.departments:
            raise NotSummoned(
                f"department {department} was not summoned by this whistle; only "
                f"{', '.join(self.departments)} check in here"
            )

    # -- commands ----------------------------------------------------------------------

    def check_in(self, department: str, person: str, meta: Meta) -> None:
        """The department arrives at the scene, ``person`` naming who came."""
        self._check_open("a check-in")
        self._check_summoned(department)
        if department in self.check_ins:
            at = self.check_ins[department]["arrived_at"]
            raise AlreadyCheckedIn(
                f"department {department} already checked in at {at.isoformat()}"
            )
        person = check_text(person, "who came (a check-in's person)", MAX_SHORT, required=True)
        self.check_business_time(meta.occurred_at)
        arrived = meta.occurred_at
        self._checked_in(
            department=department,
            person=person.strip(),
            arrived_at=arrived,
            late=arrived > self.due_at,
            meta=meta,
        )

    @event(CheckedIn)
    def _checked_in(
        self, department: str, person: str, arrived_at: datetime, late: bool, meta: Meta
    ) -> None:
        self.check_ins[department] = {"person": person, "arrived_at": arrived_at, "late": late}

    def remind(self, department: str, meta: Meta, on_duty: str | None = None) -> bool:
        """Remind a department not yet there, naming who is on duty there; once only
        (False: nothing to do)."""
        self._check_open("a reminder")
        self._check_summoned(department)
        if department in self.check_ins or department in self.reminded:
            return False
        self._reminded(
            department=department, meta=meta, on_duty=on_duty, on_roster=on_duty is not None
        )
        return True

    @event(Reminded)
    def _reminded(
        self, department: str, meta: Meta, on_duty: str | None = None, on_roster: bool = False
    ) -> None:
        self.reminded.append(department)

    def escalate(self, department: str, to: str, meta: Meta, on_duty: str | None = None) -> bool:
        """Tell the duty of ``to`` (the department's government) that it has not come;
        once only (False: nothing to do)."""
        self._check_open("an escalation")
        self._check_summoned(department)
        if department in self.check_ins or department in self.escalated:
            return False
        self._escalated(
            department=department, to=to, meta=meta, on_duty=on_duty, on_roster=on_duty is not None
        )
        return True

    @event(Escalated)
    def _escalated(
        self,
        department: str,
        to: str,
        meta: Meta,
        on_duty: str | None = None,
        on_roster: bool = False,
    ) -> None:
        self.escalated[department] = to

    def close(self, note: str | None, meta: Meta) -> None:
        """End the whistle; the departments that never came are counted absent."""
        self._check_open("closing it again")
        note = check_text(note, "a closing note", MAX_NOTE, required=False)
        self.check_business_time(meta.occurred_at)
        self._closed(note=note, absent=self.not_arrived(), meta=meta)

    @event(Closed)
    def _closed(self, note: str, absent: list[str], meta: Meta) -> None:
        self.status = WhistleStatus.CLOSED
        self.closed_at = meta.occurred_at
        self.absent = list(absent)

    # -- figures -----------------------------------------------------------------------

    def figures(self) -> dict[str, dict[str, Any]]:
        """Per summoned department: checked in on time, late, absent (closed and never
        came), and the seconds from the whistle to its check-in."""
        out: dict[str, dict[str, Any]] = {}
        for d in self.departments:
            c = self.check_ins.get(d)
            out[d] = {
                "on_time": c is not None and not c["late"],
                "late": c is not None and bool(c["late"]),
                "absent": d in self.absent,
                "seconds": (c["arrived_at"] - self.blown_at).total_seconds() if c else None,
            }
        return out

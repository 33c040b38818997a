"""A unit of the command network: a government, a department or an enterprise.

The hierarchy is data: units are registered, renamed, moved under another parent and
deactivated over time, and every such change is an event, so the network as it stood at
any past moment can be told from the record. The rules that need the whole tree (no
cycles, where a level may sit) are checked by :mod:`domain.application`, which can see
the other units; the rules of one unit's own life are checked here.
"""

from __future__ import annotations

import re
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.base import LoopAggregate
from domain.errors import InvalidTransition, InvalidValue, PlacementRefused, check_printable
from domain.limits import MAX_CODE, MAX_NAME
from domain.meta import Meta, derived_id

CODE_PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{MAX_CODE - 1}}}$")


class Level(StrEnum):
    """The levels of the network, from the top down."""

    CITY = "city"
    DISTRICT = "district"
    OFFICE = "office"
    COMMUNITY = "community"
    ENTERPRISE = "enterprise"

    @property
    def depth(self) -> int:
        return list(Level).index(self)


class Kind(StrEnum):
    """What a unit is: a government, a department beside its government, an enterprise."""

    GOVERNMENT = "government"
    DEPARTMENT = "department"
    ENTERPRISE = "enterprise"


def unit_id(code: str) -> UUID:
    """The aggregate id of the unit with this code."""
    return derived_id("unit", code)


def check_code(code: str) -> str:
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        raise InvalidValue(
            f"unit code {code!r} is not valid: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return code


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue(f"a unit's {what} cannot be empty")
    if len(name) > MAX_NAME:
        raise InvalidValue(f"a unit's {what} is limited to {MAX_NAME} characters")
    check_printable(name, f"a unit's {what}")
    return name.strip()


def check_placement(level: Level, kind: Kind, parent: Unit | None) -> None:
    """Where a unit of this level and kind may sit in the network.

    A city sits at the top; a government sits under the government one level up; a
    department sits beside its government, at the same level; an enterprise sits
    under a community or under a department.
    """
    if kind == Kind.ENTERPRISE and level != Level.ENTERPRISE:
        raise PlacementRefused("an enterprise unit must be at the enterprise level")
    if level == Level.ENTERPRISE and kind != Kind.ENTERPRISE:
        raise PlacementRefused("a unit at the enterprise level must be of kind enterprise")
    if parent is None:
        if level != Level.CITY or kind != Kind.GOVERNMENT:
            raise PlacementRefused("only a city government may stand at the top of the network")
        return
    if not parent.active:
        raise PlacementRefused(f"unit {parent.code} is deactivated and cannot take new units")
    if kind == Kind.DEPARTMENT:
        if parent.kind != Kind.GOVERNMENT or parent.level != level:
            raise PlacementRefused(
                f"a {level} department belongs under a {level} government, "
                f"not under {parent.code} ({parent.level} {parent.kind})"
            )
    elif kind == Kind.GOVERNMENT:
        if level == Level.CITY:
            raise PlacementRefused("a city government stands at the top of the network")
        if parent.kind != Kind.GOVERNMENT or Level(parent.level).depth != Level(level).depth - 1:
            raise PlacementRefused(
                f"a {level} government belongs under the government one level up, "
                f"not under {parent.code} ({parent.level} {parent.kind})"
            )
    elif not (
        (parent.kind == Kind.GOVERNMENT and parent.level == Level.COMMUNITY)
        or parent.kind == Kind.DEPARTMENT
    ):
        raise PlacementRefused(
            f"an enterprise belongs under a community or a department, not under {parent.code}"
        )


class Unit(LoopAggregate):
    """One unit of the command network, with its place in the hierarchy over time."""

    class Registered(LoopAggregate.Created):
        code: str
        name: str
        name_en: str
        level: str
        kind: str
        parent: str | None

    class Renamed(LoopAggregate.Event):
        name: str
        name_en: str

    class Moved(LoopAggregate.Event):
        parent: str
        previous_parent: str | None

    class Deactivated(LoopAggregate.Event):
        reason: str

    class Reactivated(LoopAggregate.Event):
        pass

    #: How many times the unit has been deactivated: a token issued in an earlier term
    #: is not honoured again after a reactivation (ADR 0042). A class default, so that a
    #: snapshot taken before the field existed reads as none.
    deactivations: int = 0

    @staticmethod
    def create_id(code: str) -> UUID:
        return unit_id(code)

    @event(Registered)
    def __init__(
        self,
        code: str,
        name: str,
        name_en: str,
        level: str,
        kind: str,
        parent: str | None,
        meta: Meta,
    ) -> None:
        self.code = code
        self.name = name
        self.name_en = name_en
        # Kept as plain strings (StrEnum values): snapshots store them as JSON strings.
        self.level = Level(level)
        self.kind = Kind(kind)
        self.parent = parent
        self.active = True

    @property
    def status(self) -> str:
        return "active" if self.active else "inactive"

    @property
    def is_government(self) -> bool:
        return self.kind == Kind.GOVERNMENT

    def rename(self, name: str, name_en: str | None, meta: Meta) -> None:
        name = check_name(name)
        name_en = check_name(name_en, "English name") if name_en else self.name_en
        if (name, name_en) == (self.name, self.name_en):
            return
        self._renamed(name=name, name_en=name_en, meta=meta)

    @event(Renamed)
    def _renamed(self, name: str, name_en: str, meta: Meta) -> None:
        self.name = name
        self.name_en = name_en

    def move(self, new_parent: Unit, meta: Meta) -> None:
        """Move under another parent; the caller has checked the tree (no cycle)."""
        if new_parent.code == self.parent:
            return
        check_placement(self.level, self.kind, new_parent)
        self._moved(parent=new_parent.code, previous_parent=self.parent, meta=meta)

    @event(Moved)
    def _moved(self, parent: str, previous_parent: str | None, meta: Meta) -> None:
        self.parent = parent

    def deactivate(self, reason: str, meta: Meta) -> None:
        if not self.active:
            raise InvalidTransition(f"unit {self.code} is already deactivated")
        if not reason or not reason.strip():
            raise InvalidValue("say why the unit is deactivated")
        self._deactivated(reason=reason.strip(), meta=meta)

    @event(Deactivated)
    def _deactivated(self, reason: str, meta: Meta) -> None:
        self.active = False
        self.deactivations += 1

    def reactivate(self, meta: Meta) -> None:
        if self.active:
            raise InvalidTransition(f"unit {self.code} is already active")
        self._reactivated(meta=meta)

    @event(Reactivated)
    def _reactivated(self, meta: Meta) -> None:
        self.active = True

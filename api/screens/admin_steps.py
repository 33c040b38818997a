"""Which acts the administration page offers on a unit: the domain's rules, asked ahead.

A button appears only when the domain would take the command (issue 20), so what is
offered is read from the same rules the commands check (``domain.unit``,
``domain.network_commands``): a unit is renamed by an admin over it; it moves only from
a place under the admin to another place under the admin that is not inside its own
subtree and where :func:`~domain.unit.check_placement` lets it sit; it is deactivated
only while active and with no active unit under it, and reactivated only while its
parent is active. :class:`UnitTree` is the network as the command side holds it now; a
test walks random states of it and checks that an offered act is taken and one not
offered is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.account import Account
from domain.errors import PlacementRefused
from domain.unit import Unit, check_placement

RENAME, MOVE, DEACTIVATE, REACTIVATE = "rename", "move", "deactivate", "reactivate"
UNIT_STEPS = (RENAME, MOVE, DEACTIVATE, REACTIVATE)
#: How far up a walk goes: deeper than any network (a corrupt tree must not hang a page).
_DEPTH = 17


@dataclass(frozen=True)
class UnitTree:
    """Every unit of the network by code, in the order they joined."""

    units: dict[str, Unit]

    @classmethod
    def of(cls, units: Iterable[Unit]) -> UnitTree:
        return cls({u.code: u for u in units})

    def within(self, code: str, ancestor: str) -> bool:
        """Whether ``code`` is ``ancestor`` or lies under it (as ``is_within`` says)."""
        current = self.units.get(code)
        for _ in range(_DEPTH):
            if current is None:
                return False
            if current.code == ancestor:
                return True
            current = self.units.get(current.parent) if current.parent else None
        return False

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.units.values() if u.parent == code]

    def active_within(self, ancestor: str) -> list[Unit]:
        """The active units of ``ancestor``'s subtree (the units a form may name), walked
        on this one reading of the network rather than a read per unit and ancestor."""
        return [u for u in self.units.values() if u.active and self.within(u.code, ancestor)]

    def subtree(self, root: str) -> list[tuple[Unit, int]]:
        """The units under ``root`` (itself first), each after its parent, with its depth."""
        out: list[tuple[Unit, int]] = []
        if root not in self.units:
            return out
        stack = [(self.units[root], 0)]
        while stack:
            unit, depth = stack.pop()
            out.append((unit, depth))
            if depth < _DEPTH:
                stack.extend((c, depth + 1) for c in reversed(self.children(unit.code)))
        return out

    def places_for_new_units(self, admin_unit: str) -> list[Unit]:
        """Where an admin may register a unit: the active units of its subtree."""
        return [u for u, _ in self.subtree(admin_unit) if u.active]


def move_targets(tree: UnitTree, unit: Unit, admin_unit: str) -> list[str]:
    """The parents ``unit`` may move under, for an admin of ``admin_unit``."""
    if unit.parent is None or not tree.within(unit.parent, admin_unit):
        return []
    targets = []
    for place in tree.units.values():
        if place.code == unit.parent or not tree.within(place.code, admin_unit):
            continue
        if tree.within(place.code, unit.code):
            continue  # under itself: the network would have a loop
        try:
            check_placement(unit.level, unit.kind, place)
        except PlacementRefused:
            continue
        targets.append(place.code)
    return targets


def unit_steps(tree: UnitTree, unit: Unit, admin_unit: str) -> frozenset[str]:
    """The acts an admin of ``admin_unit`` may take on ``unit`` now."""
    if not tree.within(unit.code, admin_unit):
        return frozenset()
    steps = {RENAME}
    if move_targets(tree, unit, admin_unit):
        steps.add(MOVE)
    if unit.active and not any(c.active for c in tree.children(unit.code)):
        steps.add(DEACTIVATE)
    parent = tree.units.get(unit.parent) if unit.parent else None
    if not unit.active and (unit.parent is None or (parent is not None and parent.active)):
        steps.add(REACTIVATE)
    return frozenset(steps)


PASSWORD, CLOSE = "password", "close"


def account_steps(account: Account) -> frozenset[str]:
    """The acts an admin may take on an account of its subtree: while it is open, a new
    password and closing it (``domain.account`` refuses both on a closed one)."""
    return frozenset() if account.closed else frozenset({PASSWORD, CLOSE})

"""The network's use cases: units registered, renamed, moved, (de)activated, and the
rule of which way an instruction may go (down, or across to a department of the same
government)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.decision import Decision, Outcome
from domain.errors import AlreadyExists, DirectionRefused, InvalidValue, NotPermitted
from domain.meta import Context, Meta
from domain.network import NETWORK_ID, Network
from domain.unit import Kind, Level, Unit, check_code, check_name, check_placement, unit_id
from domain.use_cases import UseCases


class NetworkCases(UseCases):
    """The units of the network and the directions between them."""

    # -- the network -------------------------------------------------------------------

    def unit(self, code: str) -> Unit:
        """The unit with this code, as it is now."""
        check_code(code)
        return self._load(Unit, unit_id(code), f"unit {code}")

    def units(self) -> list[Unit]:
        """Every unit ever registered, in the order they joined (deactivated ones too)."""
        roster = self._find(Network, NETWORK_ID)
        if roster is None:
            return []
        return [self.unit(code) for code in roster.codes]

    def has_units(self) -> bool:
        """Whether any unit was ever registered (one read of the roster, not of every unit)."""
        return self._find(Network, NETWORK_ID) is not None

    def ancestors(self, code: str, unit_of: Callable[[str], Unit] | None = None) -> list[str]:
        """The codes above a unit, from its parent up to the city. ``unit_of`` looks a
        unit up (by default a read of the store; a caller walking many units passes one
        reading of the network, :meth:`units`, as a mapping's lookup)."""
        unit_of = unit_of or self.unit
        chain: list[str] = []
        current = unit_of(code)
        while current.parent is not None:
            if current.parent in chain or len(chain) > 16:  # a corrupt tree must not hang us
                break
            chain.append(current.parent)
            current = unit_of(current.parent)
        return chain

    def _is_above(self, code: str, unit: Unit, unit_of: Callable[[str], Unit]) -> bool:
        """Whether ``code`` is an ancestor of ``unit``, walking up only as far as needed."""
        current = unit
        for _ in range(17):  # a corrupt tree must not hang us
            if current.parent is None:
                return False
            if current.parent == code:
                return True
            current = unit_of(current.parent)
        return False

    def is_within(self, code: str, ancestor: str) -> bool:
        """Whether ``code`` is ``ancestor`` itself or lies in its subtree."""
        return code == ancestor or ancestor in self.ancestors(code)

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.units() if u.parent == code]

    def register_unit(
        self,
        ctx: Context,
        *,
        code: str,
        name: str,
        level: str,
        kind: str,
        parent: str | None,
        name_en: str | None = None,
    ) -> Outcome:
        check_code(code)
        name = check_name(name)
        name_en = check_name(name_en, "English name") if name_en else ""
        if level not in set(Level):
            raise InvalidValue(f"unknown level {level!r}; one of: {', '.join(Level)}")
        if kind not in set(Kind):
            raise InvalidValue(f"unknown kind {kind!r}; one of: {', '.join(Kind)}")
        new_id = unit_id(code)

        def decide() -> Decision:
            existing = self._find(Unit, new_id)
            if existing is not None:
                if existing.has_seen(ctx.command_id):
                    return Decision(existing, [], created=True)
                raise AlreadyExists(f"unit code {code} is already registered")
            parent_unit = self.unit(parent) if parent is not None else None
            check_placement(Level(level), Kind(kind), parent_unit)
            meta = ctx.meta("RegisterUnit", new_id)
            unit = Unit(
                code=code,
                name=name,
                name_en=name_en,
                level=level,
                kind=kind,
                parent=parent,
                meta=meta,
            )
            roster = self._find(Network, NETWORK_ID)
            if roster is None:
                roster = Network(meta=ctx.meta("StartNetwork", NETWORK_ID))
            roster.join(code, ctx.meta("RegisterUnit", NETWORK_ID))
            return Decision(unit, [unit, roster], created=True)

        return self._execute(ctx, decide)

    def update_unit(
        self,
        ctx: Context,
        code: str,
        *,
        name: str | None = None,
        name_en: str | None = None,
        parent: str | None = None,
        active: bool | None = None,
        reason: str | None = None,
    ) -> Outcome:
        """Rename, move, deactivate or reactivate a unit: any of them, decided together and
        saved together, so that one refused part leaves the unit as it was."""

        def act(unit: Unit) -> None:
            if name is not None or name_en is not None:
                unit.rename(name or unit.name, name_en, ctx.meta("RenameUnit", unit.id))
            if parent is not None:
                new_parent = self.unit(parent)
                if parent == code or code in self.ancestors(parent):
                    raise InvalidValue(
                        f"unit {code} cannot be moved under itself or its own subtree"
                    )
                self._check_may_move(ctx, unit, parent)
                unit.move(new_parent, ctx.meta("MoveUnit", unit.id))
            if active is False:
                active_children = [c.code for c in self.children(code) if c.active]
                if active_children:
                    raise InvalidValue(
                        f"unit {code} still has active units under it "
                        f"({', '.join(active_children[:5])}); move or deactivate them first"
                    )
                unit.deactivate(reason or "", ctx.meta("DeactivateUnit", unit.id))
            elif active is True and not unit.active:
                self._reactivate(unit, ctx.meta("ReactivateUnit", unit.id))

        return self._command(ctx, Unit, unit_id(check_code(code)), f"unit {code}", act)

    def _check_may_move(self, ctx: Context, unit: Unit, parent: str) -> None:
        """An admin moves a unit only between two places it has authority over: its own
        unit must be the old parent or above it, and the new parent or above it (issue 19,
        "who may act on what" 4). Other roles (the system, the command line) are trusted
        as the composition root gave them."""
        admin = ctx.actor
        if admin.role != "admin" or parent == unit.parent:
            return
        for place in (unit.parent, parent):
            if place is None or not self.is_within(place, admin.unit):
                raise NotPermitted(
                    f"an admin of {admin.unit} moves units only between places under it; "
                    f"{place or 'the top of the network'} is not"
                )

    def rename_unit(
        self, ctx: Context, code: str, name: str, name_en: str | None = None
    ) -> Outcome:
        return self.update_unit(ctx, code, name=name, name_en=name_en)

    def move_unit(self, ctx: Context, code: str, parent: str) -> Outcome:
        return self.update_unit(ctx, code, parent=parent)

    def deactivate_unit(self, ctx: Context, code: str, reason: str) -> Outcome:
        return self.update_unit(ctx, code, active=False, reason=reason)

    def reactivate_unit(self, ctx: Context, code: str) -> Outcome:
        """Unlike ``update_unit(active=True)``, refuses a unit that is already active."""
        return self._command(
            ctx,
            Unit,
            unit_id(check_code(code)),
            f"unit {code}",
            lambda u: self._reactivate(u, ctx.meta("ReactivateUnit", u.id)),
        )

    def _reactivate(self, unit: Unit, meta: Meta) -> None:
        if unit.parent is not None and not self.unit(unit.parent).active:
            raise InvalidValue(f"reactivate unit {unit.parent} above it first")
        unit.reactivate(meta)

    def unit_history(self, code: str) -> list[Any]:
        """Every change of a unit: registration, names, parents, (de)activation."""
        self.unit(code)
        return list(self.events.get(unit_id(code)))

    def unit_as_of(self, code: str, when: datetime) -> Unit | None:
        """The unit as it stood at a past moment (by recorded time), or None if not yet."""
        aggregate = self.as_of(unit_id(check_code(code)), when)
        return aggregate if isinstance(aggregate, Unit) else None

    def _require_active(self, code: str) -> Unit:
        unit = self.unit(code)
        if not unit.active:
            raise InvalidValue(f"unit {code} is deactivated; it cannot take instructions")
        return unit

    def check_direction(
        self, issuer: Unit, target: Unit, unit_of: Callable[[str], Unit] | None = None
    ) -> None:
        """Instructions go down the network, or across to a department of the same
        government; never up, never sideways to another government's units (``unit_of``:
        as for :meth:`ancestors`)."""
        if self._is_above(issuer.code, target, unit_of or self.unit):
            return
        if issuer.kind == Kind.GOVERNMENT:
            government: str | None = issuer.code
        elif issuer.kind == Kind.DEPARTMENT:
            government = issuer.parent
        else:
            government = None
        if (
            target.kind == Kind.DEPARTMENT
            and government is not None
            and target.parent == government
        ):
            return
        raise DirectionRefused(
            f"an instruction from {issuer.code} cannot go to {target.code}: instructions go "
            "down the network or across to a department of the same government, never up"
        )

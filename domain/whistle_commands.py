"""The whistles' use cases (吹哨报到, ADR 0078): blow a whistle, check in at it, remind
and escalate a department that has not come, close it."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from domain.decision import Decision, Outcome, check_same_command
from domain.errors import InvalidValue, NotPermitted, WhistleIncomplete, WhistleRefused
from domain.instruction_commands import InstructionCases
from domain.meta import Context
from domain.unit import Kind, Level
from domain.whistle import DEFAULT_CHECK_IN_LIMIT, Whistle, whistle_id

#: The levels whose governments blow whistles: sub-district offices and communities.
WHISTLING_LEVELS = frozenset({Level.OFFICE, Level.COMMUNITY})


class WhistleCases(InstructionCases):
    """An office or community summons departments to a scene; they check in there."""

    #: How long a summoned department has to check in (clock time): given to the
    #: command center (``CLOSEDLOOP_CHECK_IN_LIMIT_MINUTES``), this default otherwise.
    check_in_limit: timedelta = DEFAULT_CHECK_IN_LIMIT

    def whistle(self, wid: UUID) -> Whistle:
        return self._load(Whistle, wid, "whistle")

    def summonable(self, unit: str, department: str) -> bool:
        """Whether ``unit`` may summon ``department``: a department beside a government
        at or above the whistling unit."""
        d = self.unit(department)
        if d.kind != Kind.DEPARTMENT or d.parent is None:
            return False
        return d.parent == unit or d.parent in self.ancestors(unit)

    def blow_whistle(
        self,
        ctx: Context,
        *,
        unit: str,
        matter: str,
        place: str,
        departments: list[str],
        latitude: float | None = None,
        longitude: float | None = None,
        warning_id: UUID | None = None,
        instruction_id: UUID | None = None,
    ) -> Outcome:
        """Office or community ``unit`` blows the whistle, summoning ``departments``
        (the API checks that the caller acts for ``unit``: its own, or one above it)."""
        new_id = whistle_id(ctx.command_id)
        unit_code = unit

        def decide() -> Decision:
            again = self._find(Whistle, new_id)
            if again is not None:
                check_same_command(
                    "blow a whistle", (again.unit, unit_code), (again.place, place.strip())
                )
                return Decision(again, [], created=True)
            if not departments:
                raise WhistleIncomplete("a whistle summons at least one department")
            whistler = self._require_active(unit_code)
            if whistler.kind != Kind.GOVERNMENT or whistler.level not in WHISTLING_LEVELS:
                raise WhistleRefused(
                    f"unit {unit_code} cannot blow a whistle: only a sub-district office "
                    "or a community does"
                )
            for code in departments:
                d = self._require_active(code)
                if not self.summonable(unit_code, d.code):
                    raise WhistleRefused(
                        f"{unit_code} cannot summon {code}: a whistle summons departments "
                        "beside a government at or above the unit that blows it"
                    )
            loop = new_id
            if warning_id is not None:
                loop = self.warning(warning_id).loop_id
            if instruction_id is not None:
                loop = self.instruction(instruction_id).loop_id
            whistle = Whistle.blow(
                unit=unit_code,
                matter=matter,
                place=place,
                departments=departments,
                limit=self.check_in_limit,
                latitude=latitude,
                longitude=longitude,
                warning_id=warning_id,
                instruction_id=instruction_id,
                meta=ctx.meta("BlowWhistle", loop),
            )
            return Decision(whistle, [whistle], created=True)

        return self._execute(ctx, decide)

    def check_in(self, ctx: Context, wid: UUID, person: str) -> Outcome:
        """The acting department checks in at the scene; ``person`` is who came."""
        return self._command(
            ctx,
            Whistle,
            wid,
            "whistle",
            lambda w: w.check_in(ctx.actor.unit, person, ctx.meta("CheckIn", w.loop_id)),
            "CheckIn",
        )

    def remind_absent(
        self, ctx: Context, wid: UUID, department: str, on_duty: str | None = None
    ) -> Outcome:
        """Remind a summoned department that has not come (the check-in watch's act),
        naming ``on_duty``, who is on duty there now."""

        def act(w: Whistle) -> None:
            w.remind(department, ctx.meta("RemindAbsent", w.loop_id), on_duty)

        return self._command(ctx, Whistle, wid, "whistle", act, "RemindAbsent")

    def escalate_absent(
        self, ctx: Context, wid: UUID, department: str, on_duty: str | None = None
    ) -> Outcome:
        """Tell the duty of the department's own government that it has not come."""
        government = self.unit(department).parent
        if government is None:
            raise InvalidValue(f"{department} stands under no government to escalate to")

        def act(w: Whistle) -> None:
            w.escalate(department, government, ctx.meta("EscalateAbsent", w.loop_id), on_duty)

        return self._command(ctx, Whistle, wid, "whistle", act, "EscalateAbsent")

    def close_whistle(self, ctx: Context, wid: UUID, note: str | None = None) -> Outcome:
        """The whistling unit (or one above it) ends the whistle; absences are counted."""

        def act(w: Whistle) -> None:
            unit = ctx.actor.unit
            if unit != w.unit and unit not in self.ancestors(w.unit):
                raise NotPermitted(f"only {w.unit} or a unit above it closes this whistle")
            w.close(note, ctx.meta("CloseWhistle", w.loop_id))

        return self._command(ctx, Whistle, wid, "whistle", act, "CloseWhistle")

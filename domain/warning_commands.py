"""The warnings' use cases: raise (or count a repeat on the open one with the same key),
change level, acknowledge, assess, resolve, cancel, close; a group's members joining
and resolving, and inhibition at the raise (ADR 0087)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.decision import Decision, Outcome, check_same_command
from domain.errors import DomainError, InvalidValue
from domain.inhibition import Alerting, InhibitRule, inhibitor_of, labels_of
from domain.inhibition_roster import INHIBITION_ROSTER_ID, InhibitionRoster
from domain.meta import CLOCK_SKEW, Context, Meta, now
from domain.network_commands import NetworkCases
from domain.warning import EarlyWarning, warning_id
from domain.warning_key import WarningKey, condition_key, warning_key_id


class WarningCases(NetworkCases):
    """Early warnings, from raised to closed."""

    #: The inhibit rules in force (ADR 0087), set by the intake from its catalogue.
    inhibit_rules: tuple[InhibitRule, ...] = ()

    # -- warnings ----------------------------------------------------------------------

    def warning(self, warning_id_: UUID) -> EarlyWarning:
        return self._load(EarlyWarning, warning_id_, "warning")

    def raise_warning(
        self,
        ctx: Context,
        *,
        source: str,
        rule: str,
        theme: str,
        level: int,
        title: str,
        unit: str,
        description: str | None = None,
        location: str | None = None,
        observed_at: datetime | None = None,
        dedup_key: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Outcome:
        """Raise a warning, or count a repeat on the open one with the same key.

        ``Outcome.created`` tells which: True for a new warning, False for a repeat.
        Without a deduplication key, the key is the source, rule, unit and location.
        """
        new_id = warning_id(ctx.command_id)
        if observed_at is not None:
            # Checked here, not only in EarlyWarning.raise_: a repeat never reaches it.
            if observed_at.tzinfo is None:
                raise InvalidValue("the observed time must carry a time-zone offset")
            if observed_at > now() + CLOCK_SKEW:
                raise InvalidValue("the observed time cannot lie in the future")
        observed = observed_at or ctx.business_time()
        key = dedup_key if dedup_key is not None else f"{source}|{rule}|{unit}|{location or ''}"
        scoped_key = condition_key(unit, rule, key)

        def decide() -> Decision:
            again = self._find(EarlyWarning, new_id)
            if again is not None:  # the same raise again: answer as the first time
                # Not the source: the API fills it in from the token when the body
                # has none, and two instances of one monitoring system, each with a
                # token of its own, retry each other's raises.
                check_same_command(
                    "raise a warning",
                    (again.rule, rule.strip()),
                    (again.unit, unit),
                    (again.title, title.strip()),
                )
                return Decision(again, [], created=True)
            self._require_active(unit)
            key_id = warning_key_id(scoped_key)
            pointer = self._find(WarningKey, key_id)
            if pointer is not None:
                current = self.warning(pointer.warning_id)
                for wid in [pointer.warning_id, *reversed(pointer.earlier_warnings())]:
                    seen = current if wid == current.id else self.warning(wid)
                    if seen.has_seen(ctx.command_id):  # a retried repeat
                        return Decision(seen, [], created=False)
                if current.merged_into is not None:
                    # Merged (ADR 0082): its reporters follow the main case, and a
                    # repeat of its condition counts there while the main case is open.
                    main = self.warning(current.merged_into)
                    if main.has_seen(ctx.command_id):
                        return Decision(main, [], created=False)
                    if main.is_open:
                        current = main
                if current.is_open:
                    meta = ctx.meta("RaiseWarning", current.loop_id)
                    current.repeat(observed, level, meta)
                    if level < current.level:  # a worse reading escalates the open warning
                        current.change_level(level, f"repeat observed at level {level}", meta)
                    return Decision(current, [current], created=False)
            meta = ctx.meta("RaiseWarning", new_id)
            warning = EarlyWarning.raise_(
                source=source,
                rule=rule,
                theme=theme,
                level=level,
                title=title,
                description=description,
                location=location,
                unit=unit,
                observed_at=observed,
                dedup_key=key,
                attributes=attributes,
                meta=meta,
            )
            if pointer is None:
                pointer = WarningKey(dedup_key=scoped_key, warning_id=new_id, meta=meta)
            else:
                pointer.repoint(new_id, meta)
            inhibited = self._inhibit_at_raise(ctx, warning, meta)
            return Decision(warning, [warning, pointer, *inhibited], created=True)

        return self._execute(ctx, decide)

    def _on_warning(
        self, ctx: Context, wid: UUID, command: str, act: Callable[[EarlyWarning, Meta], None]
    ) -> Outcome:
        return self._command(
            ctx,
            EarlyWarning,
            wid,
            "warning",
            lambda w: act(w, ctx.meta(command, w.loop_id)),
            command,
        )

    def change_warning_level(self, ctx: Context, wid: UUID, level: int, reason: str) -> Outcome:
        return self._on_warning(
            ctx, wid, "ChangeWarningLevel", lambda w, m: w.change_level(level, reason, m)
        )

    def acknowledge_warning(self, ctx: Context, wid: UUID) -> Outcome:
        return self._on_warning(ctx, wid, "AcknowledgeWarning", lambda w, m: w.acknowledge(m))

    def assess_warning(
        self, ctx: Context, wid: UUID, *, confirmed: bool, note: str | None = None
    ) -> Outcome:
        return self._on_warning(
            ctx, wid, "AssessWarning", lambda w, m: w.assess(confirmed, note, m)
        )

    def resolve_warning(self, ctx: Context, wid: UUID, note: str | None = None) -> Outcome:
        return self._on_warning(ctx, wid, "ResolveWarning", lambda w, m: w.resolve(note, m))

    def cancel_warning(self, ctx: Context, wid: UUID, reason: str) -> Outcome:
        return self._on_warning(ctx, wid, "CancelWarning", lambda w, m: w.cancel(reason, m))

    def close_warning(self, ctx: Context, wid: UUID, note: str | None = None) -> Outcome:
        return self._on_warning(ctx, wid, "CloseWarning", lambda w, m: w.close(note, m))

    # -- grouping (ADR 0087) ------------------------------------------------------------

    def join_group(
        self,
        ctx: Context,
        wid: UUID,
        *,
        member: str,
        level: int,
        observed_at: datetime,
        evidence: dict[str, Any],
    ) -> Outcome:
        """A member's breach joins the open group's warning; a worse level escalates it."""

        def act(w: EarlyWarning) -> None:
            meta = ctx.meta("JoinGroup", w.loop_id)
            if w.join(member, level, observed_at, evidence, meta):
                w.follow_members(f"member {member} joined at level {level}", meta)

        return self._command(ctx, EarlyWarning, wid, "warning", act, "JoinGroup")

    def change_member_level(
        self, ctx: Context, wid: UUID, *, member: str, level: int, reason: str
    ) -> Outcome:
        return self._on_warning(
            ctx,
            wid,
            "ChangeMemberLevel",
            lambda w, m: w.change_member_level(member, level, reason, m),
        )

    def resolve_member(self, ctx: Context, wid: UUID, *, member: str, note: str) -> Outcome:
        """One member is normal again; the last one's resolution resolves the warning in
        the same decision."""

        def act(w: EarlyWarning) -> None:
            meta = ctx.meta("ResolveMember", w.loop_id)
            if w.resolve_member(member, note, meta):
                w.resolve(f"every member of the group is normal again; last {member}", meta)

        return self._command(ctx, EarlyWarning, wid, "warning", act, "ResolveMember")

    # -- inhibition (ADR 0087) ----------------------------------------------------------

    def inhibition_roster(self) -> InhibitionRoster | None:
        return self._find(InhibitionRoster, INHIBITION_ROSTER_ID)

    def alerting(self, w: EarlyWarning) -> Alerting:
        return Alerting(
            w.id, w.rule, w.level, w.unit, labels_of(w.unit, w.attributes), w.inhibited_by
        )

    def unit_within(self, code: str, ancestor: str) -> bool:
        try:
            return self.is_within(code, ancestor)
        except DomainError:  # a unit the network does not have (any more)
            return False

    def open_listed(self, roster: InhibitionRoster | None) -> list[EarlyWarning]:
        """The roster's warnings still open, in the order they were listed."""
        found: list[EarlyWarning] = []
        for text in roster.entries if roster is not None else {}:
            w = self._find(EarlyWarning, UUID(text))
            if w is not None and w.is_open:
                found.append(w)
        return found

    def _inhibit_at_raise(self, ctx: Context, warning: EarlyWarning, meta: Meta) -> list[Any]:
        """In the raise's own decision: list a warning an inhibit rule names, inhibit it
        when an open source explains it, and inhibit the open targets it explains."""
        rules = [r for r in self.inhibit_rules if r.mentions(warning.rule)]
        if not rules:
            return []
        roster = self.inhibition_roster()
        listed = self.open_listed(roster)
        if roster is None:
            roster = InhibitionRoster(meta=ctx.meta("StartInhibitionRoster", INHIBITION_ROSTER_ID))
        me = self.alerting(warning)
        roster.list_warning(
            warning.id,
            warning.rule,
            warning.unit,
            dict(me.labels),
            ctx.meta("ListInhibition", INHIBITION_ROSTER_ID),
        )
        touched: list[Any] = [roster]
        others = [self.alerting(w) for w in listed]
        found = inhibitor_of(rules, me, others, self.unit_within)
        if found is not None:
            rule, source = found
            warning.inhibit(source.id, rule.name, _why(rule, source.id), meta)
            me = self.alerting(warning)  # held now: it holds back nothing that holds it
        for w, other in zip(listed, others, strict=True):
            if w.inhibited_by is not None or w.id == warning.id:
                continue
            for rule in rules:
                if rule.inhibits(me, other, self.unit_within):
                    w.inhibit(
                        warning.id,
                        rule.name,
                        _why(rule, warning.id),
                        ctx.meta("InhibitWarning", w.loop_id),
                    )
                    touched.append(w)
                    break
        return touched

    def inhibit_warning(
        self, ctx: Context, wid: UUID, *, by: UUID, inhibition: str, reason: str
    ) -> Outcome:
        return self._on_warning(
            ctx, wid, "InhibitWarning", lambda w, m: w.inhibit(by, inhibition, reason, m)
        )

    def uninhibit_warning(self, ctx: Context, wid: UUID, reason: str) -> Outcome:
        return self._on_warning(ctx, wid, "UninhibitWarning", lambda w, m: w.uninhibit(reason, m))

    def drop_from_inhibition(self, ctx: Context, wid: UUID) -> Outcome:
        def act(roster: InhibitionRoster) -> None:
            roster.drop(wid, ctx.meta("DropInhibition", roster.loop_id))

        return self._command(
            ctx,
            InhibitionRoster,
            INHIBITION_ROSTER_ID,
            "inhibition roster",
            act,
            "DropInhibition",
        )


def _why(rule: InhibitRule, source: UUID) -> str:
    return f"inhibited by warning {source} under inhibit rule {rule.name}"

"""The warnings' use cases: raise (or count a repeat on the open one with the same key),
change level, acknowledge, assess, resolve, cancel, close."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.decision import Decision, Outcome, check_same_command
from domain.errors import InvalidValue
from domain.meta import CLOCK_SKEW, Context, Meta, now
from domain.network_commands import NetworkCases
from domain.warning import EarlyWarning, warning_id
from domain.warning_key import WarningKey, condition_key, warning_key_id


class WarningCases(NetworkCases):
    """Early warnings, from raised to closed."""

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
            return Decision(warning, [warning, pointer], created=True)

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

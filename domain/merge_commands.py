"""Merging (并单, ADR 0082): a dispatcher merges warnings about one matter into a main
case, and takes one out again; both warnings change in one write."""

from __future__ import annotations

from uuid import UUID

from domain.base import LoopAggregate
from domain.decision import Outcome
from domain.errors import MergeRefused, NotPermitted
from domain.meta import Context
from domain.warning import EarlyWarning
from domain.warning_commands import WarningCases


class MergeCases(WarningCases):
    """Merge a warning into a main case, and un-merge it."""

    def _check_merging_unit(self, ctx: Context, *warnings: EarlyWarning) -> None:
        for w in warnings:
            if not self.is_within(w.unit, ctx.actor.unit):
                raise NotPermitted(
                    f"a dispatcher of {ctx.actor.unit} merges only warnings of the units "
                    f"under it, and {w.unit} is not"
                )

    def merge_warning(
        self, ctx: Context, wid: UUID, into: UUID, reason: str, *, override: bool = False
    ) -> Outcome:
        """Close warning ``wid`` as merged into the main case ``into``."""

        def act(merged: EarlyWarning) -> list[LoopAggregate]:
            main = merged if into == merged.id else self.warning(into)
            self._check_merging_unit(ctx, merged, main)
            merged.merge_into(
                main,
                reason,
                override,
                ctx.meta("MergeWarning", merged.loop_id),
                ctx.meta("MergeWarning", main.loop_id),
            )
            return [main]

        return self._command(ctx, EarlyWarning, wid, "warning", act, "MergeWarning")

    def unmerge_warning(self, ctx: Context, wid: UUID, reason: str) -> Outcome:
        """Take warning ``wid`` out of its main case, back to the status it had."""

        def act(merged: EarlyWarning) -> list[LoopAggregate]:
            if merged.merged_into is None:
                raise MergeRefused(f"warning {merged.title!r} is not merged into another")
            main = self.warning(merged.merged_into)
            self._check_merging_unit(ctx, merged, main)
            merged.unmerge(
                main,
                reason,
                ctx.meta("UnmergeWarning", merged.loop_id),
                ctx.meta("UnmergeWarning", main.loop_id),
            )
            return [main]

        return self._command(ctx, EarlyWarning, wid, "warning", act, "UnmergeWarning")

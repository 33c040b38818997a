"""Follow-up and reopening (回访, 重办; ADR 0083): the rules that need no aggregate.

A case that came from the public (a 12345 hotline work order, a caller, a reporter named
on the warning) is followed up after it was closed: someone of the issuing unit calls the
caller back within a limit and records three answers, as the Beijing 接诉即办 practice
asks them: did the unit contact you in time (响应), is it resolved (解决), are you
satisfied (满意, 基本满意, 不满意). An unresolved case whose caller is dissatisfied goes
back to the same lead unit with a fresh deadline: a reopen (重办).

The instruction keeps the step and its event (:meth:`domain.instruction.Instruction.follow_up`);
this module holds the words, the limit and the rules both the aggregate and the reports
read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.calendar import WorkingDuration

#: The warning sources that are the public's: the 12345 hotline's feed, a hotline
#: desk, a caller's own report. Compared without case or surrounding spaces.
PUBLIC_SOURCES = frozenset({"12345", "hotline", "public", "citizen"})

#: The warning attribute that names the person who reported it (a caller, a resident):
#: a warning that names one came from the public whatever its source.
REPORTER_ATTRIBUTE = "reporter"

#: The satisfaction rate in whole points (ADR 0083): a satisfied caller counts 100, a
#: basically satisfied one 80 (a weight of 0.8), a dissatisfied one 0, out of 100 each.
SATISFIED_POINTS = 100
BASICALLY_SATISFIED_POINTS = 80


#: After this many attempts at one closure's follow-up in which the caller could not be
#: reached (未联系上, ADR 0093), the closure counts as "not reached" in the reports.
UNREACHED_ATTEMPTS = 3


class Satisfaction(StrEnum):
    """The caller's word on how the case was handled."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


@dataclass(frozen=True)
class FollowUpLimits:
    """How long after the closure the caller may be followed up: working time on the
    calendar, clock time for an urgent case (ADR 0083)."""

    window: WorkingDuration = field(default_factory=lambda: WorkingDuration(days=2))


def is_public(source: str, attributes: Mapping[str, Any] | None) -> bool:
    """Whether a warning raised by ``source`` with ``attributes`` came from the public."""
    if source.strip().lower() in PUBLIC_SOURCES:
        return True
    reporter = (attributes or {}).get(REPORTER_ATTRIBUTE)
    if isinstance(reporter, str):
        return bool(reporter.strip())
    return isinstance(reporter, Mapping) and bool(reporter)


def reopens(resolved: bool, satisfaction: Satisfaction | str) -> bool:
    """Unresolved and dissatisfied, in the caller's own words, sends the case back."""
    return not resolved and satisfaction == Satisfaction.DISSATISFIED

"""The standard indicators of a unit's subtree over a period, from the indicators view.

Definitions are in ADR 0011. In short, for the period ``[start, end)`` and every case
whose unit lies in the subtree:

- *filed*: instructions dispatched in the period (each forwarded order counts);
- *due*: instructions whose deadline (after extensions) falls in the period, except those
  cancelled before their deadline; *closed*: of those, closed before the period's end;
  *closed on time*: closed by the deadline;
- *verified* / *reworked*: instructions verified in the period / of them, sent back at
  least once in the period;
- *signed* / *signed on time*: instructions their lead signed for in the period / within
  the sign-for limit (:class:`SignForLimits`);
- *time to acknowledge* (warnings acknowledged in the period, from raise), *to sign for*
  (from dispatch to the signing unit), *to close* (instructions closed in the period,
  from dispatch): count, exact mean, and the 90th percentile by nearest rank;
- *overdue now*: instructions open at ``as_of`` whose deadline has passed.

Counting happens in SQL, one query per kind of fact, each a range scan of one index,
grouped by (child of the unit, theme and level): the subtree's units are joined as a
table of (unit, child) pairs, so the answer holds a few hundred groups, not a row per
unit or per case. Units, children and (theme, level) pairs go into SQL as small whole
numbers (the indicators view's ``unit_no`` and ``theme_level``, ADR 0024) and come back
as texts. A 90th percentile does not add up over groups: the durations of each group
come back packed in one field (``json_group_array`` / ``array_agg``) and are summarised
here, exactly. Rolling up (the unit, each child, each theme, each level) is pure Python
over the groups, so a parent's figures are its own plus its children's by construction.

The rooms: :mod:`~projections.reports.periods` (the period asked for),
:mod:`~projections.reports.figures` (rates, durations, tallies, indicators),
:mod:`~projections.reports.facts` (the SQL), :mod:`~projections.reports.assembly` (the
roll-up) and :mod:`~projections.reports.reading` (the two halves read at once).
"""

from projections.reports.assembly import LEVELS, THEMES, Report, Row, UnitRef, assemble
from projections.reports.figures import Durations, Indicators, Rate, SignForLimits, Tally
from projections.reports.periods import PERIODS, Period, PeriodError, parse_instant, resolve_period
from projections.reports.reading import HALVES, unit_report

__all__ = [
    "HALVES",
    "LEVELS",
    "PERIODS",
    "THEMES",
    "Durations",
    "Indicators",
    "Period",
    "PeriodError",
    "Rate",
    "Report",
    "Row",
    "SignForLimits",
    "Tally",
    "UnitRef",
    "assemble",
    "parse_instant",
    "resolve_period",
    "unit_report",
]

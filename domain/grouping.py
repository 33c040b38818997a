"""Grouping (ADR 0087): breaches that belong together fold into one warning.

As Alertmanager groups alerts by labels, a rule of the catalogue may name the labels
its breaches are grouped by (``group_by = ["reservoir"]``) and a window
(``group_window_minutes``). A breach's labels are its station's (the catalogue's
``labels`` table) and three of its own: ``unit`` (the office that owns the station),
``station`` and ``metric``. Breaches of one rule, at one unit, whose grouping labels
are equal share a group key; the first raises the group's warning, and a breach of
another station observed within the window of that warning's first observation joins
it as a member (an event on the warning, not a new warning). These are pure rules:
the intake (``domain/intake.py``) applies them.

A group never spans units: a warning belongs to one unit's desk, and folding another
unit's station into it would hide that station from its own unit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

#: The labels every breach carries beside its station's own.
OWN_LABELS = ("unit", "station", "metric")
#: A label's name: lower case words joined by underscores.
LABEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: The longest window a group gathers members in.
MAX_GROUP_WINDOW = timedelta(hours=24)


def breach_labels(
    station: str, unit: str, metric: str, station_labels: Mapping[str, str]
) -> dict[str, str]:
    """A breach's labels: its station's, then its own (which win)."""
    return {**station_labels, "unit": unit, "station": station, "metric": metric}


def group_key(rule: str, by: Sequence[str], labels: Mapping[str, str]) -> str | None:
    """The key a breach is grouped under, or None when it is not grouped: the rule
    groups by nothing, or the breach lacks one of the labels (it is raised alone)."""
    if not by:
        return None
    values = []
    for name in by:
        value = labels.get(name)
        if value is None or not str(value).strip():
            return None
        values.append(f"{name}={value}")
    # The unit is always part of the key: a group never spans units.
    if "unit" not in by:
        values.append(f"unit={labels.get('unit', '')}")
    return f"group:{rule}|" + ",".join(values)


def joins(opened_at: datetime, at: datetime, window: timedelta) -> bool:
    """Whether a breach observed ``at`` joins a group whose warning was first observed
    ``opened_at``: within the window after it (a breach observed before the group's
    first observation is within it too; it arrived late)."""
    return at - opened_at <= window


def check_group_by(by: Sequence[str], window_minutes: int | None) -> None:
    """The grouping settings of one rule, as a rules file gives them (ValueError)."""
    if not by and window_minutes is None:
        return
    if not by:
        raise ValueError("group_window_minutes needs group_by = [...] beside it")
    if window_minutes is None:
        raise ValueError("group_by needs group_window_minutes beside it")
    if isinstance(window_minutes, bool) or not 1 <= window_minutes <= 24 * 60:
        raise ValueError("group_window_minutes is 1 to 1440 (24 hours)")
    if len(set(by)) != len(by):
        raise ValueError("group_by names a label twice")
    for name in by:
        if not LABEL_NAME.fullmatch(name):
            raise ValueError(f"group_by label {name!r} is not a label name (a-z, 0-9, _)")
    if list(by) == ["station"] or set(by) == {"station", "metric"}:
        raise ValueError("grouping by the station alone folds nothing; name a wider label")

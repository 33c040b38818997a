"""The evaluation file (``closedloop/evaluation.toml``, ADR 0086), read and checked.

TOML decoded by msgspec into strict tables (an unknown setting is a typo, refused by
name); what the types cannot say (known indicators, weights making 100, bands in order)
is the domain's :func:`~domain.evaluation.checked_policy`. A mistake stops start-up with
the file and the entry, as the other data files do (``closedloop/catalogues.py``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import msgspec

from closedloop.catalogues import decode, read_toml
from closedloop.settings import DEFAULT_EVALUATION
from domain.evaluation import (
    Band,
    DeductionRule,
    EvaluationPolicy,
    EvaluationPolicyError,
    RateRule,
    checked_policy,
)

__all__ = ["DEFAULT_EVALUATION", "load_evaluation_policy"]

Points = Annotated[float, msgspec.Meta(ge=0, le=100)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class RateEntry(_Strict):
    indicator: str
    weight: Points


class DeductionEntry(_Strict):
    indicator: str
    per_case: Points
    cap: Points


class BandEntry(_Strict):
    colour: str
    at_least: Points


class EvaluationFile(_Strict):
    rates: list[RateEntry]
    bands: list[BandEntry]
    deductions: list[DeductionEntry] = msgspec.field(default_factory=list)


def _exact(value: float) -> Decimal:
    # TOML's 2.5 is the float 2.5; its shortest text is what the author wrote.
    return Decimal(repr(value)).normalize() if value != int(value) else Decimal(int(value))


def load_evaluation_policy(path: Path = DEFAULT_EVALUATION) -> EvaluationPolicy:
    """The policy in ``path`` (``CLOSEDLOOP_EVALUATION_POLICY``, the shipped file by
    default); a broken file is :class:`EvaluationPolicyError` naming it."""
    table = read_toml(path, EvaluationPolicyError, "evaluation file")
    try:
        entries = decode(table, EvaluationFile, EvaluationPolicyError)
        return checked_policy(
            rates=[RateRule(e.indicator, _exact(e.weight)) for e in entries.rates],
            deductions=[
                DeductionRule(e.indicator, _exact(e.per_case), _exact(e.cap))
                for e in entries.deductions
            ],
            bands=[Band(e.colour, _exact(e.at_least)) for e in entries.bands],
        )
    except EvaluationPolicyError as e:
        raise EvaluationPolicyError(f"evaluation file {path}: {e}") from None

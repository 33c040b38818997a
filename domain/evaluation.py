"""The comprehensive evaluation (综合评价, ADR 0086): every unit scored out of 100 from
its indicators over a period, explained line by line, ranked among its peers and graded
by colour.

A score is the sum of its lines, held within ``[0, full]``:

- a *rate line* gives ``weight × numerator ÷ denominator`` points (the whole weight
  when nothing was there to judge: no case, no fault); what it falls short of its
  weight is what the failing cases cost;
- a *deduction line* takes ``per_case × count`` points, at most ``cap``.

Points are exact decimals at two places, each line rounded half up on its own, so the
lines add up to the score exactly (before the bounds). Pure: the facts come from the
read models, the policy from ``closedloop/evaluation.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from domain.errors import InvalidValue

#: What a rate line may rate: each is good ÷ judged, from the read models (ADR 0086).
RATE_INDICATORS = (
    "on_time_sign_for",  # signed for within the sign-for limit ÷ signed for
    "on_time_closure",  # closed on time ÷ (due − approved deferred)
    "satisfaction",  # (100 satisfied + 80 basically satisfied) ÷ (100 followed up)
    "check_in_on_time",  # summoned departments on time ÷ (came + absent)
    "receipt_on_time",  # notices confirmed by the limit ÷ addressed, limit passed
)
#: What a deduction line may count.
DEDUCTION_INDICATORS = (
    "rework",  # cases sent back at verification in the period (each once)
    "reopen",  # cases reopened by a follow-up (重办)
    "dispute_refused",  # disputes of the unit the arbiter refused
    "dispute_upheld",  # disputes upheld against the unit's dispatch (a wrong dispatch)
)
#: What the ids behind each line name.
REFERS_TO = {
    "on_time_sign_for": "instruction",
    "on_time_closure": "instruction",
    "satisfaction": "instruction",
    "check_in_on_time": "whistle",
    "receipt_on_time": "notice",
    "rework": "instruction",
    "reopen": "instruction",
    "dispute_refused": "instruction",
    "dispute_upheld": "instruction",
}
COLOURS = ("green", "yellow", "red")
_CENT = Decimal("0.01")


class EvaluationPolicyError(InvalidValue, code="evaluation-policy-invalid"):
    """The evaluation file cannot be used: an unknown indicator, weights that do not
    make the full score, bands out of order. Raised at start-up, naming the file."""


@dataclass(frozen=True)
class RateRule:
    indicator: str
    weight: Decimal


@dataclass(frozen=True)
class DeductionRule:
    indicator: str
    per_case: Decimal
    cap: Decimal


@dataclass(frozen=True)
class Band:
    colour: str
    #: The lowest score of the band (inclusive).
    at_least: Decimal


@dataclass(frozen=True)
class EvaluationPolicy:
    rates: tuple[RateRule, ...]
    deductions: tuple[DeductionRule, ...]
    #: From the highest band down; the last starts at 0.
    bands: tuple[Band, ...]
    full: Decimal = Decimal(100)

    def grade(self, score: Decimal) -> str:
        return next(b.colour for b in self.bands if score >= b.at_least)


def checked_policy(
    rates: Sequence[RateRule],
    deductions: Sequence[DeductionRule],
    bands: Sequence[Band],
    full: Decimal = Decimal(100),
) -> EvaluationPolicy:
    """A policy whose weights make the full score, with known indicators, each once,
    and bands from the top down to 0; else :class:`EvaluationPolicyError` saying which."""
    seen: set[str] = set()
    for indicator in [r.indicator for r in rates] + [d.indicator for d in deductions]:
        if indicator in seen:
            raise EvaluationPolicyError(f"indicator {indicator} is given twice")
        seen.add(indicator)
    for r in rates:
        if r.indicator not in RATE_INDICATORS:
            raise EvaluationPolicyError(
                f"rates: unknown indicator {r.indicator!r} (one of {', '.join(RATE_INDICATORS)})"
            )
        if r.weight <= 0:
            raise EvaluationPolicyError(f"rates: {r.indicator} needs a weight above 0")
    for d in deductions:
        if d.indicator not in DEDUCTION_INDICATORS:
            raise EvaluationPolicyError(
                f"deductions: unknown indicator {d.indicator!r} "
                f"(one of {', '.join(DEDUCTION_INDICATORS)})"
            )
        if d.per_case <= 0 or d.cap <= 0:
            raise EvaluationPolicyError(f"deductions: {d.indicator} needs per_case and cap above 0")
    total = sum((r.weight for r in rates), Decimal(0))
    if total != full:
        raise EvaluationPolicyError(f"rates: the weights add up to {total}, not {full}")
    if not bands:
        raise EvaluationPolicyError("bands: at least one band is needed")
    for band in bands:
        if band.colour not in COLOURS:
            raise EvaluationPolicyError(
                f"bands: unknown colour {band.colour!r} (one of {', '.join(COLOURS)})"
            )
    lows = [b.at_least for b in bands]
    if lows != sorted(lows, reverse=True) or len(set(lows)) != len(lows):
        raise EvaluationPolicyError("bands: give them from the highest down, each lower")
    if lows[-1] != 0 or lows[0] > full:
        raise EvaluationPolicyError(f"bands: the lowest starts at 0 and none above {full}")
    return EvaluationPolicy(tuple(rates), tuple(deductions), tuple(bands), full)


# -- facts --------------------------------------------------------------------------------


@dataclass
class RateFact:
    """Good ÷ judged for one indicator, and the ids of what failed."""

    numerator: int = 0
    denominator: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, other: RateFact) -> None:
        self.numerator += other.numerator
        self.denominator += other.denominator
        self.failed.extend(other.failed)


@dataclass
class CountFact:
    """The ids of what is counted against the unit, one per case."""

    cases: list[str] = field(default_factory=list)

    def add(self, other: CountFact) -> None:
        self.cases.extend(other.cases)


@dataclass
class Facts:
    """One unit's facts over a period (its own, or its subtree's once rolled up)."""

    rates: dict[str, RateFact] = field(
        default_factory=lambda: {name: RateFact() for name in RATE_INDICATORS}
    )
    counts: dict[str, CountFact] = field(
        default_factory=lambda: {name: CountFact() for name in DEDUCTION_INDICATORS}
    )

    def add(self, other: Facts) -> None:
        for name, fact in other.rates.items():
            self.rates[name].add(fact)
        for name, count in other.counts.items():
            self.counts[name].add(count)


# -- scores -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of a score: what was counted, the rule, and the points it gives."""

    indicator: str
    kind: str  # "rate" or "deduction"
    #: Rate: good and judged. Deduction: the count (numerator) of 0 (denominator).
    numerator: int
    denominator: int
    #: Rate: its weight. Deduction: per case, and its cap.
    weight: Decimal
    cap: Decimal | None
    #: Points given (a rate) or taken (a deduction, negative).
    points: Decimal
    #: What the failing cases cost: the weight less the points, or the points taken.
    lost: Decimal
    #: What kind of thing ``cases`` names, and their ids.
    refers_to: str
    cases: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    code: str
    score: Decimal
    colour: str
    lines: tuple[Line, ...]
    #: Among the peers: 1 for the best (equal scores share a rank); None alone.
    rank: int | None = None
    peers: int = 1


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


def score(code: str, facts: Facts, policy: EvaluationPolicy) -> Score:
    """The score of one unit from its facts, line by line."""
    lines: list[Line] = []
    for rule in policy.rates:
        fact = facts.rates[rule.indicator]
        if fact.denominator <= 0:
            points = _cents(rule.weight)
        else:
            ratio = Decimal(max(0, min(fact.numerator, fact.denominator))) / fact.denominator
            points = _cents(rule.weight * ratio)
        lines.append(
            Line(
                rule.indicator,
                "rate",
                fact.numerator,
                fact.denominator,
                rule.weight,
                None,
                points,
                _cents(rule.weight - points),
                REFERS_TO[rule.indicator],
                _unique(fact.failed),
            )
        )
    for deduction in policy.deductions:
        cases = _unique(facts.counts[deduction.indicator].cases)
        taken = _cents(min(deduction.cap, deduction.per_case * len(cases)))
        lines.append(
            Line(
                deduction.indicator,
                "deduction",
                len(cases),
                0,
                deduction.per_case,
                deduction.cap,
                -taken,
                taken,
                REFERS_TO[deduction.indicator],
                cases,
            )
        )
    total = sum((line.points for line in lines), Decimal(0))
    bounded = _cents(max(Decimal(0), min(policy.full, total)))
    return Score(code, bounded, policy.grade(bounded), tuple(lines))


def ranked(scores: Sequence[Score]) -> list[Score]:
    """Peers from the best down, each with its rank: equal scores share one, and the
    next rank counts those above it (1, 2, 2, 4); equal scores in code order."""
    order = sorted(scores, key=lambda s: (-s.score, s.code))
    out: list[Score] = []
    for place, s in enumerate(order, start=1):
        rank = out[-1].rank if out and out[-1].score == s.score else place
        out.append(Score(s.code, s.score, s.colour, s.lines, rank=rank, peers=len(order)))
    return out


def peer_key(parent: str | None, level: str, kind: str) -> tuple[str, str, str]:
    """Who is a peer: the units of one level and kind under the same parent."""
    return (parent or "", level, kind)


def evaluate(
    units: Sequence[tuple[str, str | None, str, str, bool]],
    facts: Mapping[str, Facts],
    policy: EvaluationPolicy,
    top: str,
) -> dict[str, Score]:
    """Every active unit (code, parent, level, kind, active) scored from its facts and
    ranked among its peers; ``top`` (the unit asked for, scored even if deactivated)
    has no peers in the answer and no rank."""
    groups: dict[tuple[str, str, str], list[Score]] = {}
    out: dict[str, Score] = {}
    for code, parent, level, kind, active in units:
        if not active and code != top:
            continue
        s = score(code, facts.get(code) or Facts(), policy)
        if code == top:
            out[code] = s
        else:
            groups.setdefault(peer_key(parent, level, kind), []).append(s)
    for members in groups.values():
        for s in ranked(members):
            out[s.code] = s
    return out


#: The policy shipped in ``closedloop/evaluation.toml``, for a server built without
#: settings (tests, tools); a test keeps the two equal.
DEFAULT_POLICY = checked_policy(
    rates=[
        RateRule("on_time_sign_for", Decimal(15)),
        RateRule("on_time_closure", Decimal(35)),
        RateRule("satisfaction", Decimal(20)),
        RateRule("check_in_on_time", Decimal(15)),
        RateRule("receipt_on_time", Decimal(15)),
    ],
    deductions=[
        DeductionRule("rework", Decimal(2), Decimal(10)),
        DeductionRule("reopen", Decimal(3), Decimal(15)),
        DeductionRule("dispute_refused", Decimal(1), Decimal(5)),
        DeductionRule("dispute_upheld", Decimal(1), Decimal(5)),
    ],
    bands=[
        Band("green", Decimal(90)),
        Band("yellow", Decimal(75)),
        Band("red", Decimal(0)),
    ],
)

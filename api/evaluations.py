"""``GET /v1/evaluations/{code}``: the comprehensive evaluation (综合评价, ADR 0086).

Every unit of ``code``'s subtree scored out of 100 over a period (this month by
default, ``month=YYYY-MM``, or ``from``/``to``), line by line down to the cases that cost
points, ranked among its peers and graded by colour. JSON (default), CSV (every cell
neutralised as the reports' CSV is) and a printable HTML page with a chart. Scoped as
the reports are: outside the auditor's and admin's roles, a unit outside the caller's
subtree answers 404, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get
from litestar.openapi.spec import Schema
from litestar.params import FromPath, QueryParameter

from api.access import Services, scope_of
from api.contract import also_answered, grouped_query
from api.headers import html_page
from api.http import READ, MinPosition, Svc, Who, caught_up
from api.periods import To, instant_query, month_or_range, no_range, period_problems
from api.renderings import Format, besides_json, choose_format, csv_file, csv_text, template
from api.screens.charts import Group, bar_chart
from api.tokens import Principal
from domain.errors import NotFound
from domain.evaluation import DEFAULT_POLICY, EvaluationPolicy, Score, evaluate, peer_key
from domain.unit import CODE_PATTERN
from projections.evaluation import EvaluationFacts, Subject, evaluation_facts
from projections.reports import Period
from projections.units import is_within
from texts.catalogue import word

# -- the JSON shape ----------------------------------------------------------------------


class LineOut(msgspec.Struct):
    indicator: str
    kind: str
    numerator: int
    denominator: int
    weight: str
    cap: str | None
    points: str
    lost: str
    refers_to: str
    cases: list[str]


class SubjectOut(msgspec.Struct):
    code: str
    name: str
    name_en: str
    level: str
    kind: str
    parent: str | None


class ScoreOut(msgspec.Struct):
    unit: SubjectOut
    score: str
    colour: str
    #: 1 for the best of its peers (equal scores share a rank); null for the unit asked.
    rank: int | None
    peers: int
    #: Who its peers are: parent/level/kind.
    peer_group: str | None
    lines: list[LineOut]


class BandOut(msgspec.Struct):
    colour: str
    at_least: str


class PeriodOut(msgspec.Struct, rename={"from_": "from"}):
    from_: Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
    to: Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
    zone: str
    label: str


class EvaluationOut(msgspec.Struct):
    unit: SubjectOut
    period: PeriodOut
    as_of: Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
    position: int
    full: str
    bands: list[BandOut]
    #: The unit asked for first, then each peer group from the best down.
    scores: list[ScoreOut]


@dataclass(frozen=True)
class Evaluation:
    """One evaluation as read: the facts, every score in order, what it covers."""

    facts: EvaluationFacts
    scores: list[tuple[Subject, Score]]
    period: Period
    as_of: datetime
    policy: EvaluationPolicy


def _subject(s: Subject) -> SubjectOut:
    return SubjectOut(s.code, s.name, s.name_en, s.level, s.kind, s.parent)


def _group_name(s: Subject) -> str:
    return "/".join(peer_key(s.parent, s.level, s.kind))


def _instant(moment: datetime, zone: ZoneInfo) -> str:
    """An instant in ``zone`` as RFC 3339 text (as msgspec writes a ``datetime``)."""
    return moment.astimezone(zone).isoformat()


def evaluation_out(e: Evaluation, zone: ZoneInfo) -> EvaluationOut:
    top = e.facts.top
    return EvaluationOut(
        unit=_subject(top),
        period=PeriodOut(
            _instant(e.period.start, zone),
            _instant(e.period.end, zone),
            e.period.zone,
            e.period.label,
        ),
        as_of=_instant(e.as_of, zone),
        position=e.facts.position,
        full=str(e.policy.full),
        bands=[BandOut(b.colour, str(b.at_least)) for b in e.policy.bands],
        scores=[
            ScoreOut(
                unit=_subject(subject),
                score=str(s.score),
                colour=s.colour,
                rank=s.rank,
                peers=s.peers if subject.code != top.code else 0,
                peer_group=None if subject.code == top.code else _group_name(subject),
                lines=[
                    LineOut(
                        line.indicator,
                        line.kind,
                        line.numerator,
                        line.denominator,
                        str(line.weight),
                        None if line.cap is None else str(line.cap),
                        str(line.points),
                        str(line.lost),
                        line.refers_to,
                        list(line.cases),
                    )
                    for line in s.lines
                ],
            )
            for subject, s in e.scores
        ],
    )


# -- reading -----------------------------------------------------------------------------


def ranked_in_groups(
    facts: EvaluationFacts, scores: dict[str, Score]
) -> list[tuple[Subject, Score]]:
    """The top first, then the peer groups in the tree's order, each best first."""
    top = facts.top
    out = [(top, scores[top.code])]
    groups: dict[tuple[str, str, str], list[Subject]] = {}
    for s in facts.subjects[1:]:
        if s.code in scores:
            groups.setdefault(peer_key(s.parent, s.level, s.kind), []).append(s)
    for members in groups.values():
        members.sort(key=lambda s: (scores[s.code].rank or 0, s.code))
        out += [(s, scores[s.code]) for s in members]
    return out


def scoped_evaluation(
    services: Services, principal: Principal, code: str, span: Period, moment: datetime
) -> Evaluation:
    """The evaluation of ``code``'s subtree if it lies in the principal's scope (not
    found otherwise, as a unit that does not exist)."""
    if not CODE_PATTERN.match(code):
        raise NotFound(f"unit {code[:40]!r} not found")
    store = services.reads.store
    scope = scope_of(principal)
    if scope is not None:
        with store.read() as tx:
            visible = is_within(tx, code, scope)
        if not visible:
            raise NotFound(f"unit {code} not found")
    facts = evaluation_facts(store, code, span, as_of=moment)
    if facts is None:
        raise NotFound(f"unit {code} not found")
    policy = services.evaluation or DEFAULT_POLICY
    units = [(s.code, s.parent, s.level, s.kind, s.active) for s in facts.subjects]
    scores = evaluate(units, facts.facts, policy, top=facts.top.code)
    return Evaluation(facts, ranked_in_groups(facts, scores), span, moment, policy)


# -- CSV and HTML ------------------------------------------------------------------------

CSV_COLUMNS = (
    "code", "name", "name_en", "level", "kind", "parent", "score", "colour", "rank",
    "peers", "indicator", "line_kind", "numerator", "denominator", "weight", "cap",
    "points", "lost", "refers_to", "cases", "from", "to",
)  # fmt: skip


def render_csv(e: Evaluation, zone: ZoneInfo) -> str:
    """One row per line of each score; every cell quoted and none read as a formula."""
    start = e.period.start.astimezone(zone).isoformat()
    end = e.period.end.astimezone(zone).isoformat()
    rows: list[list[str]] = []
    for subject, s in e.scores:
        head = [
            subject.code, subject.name, subject.name_en, subject.level, subject.kind,
            subject.parent or "", str(s.score), s.colour,
            "" if s.rank is None else str(s.rank), str(s.peers),
        ]  # fmt: skip
        rows += [
            [
                *head,
                line.indicator,
                line.kind,
                str(line.numerator),
                str(line.denominator),
                str(line.weight),
                "" if line.cap is None else str(line.cap),
                str(line.points),
                str(line.lost),
                line.refers_to,
                " ".join(line.cases),
                start,
                end,
            ]
            for line in s.lines
        ]
    return csv_text(CSV_COLUMNS, rows)


def _chart_groups(e: Evaluation) -> list[tuple[str, Any]]:
    """A bar chart of scores per peer group, the bar's class its colour."""
    charts: list[tuple[str, Any]] = []
    groups: dict[str, list[Group]] = {}
    names = {s.code: s for s in e.facts.subjects}
    for subject, s in e.scores[1:]:
        label = f"{s.rank}. {subject.name} {subject.name_en}"
        parent = names.get(subject.parent or "")
        # An enterprise is of the enterprise level and kind: its kind says it once.
        level = subject.level != subject.kind
        zh = (word("unit_level", subject.level, "zh") if level else "") + word(
            "unit_kind", subject.kind, "zh"
        )
        en = (word("unit_level", subject.level, "en") + " " if level else "") + word(
            "unit_kind", subject.kind, "en"
        )
        under = f" under {parent.name_en}" if parent and parent.name_en else ""
        title = " · ".join([parent.name if parent else (subject.parent or ""), zh, en + under])
        groups.setdefault(title, []).append(
            Group(subject.code, label, {s.colour: s.score}, f"({subject.code})")
        )
    for name, members in groups.items():
        chart = bar_chart(members)
        # The bars are scores out of the full score, not percents: written as scores.
        rows = [
            replace(row, bars=[replace(b, text=f"{g.rates[b.name]}") for b in row.bars])
            for row, g in zip(chart.rows, members, strict=True)
        ]
        charts.append((name, replace(chart, rows=rows)))
    return charts


def render_html(e: Evaluation, zone: ZoneInfo) -> str:
    return template("evaluation.html.j2").render(
        e=e,
        top=e.facts.top,
        start=e.period.start.astimezone(zone),
        end=e.period.end.astimezone(zone),
        as_of=e.as_of.astimezone(zone).replace(microsecond=0),
        charts=_chart_groups(e),
        word=word,
        group_name=_group_name,
        zero=Decimal(0),
    )


# -- the route ---------------------------------------------------------------------------


class EvaluationController(Controller):
    path = "/v1/evaluations"
    tags = ("reports",)

    @get(
        "/{code:str}",
        sync_to_thread=True,
        responses=READ,
        operation_class=also_answered(
            grouped_query(
                "month",
                "from",
                "to",
                title="period",
                description="the period: a month, or from and to (to excluded), or nothing "
                "(this month)",
                one_of=[
                    Schema(required=["from", "to"], schema_not=Schema(required=["month"])),
                    no_range(),
                ],
            ),
            **besides_json(),
        ),
    )
    def evaluation(
        self,
        code: FromPath[str],
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        month: Annotated[
            str | None,
            QueryParameter(
                max_length=7,
                schema_extra={"pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"},
                description="a month, 2026-04 (not with from and to)",
            ),
        ] = None,
        from_: Annotated[
            str | None, instant_query("a date or an RFC 3339 time (with to)", name="from")
        ] = None,
        to: To = None,
        format: Format = None,
        min_position: MinPosition = None,
    ) -> Response[Any]:
        """Every unit of a subtree scored out of 100 over a period (default: this month),
        explained line by line down to the cases, ranked among its peers, graded."""
        kind = choose_format(format, request)
        zone = ZoneInfo(services.center.calendar.zone)
        with period_problems():
            moment, span = month_or_range(services, month=month, from_=from_, to=to)
        caught_up(
            services, request, min_position, "units", "indicators", "whistles", "notices",
            principal=principal,
        )  # fmt: skip
        found = scoped_evaluation(services, principal, code, span, moment)
        if kind == "html":
            return html_page(render_html(found, zone))
        if kind == "csv":
            filename = f"evaluation-{found.facts.top.code}-{span.label[:10]}.csv"
            return csv_file(render_csv(found, zone), filename)
        return Response(
            msgspec.json.encode(evaluation_out(found, zone)), media_type="application/json"
        )


EVALUATION_HANDLERS = [EvaluationController]

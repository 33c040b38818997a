"""``GET /v1/reports/units/{code}``: a unit's standard indicators over a period (ADR 0011).

One report, three renderings: JSON (the default), an HTML page fit to print as the
monthly report (Chinese and English labels), and CSV. The format is chosen by
``?format=json|html|csv`` or else by the ``Accept`` header. Rates are answered with
their numerator and denominator, and their percent as an exact decimal string
("93.72"), null when the denominator is 0. Reading is scoped as every read: outside the
auditor's and admin's roles, a unit sees reports on its own subtree only; any other unit
answers 404, as if it did not exist.
"""

from __future__ import annotations

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
from api.http import READ, MinPosition, Svc, Who, caught_up, view_store
from api.periods import To, instant_query, no_range, period_problems, report_period
from api.renderings import MEDIA, Format, besides_json, choose_format, csv_file, csv_text, template
from api.tokens import Principal
from domain.errors import NotFound
from projections.reports import (
    PERIODS,
    Durations,
    Indicators,
    Period,
    Rate,
    Report,
    unit_report,
)
from projections.store import ViewStore
from projections.units import is_within
from texts.catalogue import word
from texts.words import INDICATORS

# -- the JSON shape ----------------------------------------------------------------------


class RateOut(msgspec.Struct):
    numerator: int
    denominator: int
    percent: str | None


class DurationsOut(msgspec.Struct):
    count: int
    total_seconds: int
    mean_seconds: str | None
    p90_seconds: int | None


class IndicatorsOut(msgspec.Struct):
    filed: int
    forwarded: int
    due: int
    closed: int
    closed_on_time: int
    #: Of the due, those an approved deferral holds: out of the on-time denominator.
    deferred: int
    closure_rate: RateOut
    on_time_closure_rate: RateOut
    verified: int
    reworked: int
    rework_rate: RateOut
    signed: int
    signed_on_time: int
    on_time_sign_for_rate: RateOut
    warnings_raised: int
    warnings_acknowledged: int
    time_to_acknowledge: DurationsOut
    time_to_sign_for: DurationsOut
    time_to_close: DurationsOut
    overdue_now: int
    #: Disputes of a dispatch filed in the period (ADR 0076), the arbitrated and the upheld.
    disputes: int = 0
    disputes_arbitrated: int = 0
    disputes_upheld: int = 0
    dispute_rate: RateOut | None = None
    upheld_rate: RateOut | None = None
    #: Follow-ups of the public's cases (回访, ADR 0083): the caller's answers, the
    #: reopens (重办), and the three rates of 接诉即办 with the reopen rate.
    followed_up: int = 0
    contacted: int = 0
    resolved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    reopened: int = 0
    response_rate: RateOut | None = None
    resolution_rate: RateOut | None = None
    satisfaction_rate: RateOut | None = None
    reopen_rate: RateOut | None = None
    #: Follow-up attempts that did not reach the caller (未联系上, ADR 0093), and the
    #: closures counted as not reached (the third such attempt); in no rate.
    follow_up_unreached: int = 0
    follow_up_not_reached: int = 0


class ReportUnit(msgspec.Struct):
    code: str
    name: str
    name_en: str
    level: str


class ReportRow(msgspec.Struct):
    unit: ReportUnit
    indicators: IndicatorsOut


class ReportPeriod(msgspec.Struct, rename={"from_": "from"}):
    from_: datetime
    to: datetime
    zone: str
    label: str


class SignForLimitsOut(msgspec.Struct):
    working_seconds: int
    urgent_seconds: int


class UnitReport(msgspec.Struct):
    unit: ReportUnit
    period: ReportPeriod
    as_of: datetime
    position: int
    sign_for_limits: SignForLimitsOut
    total: IndicatorsOut
    own: IndicatorsOut
    children: list[ReportRow]
    by_theme: dict[str, IndicatorsOut]
    by_level: dict[str, IndicatorsOut]
    #: The subtree's emergency-mode cases and its urgent ones, rated on their own.
    emergency: IndicatorsOut
    urgent: IndicatorsOut


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _figure(value: Any) -> Any:
    """A figure in the JSON shape: a rate or durations with their decimals as text."""
    if isinstance(value, Rate):
        return RateOut(value.numerator, value.denominator, _text(value.percent))
    if isinstance(value, Durations):
        mean = _text(value.mean_seconds)
        return DurationsOut(value.count, value.total_seconds, mean, value.p90_seconds)
    return value


def indicators_out(i: Indicators) -> IndicatorsOut:
    return IndicatorsOut(**{name: _figure(getattr(i, name)) for name in INDICATORS})


def report_out(report: Report, zone: ZoneInfo) -> UnitReport:
    def unit(u: Any) -> ReportUnit:
        return ReportUnit(u.code, u.name, u.name_en, u.level)

    p = report.period
    return UnitReport(
        unit=unit(report.unit),
        period=ReportPeriod(p.start.astimezone(zone), p.end.astimezone(zone), p.zone, p.label),
        as_of=report.as_of.astimezone(zone),
        position=report.position,
        sign_for_limits=SignForLimitsOut(
            report.limits.working_seconds, report.limits.urgent_seconds
        ),
        total=indicators_out(report.total),
        own=indicators_out(report.own),
        children=[ReportRow(unit(r.unit), indicators_out(r.indicators)) for r in report.children],
        by_theme={k: indicators_out(v) for k, v in report.by_theme.items()},
        by_level={k: indicators_out(v) for k, v in report.by_level.items()},
        emergency=indicators_out(report.emergency),
        urgent=indicators_out(report.urgent),
    )


# -- the flat shape (CSV rows, HTML tables) -----------------------------------------------


def columns() -> list[tuple[str, str, str]]:
    """Column, Chinese label, English label: the order of the CSV and of the printed
    tables; the labels are the catalogue's words for the indicators (ADR 0038)."""
    return [(name, *label("indicator", name)) for name in INDICATORS]


def label(family: str, key: str) -> tuple[str, str]:
    """The Chinese and English word of a code: an indicator, a theme, a level."""
    return word(family, key, "zh"), word(family, key, "en")


def _hours(seconds: Decimal | int | None) -> str:
    return "—" if seconds is None else f"{Decimal(seconds) / 3600:.1f} h"


def cells(i: Indicators) -> dict[str, str]:
    """Each column as a printed cell: a rate as ``93.72 % (911/972)``, durations in hours."""
    out: dict[str, str] = {}
    for name in INDICATORS:
        value = getattr(i, name)
        if isinstance(value, Rate):
            shown = "—" if value.percent is None else f"{value.percent} %"
            out[name] = f"{shown} ({value.numerator}/{value.denominator})"
        elif isinstance(value, Durations):
            out[name] = (
                f"{_hours(value.mean_seconds)} / P90 {_hours(value.p90_seconds)} (n={value.count})"
            )
        else:
            out[name] = str(value)
    return out


def csv_fields(i: Indicators) -> dict[str, str]:
    """Each figure in its own machine-readable column: rates split in three, durations in four."""
    out: dict[str, str] = {}
    for name in INDICATORS:
        value = getattr(i, name)
        if isinstance(value, Rate):
            out[f"{name}_percent"] = "" if value.percent is None else str(value.percent)
            out[f"{name}_numerator"] = str(value.numerator)
            out[f"{name}_denominator"] = str(value.denominator)
        elif isinstance(value, Durations):
            out[f"{name}_count"] = str(value.count)
            out[f"{name}_total_seconds"] = str(value.total_seconds)
            out[f"{name}_mean_seconds"] = _or_empty(value.mean_seconds)
            out[f"{name}_p90_seconds"] = _or_empty(value.p90_seconds)
        else:
            out[name] = str(value)
    return out


def _or_empty(value: Any) -> str:
    return "" if value is None else str(value)


def sections(report: Report) -> list[tuple[str, str, str, str, Indicators]]:
    """Every row of a report: (section, key, Chinese name, English name, figures)."""
    u = report.unit
    rows = [
        ("total", u.code, u.name, u.name_en, report.total),
        ("own", u.code, u.name, u.name_en, report.own),
        ("emergency", u.code, u.name, u.name_en, report.emergency),
        ("urgent", u.code, u.name, u.name_en, report.urgent),
    ]
    rows += [
        ("child", r.unit.code, r.unit.name, r.unit.name_en, r.indicators) for r in report.children
    ]
    for key, figures in report.by_theme.items():
        rows.append(("theme", key, *label("theme", key), figures))
    for key, figures in report.by_level.items():
        rows.append(("level", key, *label("level", key), figures))
    return rows


def render_csv(report: Report, zone: ZoneInfo) -> str:
    """The report as CSV, every cell quoted and none read as a formula: unit names and
    keys are written by people, and a spreadsheet opens the file (issue 19)."""
    start = report.period.start.astimezone(zone).isoformat()
    end = report.period.end.astimezone(zone).isoformat()
    # Every Indicators has the same figures of the same kinds: the same columns a row.
    header = ["section", "key", "name", "name_en", "from", "to", *csv_fields(report.total)]
    rows = [
        [section, key, name, name_en, start, end, *csv_fields(figures).values()]
        for section, key, name, name_en, figures in sections(report)
    ]
    return csv_text(header, rows)


_UNIT_SECTIONS = ("total", "own", "child")


def render_html(report: Report, zone: ZoneInfo) -> str:
    rows = sections(report)
    return template("report.html.j2").render(
        report=report,
        start=report.period.start.astimezone(zone),
        end=report.period.end.astimezone(zone),
        as_of=report.as_of.astimezone(zone),
        columns=columns(),
        word=word,
        units=[
            (s, k, zh, en, cells(f))
            for s, k, zh, en, f in rows
            if s in ("total", "own", "emergency", "urgent", "child")
        ],
        themes=[(k, zh, en, cells(f)) for s, k, zh, en, f in rows if s == "theme"],
        levels=[(k, zh, en, cells(f)) for s, k, zh, en, f in rows if s == "level"],
    )


# -- the route ---------------------------------------------------------------------------


def scoped_report(
    services: Services,
    principal: Principal,
    code: str,
    span: Period,
    moment: datetime,
    store: ViewStore | None = None,
) -> Report:
    """The report of ``code`` if it lies in the principal's scope (not found otherwise,
    as a unit that does not exist): the API's report and the reports pages alike.

    Read from ``store``: the one the request's :func:`~api.http.caught_up` chose (the
    replica's copy of the views while it serves and holds the reader's own write, ADR
    0089); the primary's when none is given. A report the standby fails for being away
    is read again, whole, from the primary."""
    scope = scope_of(principal)

    def read(views: ViewStore) -> Report | None:
        if scope is not None:
            with views.read() as tx:
                if not is_within(tx, code, scope):
                    return None
        return unit_report(views, code, span, as_of=moment)

    report = services.reads.on(store or services.reads.store, read)
    if report is None:
        raise NotFound(f"unit {code} not found")
    return report


class ReportController(Controller):
    path = "/v1/reports"
    tags = ("reports",)

    @get(
        "/units/{code:str}",
        sync_to_thread=True,
        responses=READ,
        operation_class=also_answered(
            grouped_query(
                "from",
                "to",
                "period",
                "date",
                title="period",
                description="the period: from and to (to excluded), or period with a date in it, "
                "or nothing (this month)",
                one_of=[
                    Schema(
                        required=["from", "to"],
                        schema_not=Schema(
                            any_of=[Schema(required=["period"]), Schema(required=["date"])]
                        ),
                    ),
                    no_range(),
                ],
            ),
            **besides_json(),
        ),
    )
    def unit_report(
        self,
        code: FromPath[str],
        services: Svc,
        principal: Who,
        request: Request[Any, Any, Any],
        from_: Annotated[
            str | None, instant_query("a date or an RFC 3339 time", name="from")
        ] = None,
        to: To = None,
        period: Annotated[
            str | None,
            QueryParameter(
                max_length=8,
                schema_extra={"enum": list(PERIODS)},
                description="day, week or month (with date)",
            ),
        ] = None,
        date: Annotated[
            str | None,
            QueryParameter(
                max_length=10,
                schema_extra={"format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                description="a day of the period (today)",
            ),
        ] = None,
        as_of: Annotated[
            str | None, instant_query("the moment 'overdue now' is counted at")
        ] = None,
        format: Format = None,
        min_position: MinPosition = None,
    ) -> Response[Any]:
        """The standard indicators of a unit's subtree, of its own cases, of each child's
        subtree, by theme and by level, over a period (default: this month)."""
        kind = choose_format(format, request)
        zone = ZoneInfo(services.center.calendar.zone)
        with period_problems():
            moment, span = report_period(
                services, from_=from_, to=to, period=period, date=date, as_of=as_of
            )
        caught_up(services, request, min_position, "units", "indicators", principal=principal)
        report = scoped_report(
            services, principal, code, span, moment, view_store(services, request)
        )
        if kind == "html":
            return html_page(render_html(report, zone))
        if kind == "csv":
            filename = f"report-{report.unit.code}-{report.period.label[:10]}.csv"
            return csv_file(render_csv(report, zone), filename)
        return Response(msgspec.json.encode(report_out(report, zone)), media_type=MEDIA["json"])

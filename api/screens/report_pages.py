"""The reports pages: a unit's standard indicators over a period with charts, a
drill-down to each child, the CSV and a print layout (issue 20, ADR 0057).

The figures are the API's report (:func:`api.reports.scoped_report`), scoped as its
route is: outside the auditor's and admin's roles a person reads the reports of their
own unit's subtree, and any other unit is the not-found page. The period is read by the
API's own rules (:mod:`api.periods`); a page adds the month picker.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from api.http import On, view_store
from api.periods import month_or_range, report_period
from api.renderings import csv_file
from api.reports import cells, render_csv, scoped_report
from api.screens.charts import Group, bar_chart, line_chart
from api.screens.errors import FormRefused
from api.screens.pages import Page, page_of, render
from domain.errors import NotFound
from domain.unit import CODE_PATTERN
from projections import queries as q
from projections.reports import Indicators, Period, PeriodError, Report, resolve_period
from texts.words import INDICATORS

PAGE = {"page": True}
#: How many periods the rates-over-time chart shows, the chosen one last.
HISTORY = 6
#: The rates each bar chart shows, side by side.
RATES = ("closure_rate", "on_time_closure_rate")
#: The columns of the tables of children, themes and levels (the full set is below them).
SUMMARY = (
    "due",
    "closed",
    "closure_rate",
    "on_time_closure_rate",
    "rework_rate",
    "overdue_now",
    # Per unit: dispatch disputes and how many the arbiter upheld (ADR 0076).
    "dispute_rate",
    "upheld_rate",
)


def _asked(request: Request[Any, Any, Any]) -> dict[str, str]:
    query = request.query_params
    return {
        n: str(query.get(n)).strip()
        for n in ("month", "from", "to")
        if str(query.get(n) or "").strip()
    }


def _chosen(call: On, asked: dict[str, str], page: Page) -> tuple[datetime, Period]:
    """The period the picker names: a month, or from and to (dates or times); this
    month when nothing is asked. A value that cannot be read is refused at its field."""
    month = asked.get("month")
    if month is not None and ("from" in asked or "to" in asked):
        raise FormRefused({"month": page.t("page.reports.month_or_range")})
    try:
        return month_or_range(
            call.services, month=month, from_=asked.get("from"), to=asked.get("to")
        )
    except PeriodError as e:
        field = e.field if e.field in ("from", "to") else "month"
        raise FormRefused({field: page.t(f"page.reports.bad_{field}")}) from None


def _earlier(span: Period, monthly: bool, back: int) -> Period | None:
    """The period ``back`` steps before ``span``: the month as many months before, or
    a span of the same length; None when it would fall before year 1."""
    zone = ZoneInfo(span.zone)
    local = span.start.astimezone(zone)
    try:
        if monthly:
            year, month = divmod(local.year * 12 + local.month - 1 - back, 12)
            if year < 1:
                return None
            on = f"{year:04d}-{month + 1:02d}-01"
            return resolve_period(zone=span.zone, today=local.date(), period="month", on=on)
        length = span.end - span.start
        start, end = span.start - back * length, span.end - back * length
        return Period(start, end, span.zone, start.astimezone(zone).strftime("%Y-%m-%d"))
    except (OverflowError, PeriodError):
        return None


def _report(call: On, code: str, span: Period, moment: datetime) -> Report:
    """The API's report for the session's person, read where the request's reads go
    (the replica's copy of the views while it serves, ADR 0089)."""
    store = view_store(call.services, call.request)
    return scoped_report(call.services, call.principal, code, span, moment, store)


def _percent(indicators: Indicators, rate: str) -> Decimal | None:
    value: Decimal | None = getattr(indicators, rate).percent
    return value


def _over_time(call: On, code: str, span: Period, monthly: bool, moment: datetime) -> Any:
    """The two closure rates over the chosen period and the ones before it."""
    labels: list[str] = []
    series: dict[str, list[Decimal | None]] = {rate: [] for rate in RATES}
    for back in range(HISTORY - 1, -1, -1):
        earlier = span if back == 0 else _earlier(span, monthly, back)
        if earlier is None:
            continue
        report = _report(call, code, earlier, moment)
        labels.append(earlier.label)
        for rate in RATES:
            series[rate].append(_percent(report.total, rate))
    return line_chart(labels, series)


def _note(indicators: Indicators, page: Page) -> str:
    return page.t("page.reports.closed_of_due", closed=indicators.closed, due=indicators.due)


def _group(
    key: str, label: str, indicators: Indicators, page: Page, href: str | None = None
) -> Group:
    rates = {rate: _percent(indicators, rate) for rate in RATES}
    return Group(key, label, rates, _note(indicators, page), href)


def _name(unit: Any, page: Page) -> str:
    return str(unit.name if page.language == "zh" else unit.name_en or unit.name)


def unit_crumbs(call: On, code: str, page: Page) -> list[tuple[str, str]]:
    """(code, name) from the top this person may read down to ``code``."""
    top = None if call.principal.reads_everything else call.principal.unit
    out: list[tuple[str, str]] = []
    with view_store(call.services, call.request).read() as tx:
        at: str | None = code
        while at is not None and len(out) < 12:
            row = q.unit(tx, at)
            if row is None:
                break
            name = row["name"] if page.language == "zh" else row["name_en"] or row["name"]
            out.append((str(row["code"]), str(name)))
            if at == top:
                break
            at = row["parent"]
    return list(reversed(out))


def _context(call: On, report: Report, page: Page, query: str, over_time: Any) -> dict[str, Any]:
    suffix = f"?{query}" if query else ""
    children = [
        _group(
            r.unit.code, _name(r.unit, page), r.indicators, page, f"/reports/{r.unit.code}{suffix}"
        )
        for r in report.children
    ]
    themes = [_group(k, page.w("theme", k), v, page) for k, v in report.by_theme.items()]
    levels = [_group(k, page.w("level", k), v, page) for k, v in report.by_level.items()]
    return {
        "report": report,
        "unit_name": _name(report.unit, page),
        "over_time": over_time,
        "by_child": bar_chart(children) if children else None,
        "by_theme": bar_chart(themes) if themes else None,
        "by_level": bar_chart(levels) if levels else None,
        "children": [
            (r.unit.code, _name(r.unit, page), cells(r.indicators)) for r in report.children
        ],
        "themes": [(k, page.w("theme", k), cells(v)) for k, v in report.by_theme.items()],
        "levels": [(k, page.w("level", k), cells(v)) for k, v in report.by_level.items()],
        "total": cells(report.total),
        "own": cells(report.own),
        "emergency": cells(report.emergency),
        "urgent": cells(report.urgent),
        "indicators": INDICATORS,
        "summary": SUMMARY,
        "rates": RATES,
        "suffix": suffix,
        "crumbs": unit_crumbs(call, report.unit.code, page),
    }


@get("/reports", opt=PAGE, include_in_schema=False, sync_to_thread=False)
def reports_home(call: On) -> Response[Any]:
    """The reports of the signed-in person's own unit."""
    return Redirect(f"/reports/{call.principal.unit}", status_code=303)


def picked_period(
    call: On, request: Request[Any, Any, Any], code: str
) -> tuple[dict[str, str], Page, tuple[datetime, Period] | FormRefused]:
    """What a reports route was asked for: the picker's fields, the page, and the
    moment and period they name or the refusal of a field. A code no unit can have is
    not found before any read (a NUL in it would be refused by PostgreSQL, not by us)."""
    if not CODE_PATTERN.match(code):
        raise NotFound(f"unit {code[:40]!r} not found")
    asked = _asked(request)
    page = page_of(request, values=asked)
    call.caught_up(None, "units", "indicators")
    try:
        return asked, page, _chosen(call, asked, page)
    except FormRefused as e:
        return asked, page, e


@get("/reports/{code:str}", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def report_page(call: On, request: Request[Any, Any, Any], code: FromPath[str]) -> Response[str]:
    """A unit's indicators over the chosen period, with charts and its children."""
    asked, page, chosen = picked_period(call, request, code)
    if isinstance(chosen, FormRefused):
        page.errors = chosen.errors
        # The unit must still be one this person may read: else the not-found page.
        moment, span = report_period(call.services)
        report = _report(call, code, span, moment)
        return render(
            request,
            "reports.html.j2",
            status=chosen.status,
            page=page,
            report=None,
            unit_name=_name(report.unit, page),
            crumbs=unit_crumbs(call, code, page),
            code=code,
        )
    moment, span = chosen
    report = _report(call, code, span, moment)
    if not asked:
        page.values = {"month": span.label}  # this month, as the picker shows it
    over_time = _over_time(call, code, span, "from" not in asked, moment)
    return render(
        request,
        "reports.html.j2",
        page=page,
        code=code,
        **_context(call, report, page, urlencode(asked), over_time),
    )


@get("/reports/{code:str}/csv", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def report_csv(call: On, request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    """The API's CSV of the same report, for the session's person (a period it cannot
    read goes back to the page, which says what is wrong)."""
    asked, _page, chosen = picked_period(call, request, code)
    if isinstance(chosen, FormRefused):
        return Redirect(f"/reports/{code}?{urlencode(asked)}", status_code=303)
    moment, span = chosen
    report = _report(call, code, span, moment)
    zone = call.services.views.zone
    filename = f"report-{report.unit.code}-{report.period.label[:10]}.csv"
    return csv_file(render_csv(report, zone), filename, download=True)


REPORT_PAGE_HANDLERS = [reports_home, report_page, report_csv]

"""The comprehensive evaluation's page in the screens' layout (ADR 0086): the
month picker (or from and to), the ranking of each peer group with its colour grade
written as a word beside the colour, a bar chart per group, each score's lines unfolded
on demand down to the cases that cost points (linked to their pages), the CSV and a
print layout.

The figures are the API's evaluation (:func:`api.evaluations.scoped_evaluation`),
scoped as its route is: outside the auditor's and admin's roles a person reads the
evaluation of their own unit's subtree, and any other unit is the not-found page. The
period is read as the reports pages read it (:func:`api.screens.report_pages.picked_period`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

# A module import: api.evaluations draws with api.screens.charts, so it may be the one
# being imported when this package is (a name taken from it here would not exist yet).
import api.evaluations as evaluations
from api.http import On
from api.periods import report_period
from api.renderings import csv_file
from api.screens.charts import BarChart, Group, bar_chart
from api.screens.errors import FormRefused
from api.screens.pages import Page, render
from api.screens.report_pages import picked_period, unit_crumbs
from domain.evaluation import Score, peer_key
from projections.evaluation import Subject

if TYPE_CHECKING:
    from api.evaluations import Evaluation

PAGE = {"page": True}
#: How many ids a line lists on the page before it says how many more there are (an
#: ancestor's line holds every id of its subtree; the CSV and the API hold them all).
SHOWN_IDS = 12


@dataclass(frozen=True)
class Ranked:
    """One peer group as the page shows it: its title, chart and members, best first."""

    key: str
    title: str
    chart: BarChart
    members: list[tuple[Subject, Score]]


def _name(s: Subject, page: Page) -> str:
    return s.name if page.language == "zh" else s.name_en or s.name


def _groups(e: Evaluation, page: Page, suffix: str) -> list[Ranked]:
    names = {s.code: s for s in e.facts.subjects}
    grouped: dict[tuple[str, str, str], list[tuple[Subject, Score]]] = {}
    for subject, score in e.scores[1:]:
        grouped.setdefault(peer_key(subject.parent, subject.level, subject.kind), []).append(
            (subject, score)
        )
    out: list[Ranked] = []
    for n, (key, members) in enumerate(grouped.items()):
        parent, level, kind = key
        above = names.get(parent)
        what = page.w("unit_kind", kind) if level == kind else page.w("unit_level", level)
        where = _name(above, page) if above else parent
        title = page.t("page.evaluation.group", unit=where, what=what)
        chart = bar_chart(
            [
                Group(
                    s.code,
                    f"{score.rank}. {_name(s, page)}",
                    {score.colour: score.score},
                    page.w("grade", score.colour),
                    f"/evaluations/{s.code}{suffix}",
                )
                for s, score in members
            ]
        )
        rows = [
            replace(row, bars=[replace(b, text=str(score.score)) for b in row.bars])
            for row, (_s, score) in zip(chart.rows, members, strict=True)
        ]
        out.append(Ranked(f"group-{n}", title, replace(chart, rows=rows), members))
    return out


def _context(e: Evaluation, page: Page, suffix: str) -> dict[str, Any]:
    return {
        "e": e,
        "top": e.facts.top,
        "top_score": e.scores[0][1],
        "unit_name": _name(e.facts.top, page),
        "groups": _groups(e, page, suffix),
        "name": lambda s: _name(s, page),
        "shown_ids": SHOWN_IDS,
        "suffix": suffix,
    }


@get("/evaluations", opt=PAGE, include_in_schema=False, sync_to_thread=False)
def evaluations_home(call: On) -> Response[Any]:
    """The evaluation of the signed-in person's own unit."""
    return Redirect(f"/evaluations/{call.principal.unit}", status_code=303)


@get("/evaluations/{code:str}", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def evaluation_page(
    call: On, request: Request[Any, Any, Any], code: FromPath[str]
) -> Response[str]:
    """Every unit of ``code``'s subtree scored, ranked among its peers and explained."""
    asked, page, chosen = picked_period(call, request, code)
    if isinstance(chosen, FormRefused):
        page.errors = chosen.errors
        # The unit must still be one this person may read: else the not-found page.
        moment, span = report_period(call.services)
        found = evaluations.scoped_evaluation(call.services, call.principal, code, span, moment)
        return render(
            request,
            "evaluation.html.j2",
            status=chosen.status,
            page=page,
            e=None,
            unit_name=_name(found.facts.top, page),
            crumbs=unit_crumbs(call, code, page),
            code=code,
            suffix="",
        )
    moment, span = chosen
    found = evaluations.scoped_evaluation(call.services, call.principal, code, span, moment)
    if not asked:
        page.values = {"month": span.label}  # this month, as the picker shows it
    query = urlencode(asked)
    return render(
        request,
        "evaluation.html.j2",
        page=page,
        code=code,
        crumbs=unit_crumbs(call, code, page),
        **_context(found, page, f"?{query}" if query else ""),
    )


@get("/evaluations/{code:str}/csv", opt=PAGE, include_in_schema=False, sync_to_thread=True)
def evaluation_csv(call: On, request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    """The API's CSV of the same evaluation, for the session's person (a period it
    cannot read goes back to the page, which says what is wrong)."""
    asked, _page, chosen = picked_period(call, request, code)
    if isinstance(chosen, FormRefused):
        return Redirect(f"/evaluations/{code}?{urlencode(asked)}", status_code=303)
    moment, span = chosen
    found = evaluations.scoped_evaluation(call.services, call.principal, code, span, moment)
    filename = f"evaluation-{found.facts.top.code}-{span.label[:10]}.csv"
    return csv_file(
        evaluations.render_csv(found, call.services.views.zone), filename, download=True
    )


EVALUATION_PAGE_HANDLERS = [evaluations_home, evaluation_page, evaluation_csv]

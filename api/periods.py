"""The period a reports-like read names: the report's, the evaluation's, their pages'.

Every such read counts over a period in the calendar's zone (ADR 0011): a month
(``YYYY-MM``), ``from`` and ``to`` (``to`` excluded), a day, week or month with a date
in it, or this month when nothing is asked. The rules are the report's
(:func:`projections.reports.resolve_period`); this module reads them off a request, so
that the API's routes and the pages refuse a period alike: a :class:`PeriodError`
naming the field at fault, which the API answers as a 422 (:func:`period_problems`) and
a page writes beside the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import QueryParameter

from api.access import Services
from api.problems import invalid
from domain.meta import now
from projections.reports import Period, PeriodError, parse_instant, resolve_period

#: A report's instant: a day (local midnight) or an RFC 3339 time with its offset.
INSTANT = [
    Schema(
        type=OpenAPIType.STRING, format=OpenAPIFormat.DATE, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    ),
    Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def instant_query(description: str, *, name: str | None = None) -> QueryParameter:
    """A query parameter that names an instant (``from``, ``to``, ``as_of``)."""
    return QueryParameter(
        name=name, max_length=64, schema_extra={"any_of": INSTANT}, description=description
    )


def no_range() -> Schema:
    """The query of a period asked without ``from`` and ``to`` (the OpenAPI ``oneOf``
    arm beside the one that asks for both)."""
    return Schema(schema_not=Schema(any_of=[Schema(required=["from"]), Schema(required=["to"])]))


#: ``?to=``: the end of a period, itself outside it.
To = Annotated[str | None, instant_query("excluded: the period is [from, to)")]


def report_period(
    services: Services,
    *,
    from_: str | None = None,
    to: str | None = None,
    period: str | None = None,
    date: str | None = None,
    as_of: str | None = None,
) -> tuple[datetime, Period]:
    """The moment "overdue now" is counted at and the period a request names, read in
    the calendar's zone (a :class:`PeriodError` naming the field at fault)."""
    zone_name = services.center.calendar.zone
    zone = ZoneInfo(zone_name)
    moment = parse_instant(as_of, "as_of", zone) if as_of is not None else now()
    span = resolve_period(
        zone=zone_name,
        today=moment.astimezone(zone).date(),
        from_=from_,
        to=to,
        period=period,
        on=date,
    )
    return moment, span


def month_or_range(
    services: Services,
    *,
    month: str | None = None,
    from_: str | None = None,
    to: str | None = None,
) -> tuple[datetime, Period]:
    """The period asked for: a month (``YYYY-MM``), from and to, or this month; a
    :class:`PeriodError` naming the field at fault."""
    if month is not None:
        if from_ is not None or to is not None:
            raise PeriodError("month", "give either month or from and to, not both")
        found = _MONTH.match(month.strip())
        if found is None or not 1 <= int(found.group(2)) <= 12:
            raise PeriodError("month", f"month must look like 2026-04, not {month!r}")
        if int(found.group(1)) < 1:
            raise PeriodError(
                "month", "month lies outside the years a report can count (1 to 9999)",
                "outside-years",
            )  # fmt: skip
        return report_period(services, period="month", date=f"{month.strip()}-01")
    return report_period(services, from_=from_, to=to)


@contextmanager
def period_problems() -> Iterator[None]:
    """A period refused within is the API's 422 at the field at fault."""
    try:
        yield
    except PeriodError as e:
        raise invalid(e.field, str(e), code=e.code) from None

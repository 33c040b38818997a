"""A reports-like read in its renderings: JSON, a page fit to print, CSV (ADR 0011).

The report, the evaluation and the figures of whistles and of notices' receipts answer
in more than one format; what they share lives here: choosing the format
(``?format=`` or the ``Accept`` header), the printable pages' templates
(``api/templates``), and CSV that a spreadsheet opens without running anything in it
(every cell quoted, none read as a formula: names and keys are written by people,
issue 19).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from litestar import Request, Response
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import QueryParameter

from api.http import best_match
from api.problems import invalid

FORMATS = ("json", "html", "csv")
MEDIA = {"json": "application/json", "html": "text/html", "csv": "text/csv"}
#: The ``?format=`` of a read that answers in every one of :data:`FORMATS`.
Format = Annotated[
    str | None,
    QueryParameter(
        max_length=8, schema_extra={"enum": list(FORMATS)}, description="json, html or csv"
    ),
]


def besides_json() -> dict[str, Schema]:
    """The renderings an operation answers besides JSON, for the OpenAPI document."""
    return {
        "text/csv": Schema(type=OpenAPIType.STRING),
        "text/html": Schema(type=OpenAPIType.STRING),
    }


def choose_format(requested: str | None, request: Request[Any, Any, Any]) -> str:
    """``?format=``, or else the format the ``Accept`` header prefers (JSON by default)."""
    if requested is not None:
        if requested not in FORMATS:
            raise invalid(
                "format", f"format must be one of {', '.join(FORMATS)}, not {requested!r}"
            )
        return requested
    media = best_match(request, [MEDIA[f] for f in FORMATS], default=MEDIA["json"])
    return next(f for f in FORMATS if MEDIA[f] == media)


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template(name: str) -> Template:
    """One of the printable pages' templates (the report, the evaluation, the timeline)."""
    return _templates().get_template(name)


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula
    (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``, ``-2+3``) gets a leading single quote,
    as OWASP's CSV injection guidance says. Every cell is also quoted (``QUOTE_ALL``)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_text(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """The header and the rows as CSV: every cell quoted, each row's made :func:`neutral`,
    the lines ended as RFC 4180 ends them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows((neutral(cell) for cell in row) for row in rows)
    return buffer.getvalue()


def csv_file(text: str, filename: str, *, download: bool = False) -> Response[str]:
    """CSV as an answer: shown inline to an API client; a page's download is saved as a
    file and not kept in a cache (it holds what the session's person may read)."""
    if not download:
        return Response(
            text,
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text/ types
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )
    return Response(
        text,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )

"""The screens people work in: hall board, duty workbench, auditor's room, reports and
administration, rendered on the server (issue 20, ADR 0053).

The pages are a room beside the API: they sign people in (:mod:`api.screens.signin`),
find who is at the browser (:mod:`api.screens.guard`) and then read and act through the
same :class:`~api.http.Call`, queries and commands as the API, under the same rules of
role and subtree. :func:`screens` gathers their routes on one router, with the guard and
the error pages of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Router
from litestar.static_files import create_static_files_router

from api.screens.admin import ADMIN_HANDLERS
from api.screens.audit_room import AUDIT_ROOM_HANDLERS
from api.screens.board import BOARD_HANDLERS
from api.screens.errors import PAGE_EXCEPTION_HANDLERS
from api.screens.evaluation_pages import EVALUATION_PAGE_HANDLERS
from api.screens.guard import page_guard
from api.screens.idesk import IDESK_HANDLERS
from api.screens.notice_pages import NOTICE_PAGE_HANDLERS
from api.screens.pages import STATIC_PATH
from api.screens.report_pages import REPORT_PAGE_HANDLERS
from api.screens.roster_page import ROSTER_PAGE_HANDLERS
from api.screens.signin import SIGN_IN_HANDLERS
from api.screens.warning_desk import WARNING_DESK_HANDLERS
from api.screens.whistle_pages import WHISTLE_PAGE_HANDLERS

STATIC = Path(__file__).parent / "static"


def screens(pages: Sequence[Any] = ()) -> list[Router]:
    """The pages' router (the sign-in pages and ``pages``) and their static files."""
    return [
        Router(
            path="/",
            route_handlers=[
                *SIGN_IN_HANDLERS,
                *BOARD_HANDLERS,
                *WARNING_DESK_HANDLERS,
                *IDESK_HANDLERS,
                *AUDIT_ROOM_HANDLERS,
                *REPORT_PAGE_HANDLERS,
                *ROSTER_PAGE_HANDLERS,
                *WHISTLE_PAGE_HANDLERS,
                *NOTICE_PAGE_HANDLERS,
                *EVALUATION_PAGE_HANDLERS,
                *ADMIN_HANDLERS,
                *pages,
            ],
            guards=[page_guard],
            exception_handlers=PAGE_EXCEPTION_HANDLERS,
            include_in_schema=False,
        ),
        create_static_files_router(
            path=STATIC_PATH,
            directories=[STATIC],
            opt={"public": True},
            include_in_schema=False,
            cache_control=None,
        ),
    ]

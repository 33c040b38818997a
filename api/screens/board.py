"""The hall board, ``/board``, and its live stream, ``/board/stream`` (issue 20, ADR 0054).

The board shows a unit's subtree, as the API's ``GET /v1/board/warnings`` does: the
principal's own (everything for those who read everything), and a hall screen sees its
unit's. Its parts are one template, ``board_parts.html.j2``: the page draws them once,
and the stream sends them again, drawn on the server, whenever the log moves
(:mod:`api.screens.feed`); the page's script puts them in place of the old ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.response import Stream

from api.access import Services, scope_of
from api.http import LARGEST, On, view_store
from api.screens.feed import STREAM_END, BoardFeed, Ending, Key, Snapshots, board_events
from api.screens.pages import Page, environment, language_of, render
from api.screens.ticker import Step, latest_steps
from domain.errors import DomainError
from domain.intake import Intake
from domain.meta import now
from domain.warning import Theme
from projections.board import BOARD_VIEWS, Figures, Trend, figures
from projections.store import Tx, ViewStore
from texts.catalogue import catalogue

BOARD_OPT: dict[str, Any] = {"page": True, "screen": True}
PARTS = "board_parts.html.j2"
#: Every theme has its row, open warnings or not: the wall keeps its shape.
THEMES = tuple(t.value for t in Theme)
_POSITION = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class Emergency:
    """A scenario in emergency mode that concerns the subtree: whole, or one unit's."""

    scenario: str
    unit: str | None
    since: datetime | None


@dataclass(frozen=True)
class Board:
    """Everything the board's parts show."""

    figures: Figures
    steps: list[Step]
    emergencies: list[Emergency]
    names: dict[str, tuple[str, str]]
    scope: str | None

    def name(self, code: str | None, language: str) -> str:
        return "" if code is None else _named(self.names, code, language)


def _named(names: dict[str, tuple[str, str]], code: str, language: str) -> str:
    """A unit's name in ``language`` (its code when the views do not know it)."""
    zh, en = names.get(code, (code, code))
    return zh if language == "zh" else en


@dataclass(frozen=True)
class Spark:
    """A trend as a small SVG line: its points, and the last one marked."""

    points: str
    last_x: float
    last_y: float
    peak: int
    width: int = 240
    height: int = 56


def spark(trend: Trend, width: int = 240, height: int = 56) -> Spark:
    """The points of a trend's line; a day with nothing to count sits on the floor."""
    values = [v or 0 for v in trend.values]
    peak = max(values, default=0)
    step = width / max(len(values) - 1, 1)
    pad = 4
    ys = [height - pad - (v / peak * (height - 2 * pad) if peak else 0) for v in values]
    points = " ".join(f"{i * step:.1f},{y:.1f}" for i, y in enumerate(ys))
    return Spark(points, (len(values) - 1) * step, ys[-1] if ys else height - pad, peak)


def _related(intake: Intake, a: str, b: str) -> bool:
    center = intake.center
    return center.is_within(a, b) or center.is_within(b, a)


def emergencies(intake: Intake | None, scope: str | None) -> list[Emergency]:
    """The scenarios in emergency mode over, under or at ``scope``'s unit."""
    if intake is None:
        return []
    found = []
    for name in intake.scenarios:
        try:
            scenario = intake.scenario(name)
            owner = intake.scenario_owner(name)
        except DomainError:
            continue
        if scenario is None:
            continue
        if scenario.emergency and (scope is None or _related(intake, owner, scope)):
            found.append(Emergency(name, None, scenario.since))
        for unit, since in sorted(scenario.subtrees.items()):
            if scope is None or _related(intake, unit, scope):
                found.append(Emergency(name, unit, since))
    return found


def build_board(
    services: Services,
    intake: Intake | None,
    scope: str | None,
    language: str,
    store: ViewStore | None = None,
) -> Board | None:
    """The board of ``scope`` in ``language`` from one read of the views of ``store``
    (the replica's copy while it serves, else the primary's, ADR 0089; a read the
    standby fails for being away is read again from the primary); None when the views
    know no such unit."""
    center = services.center
    zone = ZoneInfo(services.views.zone.key)
    reads = services.reads

    def read(tx: Tx) -> tuple[Figures, list[Step], dict[str, tuple[str, str]]] | None:
        found = figures(tx, scope, now(), zone)
        if found is None:
            return None
        names = {
            str(c): (str(n), str(e))
            for c, n, e in tx.execute("SELECT code, name, name_en FROM units")
        }
        steps = latest_steps(
            center, tx, scope, found.position, language, zone, lambda c: _named(names, c, language)
        )
        return found, steps, names

    got = reads.read(store or reads.for_reading(), read)
    if got is None:
        return None
    found, steps, names = got
    return Board(found, steps, emergencies(intake, scope), names, scope)


def _helpers() -> dict[str, Any]:
    """What the parts' template uses beside the board."""
    return {"spark": spark, "has_text": catalogue().has, "themes": THEMES}


def parts_html(board: Board, page: Page) -> str:
    """The board's parts as HTML (autoescaped, as every template), on one line: an
    event's data is sent a line at a time, and a screen reads every one of them. The
    parts hold no ``<pre>``: a line break in them is a space."""
    html = environment().get_template(PARTS).render(page=page, board=board, **_helpers())
    return " ".join(line.strip() for line in html.splitlines() if line.strip())


def _feed(request: Request[Any, Any, Any]) -> tuple[BoardFeed, Snapshots]:
    """This process's feed and boards, made by the first stream that asks."""
    state = request.app.state
    feed: BoardFeed | None = state.get("board_feed")
    if feed is None:
        services: Services = state.services
        intake: Intake | None = state.get("intake")
        zone = services.views.zone.key

        def build(key: Key) -> tuple[int, str]:
            scope, language = key
            board = build_board(services, intake, scope, language)
            if board is None:
                return 0, ""
            return board.figures.position, parts_html(board, Page(language, zone, "/board"))

        def reached() -> int:
            # The position of the views the boards are built from: the replica's copy
            # while it serves, else the primary's (ADR 0089). A board is keyed by the
            # position of the read that built it, so the two never disagree.
            reads = services.reads
            return reads.reached(BOARD_VIEWS, reads.for_reading())

        feed = state.board_feed = BoardFeed(reached)
        state.board_snapshots = Snapshots(build)
    snapshots: Snapshots = state.board_snapshots
    return feed, snapshots


@get("/board", opt=BOARD_OPT, include_in_schema=False, sync_to_thread=True)
def board_page(request: Request[Any, Any, Any], call: On) -> Response[str]:
    """The board of the person's subtree (a hall screen's: its unit's)."""
    call.caught_up(None, *BOARD_VIEWS)
    scope = scope_of(call.principal)
    page_language = language_of(request)
    store = view_store(call.services, request)
    board = build_board(call.services, request.app.state.get("intake"), scope, page_language, store)
    return render(request, "board.html.j2", board=board, **_helpers())


def _since(request: Request[Any, Any, Any]) -> int | None:
    """Where the browser's board stands: ``Last-Event-ID`` after a reconnect, else
    ``since`` (the page's own position); anything else is no position (a fresh board)."""
    for text in (request.headers.get("last-event-id"), request.query_params.get("since")):
        if text is not None and _POSITION.fullmatch(text.strip()) and int(text) <= LARGEST:
            return int(text)
    return None


@get("/board/stream", opt=BOARD_OPT, include_in_schema=False)
async def board_stream(request: Request[Any, Any, Any], call: On) -> Stream:
    """The board as Server-Sent Events: a ``board`` event (its id the log position it
    shows) whenever the log moves, and heartbeats. Outside the admission queue
    (:mod:`api.admission`): a stream is open for days."""
    feed, snapshots = _feed(request)
    key: Key = (scope_of(call.principal), language_of(request))
    ending = Ending()
    extensions: dict[str, Any] = request.scope.setdefault("extensions", {})  # type: ignore[assignment]
    extensions[STREAM_END] = ending
    return Stream(
        board_events(feed, snapshots, key, _since(request), ending),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


BOARD_HANDLERS = [board_page, board_stream]

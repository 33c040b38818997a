"""The hall board and its live stream (issue 20, ADR 0054)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.screens import feed
from api.tokens import READ_EVERYTHING, ROLES, TokenBook
from closedloop.connections import ConnectionLimits, GuardedConfig
from domain.application import CommandCenter
from domain.meta import now
from projections.board import figures
from projections.reports import resolve_period, unit_report
from tests.api.conftest import As, issue, raise_warning
from tests.api.screens.conftest import Desk
from tests.e2e.server import free_port

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


def board_of(client: TestClient[Any], token: str) -> str:
    desk = Desk(client)
    assert desk.sign_in(token=token).status_code == 303
    page = desk.get("/board")
    assert page.status_code == 200, page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    client.cookies.clear()
    return page.text


def test_a_community_handler_sees_its_subtree_and_the_district_sees_both(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    raise_warning(client, as_, title="Qingshan dam seepage", unit="HW-DH-QS", level=1)
    raise_warning(client, as_, title="Songquan landslide risk", unit="HW-XL-SQ", level=3)
    issue(client, as_, lead_unit="HW-DH-QS", title="Check the Qingshan sluice")
    mine = board_of(client, tokens["community"])
    assert "Qingshan dam seepage" in mine
    assert "Songquan landslide risk" not in mine
    assert "松泉社区" not in mine  # another office's community is not on the grid
    assert "青山社区" in mine
    district = board_of(client, tokens["duty"])
    assert "Qingshan dam seepage" in district
    assert "Songquan landslide risk" in district
    assert "松泉社区" in district
    assert 'id="board"' in district
    assert "data-position=" in district


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_board_of_its_subtree_and_no_other(
    client: TestClient[Any], center: CommandCenter, as_: As, role: str
) -> None:
    raise_warning(client, as_, title="Seepage under Qingshan", unit="HW-DH-QS")
    book = TokenBook(center)
    inside = book.issue(user="in", unit="HW-DH", roles=[role], label="t").secret
    outside = book.issue(user="out", unit="HW-XL", roles=[role], label="t").secret
    assert "Seepage under Qingshan" in board_of(client, inside)
    seen_outside = "Seepage under Qingshan" in board_of(client, outside)
    assert seen_outside == (role in READ_EVERYTHING)


def test_a_warnings_title_stays_text_on_the_board(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    raise_warning(client, as_, title=SCRIPT, unit="HW-DH-QS")
    raise_warning(client, as_, title=IMG, unit="HW-DH-QS")
    html = board_of(client, tokens["duty"])
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_board_is_in_english_when_chosen(
    client: TestClient[Any], tokens: dict[str, str], as_: As
) -> None:
    raise_warning(client, as_, title="Dam", unit="HW-DH-QS", level=2, theme="reservoir")
    client.cookies.set("cl_lang", "en")
    desk = Desk(client)
    desk.sign_in(token=tokens["duty"])
    html = desk.get("/board").text
    assert "Hall board" in html
    assert "Reservoirs" in html
    assert "指挥大屏" not in html


def test_the_tiles_count_as_the_reports_do(
    client: TestClient[Any], center: CommandCenter, as_: As
) -> None:
    issue(client, as_, lead_unit="HW-DH", title="On time")
    issue(client, as_, lead_unit="HW-DH-QS", title="Late", due_in="PT1H")
    raise_warning(client, as_, unit="HW-DH-QS")
    client.get("/v1/board/warnings", headers=as_("duty"))  # the views caught up
    zone = ZoneInfo(center.calendar.zone)
    later = now() + timedelta(hours=30)
    store = _views(client)
    with store.read() as tx:
        board = figures(tx, "HW", later, zone)
    assert board is not None
    month = resolve_period(zone=zone.key, today=later.astimezone(zone).date())
    report = unit_report(store, "HW", month, as_of=later)
    # The month's rate on the wall is of the month so far: the cases already due.
    so_far = unit_report(store, "HW", replace(month, end=later.replace(microsecond=0)), as_of=later)
    assert report is not None
    assert so_far is not None
    assert board.overdue_now == report.total.overdue_now == 1
    assert board.open_cases == 2
    assert board.on_time_month == so_far.total.on_time_closure_rate
    # The month's report counts what is due so far too (ADR 0071): the same rate.
    assert report.total.on_time_closure_rate == so_far.total.on_time_closure_rate
    assert board.on_time_month.denominator == 1  # "Late"; "On time" is due next week
    assert board.warnings_today + sum(board.warnings_trend.values[:-1]) >= 1  # type: ignore[operator]
    cells = {c.code: c for row in board.grid for c in (row.head, *row.cells)}
    assert (cells["HW-DH-QS"].open, cells["HW-DH-QS"].overdue) == (1, 1)
    assert (cells["HW-DH"].open, cells["HW-DH"].overdue) == (1, 0)


def _views(client: TestClient[Any]) -> Any:
    app: Litestar = client.app  # type: ignore[assignment]
    return app.state.services.reads.store


# -- the stream, from a real server ------------------------------------------------------


@contextmanager
def served(app: Litestar) -> Iterator[str]:
    with serving(app) as (base, _):
        yield base


@contextmanager
def serving(app: Litestar) -> Iterator[tuple[str, uvicorn.Server]]:
    port = free_port()
    config = GuardedConfig(
        app, limits=ConnectionLimits(), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def read_events(
    response: httpx.Response | Iterator[str], wanted: int, seconds: float
) -> list[dict[str, str]]:
    """Events of a stream (``event``, ``id``, ``data``) until ``wanted`` boards came."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    lines = response.iter_lines() if isinstance(response, httpx.Response) else response
    for line in lines:
        if line == "":
            if current:
                events.append(current)
            current = {}
            if sum(e.get("event") == "board" for e in events) >= wanted:
                break
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = current.get(name, "") + value if name == "data" else value
        if time.monotonic() > deadline:
            break
    return events


@pytest.fixture
def quick_beats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "BEAT", 0.3)
    # A stream also sends a board at each minute's turn (the clock's figures move); a test
    # that asserts "nothing changed, nothing sent" must not fail when it straddles one.
    monkeypatch.setattr(feed, "REFRESH", 10.0**9)


def test_the_stream_sends_a_board_with_the_log_position_and_resumes_from_it(
    client: TestClient[Any], tokens: dict[str, str], as_: As, quick_beats: None
) -> None:
    app: Litestar = client.app  # type: ignore[assignment]
    with served(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        desk = Desk(http)  # type: ignore[arg-type]
        assert desk.sign_in(token=tokens["duty"]).status_code == 303
        with http.stream("GET", "/board/stream") as first:
            assert first.headers["content-type"].startswith("text/event-stream")
            boards = [e for e in read_events(first, 1, 5) if e.get("event") == "board"]
        assert boards
        assert int(boards[0]["id"]) >= 0
        shown = int(boards[0]["id"])
        raised = raise_warning(client, as_, title="Stream me", unit="HW-DH-QS")
        with http.stream("GET", "/board/stream", headers={"Last-Event-ID": str(shown)}) as again:
            events = read_events(again, 1, 8)
        board = next(e for e in events if e.get("event") == "board")
        assert int(board["id"]) >= raised["position"] > shown
        assert "Stream me" in board["data"]
        # Up to date: a stream resumed from where the log stands sends only heartbeats.
        with http.stream("GET", "/board/stream", headers={"Last-Event-ID": board["id"]}) as quiet:
            events = read_events(quiet, 1, 1.5)
        assert [e for e in events if e.get("event") == "board"] == []
        assert any(e.get("event") == "beat" for e in events)


def test_a_stream_ends_cleanly_when_the_server_stops(
    client: TestClient[Any], tokens: dict[str, str]
) -> None:
    app: Litestar = client.app  # type: ignore[assignment]
    with serving(app) as (base, server), httpx.Client(base_url=base, timeout=10) as http:
        Desk(http).sign_in(token=tokens["duty"])  # type: ignore[arg-type]
        with http.stream("GET", "/board/stream") as stream:
            lines = stream.iter_lines()
            read_events(lines, 1, 5)
            stopped = time.monotonic()
            server.should_exit = True
            # The response completes (no RemoteProtocolError): the stream said goodbye.
            read_events(lines, 99, 5)
            assert stream.is_stream_consumed
            assert time.monotonic() - stopped < 5


def test_a_bad_last_event_id_is_no_position_and_gets_a_fresh_board(
    client: TestClient[Any], tokens: dict[str, str], quick_beats: None
) -> None:
    app: Litestar = client.app  # type: ignore[assignment]
    with served(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        desk = Desk(http)  # type: ignore[arg-type]
        desk.sign_in(token=tokens["community"])
        for bad in (b"x", b"-1", b"9" * 40, "²".encode()):
            with http.stream("GET", "/board/stream", headers={"Last-Event-ID": bad}) as s:
                assert s.status_code == 200
                assert any(e.get("event") == "board" for e in read_events(s, 1, 5))


def test_the_stream_needs_a_session_and_is_outside_the_admission_queue(
    client: TestClient[Any],
) -> None:
    response = client.get("/board/stream", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")
    from api.admission import OUTSIDE_THE_QUEUE

    assert "/board/stream" in OUTSIDE_THE_QUEUE


def test_a_stream_ends_after_its_lifetime_so_the_session_is_asked_again(
    client: TestClient[Any],
    tokens: dict[str, str],
    quick_beats: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed, "LIFETIME", 1.0)
    app: Litestar = client.app  # type: ignore[assignment]
    with served(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        Desk(http).sign_in(token=tokens["duty"])  # type: ignore[arg-type]
        with http.stream("GET", "/board/stream") as stream:
            lines = stream.iter_lines()
            read_events(lines, 99, 4)
            assert stream.is_stream_consumed
        http.cookies.clear()
        again = http.get("/board/stream", follow_redirects=False)
        assert again.status_code == 303  # its next connection is the guard's again


def test_a_banner_says_which_scenario_is_in_emergency_mode_and_where(
    center: CommandCenter, tokens: dict[str, str], as_: As
) -> None:
    from closedloop.bootstrap import build_read_models
    from closedloop.intake_config import build_intake

    app = create_app(center, reads=build_read_models(center), intake=build_intake(center))
    with TestClient(app) as client:
        on = client.post(
            "/v1/scenarios/typhoon/emergency",
            json={"on": True, "reason": "landfall", "scope": "HW-DH"},
            headers=as_("duty"),
        )
        assert on.status_code == 201, on.text
        desk = Desk(client)
        desk.sign_in(token=tokens["community"])
        inside = desk.get("/board", headers={"X-Min-Position": str(center.head_position())})
        assert 'class="board-emergency"' in inside.text
        assert "防台风" in inside.text
        assert "东湖街道办事处" in inside.text
        client.cookies.clear()
        Desk(client).sign_in(token=tokens["office_xl"])
        elsewhere = client.get("/board")
        assert 'class="board-emergency"' not in elsewhere.text

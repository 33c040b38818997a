"""What counts as the database away (ADR 0047), and starts that wait for it."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from psycopg_pool import PoolTimeout, TooManyRequests

from api.admission import Admission
from api.problems import ProblemError
from projections.outage import is_outage, until_reachable, waited_out, what_is_wrong


def raised_from(error: BaseException, outer: BaseException) -> BaseException:
    outer.__cause__ = error
    return outer


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("the connection is closed"),
        psycopg.OperationalError("connection refused"),
        PoolTimeout("couldn't get a connection after 2.00 sec"),
        TooManyRequests("the pool has already 64 requests waiting"),
        raised_from(PoolTimeout("…"), OperationalError("…")),
        raised_from(OperationalError("…"), RuntimeError("the write was interrupted")),
    ],
)
def test_an_unreachable_restarting_or_full_database_is_an_outage(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [ValueError("bad"), ProgrammingError("syntax error"), psycopg.errors.UndefinedTable("x")],
)
def test_a_mistake_in_a_statement_or_a_bug_is_not_an_outage(error: BaseException) -> None:
    assert not is_outage(error)


def test_a_pool_that_waited_out_its_timeout_is_not_asked_again_at_once() -> None:
    assert waited_out(raised_from(PoolTimeout("…"), OperationalError("…")))
    assert not waited_out(OperationalError("server closed the connection unexpectedly"))


def test_what_is_wrong_is_said_in_a_few_words_without_the_servers_address() -> None:
    full = psycopg.OperationalError(
        'connection to server at "10.1.2.3", port 5432 failed: FATAL: sorry, too many clients'
    )
    assert what_is_wrong(full) == "the database has no connection slots left"
    refused = psycopg.OperationalError('connection to server at "10.1.2.3" failed: refused')
    assert "10.1.2.3" not in what_is_wrong(refused)
    assert "in time" in what_is_wrong(PoolTimeout("…"))


def test_a_start_is_tried_again_while_the_database_is_away_and_then_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("projections.outage.time.sleep", lambda _: None)
    tries: list[int] = []

    def start() -> str:
        tries.append(1)
        if len(tries) < 4:
            raise psycopg.OperationalError("FATAL: sorry, too many clients already")
        return "started"

    with caplog.at_level(logging.WARNING, "closedloop.outage"):
        assert until_reachable(start, "the event store") == "started"

    assert len(tries) == 4
    assert "the event store waits: the database has no connection slots left" in caplog.text


def test_a_start_that_fails_otherwise_fails_at_once() -> None:
    def start() -> None:
        raise ValueError("a bad setting")

    with pytest.raises(ValueError, match="a bad setting"):
        until_reachable(start, "the event store")


def test_a_start_waiting_for_the_database_ends_when_the_process_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("projections.outage.time.sleep", lambda _: None)

    def start() -> None:
        raise OperationalError("connection refused")

    assert until_reachable(start, "the views", stopping=lambda: True) is None


def test_a_server_too_busy_turns_a_request_away_at_once_past_its_queue() -> None:
    admission = Admission(in_flight=1, queued=1, wait=5.0)
    answered: list[str] = []
    release = asyncio.Event()

    async def app(scope: object, receive: object, send: object) -> None:
        await release.wait()
        answered.append("ok")

    admit = admission.middleware(app)  # type: ignore[arg-type]
    scope = {"type": "http", "path": "/v1/warnings"}

    async def run() -> list[BaseException | None]:
        first = asyncio.create_task(admit(scope, None, None))  # type: ignore[arg-type]
        queued = asyncio.create_task(admit(scope, None, None))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        with pytest.raises(ProblemError) as refused:
            await admit(scope, None, None)  # type: ignore[arg-type]
        assert refused.value.status == 503
        assert refused.value.headers["Retry-After"] == "2"
        # /health is answered whatever the queue holds.
        health = asyncio.create_task(admit({"type": "http", "path": "/health"}, None, None))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        assert admission.busy == 1
        assert admission.waiting == 1
        release.set()
        return [await first, await queued, await health]

    asyncio.run(run())
    assert answered == ["ok", "ok", "ok"]
    assert admission.turned_away == 1
    assert (admission.busy, admission.waiting) == (0, 0)


def test_a_request_that_waits_past_the_queues_wait_is_turned_away() -> None:
    admission = Admission(in_flight=1, queued=5, wait=0.05)
    release = asyncio.Event()

    async def app(scope: object, receive: object, send: object) -> None:
        await release.wait()

    admit = admission.middleware(app)  # type: ignore[arg-type]
    scope = {"type": "http", "path": "/v1/units"}

    async def run() -> None:
        first = asyncio.create_task(admit(scope, None, None))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        with pytest.raises(ProblemError, match=r"no turn came within 0\.05 s"):
            await admit(scope, None, None)  # type: ignore[arg-type]
        release.set()
        await first

    asyncio.run(run())
    assert admission.turned_away == 1

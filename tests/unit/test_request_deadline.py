"""A request taken is answered within the server's deadline (ADR 0051): a handler stuck
on a database that does not answer gets its client a 503 with ``Retry-After`` in time,
keeps its turn until it ends, and its late answer goes nowhere."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from api.admission import Admission
from api.problems import ProblemError

SCOPE = {"type": "http", "path": "/v1/instructions"}


def test_a_handler_stuck_past_the_deadline_is_answered_503_and_keeps_its_turn() -> None:
    admission = Admission(in_flight=2, queued=0, wait=0.0, deadline=0.2)
    release = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def stuck(scope: object, receive: object, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    admit = admission.middleware(stuck)  # type: ignore[arg-type]

    async def run() -> None:
        began = time.monotonic()
        with pytest.raises(ProblemError) as late:
            await admit(SCOPE, None, send)  # type: ignore[arg-type]
        took = time.monotonic() - began
        assert 0.2 <= took < 0.6, took
        assert late.value.status == 503
        assert late.value.headers["Retry-After"] == "2"
        assert "within 0.2 s" in late.value.detail
        # The stuck handler still holds its turn: stuck handlers never outnumber it.
        assert admission.busy == 1
        release.set()
        await asyncio.sleep(0.05)
        assert admission.busy == 0

    asyncio.run(run())
    assert sent == []  # the late 201 was not sent after the 503
    assert admission.too_late == 1
    assert "1 past the 0.2 s deadline" in admission.describe()


def test_an_answer_begun_before_the_deadline_goes_on_past_it() -> None:
    admission = Admission(deadline=0.1)
    sent: list[str] = []

    async def streaming(scope: object, receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"done"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    asyncio.run(admission.middleware(streaming)(SCOPE, None, send))  # type: ignore[arg-type]
    assert sent == ["http.response.start", "http.response.body"]
    assert (admission.too_late, admission.busy) == (0, 0)


def test_an_error_before_the_deadline_is_the_handlers_own() -> None:
    admission = Admission(deadline=1.0)

    async def failing(scope: object, receive: object, send: object) -> None:
        raise ProblemError(404, "no such instruction")

    with pytest.raises(ProblemError, match="no such instruction"):
        asyncio.run(admission.middleware(failing)(SCOPE, None, None))  # type: ignore[arg-type]
    assert admission.busy == 0


def test_without_a_deadline_a_slow_handler_is_waited_for() -> None:
    admission = Admission(deadline=0.0)
    done: list[bool] = []

    async def slow(scope: object, receive: object, send: object) -> None:
        await asyncio.sleep(0.2)
        done.append(True)

    asyncio.run(admission.middleware(slow)(SCOPE, None, None))  # type: ignore[arg-type]
    assert done == [True]


def test_health_on_hung_stores_answers_at_once_after_the_first_wait() -> None:
    from types import SimpleNamespace

    from api.app import HEALTH_WAIT, HealthCheck

    hung = threading.Event()
    services = SimpleNamespace(reads=SimpleNamespace(status=lambda: hung.wait(5) and []))
    checks = HealthCheck()

    async def ask() -> float:
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            await checks.views(services)  # type: ignore[arg-type]
        return time.monotonic() - began

    try:
        first = asyncio.run(ask())
        again = asyncio.run(ask())
    finally:
        hung.set()
        checks.close()
    assert HEALTH_WAIT <= first < HEALTH_WAIT + 0.3
    # The check still running is past its wait: the stores are hung, said at once.
    assert again < 0.1

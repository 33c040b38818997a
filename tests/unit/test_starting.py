"""A server worker that listens at once (ADR 0051): while its build waits for the
database every request is answered 503 with ``Retry-After`` and what it waits for; the
real application starts as soon as the build is done, and only then answers."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import psycopg

from api.starting import Starting


class Inner:
    """An application that notes its lifespan and answers 200 once started."""

    def __init__(self, fail: bool = False) -> None:
        self.lifespan: list[str] = []
        self.fail = fail

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan.append(message["type"])
                if message["type"] == "lifespan.startup":
                    failed = {"type": "lifespan.startup.failed", "message": "no views"}
                    await send(failed if self.fail else {"type": "lifespan.startup.complete"})
                    if self.fail:
                        return
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Lifespan:
    """uvicorn's side of a lifespan: what it sends, and what the application answered."""

    def __init__(self, app: Starting) -> None:
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(
            app({"type": "lifespan", "state": {}}, self.to_app.get, self.answers.put)
        )

    async def say(self, message: str) -> str:
        await self.to_app.put({"type": message})
        answer = await asyncio.wait_for(self.answers.get(), 5)
        return str(answer["type"])


async def get(app: Starting, path: str = "/v1/units") -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "GET"}, None, send)  # type: ignore[arg-type]
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_while_the_build_waits_for_the_database_every_request_is_a_503_then_the_app() -> None:
    inner = Inner()
    back = threading.Event()

    def build(waiting: Any) -> Any:
        waiting(psycopg.OperationalError("connection to server at 10.0.0.1 failed: refused"))
        back.wait(5)
        return inner

    async def run() -> None:
        app = Starting(build)
        lifespan = Lifespan(app)
        # uvicorn listens at once: the start-up is complete before the build is.
        assert await lifespan.say("lifespan.startup") == "lifespan.startup.complete"
        for path in ("/health", "/v1/instructions"):
            status, headers, body = await get(app, path)
            assert status == 503
            assert headers["retry-after"] == "2"
            assert headers["content-type"] == "application/problem+json"
            problem = json.loads(body)
            assert problem["type"] == "urn:closedloop:problem:store-unavailable"
            assert "starting: the database cannot be reached" in problem["detail"]
            assert "10.0.0.1" not in problem["detail"]
        assert inner.lifespan == []
        back.set()
        for _ in range(100):
            if app.answering:
                break
            await asyncio.sleep(0.02)
        assert inner.lifespan == ["lifespan.startup"]
        assert (await get(app))[0] == 200
        assert await lifespan.say("lifespan.shutdown") == "lifespan.shutdown.complete"
        assert inner.lifespan == ["lifespan.startup", "lifespan.shutdown"]

    asyncio.run(run())


def test_a_build_done_at_once_starts_the_app_before_the_server_listens() -> None:
    inner = Inner()

    async def run() -> None:
        app = Starting(lambda waiting: inner)
        lifespan = Lifespan(app)
        assert await lifespan.say("lifespan.startup") == "lifespan.startup.complete"
        # Started before uvicorn was told: the first request is the app's.
        assert inner.lifespan == ["lifespan.startup"]
        assert (await get(app))[0] == 200
        assert await lifespan.say("lifespan.shutdown") == "lifespan.shutdown.complete"

    asyncio.run(run())


def test_a_build_that_fails_otherwise_fails_the_start() -> None:
    def build(waiting: Any) -> Any:
        raise ValueError("CLOSEDLOOP_CALENDAR names no file")

    async def run() -> None:
        lifespan = Lifespan(Starting(build))
        assert await lifespan.say("lifespan.startup") == "lifespan.startup.failed"

    asyncio.run(run())


def test_an_app_whose_start_up_fails_fails_the_start() -> None:
    async def run() -> None:
        lifespan = Lifespan(Starting(lambda waiting: Inner(fail=True)))
        assert await lifespan.say("lifespan.startup") == "lifespan.startup.failed"

    asyncio.run(run())


def test_a_server_stopped_while_waiting_stops_at_once() -> None:
    never = threading.Event()

    def build(waiting: Any) -> Any:
        waiting(psycopg.OperationalError("too many clients already"))
        never.wait(5)
        raise RuntimeError("gone")

    async def run() -> None:
        app = Starting(build)
        lifespan = Lifespan(app)
        assert await lifespan.say("lifespan.startup") == "lifespan.startup.complete"
        status, _, body = await get(app)
        assert status == 503
        assert "no connection slots left" in json.loads(body)["detail"]
        assert await lifespan.say("lifespan.shutdown") == "lifespan.shutdown.complete"
        never.set()

    asyncio.run(run())

"""``closedloop intake mqtt`` against a Mosquitto of the test's own (ADR 0079): a door
killed with SIGKILL before it acknowledges is sent the messages again and nothing is
doubled or lost; a broker restarted mid-stream is reconnected with backoff and nothing is
lost; a bad message is a dead letter and the door keeps consuming. Two copies in one
shared group divide the messages, and a copy killed and started again under its id loses
nothing (ADR 0095)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from closedloop.mqtt_payloads import MessageReading, compact
from closedloop.settings import Settings
from domain.meta import now
from projections.readings import SQLiteReadings, readings_beside
from tests.e2e.broker import Broker, need_mosquitto, publish_all, publisher
from tests.e2e.server import BIN, cli

TOPIC = "closedloop/E-QSRES/qingshan-reservoir/water_level"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    need_mosquitto()
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path}/closedloop.sqlite3"
    e = {**os.environ, "CLOSEDLOOP_DATABASE_URL": url}
    cli(e, "demo", "load")
    return e


def door(env: dict[str, str], broker: Broker, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """The door, once it has subscribed (before that, a new session would miss messages)."""
    before = log.read_text().count("subscribed to") if log.exists() else 0
    process = subprocess.Popen(
        [str(BIN), "intake", "mqtt", "--unit", "HW", "--port", str(broker.port), *options],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    until(lambda: log.exists() and log.read_text().count("subscribed to") > before)
    return process


def messages(n: int, first: int = 0) -> list[tuple[str, bytes]]:
    start = now().replace(microsecond=0) - timedelta(hours=2)
    return [
        (TOPIC, compact([MessageReading("water_level", 50.0, "m", start + timedelta(seconds=i))]))
        for i in range(first, first + n)
    ]


def counter(env: dict[str, str]) -> Callable[[], int]:
    def count() -> int:
        store = readings_beside(Settings(database_url=env["CLOSEDLOOP_DATABASE_URL"]).store_env())
        assert isinstance(store, SQLiteReadings)
        try:
            return store.count()
        finally:
            store.close()

    return count


def until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in time: {check.__doc__ or ''}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_a_door_killed_before_it_acknowledges_doubles_and_loses_nothing(
    broker: Broker, env: dict[str, str], tmp_path: Path
) -> None:
    count = counter(env)
    first = door(env, broker, tmp_path / "door.log")
    pub = publisher(broker.port)
    sent = messages(1500)
    try:
        publish_all(pub, sent)
        until(lambda: count() > 0)
        first.send_signal(signal.SIGKILL)  # mid-stream: some kept, the rest not acknowledged
        first.wait(10)
        killed_at = count()
        again = door(env, broker, tmp_path / "door.log")
        try:
            until(lambda: count() == len(sent))
            time.sleep(0.5)  # anything sent twice would have landed by now
            assert count() == len(sent)
        finally:
            stop(again)
    finally:
        pub.loop_stop()  # type: ignore[attr-defined]
    assert 0 < killed_at <= len(sent)


def test_a_broker_restart_mid_stream_loses_nothing_and_bad_messages_are_dead_letters(
    broker: Broker, env: dict[str, str], tmp_path: Path
) -> None:
    count = counter(env)
    process = door(env, broker, tmp_path / "door.log")
    pub = publisher(broker.port)
    try:
        publish_all(pub, [(TOPIC, b"not a reading"), ("closedloop/HW/nowhere", b"x,1,m,soon")])
        # Mid-stream: the broker goes while messages are on their way to it and to the door.
        publish_all(pub, messages(400), wait=False)
        until(lambda: count() > 0)
        broker.stop()
        broker.start()
        # The publisher and the door reconnect on their own (the door with backoff); the
        # publisher sends again what the broker had not acknowledged.
        publish_all(pub, messages(600, first=400))
        until(lambda: count() == 1000, 30)
        store = readings_beside(Settings(database_url=env["CLOSEDLOOP_DATABASE_URL"]).store_env())
        try:
            letters = store.rejected(None, limit=10)
        finally:
            store.close()
        assert {d.topic for d in letters} == {TOPIC, "closedloop/HW/nowhere"}
    finally:
        pub.loop_stop()  # type: ignore[attr-defined]
        stop(process)
    assert count() == 1000
    assert "reconnecting with backoff" in (tmp_path / "door.log").read_text()


def shared(env: dict[str, str], broker: Broker, log: Path, name: str) -> subprocess.Popen[bytes]:
    """A copy of the door in the group ``readings`` under a client id of its own."""
    return door(env, broker, log, "--share", "readings", "--client-id", f"closedloop-{name}")


def took(log: Path) -> int:
    """The messages a copy says it took, from the line it prints when it stops."""
    return sum(int(n) for n in re.findall(r"^(\d+) message\(s\)", log.read_text(), re.M))


def test_two_copies_in_one_shared_group_divide_the_messages(
    broker: Broker, env: dict[str, str], tmp_path: Path
) -> None:
    count = counter(env)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    copies = [shared(env, broker, logs[0], "a"), shared(env, broker, logs[1], "b")]
    assert "subscribed to $share/readings/closedloop/#" in logs[0].read_text()
    pub = publisher(broker.port)
    sent = messages(400)
    try:
        publish_all(pub, sent)
        until(lambda: count() == len(sent))
        time.sleep(0.5)  # a message given to both copies would have landed by now
    finally:
        pub.loop_stop()  # type: ignore[attr-defined]
        for c in copies:
            stop(c)
    a, b = took(logs[0]), took(logs[1])
    assert a > 0, (a, b)
    assert b > 0, (a, b)
    assert a + b == len(sent)  # divided, not doubled
    assert count() == len(sent)


def test_a_shared_copy_killed_and_started_again_under_its_id_loses_nothing(
    broker: Broker, env: dict[str, str], tmp_path: Path
) -> None:
    count = counter(env)
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"
    a, b = shared(env, broker, a_log, "a"), shared(env, broker, b_log, "b")
    pub = publisher(broker.port)
    try:
        publish_all(pub, messages(1500))
        until(lambda: count() > 0)
        a.send_signal(signal.SIGKILL)  # mid-stream: what it held unacknowledged stays its own
        a.wait(10)
        publish_all(pub, messages(300, first=1500))  # while it is away
        a = shared(env, broker, a_log, "a")
        until(lambda: count() == 1800, 30)
        time.sleep(0.5)
        assert count() == 1800
    finally:
        pub.loop_stop()  # type: ignore[attr-defined]
        stop(a)
        stop(b)
    assert took(b_log) > 0

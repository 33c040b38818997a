"""Readings through the MQTT door (ADR 0079), beside the HTTP door in the same run.

A Mosquitto of the bench's own (loopback, a free port, its files in a temporary folder)
and ``closedloop intake mqtt`` on a fresh store with the demo district. The publishers
send one reading a message, in the compact format, at QoS 1, at ``--rate`` messages a
second in all for ``--seconds``; then the bench waits for the door to drain. By default
they are ``--publishers`` processes of Debian's ``mosquitto_pub -l`` (one station each),
fed pre-built lines from pipes, so that the publisher is not what limits the figure on a
2-core machine (one paho client in Python reached about 1,100 messages/s); ``--publisher
paho`` is the old single client, speaking for ``--stations`` stations in turn. The
figures, counted against the readings table and not the door's own word: the messages
published (all fed to the ``mosquitto_pub`` processes, which exit once the broker has
acknowledged each; or each acknowledged by the broker to paho), the readings kept, the ones
**lost** (published, not in the table) and **doubled** (rows beyond the distinct reading
ids; the table's key makes it 0 by construction, so what a doubling would show is a
count above the published one), and the sustained rate, readings kept over the time from
the first publish to the last reading landed. The HTTP door's rate
(``python -m bench readings``' load, 1,000 readings a batch) is measured in the same run
on a store of its own as the baseline.

``--kills N`` measures the takeover of ADR 0096 instead: two shared copies of the door
(``--share bench``); N times, a stream of ``--per-kill`` messages is published (each
acknowledged by the broker), one copy is SIGKILLed mid-stream and **not** restarted
until the figure is taken, and the figure is the seconds from the kill until every
message published is in the table, the killed copy's held and queued ones included
(the survivor adopts its session). The killed copy is then started again under its id
for the next round. Goal: p95 under 10 s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.http_issue import ROOT, closedloop, fresh_schema
from bench.loop_cost import POSTGRES_URL, postgres_unreachable
from bench.readings import _env, cpu_seconds, through_the_door
from bench.report_latency import p95
from closedloop.settings import Settings
from projections.readings import readings_beside
from tests.e2e.broker import Broker, publish_all, publisher

TARGET = 5000
#: Seconds from a copy's SIGKILL to its held messages in the table, p95 (issue 23).
TAKEOVER_GOAL_S = 10.0
#: Messages published and not yet acknowledged by the broker, at most.
WINDOW = 20_000
#: Debian's mosquitto-clients: a publisher in C, far cheaper a message than paho's.
MOSQUITTO_PUB = shutil.which("mosquitto_pub")


def count(url: str) -> int:
    store = readings_beside(Settings(database_url=url).store_env())
    try:
        return int(store.count())  # type: ignore[attr-defined]
    finally:
        store.close()


def publish(port: int, args: argparse.Namespace, start: datetime) -> tuple[int, float, float]:
    """Messages published and acknowledged by the broker, the first and last publish."""
    client: object = publisher(port, "closedloop-bench-publisher")
    while not client.is_connected():  # type: ignore[attr-defined]
        time.sleep(0.05)
    total = int(args.rate * args.seconds)
    infos: list[Any] = []
    began = time.monotonic()
    chunk = max(1, args.rate // 100)  # a hundred bursts a second
    for n in range(total):
        station, step = n % args.stations, n // args.stations
        at = start + timedelta(seconds=step)
        ms = int(at.timestamp() * 1000)
        topic = f"closedloop/HW/bench-{station:05d}/generic_index"
        value = 10 + (n * 7919 % 2000) / 100
        if n >= WINDOW:
            # A packet id names one unacknowledged message: at most WINDOW outstanding,
            # so the rate offered is what the broker really took.
            infos[n - WINDOW].wait_for_publish(60)
        infos.append(client.publish(topic, f",{value},,{ms}".encode(), qos=1))  # type: ignore[attr-defined]
        if n % chunk == chunk - 1:
            ahead = began + (n + 1) / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    last = time.monotonic()
    for info in infos:
        info.wait_for_publish(60)
    acked = sum(1 for i in infos if i.is_published())
    client.disconnect()  # type: ignore[attr-defined]
    client.loop_stop()  # type: ignore[attr-defined]
    return acked, began, last


def payloads(args: argparse.Namespace, start: datetime, publishers: int) -> list[list[bytes]]:
    """Each publisher's lines, built before the clock starts: publisher ``p`` speaks for
    station ``bench-p`` (``mosquitto_pub -l`` sends one topic), one reading a message and
    a second apart, in the compact format."""
    total = int(args.rate * args.seconds)
    lines: list[list[bytes]] = [[] for _ in range(publishers)]
    for n in range(total):
        p, step = n % publishers, n // publishers
        ms = int((start + timedelta(seconds=step)).timestamp() * 1000)
        value = 10 + (n * 7919 % 2000) / 100
        lines[p].append(f",{value},,{ms}\n".encode())
    return lines


def publish_c(port: int, args: argparse.Namespace, start: datetime) -> tuple[int, float, float]:
    """``--publishers`` ``mosquitto_pub -l`` processes at QoS 1, fed their pre-built lines
    from pipes at ``--rate`` in all, a hundred bursts a second. Each exits once its last
    message is acknowledged by the broker; *published* is the lines fed, so whatever the
    publisher or the broker dropped counts as lost. The last publish is when the last
    publisher exited."""
    n = args.publishers
    lines = payloads(args, start, n)
    assert MOSQUITTO_PUB is not None
    procs = []
    for p in range(n):
        topic = f"closedloop/HW/bench-{p:05d}/generic_index"
        command = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l"]
        command += ["-i", f"closedloop-bench-pub-{p}", "-t", topic]
        procs.append(subprocess.Popen(command, stdin=subprocess.PIPE))
    time.sleep(0.5)  # connected
    total = sum(len(x) for x in lines)
    began = time.monotonic()
    burst = max(1, args.rate // 100 // n)
    fed = 0
    offset = 0
    longest = max(len(x) for x in lines)
    while offset < longest:
        for p, proc in enumerate(procs):
            chunk = lines[p][offset : offset + burst]
            if chunk:
                proc.stdin.write(b"".join(chunk))  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                fed += len(chunk)
        offset += burst
        ahead = began + fed / args.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
    for proc in procs:
        proc.wait(120)
    last = time.monotonic()
    assert fed == total
    return fed, began, last


def through_mqtt(url: str, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    env = _env(url)
    closedloop(env, "demo", "load")
    broker = Broker(folder / "broker").start()
    log = folder / "door.log"
    door = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "closedloop.cli",
            "intake",
            "mqtt",
            "--unit",
            "HW",
            "--port",
            str(broker.port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "subscribed to" not in log.read_text():
            if door.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the door did not start: {log}")
            time.sleep(0.1)
        door_cpu = cpu_seconds(door.pid)
        speakers = args.publishers if args.publisher == "mosquitto_pub" else args.stations
        steps = int(args.rate * args.seconds) // speakers + 1
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=steps + 60)
        published: list[tuple[int, float, float]] = []
        send = publish_c if args.publisher == "mosquitto_pub" else publish
        t = threading.Thread(target=lambda: published.append(send(broker.port, args, start)))
        t.start()
        t.join()
        acked, began, last_publish = published[0]
        # Drain: until every acknowledged message is a reading, or nothing moves for 10 s.
        kept, landed, still = 0, time.monotonic(), time.monotonic()
        while kept < acked and time.monotonic() - still < 10:
            time.sleep(0.2)
            now_kept = count(url)
            if now_kept != kept:
                kept, landed, still = now_kept, time.monotonic(), time.monotonic()
        door_after = cpu_seconds(door.pid)
    finally:
        door.terminate()
        door.wait(30)
        broker.stop()
    seconds = landed - began
    return {
        "published": acked,
        "kept": kept,
        "lost": max(0, acked - kept),
        "doubled": max(0, kept - acked),
        "seconds": seconds,
        "rate": kept / seconds if seconds else 0.0,
        "publish_rate": acked / (last_publish - began) if last_publish > began else 0.0,
        # Messages per CPU second of the door's process: what it costs, whatever else the
        # machine runs beside it (the publisher, the broker, the database; ADR 0091).
        "per_cpu": (
            kept / (door_after - door_cpu)
            if door_cpu is not None and door_after is not None and door_after > door_cpu
            else 0.0
        ),
    }


def _copy(env: dict[str, str], port: int, name: str, folder: Path) -> subprocess.Popen[bytes]:
    """A shared copy of the door under ``closedloop-bench-<name>``, once subscribed."""
    log = folder / f"{name}.log"
    before = log.read_text().count("subscribed to") if log.exists() else 0
    command = [sys.executable, "-m", "closedloop.cli", "intake", "mqtt", "--unit", "HW"]
    command += ["--port", str(port), "--share", "bench", "--client-id", f"closedloop-bench-{name}"]
    door = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 90
    while log.read_text().count("subscribed to") == before:
        if door.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the copy did not start: {log}")
        time.sleep(0.05)
    return door


def _wait(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def takeover(url: str, args: argparse.Namespace, folder: Path) -> list[tuple[float, int]]:
    """Per kill: seconds from the kill until the survivor had kept what the killed copy's
    session held and ended it (the time of its log line), and how many messages that was.
    Every round also waits until every message published is in the table."""
    env = _env(url)
    closedloop(env, "demo", "load")
    broker = Broker(folder / "broker").start()
    copies = {name: _copy(env, broker.port, name, folder) for name in "ab"}
    pub: Any = publisher(broker.port, "closedloop-bench-takeover")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(
        seconds=args.kills * args.per_kill + 60
    )
    found: list[tuple[float, int]] = []
    published = 0

    def took(survivor: str, victim: str) -> list[tuple[str, str]]:
        """When and how many the survivor's log says it took from the victim's session."""
        said = (folder / f"{survivor}.log").read_text()
        return re.findall(
            rf"^(\S+ \S+) \S+ took (\d+) message\(s\) from closedloop-bench-{victim}'s",
            said,
            re.M,
        )

    try:
        for k in range(args.kills):
            victim, survivor = ("a", "b") if k % 2 == 0 else ("b", "a")
            stream = []
            for n in range(published, published + args.per_kill):
                ms = int((start + timedelta(seconds=n)).timestamp() * 1000)
                topic = f"closedloop/HW/bench-{n % 50:05d}/generic_index"
                stream.append((topic, f",{10 + n % 20},,{ms}".encode()))
            before = published
            published += len(stream)
            sending = threading.Thread(target=publish_all, args=(pub, stream, 60))
            sending.start()
            # Mid-stream: the round is being published and kept when the copy dies, so
            # its session holds messages in flight and goes on being given its turn.
            _wait(lambda b=before: count(url) > b + args.per_kill // 10, 60)
            seen = len(took(survivor, victim))
            copies[victim].kill()
            killed = time.time()
            copies[victim].wait(10)
            sending.join()
            if not _wait(lambda p=published: count(url) >= p, 60):
                raise RuntimeError(f"kill {k + 1}: {count(url)} of {published} after 60 s")
            if not _wait(lambda s=survivor, v=victim, n=seen: len(took(s, v)) > n, 30):
                raise RuntimeError(f"kill {k + 1}: {survivor} did not take {victim}'s session")
            adoptions = took(survivor, victim)[seen:]
            held = sum(int(n) for _, n in adoptions)
            ended = datetime.strptime(adoptions[-1][0], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append((ended - killed, held))
            print(
                f"  kill {k + 1}: copy {victim}, {held} message(s) adopted, {ended - killed:.2f} s"
            )
            copies[victim] = _copy(env, broker.port, victim, folder)
        time.sleep(0.5)
        if count(url) != published:
            raise RuntimeError(f"{count(url)} readings in the table, {published} published")
    finally:
        pub.loop_stop()
        for door in copies.values():
            door.terminate()
            door.wait(30)
        broker.stop()
    return found


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench mqtt", description=__doc__.split("\n")[0])
    p.add_argument(
        "--seconds", type=float, default=15.0, help="seconds of publishing (60: issue 21)"
    )
    p.add_argument("--rate", type=int, default=TARGET, help="messages a second to publish")
    p.add_argument("--stations", type=int, default=1000)
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument(
        "--publisher",
        choices=["mosquitto_pub", "paho"],
        default="mosquitto_pub" if MOSQUITTO_PUB else "paho",
        help="mosquitto_pub processes (Debian's mosquitto-clients) or one paho client",
    )
    p.add_argument(
        "--publishers", type=int, default=8, help="mosquitto_pub processes, one station each"
    )
    p.add_argument(
        "--kills", type=int, default=0, help="measure the takeover after SIGKILL instead (ADR 0096)"
    )
    p.add_argument("--per-kill", type=int, default=3000, help="messages published each round")
    return p.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    if args.store == "postgres" and (reason := postgres_unreachable(POSTGRES_URL)) is not None:
        print(f"PostgreSQL unreachable ({reason}); on SQLite")
        args.store = "sqlite"

    def store(name: str) -> object:
        if args.store == "postgres":
            return fresh_schema(POSTGRES_URL)
        db = folder / f"{name}.sqlite3"

        class _File:
            def __enter__(self) -> str:
                return f"sqlite:///{db}"

            def __exit__(self, *_: object) -> None:
                return None

        return _File()

    if args.kills:
        print(f"MQTT door takeover on {args.store}: two shared copies, {args.kills} SIGKILLs")
        with store("takeover") as url:  # type: ignore[attr-defined]
            found = takeover(url, args, folder)
        seconds = [s for s, _ in found]
        verdict = "PASS" if p95(seconds) < TAKEOVER_GOAL_S else "MISS"
        print(
            f"  takeover after SIGKILL, {len(seconds)} kills: p95 {p95(seconds):.2f} s, "
            f"max {max(seconds):.2f} s, {sum(h for _, h in found)} message(s) adopted in all; "
            f"goal under {TAKEOVER_GOAL_S:g} s: {verdict}; nothing lost or doubled"
        )
        print(f"(logs in {folder})")
        return 0 if verdict == "PASS" else 1
    with store("mqtt") as url:  # type: ignore[attr-defined]
        mqtt = through_mqtt(url, args, folder)
    http_args = argparse.Namespace(
        duration=min(args.seconds, 15.0),
        clients=3,
        batch=1000,
        stations=args.stations,
        steps=300,
        episode=5,
        seed=7,
    )
    with store("http") as url:  # type: ignore[attr-defined]
        http, _ = through_the_door(url, http_args, folder, lambda: 0)
    print(f"MQTT door on {args.store}, {args.rate:,} messages/s offered for {args.seconds:g} s")
    who = (
        f"{args.publishers} mosquitto_pub processes, pre-built payloads"
        if args.publisher == "mosquitto_pub"
        else "one paho client"
    )
    print(f"  publisher {who}; one reading a message, QoS 1")
    how = (
        "fed to mosquitto_pub, each exited after its broker's acknowledgements"
        if args.publisher == "mosquitto_pub"
        else "acknowledged by the broker"
    )
    print(f"  published {mqtt['published']:10,.0f} messages ({how})")
    print(f"  kept      {mqtt['kept']:10,.0f} readings in the table")
    print(f"  lost      {mqtt['lost']:10,.0f}    doubled {mqtt['doubled']:,.0f}")
    print(f"  offered   {mqtt['publish_rate']:10,.0f} messages/s reached by the publisher")
    print(f"  sustained {mqtt['rate']:10,.0f} readings/s  ({mqtt['seconds']:.1f} s to the last)")
    print(f"            goal ≥ {TARGET:,} messages/s, nothing lost or doubled")
    if mqtt["per_cpu"]:
        print(f"  CPU       {mqtt['per_cpu']:10,.0f} messages per CPU second of the door process")
    print(f"  HTTP door {http.rate:10,.0f} readings/s  (baseline, same run, 1,000 a batch)")
    print(f"  ratio     {mqtt['rate'] / http.rate if http.rate else 0:10.3f}   MQTT ÷ HTTP")
    print(f"(logs in {folder})")
    ok = mqtt["lost"] == 0 and mqtt["doubled"] == 0 and mqtt["rate"] >= TARGET
    return 0 if ok else 1

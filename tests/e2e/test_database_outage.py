"""PostgreSQL restarted, then stopped for 45 s, under a load of clients stepping loops
(issue 18, item 4): the API alone and every follower in a process of its own
(``serve --no-projections``, ``projections run``, ``notifiers run``, ``watch run``), on a
cluster of the test's own.

What a user cares about: no command the API acknowledged is lost or written twice;
during the outage every request is answered, 503 with ``Retry-After``, within the bounded
wait (never a 500, never a hang); and when the database is back, commands and every
follower go on by themselves, within 2 s, with no process restarted.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import own_cluster
from tests.e2e.faults import (
    demo_with_tokens,
    environment,
    head,
    healthy,
    log_tail,
    positions,
    start,
    stop,
    wait_for,
)
from tests.e2e.load import Tally, check_the_log, load

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PORT = 18610
LATE_PORT = 18611
#: How long the database stays away: the outage issue 18 measured, not shortened.
OUTAGE = 45.0
#: The longest a request may wait for its answer during the outage: the pool's wait for
#: a connection (``connect_timeout=2``) and the retry of a broken connection within it,
#: with room for a loaded machine.
BOUNDED_WAIT = 8.0
#: Within this of the database being back, commands, every follower (the playbooks'
#: 5 s rounds included, ADR 0051) and the processes started during the outage go on.
RECOVERY = 2.0
#: The median of those recoveries is asserted within ``RECOVERY``; each one within this,
#: a margin for a 2-core machine shared with other work (a recovery that waits a round
#: of 5 s, or a start that listens only once the database is back, is past it).
EACH_WITHIN = 3.0


def recovered_followers(url: str, since: int) -> dict[str, int]:
    """Each follower's position, once every one is past ``since`` (else {})."""
    at = positions(url)
    return at if at and all(p > since for p in at.values()) else {}


def recovery(url: str, tally: Tally, back: float, head_then: int) -> dict[str, float]:
    """Seconds from ``back`` to the first command acknowledged, and to each follower
    having read an event written after the database came back."""
    took: dict[str, float] = {}
    deadline = back + 30
    while time.monotonic() < deadline:
        first = tally.first_ok_after(back)
        if first is not None:
            took.setdefault("commands", first)
        try:
            for name, at in positions(url).items():
                if at > head_then:
                    took.setdefault(name, time.monotonic() - back)
        except Exception:  # noqa: S110 - the cluster just came back; asked again below
            pass
        if "commands" in took and len(took) > 1 and len(took) - 1 == len(positions(url)):
            return took
        time.sleep(0.05)
    return took


def answers_while_starting(base: str, seconds: float) -> httpx.Response:
    """The first answer of a server started while the database is away: it listens at
    once and says it is starting (ADR 0051), within ``seconds`` of its start."""
    began = time.monotonic()
    while True:
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            if time.monotonic() - began > seconds:
                raise
            time.sleep(0.1)


def watch_the_late(base: str, log: Path, back: float, late: dict[str, float]) -> None:
    """Seconds from ``back`` until the processes started during the outage serve:
    the API healthy, the projections following (20 s at most)."""
    while time.monotonic() < back + 20 and len(late) < 2:
        if "late-api" not in late:
            try:
                if healthy(base):
                    late["late-api"] = time.monotonic() - back
            except httpx.TransportError:
                pass
        if "late-projections" not in late and "following" in log.read_text(errors="replace"):
            late["late-projections"] = time.monotonic() - back
        time.sleep(0.05)


def test_a_restart_and_a_45_s_outage_lose_nothing_and_everything_comes_back(
    tmp_path: Path,
) -> None:
    # Six processes, each with the event store's pool and the views', all reconnecting at
    # once when the database is back: room for them and for the test's own reads.
    with own_cluster(max_connections=100) as cluster:
        url = f"{cluster.url}?connect_timeout=2"
        tokens = demo_with_tokens(url)
        env = environment(url, tmp_path, CLOSEDLOOP_PORT=str(PORT))
        names = ("api", "projections", "notifiers", "watch")
        logs = {name: tmp_path / f"{name}.log" for name in names}
        procs = {
            "api": start(env, logs["api"], "serve", "--no-projections", "--port", str(PORT)),
            "projections": start(env, logs["projections"], "projections", "run", "--poll", "1"),
            "notifiers": start(env, logs["notifiers"], "notifiers", "run"),
            "watch": start(env, logs["watch"], "watch", "run"),
        }
        base = f"http://127.0.0.1:{PORT}"
        try:
            wait_for("the API", lambda: healthy(base), 60)
            with load(base, tokens, clients=8) as tally:
                time.sleep(6)
                # A restart: every session of the pools is cut at once.
                restarted_at = time.monotonic()
                cluster.restart()
                cluster.ready()
                time.sleep(6)
                assert tally.first_ok_after(restarted_at + 0.5) is not None

                down_at = time.monotonic()
                cluster.stop("fast")
                time.sleep(5)
                # Processes started while the database is away wait for it.
                late_env = {**env, "CLOSEDLOOP_PORT": str(LATE_PORT)}
                for name, args in {
                    "late-api": ("serve", "--no-projections", "--port", str(LATE_PORT)),
                    "late-projections": ("projections", "run", "--poll", "1"),
                }.items():
                    logs[name] = tmp_path / f"{name}.log"
                    procs[name] = start(late_env, logs[name], *args)
                late_base = f"http://127.0.0.1:{LATE_PORT}"
                starting = answers_while_starting(late_base, OUTAGE - 15)
                time.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
                cluster.start()
                cluster.ready()
                back = time.monotonic()
                # A follower is back once it has read an event written after this: one
                # read before the outage may still have been caught up before it began.
                head_then = head(url)
                late: dict[str, float] = {}
                watching = threading.Thread(
                    target=watch_the_late, args=(late_base, logs["late-projections"], back, late)
                )
                watching.start()
                took = recovery(url, tally, back, head_then)
                watching.join()
                assert set(late) == {"late-api", "late-projections"}, late
                took.update(late)
                time.sleep(2)
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} exited:\n{log_tail(logs[name])}"

            # Every follower reaches the head without a restart.
            final = head(url)
            wait_for(
                "every follower at the head",
                lambda: min(positions(url).values()) >= final,
                30,
            )
            missing, twice = check_the_log(url, tally)
            follower_names = set(positions(url))

            during = [a for a in tally.answers if down_at + 3 < a.sent < back - BOUNDED_WAIT]
            counts = tally.statuses()
            print(
                f"\noutage: {len(tally.acknowledged)} commands acknowledged, "
                f"{len(missing)} lost, {len(twice)} written twice, "
                f"{tally.loops_closed} loops closed; answers {dict(counts)}; "
                f"during the outage {len(during)} answers "
                f"{dict(tally.statuses(down_at + 3, back - BOUNDED_WAIT))}, "
                f"slowest {max((a.answered - a.sent for a in during), default=0):.1f} s; "
                "seconds from the database back to: "
                + ", ".join(f"{k} {v:.2f}" for k, v in sorted(took.items()))
                + f"; median {statistics.median(took.values()):.2f}; the server started "
                f"during the outage answered {starting.status_code}: {starting.text[:160]}"
            )
        finally:
            for proc in procs.values():
                stop(proc)

        assert not missing, f"acknowledged but not in the log: {sorted(missing)[:5]}"
        assert not twice, f"written twice: {sorted(twice)[:5]}"
        assert not tally.refused, tally.refused[:3]
        assert 500 not in counts, counts
        assert 0 not in counts, counts  # every request answered
        assert during, "no request was answered during the outage"
        assert {a.status for a in during} == {503}
        assert all(a.retry_after for a in during)
        assert max(a.answered - a.sent for a in during) < BOUNDED_WAIT
        followers = {k: v for k, v in took.items() if not k.startswith(("commands", "late-"))}
        assert set(followers) == follower_names, took
        assert "commands" in took, took
        assert statistics.median(took.values()) < RECOVERY, took
        assert max(took.values()) < EACH_WITHIN, took
        # Started while it was away, the server listened at once and said why it could
        # not answer yet.
        assert starting.status_code == 503, starting.text
        assert starting.headers["retry-after"] == "2"
        assert "starting" in starting.json()["detail"], starting.text

"""PostgreSQL hung under load (issue 18, ADR 0051): every process of the test's own
cluster stopped with SIGSTOP, so that it still holds its connections and its port but
answers nothing, then let go on with SIGCONT.

What a user cares about: no request hangs past the server's deadline, whatever the
statement it waits on; each is answered 503 with ``Retry-After`` (or, if it needed
nothing of the database, its answer), never a 500 and never the client's own timeout;
``/health`` says so within a second; nothing acknowledged is lost or written twice, and
once the database goes on, so do the commands.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import own_cluster
from tests.e2e.faults import demo_with_tokens, environment, healthy, log_tail, start, stop, wait_for
from tests.e2e.load import check_the_log, load
from tests.e2e.server import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: The server's deadline for a request's answer to begin, and its statement timeout.
DEADLINE = 4.0
STATEMENT_TIMEOUT = 2.0
#: How long the database stays hung.
HANG = 12.0
#: Over the deadline: the 503's own way back through a loaded machine.
MARGIN = 1.5
#: Within this of the database going on, a command is acknowledged again.
RECOVERY = 2.0


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that ended meanwhile
            os.kill(pid, sig)


def test_a_hung_database_gets_every_request_an_answer_within_the_deadline(
    tmp_path: Path,
) -> None:
    with own_cluster(port=free_port()) as cluster:
        url = f"{cluster.url}?connect_timeout=2"
        tokens = demo_with_tokens(url)
        port = free_port()
        env = environment(
            url,
            tmp_path,
            CLOSEDLOOP_PORT=str(port),
            CLOSEDLOOP_REQUEST_DEADLINE_SECONDS=str(DEADLINE),
            CLOSEDLOOP_STATEMENT_TIMEOUT_SECONDS=str(STATEMENT_TIMEOUT),
        )
        log = tmp_path / "api.log"
        api = start(env, log, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        stopped: list[int] = []
        health: list[tuple[float, int]] = []
        try:
            wait_for("the API", lambda: healthy(base), 60)
            with load(base, tokens, clients=6) as tally:
                time.sleep(5)
                stopped = cluster.processes()
                hung_at = time.monotonic()
                signal_all(stopped, signal.SIGSTOP)
                while time.monotonic() < hung_at + HANG:
                    began = time.monotonic()
                    status = httpx.get(f"{base}/health", timeout=5).status_code
                    health.append((time.monotonic() - began, status))
                    time.sleep(1.0)
                signal_all(stopped, signal.SIGCONT)
                stopped = []
                going_on = time.monotonic()
                time.sleep(6)
            assert api.poll() is None, log_tail(log)
            missing, twice = check_the_log(url, tally)
        finally:
            signal_all(stopped, signal.SIGCONT)
            stop(api)

        # Sent while it was hung, and answered (or due) before it went on.
        during = [a for a in tally.answers if hung_at + 0.5 < a.sent < going_on - DEADLINE - 1]
        slowest = max((a.answered - a.sent for a in during), default=0.0)
        counts = tally.statuses(hung_at + 0.5, going_on - DEADLINE - 1)
        back = tally.first_ok_after(going_on)
        print(
            f"\nhung {HANG:g} s: {len(tally.acknowledged)} commands acknowledged, "
            f"{len(missing)} lost, {len(twice)} written twice; while hung {len(during)} "
            f"answers {dict(counts)}, slowest {slowest:.2f} s (deadline {DEADLINE:g} s); "
            f"/health {[f'{s} in {t:.2f} s' for t, s in health]}; first command "
            f"acknowledged {back if back is None else round(back, 2)} s after it went on"
        )
        assert not missing, sorted(missing)[:5]
        assert not twice, sorted(twice)[:5]
        assert not tally.refused, tally.refused[:3]
        assert during, "no request was sent while the database was hung"
        assert set(counts) <= {200, 201, 503}, counts  # never a 500, never no answer
        assert 503 in counts, counts
        assert all(a.retry_after for a in during if a.status == 503)
        assert slowest < DEADLINE + MARGIN, slowest
        assert all(t < 1.0 and s == 503 for t, s in health[1:]), health
        assert back is not None, "no command was acknowledged after the database went on"
        assert back < RECOVERY, back

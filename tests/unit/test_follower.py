"""The loop every follower runs: steps, idle and settle waits, pokes, backoff, stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from projections.follower import Follower

log = logging.getLogger("tests.follower")


class Scripted(Follower):
    """A follower whose steps answer from ``answers`` (an exception is raised), and that
    notes when each step began and each wait it was told of."""

    def __init__(
        self,
        answers: Callable[[int], int | Exception],
        *,
        poll_interval: float = 30.0,
        settle: float = 0.0,
        batch: int | None = None,
        backoff: tuple[float, float] = (0.01, 0.04),
    ) -> None:
        super().__init__(
            name="test-follower",
            label="test",
            log=log,
            poll_interval=poll_interval,
            settle=settle,
            batch=batch,
            backoff=backoff,
        )
        self.answers = answers
        self.began: list[float] = []
        self.waits: list[float] = []
        self.paused: list[float] = []  # noted by Unslept only
        self.beats = 0
        self.stepped = threading.Condition()

    def step(self) -> int:
        with self.stepped:
            self.began.append(time.monotonic())
            self.stepped.notify_all()
            answer = self.answers(len(self.began))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def beat(self) -> None:
        self.beats += 1

    def report(self, error: BaseException, wait: float) -> None:
        self.waits.append(wait)

    def wait_for_steps(self, n: int, timeout: float = 5.0) -> None:
        with self.stepped:
            assert self.stepped.wait_for(lambda: len(self.began) >= n, timeout), (
                f"{len(self.began)} steps, {n} expected"
            )


class Unslept(Scripted):
    """Every pause (backoff and settle) returns at once and is only noted."""

    def pause(self, seconds: float) -> None:
        self.paused.append(seconds)


@pytest.fixture
def started() -> Iterator[list[Follower]]:
    followers: list[Follower] = []
    yield followers
    for follower in followers:
        follower.stop()


def fails_first(n: int) -> Callable[[int], int | Exception]:
    return lambda i: RuntimeError(f"store away ({i})") if i <= n else 0


def test_a_stop_during_the_backoff_ends_the_loop_at_once(started: list[Follower]) -> None:
    follower = Scripted(lambda i: RuntimeError("store away"), backoff=(30.0, 30.0))
    started.append(follower.start())
    follower.wait_for_steps(1)

    begun = time.monotonic()
    follower.stop()

    assert time.monotonic() - begun < 1.0, "stop() waited for the backoff"
    assert len(follower.began) == 1, "no step is tried after the stop"
    assert follower.last_error == "RuntimeError: store away"


def test_a_poke_ends_the_idle_wait(started: list[Follower]) -> None:
    follower = Scripted(lambda i: 0, poll_interval=30.0)
    started.append(follower.start())
    follower.wait_for_steps(1)

    follower.poke()

    follower.wait_for_steps(2, timeout=1.0)
    assert follower.beats >= 1, "an idle step is followed by a heartbeat"
    assert follower.heartbeat is not None


def test_an_error_backs_off_doubling_and_the_next_success_recovers(
    started: list[Follower],
) -> None:
    follower = Scripted(fails_first(4), backoff=(0.01, 0.03))
    started.append(follower.start())
    follower.wait_for_steps(5)
    follower.stop()

    assert follower.waits == [0.01, 0.02, 0.03, 0.03]
    assert follower.last_error is None, "a step that succeeds clears the error"
    assert follower.heartbeat is not None


def test_a_success_starts_the_doubling_afresh(started: list[Follower]) -> None:
    answers: dict[int, int | Exception] = {1: RuntimeError("a"), 2: RuntimeError("b"), 3: 1}
    follower = Unslept(lambda i: answers.get(i, RuntimeError("c")), backoff=(0.2, 10.0))
    started.append(follower.start())
    follower.wait_for_steps(6)
    follower.stop()

    assert follower.waits[:4] == [0.2, 0.4, 0.2, 0.4]


def test_the_views_backoff_doubles_from_a_fifth_of_a_second_to_ten(
    started: list[Follower],
) -> None:
    follower = Unslept(lambda i: RuntimeError("store away"), backoff=(0.2, 10.0))
    started.append(follower.start())
    follower.wait_for_steps(9)
    follower.stop()

    assert follower.waits[:8] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    assert follower.paused[:8] == follower.waits[:8], "each wait is spent in pause()"


def test_a_short_batch_waits_settle_and_a_poke_does_not_cut_it_short(
    started: list[Follower],
) -> None:
    follower = Scripted(lambda i: 1, poll_interval=0.0, settle=0.15, batch=10)
    started.append(follower.start())
    follower.wait_for_steps(1)
    follower.poke()
    follower.wait_for_steps(3)
    follower.stop()

    gaps = [b - a for a, b in zip(follower.began, follower.began[1:], strict=False)]
    assert min(gaps) >= 0.14, gaps


def test_a_full_batch_is_followed_by_the_next_step_at_once(started: list[Follower]) -> None:
    follower = Unslept(lambda i: 10 if i <= 5 else 0, poll_interval=30.0, settle=5.0, batch=10)
    started.append(follower.start())
    follower.wait_for_steps(6)
    follower.stop()

    assert follower.paused == [], "no settle after a full batch"
    assert follower.beats == 1, "only the step that found nothing is idle"


def test_without_a_batch_any_step_that_did_something_settles(started: list[Follower]) -> None:
    follower = Unslept(lambda i: 3 if i <= 2 else 0, poll_interval=30.0, settle=0.5)
    started.append(follower.start())
    follower.wait_for_steps(3)
    follower.stop()

    assert follower.paused == [0.5, 0.5]


def test_a_heartbeat_the_store_refuses_backs_off_like_a_step(started: list[Follower]) -> None:
    class Refused(Unslept):
        def beat(self) -> None:
            raise RuntimeError("heartbeat refused")

    follower = Refused(lambda i: 0, backoff=(0.2, 10.0))
    started.append(follower.start())
    follower.wait_for_steps(3)
    follower.stop()

    assert follower.waits[:2] == [0.2, 0.4]
    assert follower.last_error == "RuntimeError: heartbeat refused"


def test_a_follower_stopped_and_started_again_runs_again(started: list[Follower]) -> None:
    follower = Scripted(lambda i: 0, poll_interval=30.0)
    follower.start().wait_for_steps(1)
    follower.stop()

    started.append(follower.start())

    follower.wait_for_steps(2)
    assert follower.poll_interval == 30.0


def test_the_thread_is_a_named_daemon(started: list[Follower]) -> None:
    follower = Scripted(lambda i: 0)
    started.append(follower.start())
    follower.wait_for_steps(1)

    [thread] = [t for t in threading.enumerate() if t.name == "test-follower"]
    assert thread.daemon


def test_a_base_without_a_step_says_so() -> None:
    with pytest.raises(NotImplementedError):
        Follower(name="x", label="x", log=log, poll_interval=1.0, backoff=(1.0, 1.0)).step()


def test_a_step_that_answers_nothing_counts_as_nothing_done_and_the_loop_goes_on(
    started: list[Follower],
) -> None:
    steps = threading.Event()
    calls: list[int] = []

    class Silent(Follower):
        def step(self) -> int:
            calls.append(1)
            if len(calls) >= 3:
                steps.set()
            return None  # type: ignore[return-value]

    follower = Silent(name="test-silent", log=log, poll_interval=0.01)
    started.append(follower.start())

    assert steps.wait(2.0), "the loop ended after a step that answered None"


def test_while_the_database_is_away_a_follower_tries_again_twice_a_second_saying_it_once(
    started: list[Follower],
) -> None:
    # ADRs 0047, 0051: back within about half a second of the database, whatever its own
    # backoff, and one log line for the outage, not one per try.
    from eventsourcing.persistence import OperationalError

    away = OperationalError("connection refused")
    follower = Unslept(lambda i: away if i <= 5 else RuntimeError("a bug"), backoff=(0.5, 30.0))
    started.append(follower.start())
    follower.wait_for_steps(8)
    follower.stop()

    assert follower.paused[:5] == [0.5, 0.5, 0.5, 0.5, 0.5]
    # Any other error waits the follower's own backoff, doubled for each failed try
    # since the last success, up to its longest, and each is reported.
    assert follower.paused[5:7] == [16.0, 30.0]
    assert follower.waits[0] == 0.5
    assert follower.waits[1:3] == [16.0, 30.0]


def test_after_the_database_is_back_a_slow_paced_follower_looks_again_within_half_a_second(
    started: list[Follower],
) -> None:
    # ADR 0051: the commands clients send again once it is back are seen at once, not
    # a whole round (30 s here) later; afterwards the pace is the follower's own again.
    from eventsourcing.persistence import OperationalError

    away = OperationalError("connection refused")
    follower = Scripted(lambda i: away if i == 1 else 0, poll_interval=30.0)
    started.append(follower.start())
    follower.wait_for_steps(5)
    follower.stop()

    gaps = [b - a for a, b in zip(follower.began[1:], follower.began[2:], strict=False)]
    assert all(0.4 < gap < 1.0 for gap in gaps), gaps


def test_without_an_outage_a_follower_keeps_its_own_pace(started: list[Follower]) -> None:
    follower = Scripted(lambda i: 0, poll_interval=30.0)
    started.append(follower.start())
    follower.wait_for_steps(1)
    time.sleep(0.8)
    follower.stop()

    assert len(follower.began) == 1


def test_a_follower_whose_work_another_copy_leads_idles_until_it_leads_and_is_poked() -> None:
    leading = threading.Event()
    follower = Scripted(lambda n: 0, poll_interval=30.0)
    follower.leading = leading.is_set
    follower.start()
    try:
        time.sleep(0.1)
        assert follower.began == []  # not leading: no step, no heartbeat of its own
        assert follower.beats == 0
        leading.set()
        follower.poke()  # what its Leadership does when it is given the work
        deadline = time.monotonic() + 5
        while not follower.began and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(follower.began) == 1
    finally:
        follower.stop()

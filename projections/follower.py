"""The loop every follower runs: a named daemon thread that steps, waits and backs off.

The views' runner and its LISTEN session, the audit chain, the webhook worker, the
playbooks and the deadline watch each define one :meth:`Follower.step` and say their own
figures; the loop around it is this one (ADR 0039):

- a step that did nothing is followed by the idle wait, ``poll_interval``, cut short by
  :meth:`Follower.poke` (or by :meth:`Follower.stop`);
- a step that did something but less than a full ``batch`` is followed by ``settle``:
  under a stream of commands every one of them pokes, and stepping at each would cost a
  transaction per event, so the next ones gather for a moment (ADRs 0017, 0028); a poke
  does not cut it short, a stop does;
- a full batch is followed by the next step at once;
- a step that raises is tried again after a wait that doubles from ``backoff[0]`` to at
  most ``backoff[1]`` seconds, computed by tenacity; the wait is spent on the stop
  event, so a stop is never delayed by it, and the first step that succeeds starts the
  doubling afresh; while the error is the database away (:func:`projections.outage.is_outage`)
  the wait is at most :data:`OUTAGE_RETRY`, each try being the follower's look at whether
  the database is back, and the outage is logged once every :data:`SAY_EVERY` seconds,
  not at each try (ADRs 0047, 0051);
- for :data:`CATCH_UP` seconds after the database is back, the idle wait is at most
  :data:`OUTAGE_RETRY` too: the clients that were answered 503 send their commands
  again at once, and a follower with a long pace (the playbooks' 5 s rounds, the
  deadline watch's) would otherwise see them only a whole round later (ADR 0051);
- a follower whose ``leading`` says another copy leads its work idles without stepping
  (:mod:`projections.leadership`, ADR 0074).

Nothing here knows what a step reads: it lives beside the views' runner because every
room that follows the log (projections, audit, notifiers, the composition root) may
import the view store's room already, and this module imports nothing of the project
but :mod:`projections.outage`, which tells an outage from other errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Self

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from projections.outage import SAY_EVERY, is_outage

#: How long :meth:`Follower.stop` waits for the thread to end.
JOIN_TIMEOUT = 10.0
#: What a step "answers" when the loop was stopped before it ran.
_STOPPED = -1
#: After an error, the first wait and the longest (seconds), doubling between: the views'
#: runner's and the webhook worker's, and any follower's that names no other.
BACKOFF = (0.2, 10.0)
#: The longest wait after an error that is the database away (seconds): the cost is two
#: cheap failed tries a second (the pools answer at once while they have no connection),
#: the gain a follower back within about half a second of the database (ADR 0051).
OUTAGE_RETRY = 0.5
#: How long after the database is back the idle wait stays at most ``OUTAGE_RETRY``.
CATCH_UP = 5.0


class Follower:
    """A loop in a thread of its own around :meth:`step`, until :meth:`stop`.

    ``name`` names the thread; ``label`` starts each error line in ``log`` (by default
    the name without its ``closedloop-``). The figures are the follower's own, given
    explicitly by each subclass; the backoff is :data:`BACKOFF` unless it names another.
    """

    def __init__(
        self,
        *,
        name: str,
        label: str | None = None,
        log: logging.Logger,
        poll_interval: float,
        settle: float = 0.0,
        batch: int | None = None,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        self.name = name
        self.label = name.removeprefix("closedloop-") if label is None else label
        self.log = log
        #: Seconds between steps that find nothing (a poke ends the wait early).
        self.poll_interval = poll_interval
        #: Seconds to let a stream gather after a step shorter than ``batch``.
        self.settle = settle
        #: What a step does at most; None: any step that did something settles.
        self.batch = batch
        #: The first and the longest wait after an error (seconds).
        self.backoff = backoff
        #: The last step's error (``Type: message``) until a step succeeds again.
        self.last_error: str | None = None
        #: When the last step ended well (``time.monotonic()``), None before the first.
        self.heartbeat: float | None = None
        #: While the database is away: when the outage was last logged, and the tries
        #: since; after it: when it came back (``time.monotonic()``).
        self._outage_said: float | None = None
        self._outage_tries = 0
        self._back_at = -CATCH_UP
        #: Whether this copy leads the follower's work now (None: always, one copy).
        #: A follower whose work another copy leads idles (ADR 0074).
        self.leading: Callable[[], bool] | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what a subclass says -----------------------------------------------------------

    def step(self) -> int:
        """Do one round of work; answers how much it did (0: nothing to do)."""
        raise NotImplementedError

    def beat(self) -> None:
        """Called after a step that found nothing, before the idle wait: a follower that
        tells others it is alive (the views' heartbeat in the store) does it here."""

    def report(self, error: BaseException, wait: float) -> None:
        """Say that a step failed and when the next is tried."""
        self.log.error(
            "%s: %s; trying again in %.1f s", self.label, self.last_error, wait, exc_info=error
        )

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was asked: a long step looks at it to end early."""
        return self._stopping.is_set()

    def start(self) -> Self:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # No parameters: Litestar hands its app to a shutdown hook that takes one.
        self.halt()
        self.join(JOIN_TIMEOUT)

    def halt(self) -> None:
        """Ask the loop to end, without waiting for it (to stop several at once)."""
        self._stopping.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the loop asked to end by :meth:`halt`."""
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def poke(self) -> None:
        """Step now rather than at the end of the idle wait (something was written)."""
        self._wake.set()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if :meth:`stop` is asked meanwhile."""
        self._stopping.wait(seconds)

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        first, longest = self.backoff
        doubling = wait_exponential(multiplier=first, min=first, max=longest)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            pause: float = doubling(state)
            return min(pause, OUTAGE_RETRY) if is_outage(error) else pause

        attempt = Retrying(
            # The wait between tries is spent on the stop event: stop() ends it at once.
            sleep=self.pause,
            wait=wait,
            retry=retry_if_exception_type(Exception),
            before_sleep=self._failed,
        )
        while not self._stopping.is_set():
            done = attempt(self._step_unless_stopped)
            if done is _STOPPED:
                return  # stopped during a backoff: the last error stands
            self.last_error = None
            self.heartbeat = time.monotonic()
            if self._outage_said is not None:
                self._came_back()
            if not done:
                self._wake.wait(self._idle_wait())
                self._wake.clear()
            elif self.settle > 0 and (self.batch is None or done < self.batch):
                self.pause(self.settle)

    def _step_unless_stopped(self) -> int:
        # tenacity tries again after its wait; a stop during that wait ends the loop here.
        # A sentinel, not None: a step that forgot to answer must not end the loop unseen.
        if self._stopping.is_set():
            return _STOPPED
        if self.leading is not None and not self.leading():
            return 0
        done = self.step() or 0
        if not done:
            # Inside the try: a heartbeat the store refuses is an error like any other.
            self.beat()
        return done

    def _idle_wait(self) -> float:
        if time.monotonic() - self._back_at < CATCH_UP:
            return min(self.poll_interval, OUTAGE_RETRY)
        return self.poll_interval

    def _came_back(self) -> None:
        self.log.warning(
            "%s: the database is back after %d tries; going on",
            self.label,
            self._outage_tries,
        )
        self._outage_said = None
        self._outage_tries = 0
        self._back_at = time.monotonic()

    def _failed(self, state: RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert error is not None
        self.last_error = f"{type(error).__name__}: {error}"
        if is_outage(error):
            # Tried twice a second while the database is away: one line every
            # SAY_EVERY seconds says it as well as a hundred.
            self._outage_tries += 1
            now = time.monotonic()
            if self._outage_said is not None and now - self._outage_said < SAY_EVERY:
                return
            self._outage_said = now
        self.report(error, state.upcoming_sleep)

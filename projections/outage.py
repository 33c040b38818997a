"""The database away or too busy: how an error says so, and how a pool comes back (ADR 0047).

Issue 18 measured what the defaults did during a PostgreSQL outage: a request waited up
to a minute and then answered 500, and after the database came back the first command
took 13 s, because psycopg's pool spaces its attempts to reconnect 1, 2, 4, 8… seconds
apart. Here:

- :func:`is_outage` tells an error of the database being unreachable, gone or out of
  connections (a 503 and "try again shortly", a follower's "wait and retry") from a
  mistake in a statement (a bug, a 500);
- :func:`reconnect_promptly` makes a pool try again every :data:`RECONNECT` seconds at
  most, for as long as it takes, and wait at most ``wait`` seconds for a connection;
- :func:`until_reachable` starts a process's part again and again while the database
  is away or full, instead of letting the process exit (and its supervisor restart it in
  a loop, each start taking a connection slot more).

It lives beside the views because every room that talks to PostgreSQL (the views, the
event store's recorder in the composition root, the API, the followers) may import it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg_pool import PoolClosed, PoolTimeout, TooManyRequests
from psycopg_pool.base import AttemptWithBackoff

#: The first pause of a pool before it tries to connect again, and the longest: after
#: the database is back, a pool has a connection within about half a second.
RECONNECT = (0.1, 0.5)
#: How long a pool keeps trying to connect (the library's default gives up after 5 min).
KEEP_TRYING = 7 * 24 * 3600.0

log = logging.getLogger("closedloop.outage")
T = TypeVar("T")

#: The first pause before a start is tried again, and the longest (seconds): a process
#: started while the database is away is ready within about a second of it (ADR 0051).
START_AGAIN = (0.2, 0.5)
#: How often a start still waiting says so in the log (seconds).
SAY_EVERY = 10.0

_OUTAGES = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def _in_chain(error: BaseException | None, kinds: type | tuple[type, ...]) -> bool:
    """Whether ``error``, or one it was raised from, is one of ``kinds``."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kinds):
            return True
        seen.add(id(error))
        error = error.__cause__
    return False


def is_outage(error: BaseException | None) -> bool:
    """Whether ``error``, or one it was raised from, says the database cannot take the
    request now: unreachable, restarting, out of connections, a lock not had in time, a
    statement cancelled by its timeout (psycopg's ``QueryCanceled`` is an
    ``OperationalError``, ADR 0051)."""
    return _in_chain(error, _OUTAGES)


def waited_out(error: BaseException | None) -> bool:
    """Whether ``error`` is a pool that had no connection to give within its wait (or a
    queue of waiters already full, or the pool shut): asking again at once would only
    wait as long again, or fail again."""
    return _in_chain(error, (PoolTimeout, TooManyRequests, PoolClosed))


def timed_out(error: BaseException | None) -> bool:
    """Whether ``error`` is a statement the database cancelled at its statement timeout:
    tried again at once, it would only wait as long again (ADR 0051)."""
    return _in_chain(error, psycopg.errors.QueryCanceled)


def what_is_wrong(error: BaseException) -> str:
    """The outage in a few words for a client or an operator (no addresses, no secrets)."""
    if waited_out(error):
        return "no connection to the database could be had in time (it is away or busy)"
    text = str(error).lower()
    if "too many clients" in text or "remaining connection slots" in text:
        return "the database has no connection slots left"
    if "lock" in text and "timeout" in text:
        return "the event log was locked by other writers for too long"
    if "statement timeout" in text:
        return "the database did not answer in time (it is hung or overloaded)"
    return "the database cannot be reached"


class _Promptly(AttemptWithBackoff):
    """A pool's attempts to reconnect, doubling from ``RECONNECT[0]`` to ``RECONNECT[1]``."""

    INITIAL_DELAY = RECONNECT[0]

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT[1])


_PROMPT: dict[type, type] = {}


def _prompt_class(cls: type) -> type:
    prompt = _PROMPT.get(cls)
    if prompt is None:

        def _add_connection(self: Any, attempt: Any = None, growing: bool = False) -> None:
            if attempt is None:
                attempt = _Promptly(timeout=self.reconnect_timeout)
            cls._add_connection(self, attempt, growing)  # type: ignore[attr-defined]

        prompt = _PROMPT[cls] = type(
            f"Prompt{cls.__name__}", (cls,), {"_add_connection": _add_connection}
        )
    return prompt


def reconnect_promptly(pool: Any, wait: float) -> None:
    """Make ``pool`` (a psycopg pool, the event store library's or our own, not yet
    open) reconnect promptly and keep trying, and wait ``wait`` seconds at most for a
    connection before a :class:`PoolTimeout`.

    The pool's class is given a subclass with its attempts: the event store library
    builds its pool itself, and its spacing of attempts is the pool's class's own."""
    pool.__class__ = _prompt_class(type(pool))
    pool.timeout = wait
    pool.reconnect_timeout = KEEP_TRYING


def until_reachable(
    start: Callable[[], T],
    what: str,
    stopping: Callable[[], bool] = lambda: False,
    waiting: Callable[[BaseException], object] | None = None,
) -> T | None:
    """``start()``, tried again while it fails on an outage, for as long as it takes
    (None if ``stopping()`` turns true meanwhile); any other error is raised at once.
    ``waiting`` is told of each outage that makes the start wait (a server answers
    with it while it starts, ADR 0051)."""
    pause, longest = START_AGAIN
    said = 0.0
    while True:
        try:
            return start()
        except Exception as e:
            if not is_outage(e):
                raise
            if waiting is not None:
                waiting(e)
            if time.monotonic() - said >= SAY_EVERY:
                said = time.monotonic()
                log.warning("%s waits: %s (%s); trying again", what, what_is_wrong(e), e)
        if stopping():
            return None
        time.sleep(pause)
        pause = min(pause * 2, longest)

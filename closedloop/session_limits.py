"""How long a statement of the event store's may run, said by the composition root to
the recorder the event store library builds (ADR 0051).

The library builds the recorder, and opens its pool, inside the command center's
constructor, with no way to pass a session setting; :func:`statements_limited` says the
limit for the recorders built in a block, and
:class:`closedloop.eventstore.CheckingPostgresRecorder` reads it with
:func:`statement_limit` before the pool opens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

#: The statement timeout (seconds; 0: none) for the recorders built meanwhile: see
#: :func:`statements_limited`.
_STATEMENT_LIMIT: ContextVar[float] = ContextVar("closedloop_statement_limit", default=0.0)


@contextlib.contextmanager
def statements_limited(seconds: float) -> Iterator[None]:
    """Recorders built in this block (in this thread) have every session of their pool
    cancel a statement that runs longer than ``seconds`` (a lock waited for included):
    PostgreSQL answers it with an error that :func:`projections.outage.is_outage` counts
    as the database away, a 503 for a request (ADR 0051).

    The setting must be in the pool's connection arguments before the pool opens, as
    the recorder is built: a pool already open cannot be given it safely, a connection
    still opening would join the pool afterwards without it."""
    token = _STATEMENT_LIMIT.set(seconds)
    try:
        yield
    finally:
        _STATEMENT_LIMIT.reset(token)


def statement_limit() -> float:
    """The limit :func:`statements_limited` says here (seconds; 0: none)."""
    return _STATEMENT_LIMIT.get()

"""Tokens never travel in a URL (issue 19, "Abuse"): a request whose query names a
credential (``?token=``, ``?access_token=``, ``?api_key=``…) or carries a value in a
token's form (``cl_…``) is refused with a 400 problem before anyone looks at who sent it,
and no log line shows such a value.

A URL is written to access logs, proxies' logs and browsers' histories; the token would
outlive its request there. The refusal tells the client to use the ``Authorization``
header; the log filter covers what is logged before the refusal is answered (uvicorn's
access line holds the path with its query).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from api.problems import ProblemError
from api.tokens import TOKEN_PREFIX

#: Query names that only ever carry a credential.
SECRET_NAMES = frozenset(
    {"token", "access_token", "api_key", "apikey", "api-key", "auth", "authorization", "bearer"}
)
_TOKEN_FORM = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]{16,}")
_SECRET_IN_QUERY = re.compile(
    r"(?P<name>(?:^|(?<=[?&]))(?:"
    + "|".join(re.escape(n) for n in sorted(SECRET_NAMES))
    + r")=)[^&\s\"]*",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def secret_in_query(query: str) -> str | None:
    """The name of the first query parameter that holds a credential, if any."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() in SECRET_NAMES or _TOKEN_FORM.search(value):
            return name
    return None


def refuse_secrets_in_query(app: ASGIApp) -> ASGIApp:
    """Litestar middleware, before the guard that authenticates: a credential in the
    query is refused (400) whether it is valid or not, so that the client learns early."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            query = scope.get("query_string", b"").decode("latin-1")
            name = secret_in_query(query) if query else None
            if name is not None:
                raise ProblemError(
                    400,
                    f"the query parameter {name!r} carries a credential; send the token in "
                    "the Authorization header (Bearer), never in a URL, and revoke a token "
                    "that was sent in one",
                    code="credential-in-query",
                )
        await app(scope, receive, send)

    return middleware


def redact(text: str) -> str:
    """``text`` with every credential-named query value and every token replaced."""
    text = _SECRET_IN_QUERY.sub(lambda m: m.group("name") + REDACTED, text)
    return _TOKEN_FORM.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """A log filter that keeps credentials out of a record's message and arguments
    (uvicorn's access line: client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True

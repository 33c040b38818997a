"""Settings, read once from the environment (``CLOSEDLOOP_*``).

The one setting that matters most is ``CLOSEDLOOP_DATABASE_URL``: an SQLite file (the
default, under ``./var/``) or a ``postgresql://`` URL. It is translated here into the
event store library's own settings, so nothing else needs to know them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from api.tokens import DEFAULT_CACHE_SECONDS

DEFAULT_DATABASE_URL = "sqlite:///var/closedloop.sqlite3"
DEFAULT_CALENDAR = Path(__file__).parent / "calendars" / "china.toml"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    calendar_path: Path = DEFAULT_CALENDAR
    host: str = "127.0.0.1"
    port: int = 8000
    #: How long a token found valid is trusted from memory (ADR 0017).
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS
    #: The longest a read waits for the views to reach a client's position.
    read_wait_seconds: float = 5.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        port_text = env.get("CLOSEDLOOP_PORT", "8000")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SettingsError(f"CLOSEDLOOP_PORT must be a port number, not {port_text!r}")
        return cls(
            database_url=env.get("CLOSEDLOOP_DATABASE_URL") or DEFAULT_DATABASE_URL,
            calendar_path=Path(env.get("CLOSEDLOOP_CALENDAR") or DEFAULT_CALENDAR),
            host=env.get("CLOSEDLOOP_HOST", "127.0.0.1"),
            port=int(port_text),
            token_cache_seconds=_seconds(
                env, "CLOSEDLOOP_TOKEN_CACHE_SECONDS", cls.token_cache_seconds, 300
            ),
            read_wait_seconds=_seconds(
                env, "CLOSEDLOOP_READ_WAIT_SECONDS", cls.read_wait_seconds, 60
            ),
        )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def store_env(self) -> dict[str, str]:
        """The event store library's settings for ``database_url``."""
        return {**store_env(self.database_url), **self.extra_env}


def _seconds(env: dict[str, str], name: str, default: float, most: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= most:
        raise SettingsError(f"{name} must be a number of seconds from 0 to {most:g}, not {text!r}")
    return seconds


def store_env(url: str) -> dict[str, str]:
    """Translate a database URL into ``eventsourcing`` persistence settings.

    ``sqlite:///relative/path`` and ``sqlite:////absolute/path`` name an SQLite file
    (its folder is created). ``postgresql://user:password@host:port/dbname`` names a
    PostgreSQL database; the query may set ``schema``, ``pool_size``, ``max_overflow``,
    ``connect_timeout`` and ``lock_timeout``.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise SettingsError("CLOSEDLOOP_DATABASE_URL has a port that is not a number") from None
    if parts.scheme == "sqlite":
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise SettingsError("CLOSEDLOOP_DATABASE_URL names no SQLite file")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    if parts.scheme in ("postgresql", "postgres"):
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise SettingsError("CLOSEDLOOP_DATABASE_URL names no PostgreSQL database")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", "5"),
            "POSTGRES_POOL_SIZE": query.get("pool_size", "5"),
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", "10"),
            "POSTGRES_LOCK_TIMEOUT": query.get("lock_timeout", "5"),
            # One round trip per command, checking what it read (ADR 0027).
            "APPLICATION_RECORDER_TOPIC": "closedloop.eventstore:CheckingPostgresRecorder",
        }
        if "schema" in query:
            # The library looks the schema up unquoted, so PostgreSQL folds it to lower
            # case: a name that does not survive that would fail at the first save.
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", query["schema"]):
                raise SettingsError(
                    "the schema in CLOSEDLOOP_DATABASE_URL must be lower-case letters, "
                    "digits and underscores"
                )
            env["POSTGRES_SCHEMA"] = query["schema"]
        return env
    # Only the scheme is echoed: the rest of the URL may hold a password.
    raise SettingsError(
        f"CLOSEDLOOP_DATABASE_URL must start with sqlite:/// or postgresql://, "
        f"not {parts.scheme or '(no scheme)'}://"
    )

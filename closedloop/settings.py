"""Settings, decoded once from the environment (``CLOSEDLOOP_*``) into one structure.

This is the one module that reads the environment (ADR 0036): :meth:`Settings.from_env`
takes the variables, decodes them with msgspec into :class:`Settings` and its parts
(``server``, ``audit``, ``webhooks``, ``intake``), and the composition root hands the
parts down as plain values. A variable that cannot be used stops start-up with a
:class:`SettingsError` that names it.

The one setting that matters most is ``CLOSEDLOOP_DATABASE_URL``: an SQLite file (the
default, under ``./var/``) or a ``postgresql://`` URL. It is parsed here, once, into the
event store library's own settings and psycopg's connection string (:class:`StoreSettings`),
so nothing else needs to know either form.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.rate_limits import DEFAULT_AUTH_FAILURES, DEFAULT_WRITES, parse_rate
from api.screens.sessions import SessionPolicy
from api.tokens import DEFAULT_CACHE_SECONDS
from domain.calendar import CalendarError, WorkingDuration
from domain.follow_up import FollowUpLimits
from domain.instruction import DisputeLimits
from notifiers.config import WebhookConfig

DEFAULT_DATABASE_URL = "sqlite:///var/closedloop.sqlite3"
HERE = Path(__file__).parent
DEFAULT_CALENDAR = HERE / "calendars" / "china.toml"
DEFAULT_CATALOGUE = HERE / "rules" / "catalogue.toml"
DEFAULT_CAP_PROFILE = HERE / "cap_profile.toml"
DEFAULT_PLAYBOOKS = HERE / "playbooks"
DEFAULT_STATIONS = HERE / "stations.toml"
DEFAULT_ESCALATION = HERE / "escalation.toml"
DEFAULT_EVALUATION = HERE / "evaluation.toml"
DEFAULT_AUDIT_KEY = Path("var/audit-signing.key")
DEFAULT_AUDIT_ORIGIN = "closedloop/audit"


T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the API listens and how long it trusts what it remembers."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    #: How long a token found valid is trusted from memory (ADR 0017).
    token_cache_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = DEFAULT_CACHE_SECONDS
    #: The longest a token may live, in days (ADR 0042); 0: as long as its issuer says.
    token_max_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0
    #: The longest a read waits for the views to reach a client's position.
    read_wait_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    #: ``session``: a principal's reads wait for its own last write (ADR 0045);
    #: ``off``: only for the position a client names (``min_position``).
    read_your_writes: Literal["session", "off"] = "session"
    #: ``here``: each server process also follows the log (projections, audit chain,
    #: notifiers, playbooks, watch); ``external``: other processes do (PostgreSQL only).
    projections: Literal["here", "external"] = "here"
    #: Requests one server process answers at once, how many more wait for a turn, and
    #: how long each waits; any other is answered 503 at once (ADR 0047).
    max_in_flight: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 32
    max_queued: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 64
    queue_wait_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    #: Abuse limits (ADR 0043), in the ``limits`` library's notation ("60/minute",
    #: "10/second;100/minute") or "off": failed authentications per client address...
    auth_failure_limit: str = DEFAULT_AUTH_FAILURES
    #: ... and writes per token.
    write_limit: str = DEFAULT_WRITES
    #: A request's headers must be in within this many seconds of the connection waiting
    #: for them (slowloris, issue 19)...
    header_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    #: ... its body within this many once the headers are in (a body is at most 1 MiB)...
    body_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    #: ... and an idle keep-alive connection is closed after this many.
    keep_alive_seconds: Annotated[int, msgspec.Meta(ge=1, le=300)] = 5
    #: Open connections per server process; past it the one that has waited longest for
    #: a request's headers is cut, so that descriptors never run out (ADR 0043).
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 2000
    #: The screens' sessions (ADR 0053): idle and absolute expiry for people, and for
    #: hall screens (the ``screen`` role), which stay signed in for days.
    session_idle_minutes: Annotated[float, msgspec.Meta(gt=0, le=24 * 60)] = 30.0
    #: How long a department summoned by a whistle has to check in at the scene, in
    #: minutes of clock time (ADR 0078); reminded at it, escalated at twice it.
    check_in_limit_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 30
    session_hours: Annotated[float, msgspec.Meta(gt=0, le=24 * 7)] = 12.0
    screen_session_days: Annotated[float, msgspec.Meta(gt=0, le=365)] = 30.0
    #: Wrong passwords per address at the sign-in page, in the limits' notation.
    sign_in_failure_limit: str = "5/minute"
    #: The longest one statement of the server's may run on PostgreSQL, a wait for a lock
    #: included (``statement_timeout``; 0: no limit): a database that accepts connections
    #: but does not answer is an outage, a 503, not a hang (ADR 0051).
    statement_timeout_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 5.0
    #: The longest a request waits for its answer to begin; past it, a 503 with
    #: ``Retry-After`` (0: no limit). It bounds what no statement timeout can: a database
    #: whose server process is stopped, a pool that hands out a dead connection (ADR 0051).
    request_deadline_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    #: A PostgreSQL streaming replica of the primary that the API's and the screens'
    #: view reads go to ("": none, every read on the primary; ADR 0072)...
    read_database_url: str = ""
    #: ... taken out of the read path while it has not replayed what the primary wrote
    #: this many seconds ago, and put back once it has...
    replica_max_lag_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    #: ... and how long a read waits for it to replay the reader's own last write before
    #: reading the primary instead.
    replica_wait_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0

    def __post_init__(self) -> None:
        if self.read_database_url and not self.read_database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError(
                str(_refused("CLOSEDLOOP_READ_DATABASE_URL", "(not a postgresql:// URL)"))
            )
        for key in ("auth_failure_limit", "write_limit", "sign_in_failure_limit"):
            text = getattr(self, key)
            try:
                parse_rate(text)
            except ValueError:
                name = next(n for n, (path, _) in VARIABLES.items() if path == f"server.{key}")
                raise ValueError(str(_refused(name, text))) from None


class AuditEnv(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The audit chain's settings as the environment gives them (ADR 0013); the
    composition root turns them into the chain's own settings."""

    key_path: Path = DEFAULT_AUDIT_KEY
    checkpoint_events: Annotated[int, msgspec.Meta(ge=1)] = 1000
    checkpoint_minutes: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # \A and \Z, not ^ and $: msgspec searches, and $ also matches before a final newline,
    # which would end the first line of every signed note early.
    origin: Annotated[str, msgspec.Meta(pattern=r"\A[^\s+]{1,200}\Z")] = DEFAULT_AUDIT_ORIGIN


class IntakeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the intake's data files are (they ship beside this module)."""

    catalogue: Path = DEFAULT_CATALOGUE
    cap_profile: Path = DEFAULT_CAP_PROFILE
    playbooks: Path = DEFAULT_PLAYBOOKS
    #: The station catalogue, and the readings' retention and furthest future (ADR 0073).
    stations: Path = DEFAULT_STATIONS
    readings_retention_days: Annotated[int, msgspec.Meta(ge=1, le=36_500)] = 30
    readings_future_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 300
    #: The broker ``closedloop intake mqtt`` subscribes to (ADR 0079).
    mqtt_host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)] = "127.0.0.1"
    mqtt_port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 1883


class TelemetrySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Metrics and traces (ADR 0070): what each process counts, where it says it, and
    whether it traces."""

    #: ``on``: requests, commands, batches, deliveries and intake are counted; ``off``:
    #: only the figures read at a scrape (the log's head, the views' lag, the outbox).
    metrics: Literal["on", "off"] = "on"
    #: prometheus_client's multiprocess directory: every process of this machine writes
    #: its series there and any ``/metrics`` answers their sum (``serve`` empties it as
    #: it starts). None: each process keeps its series in memory.
    metrics_dir: Path | None = None
    #: A follower's own ``/metrics`` (``projections run``, ``notifiers run``, ``watch
    #: run``): the port (0: none) and the address it listens on.
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    metrics_host: str = "127.0.0.1"
    #: ``otlp``: spans are sent to ``otlp_endpoint`` (OTLP over HTTP); ``off``: none made.
    tracing: Literal["off", "otlp"] = "off"
    otlp_endpoint: Annotated[str, msgspec.Meta(pattern=r"\Ahttps?://\S{1,2000}\Z")] = (
        "http://127.0.0.1:4318/v1/traces"
    )
    #: ``service.name`` of the spans (each process adds its role: api, projections...).
    service_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "closedloop"


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The event store a database URL names, parsed once: the library's settings
    (``env``) and, on PostgreSQL, psycopg's connection string (``conninfo``)."""

    env: dict[str, str]
    conninfo: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.conninfo is not None


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything Closed Loop is configured with, built once by the composition root.

    The store's URL, its extra settings and the calendar stand at the top: every test
    and tool builds ``Settings(database_url=...)``.
    """

    database_url: str = DEFAULT_DATABASE_URL
    calendar_path: Path = DEFAULT_CALENDAR
    #: The sign-for escalation ladder per priority (ADR 0084).
    escalation_path: Path = DEFAULT_ESCALATION
    #: The comprehensive evaluation's weights, deductions and colour bands (ADR 0086).
    evaluation_path: Path = DEFAULT_EVALUATION
    #: Event store library settings over those of the URL (pool sizes in tests, benches).
    extra_env: dict[str, str] = msgspec.field(default_factory=dict)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    audit: AuditEnv = msgspec.field(default_factory=AuditEnv)
    webhooks: WebhookConfig = msgspec.field(default_factory=WebhookConfig)
    intake: IntakeSettings = msgspec.field(default_factory=IntakeSettings)
    telemetry: TelemetrySettings = msgspec.field(default_factory=TelemetrySettings)
    #: Dispatch disputes (ADR 0076): ISO 8601 durations on the working calendar (clock
    #: time for urgent cases), to file after receiving a case and to arbitrate after filing.
    dispute_limit: str = "PT2H"
    arbitration_limit: str = "PT4H"
    #: Follow-up of a case from the public (ADR 0083): an ISO 8601 duration on the
    #: working calendar (clock time when urgent) after the closure.
    follow_up_limit: str = "P2D"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment (or ``environ``) gives; unset means the default."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name, (path, _) in VARIABLES.items():
            text = env.get(name)
            if text is not None and name not in _EMPTY_IS_A_VALUE:
                # As before ADR 0036: surrounding blanks are not part of a value, and a
                # value of blanks only means the default.
                text = text.strip()
            if text is None or (text == "" and name not in _EMPTY_IS_A_VALUE):
                continue
            if name in _WHOLE_NUMBERS and not text.isdigit():
                raise _refused(name, text)
            section, _, key = path.rpartition(".")
            (raw.setdefault(section, {}) if section else raw)[key] = text
        try:
            webhooks = WebhookConfig.from_env(env)
        except ValueError as e:
            raise SettingsError(str(e)) from None
        for name in (
            "CLOSEDLOOP_DISPUTE_LIMIT",
            "CLOSEDLOOP_ARBITRATION_LIMIT",
            "CLOSEDLOOP_FOLLOW_UP_LIMIT",
        ):
            key = VARIABLES[name][0]
            if key in raw:
                _duration(name, raw[key])
        return cls(
            dispute_limit=raw.get("dispute_limit", "PT2H"),
            arbitration_limit=raw.get("arbitration_limit", "PT4H"),
            follow_up_limit=raw.get("follow_up_limit", "P2D"),
            database_url=raw.get("database_url", DEFAULT_DATABASE_URL),
            calendar_path=Path(raw.get("calendar_path", DEFAULT_CALENDAR)),
            escalation_path=Path(raw.get("escalation_path", DEFAULT_ESCALATION)),
            evaluation_path=Path(raw.get("evaluation_path", DEFAULT_EVALUATION)),
            server=_section(raw, "server", ServerSettings, env),
            audit=_section(raw, "audit", AuditEnv, env),
            webhooks=webhooks,
            intake=_section(raw, "intake", IntakeSettings, env),
            telemetry=_section(raw, "telemetry", TelemetrySettings, env),
        )

    # The server's settings, where the CLI and the tests have always read them.
    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def token_cache_seconds(self) -> float:
        return self.server.token_cache_seconds

    @property
    def token_max_lifetime(self) -> timedelta | None:
        """The longest a token may live, or None when its issuer decides alone."""
        days = self.server.token_max_days
        return timedelta(days=days) if days else None

    @property
    def read_wait_seconds(self) -> float:
        return self.server.read_wait_seconds

    @property
    def session_policy(self) -> SessionPolicy:
        """How long the screens' sessions live (ADR 0053)."""
        server = self.server
        screen = server.screen_session_days * 86400
        return SessionPolicy(
            idle_seconds=server.session_idle_minutes * 60,
            absolute_seconds=server.session_hours * 3600,
            # A hall screen seen by no one for a tenth of its term is signed out.
            screen_idle_seconds=screen / 10,
            screen_absolute_seconds=screen,
        )

    @property
    def read_your_writes(self) -> bool:
        return self.server.read_your_writes == "session"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def dispute_limits(self) -> DisputeLimits:
        """The disputes' two limits (ADR 0076)."""
        return DisputeLimits(
            filing=_duration("CLOSEDLOOP_DISPUTE_LIMIT", self.dispute_limit),
            arbitration=_duration("CLOSEDLOOP_ARBITRATION_LIMIT", self.arbitration_limit),
        )

    def follow_up_limits(self) -> FollowUpLimits:
        """The limit for following up a closed case from the public (ADR 0083)."""
        return FollowUpLimits(window=_duration("CLOSEDLOOP_FOLLOW_UP_LIMIT", self.follow_up_limit))

    def store(self) -> StoreSettings:
        """The store ``database_url`` names, with ``extra_env`` over the URL's settings."""
        parsed = parse_database_url(self.database_url)
        if not self.extra_env:
            return parsed
        env = {**parsed.env, **self.extra_env}
        return StoreSettings(env=env, conninfo=conninfo(env) if parsed.is_postgres else None)

    def store_env(self) -> dict[str, str]:
        """The event store library's settings for ``database_url``."""
        return self.store().env


_RATE = "a rate such as 60/minute or 10/second;100/minute, or off"
#: Each variable: where it goes in :class:`Settings`, and what it must be.
VARIABLES: dict[str, tuple[str, str]] = {
    "CLOSEDLOOP_DATABASE_URL": ("database_url", "a database URL"),
    "CLOSEDLOOP_STATIONS": ("intake.stations", "a file"),
    "CLOSEDLOOP_READINGS_RETENTION_DAYS": (
        "intake.readings_retention_days",
        "a whole number of days from 1 to 36500",
    ),
    "CLOSEDLOOP_READINGS_FUTURE_SECONDS": (
        "intake.readings_future_seconds",
        "a whole number of seconds from 0 to 86400",
    ),
    "CLOSEDLOOP_MQTT_HOST": ("intake.mqtt_host", "a host name or address"),
    "CLOSEDLOOP_MQTT_PORT": ("intake.mqtt_port", "a port number"),
    "CLOSEDLOOP_CALENDAR": ("calendar_path", "a file"),
    "CLOSEDLOOP_ESCALATION_POLICY": ("escalation_path", "a file"),
    "CLOSEDLOOP_EVALUATION_POLICY": ("evaluation_path", "a file"),
    "CLOSEDLOOP_DISPUTE_LIMIT": ("dispute_limit", "an ISO 8601 duration such as PT2H"),
    "CLOSEDLOOP_ARBITRATION_LIMIT": ("arbitration_limit", "an ISO 8601 duration such as PT4H"),
    "CLOSEDLOOP_FOLLOW_UP_LIMIT": ("follow_up_limit", "an ISO 8601 duration such as P2D"),
    "CLOSEDLOOP_HOST": ("server.host", "an address"),
    "CLOSEDLOOP_PORT": ("server.port", "a port number"),
    "CLOSEDLOOP_TOKEN_CACHE_SECONDS": (
        "server.token_cache_seconds",
        "a number of seconds from 0 to 300",
    ),
    "CLOSEDLOOP_TOKEN_MAX_DAYS": ("server.token_max_days", "a whole number of days up to 3650"),
    "CLOSEDLOOP_READ_WAIT_SECONDS": (
        "server.read_wait_seconds",
        "a number of seconds from 0 to 60",
    ),
    "CLOSEDLOOP_READ_YOUR_WRITES": ("server.read_your_writes", "'session' or 'off'"),
    "CLOSEDLOOP_PROJECTIONS": ("server.projections", "'here' or 'external'"),
    "CLOSEDLOOP_MAX_IN_FLIGHT": ("server.max_in_flight", "a whole number from 1 to 10000"),
    "CLOSEDLOOP_MAX_QUEUED": ("server.max_queued", "a whole number from 0 to 100000"),
    "CLOSEDLOOP_QUEUE_WAIT_SECONDS": (
        "server.queue_wait_seconds",
        "a number of seconds from 0 to 60",
    ),
    "CLOSEDLOOP_AUTH_FAILURE_LIMIT": ("server.auth_failure_limit", _RATE),
    "CLOSEDLOOP_WRITE_LIMIT": ("server.write_limit", _RATE),
    "CLOSEDLOOP_HEADER_TIMEOUT_SECONDS": (
        "server.header_timeout_seconds",
        "a number of seconds above 0, at most 300",
    ),
    "CLOSEDLOOP_BODY_TIMEOUT_SECONDS": (
        "server.body_timeout_seconds",
        "a number of seconds above 0, at most 3600",
    ),
    "CLOSEDLOOP_KEEP_ALIVE_SECONDS": (
        "server.keep_alive_seconds",
        "a whole number of seconds from 1 to 300",
    ),
    "CLOSEDLOOP_MAX_CONNECTIONS": ("server.max_connections", "a whole number from 1"),
    "CLOSEDLOOP_SESSION_IDLE_MINUTES": (
        "server.session_idle_minutes",
        "a number of minutes above 0, at most 1440",
    ),
    "CLOSEDLOOP_CHECK_IN_LIMIT_MINUTES": (
        "server.check_in_limit_minutes",
        "a whole number of minutes from 1 to 1440",
    ),
    "CLOSEDLOOP_SESSION_HOURS": ("server.session_hours", "a number of hours above 0, at most 168"),
    "CLOSEDLOOP_SCREEN_SESSION_DAYS": (
        "server.screen_session_days",
        "a number of days above 0, at most 365",
    ),
    "CLOSEDLOOP_SIGN_IN_FAILURE_LIMIT": ("server.sign_in_failure_limit", _RATE),
    "CLOSEDLOOP_STATEMENT_TIMEOUT_SECONDS": (
        "server.statement_timeout_seconds",
        "a number of seconds from 0 (no limit) to 600",
    ),
    "CLOSEDLOOP_REQUEST_DEADLINE_SECONDS": (
        "server.request_deadline_seconds",
        "a number of seconds from 0 (no limit) to 3600",
    ),
    "CLOSEDLOOP_READ_DATABASE_URL": (
        "server.read_database_url",
        "a postgresql:// URL of a streaming replica of the primary",
    ),
    "CLOSEDLOOP_REPLICA_MAX_LAG_SECONDS": (
        "server.replica_max_lag_seconds",
        "a number of seconds above 0, at most 3600",
    ),
    "CLOSEDLOOP_REPLICA_WAIT_SECONDS": (
        "server.replica_wait_seconds",
        "a number of seconds from 0 to 60",
    ),
    "CLOSEDLOOP_AUDIT_KEY": ("audit.key_path", "a file"),
    "CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS": ("audit.checkpoint_events", "a positive integer"),
    "CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES": ("audit.checkpoint_minutes", "a number above zero"),
    "CLOSEDLOOP_AUDIT_ORIGIN": ("audit.origin", "one word without '+'"),
    "CLOSEDLOOP_METRICS": ("telemetry.metrics", "'on' or 'off'"),
    "CLOSEDLOOP_METRICS_DIR": ("telemetry.metrics_dir", "a folder"),
    "CLOSEDLOOP_METRICS_PORT": ("telemetry.metrics_port", "a port number, or 0 for none"),
    "CLOSEDLOOP_METRICS_HOST": ("telemetry.metrics_host", "an address"),
    "CLOSEDLOOP_TRACING": ("telemetry.tracing", "'off' or 'otlp'"),
    "CLOSEDLOOP_OTLP_ENDPOINT": ("telemetry.otlp_endpoint", "an http:// or https:// URL"),
    "CLOSEDLOOP_SERVICE_NAME": ("telemetry.service_name", "a name of 1 to 100 characters"),
}
#: Set but empty is refused for these (an empty port is a mistake, not "the default").
_EMPTY_IS_A_VALUE = frozenset({"CLOSEDLOOP_PORT"})
#: Digits only: msgspec would read "80.0" as 80.
_WHOLE_NUMBERS = frozenset(
    {
        "CLOSEDLOOP_PORT",
        "CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS",
        "CLOSEDLOOP_MAX_IN_FLIGHT",
        "CLOSEDLOOP_MAX_QUEUED",
        "CLOSEDLOOP_TOKEN_MAX_DAYS",
        "CLOSEDLOOP_MAX_CONNECTIONS",
        "CLOSEDLOOP_CHECK_IN_LIMIT_MINUTES",
        "CLOSEDLOOP_KEEP_ALIVE_SECONDS",
        "CLOSEDLOOP_READINGS_RETENTION_DAYS",
        "CLOSEDLOOP_READINGS_FUTURE_SECONDS",
        "CLOSEDLOOP_MQTT_PORT",
        "CLOSEDLOOP_METRICS_PORT",
    }
)


def _section(raw: dict[str, Any], name: str, kind: type[T], env: Mapping[str, str]) -> T:
    """One part of the settings, decoded by msgspec from the variables' text."""
    try:
        return msgspec.convert(raw.get(name, {}), kind, strict=False, dec_hook=_path)
    except msgspec.ValidationError as e:
        raise _named(e, name, env) from None


def _path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(kind)


def _duration(name: str, text: str) -> WorkingDuration:
    try:
        return WorkingDuration.parse(text)
    except CalendarError as e:
        raise SettingsError(f"{name}: {e}") from None


def _refused(name: str, text: str) -> SettingsError:
    return SettingsError(f"{name} must be {VARIABLES[name][1]}, not {text!r}")


def _named(error: msgspec.ValidationError, section: str, env: Mapping[str, str]) -> SettingsError:
    """msgspec's ``... - at `$.port``` as the variable's name and rule."""
    match = re.search(r"at `\$\.([\w.]+)`", str(error))
    path = f"{section}.{match.group(1)}" if match else ""
    for name, (where, _) in VARIABLES.items():
        if where == path:
            return _refused(name, env.get(name, ""))
    # A check of the struct's own names the variable already; msgspec adds where it was.
    return SettingsError(re.sub(r" - at `\$[\w.]*`$", "", str(error)))


def parse_database_url(url: str) -> StoreSettings:
    """Parse a database URL into the event store library's settings, and psycopg's.

    ``sqlite:///relative/path`` and ``sqlite:////absolute/path`` name an SQLite file
    (its folder is created). ``postgresql://user:password@host:port/dbname`` names a
    PostgreSQL database, read by libpq's own parser (``psycopg.conninfo``); the query may
    set ``schema``, ``pool_size``, ``max_overflow``, ``connect_timeout`` and
    ``lock_timeout``.
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
        return StoreSettings(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        )
    if parts.scheme in ("postgresql", "postgres"):
        return _postgres(url.partition("?")[0], parts.query, port)
    # Only the scheme is echoed: the rest of the URL may hold a password.
    raise SettingsError(
        f"CLOSEDLOOP_DATABASE_URL must start with sqlite:/// or postgresql://, "
        f"not {parts.scheme or '(no scheme)'}://"
    )


def _postgres(url: str, query_text: str, port: int | None) -> StoreSettings:
    # The query holds the library's settings, which libpq would refuse as unknown.
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise SettingsError("CLOSEDLOOP_DATABASE_URL is not a PostgreSQL URL libpq reads") from None
    if not info.get("dbname"):
        raise SettingsError("CLOSEDLOOP_DATABASE_URL names no PostgreSQL database")
    query = {k: v[-1] for k, v in parse_qs(query_text).items()}
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info["dbname"]),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
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
    return StoreSettings(env=env, conninfo=conninfo(env))


def conninfo(env: Mapping[str, str]) -> str:
    """psycopg's connection string for the event store library's PostgreSQL settings
    (those of a URL with ``extra_env`` over them)."""
    return make_conninfo(
        dbname=env["POSTGRES_DBNAME"],
        host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"),
        user=env.get("POSTGRES_USER", "postgres"),
        password=env.get("POSTGRES_PASSWORD", ""),
        connect_timeout=env.get("POSTGRES_CONNECT_TIMEOUT", "5"),
    )


def lend_metrics_dir(telemetry: TelemetrySettings) -> None:
    """Name the multiprocess folder to prometheus_client, which finds it only by its
    own variable (``PROMETHEUS_MULTIPROC_DIR``); set here, the one module that touches
    the environment (ADR 0036, 0070), before :func:`telemetry.series.share_in`."""
    if telemetry.metrics_dir is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(telemetry.metrics_dir)


def store_env(url: str) -> dict[str, str]:
    """Translate a database URL into ``eventsourcing`` persistence settings."""
    return parse_database_url(url).env

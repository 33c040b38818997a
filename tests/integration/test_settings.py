"""Settings from the environment, the database URL, and the calendar file at start-up.

A mistake in any of them must stop start-up with a message that names the setting or
the file, so an operator can fix it without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from closedloop.bootstrap import build_command_center, load_calendar
from closedloop.settings import (
    DEFAULT_CALENDAR,
    DEFAULT_DATABASE_URL,
    AuditEnv,
    Settings,
    SettingsError,
    store_env,
)
from domain.calendar import CalendarError
from domain.demo import DEMO_UNITS, load_demo

# -- the database URL -------------------------------------------------------------------


def test_a_relative_sqlite_path_is_taken_from_the_working_directory_and_its_folder_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    env = store_env("sqlite:///data/center/closedloop.sqlite3")

    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "data/center/closedloop.sqlite3",
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    assert (tmp_path / "data" / "center").is_dir()


def test_an_absolute_sqlite_path_takes_four_slashes(tmp_path: Path) -> None:
    target = tmp_path / "stores" / "district.sqlite3"

    env = store_env(f"sqlite:///{target}")

    assert str(target).startswith("/")
    assert env["SQLITE_DBNAME"] == str(target)
    assert target.parent.is_dir()


def test_an_in_memory_sqlite_database_creates_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert store_env("sqlite:///:memory:")["SQLITE_DBNAME"] == ":memory:"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:"])
def test_an_sqlite_url_without_a_file_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_DATABASE_URL names no SQLite file"):
        store_env(url)


def test_a_postgresql_url_carries_user_password_host_port_schema_and_pool_settings() -> None:
    env = store_env(
        "postgresql://closed%20loop:p%40ss%3Aword@db.haicheng.internal:6543/command"
        "?schema=haiwan&pool_size=20&max_overflow=4&connect_timeout=7&lock_timeout=9"
    )

    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "command",
        "POSTGRES_HOST": "db.haicheng.internal",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "closed loop",
        "POSTGRES_PASSWORD": "p@ss:word",
        "POSTGRES_SCHEMA": "haiwan",
        "POSTGRES_POOL_SIZE": "20",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_CONNECT_TIMEOUT": "7",
        "POSTGRES_LOCK_TIMEOUT": "9",
        "APPLICATION_RECORDER_TOPIC": "closedloop.eventstore:CheckingPostgresRecorder",
    }


def test_a_bare_postgresql_url_gets_the_local_server_defaults_and_no_schema() -> None:
    env = store_env("postgres:///closedloop")

    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "closedloop",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "APPLICATION_RECORDER_TOPIC": "closedloop.eventstore:CheckingPostgresRecorder",
    }


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@127.0.0.1:5432/", "postgresql://db.internal", "postgres://"]
)
def test_a_postgresql_url_without_a_database_name_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="names no PostgreSQL database"):
        store_env(url)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@db.internal/closedloop",
        "sqlite3:///var/closedloop.sqlite3",
        "var/closedloop.sqlite3",
        "",
    ],
)
def test_any_other_kind_of_url_is_refused_naming_the_two_that_work(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        store_env(url)

    message = str(refused.value)
    assert "CLOSEDLOOP_DATABASE_URL" in message
    assert "sqlite:///" in message
    assert "postgresql://" in message


def test_a_refused_url_is_not_repeated_with_its_password() -> None:
    with pytest.raises(SettingsError) as refused:
        store_env("mysql://root:hunter2@db.internal/closedloop")

    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("port", ["fivefourthreetwo", "99999"])
def test_a_postgresql_url_with_a_bad_port_is_refused_naming_the_setting(port: str) -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_DATABASE_URL"):
        store_env(f"postgresql://postgres@127.0.0.1:{port}/closedloop")


def test_settings_pass_extra_store_settings_over_those_of_the_url() -> None:
    settings = Settings(
        database_url="postgresql://127.0.0.1/closedloop",
        extra_env={"POSTGRES_POOL_SIZE": "50"},
    )

    assert settings.is_postgres
    assert settings.store_env()["POSTGRES_POOL_SIZE"] == "50"
    assert not Settings(database_url="sqlite:///:memory:").is_postgres


# -- the environment --------------------------------------------------------------------


def test_without_any_setting_the_center_uses_an_sqlite_file_under_var_on_port_8000() -> None:
    settings = Settings.from_env({})

    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///var/closedloop.sqlite3"
    assert settings.calendar_path == DEFAULT_CALENDAR
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_settings_are_read_from_the_closedloop_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", "postgresql://db.internal/closedloop")
    monkeypatch.setenv("CLOSEDLOOP_CALENDAR", str(tmp_path / "calendar.toml"))
    monkeypatch.setenv("CLOSEDLOOP_HOST", "10.8.0.5")
    monkeypatch.setenv("CLOSEDLOOP_PORT", "8080")

    settings = Settings.from_env()

    assert settings.database_url == "postgresql://db.internal/closedloop"
    assert settings.calendar_path == tmp_path / "calendar.toml"
    assert (settings.host, settings.port) == ("10.8.0.5", 8080)


def test_an_empty_database_url_falls_back_to_the_default() -> None:
    assert Settings.from_env({"CLOSEDLOOP_DATABASE_URL": ""}).database_url == DEFAULT_DATABASE_URL


@pytest.mark.parametrize("port", ["eighty", "", "-1", "80.0", "8000 "])
def test_a_port_that_is_not_a_number_is_refused_naming_the_variable(port: str) -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_PORT must be a port number"):
        Settings.from_env({"CLOSEDLOOP_PORT": port})


def test_a_port_beyond_65535_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_PORT"):
        Settings.from_env({"CLOSEDLOOP_PORT": "70000"})


def test_the_default_settings_open_a_working_store_under_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    center = build_command_center(Settings.from_env({}))
    try:
        assert load_demo(center) == len(DEMO_UNITS)
    finally:
        center.close()

    assert (tmp_path / "var" / "closedloop.sqlite3").is_file()


# -- the calendar file ------------------------------------------------------------------


def test_a_missing_calendar_file_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "calendars" / "haicheng.toml"

    with pytest.raises(CalendarError, match="does not exist") as refused:
        load_calendar(missing)

    assert str(missing) in str(refused.value)


def test_a_calendar_file_that_is_not_toml_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "china.toml"
    broken.write_text('zone = "Asia/Shanghai"\nperiods = ["08:30-12:00",\n', encoding="utf-8")

    with pytest.raises(CalendarError, match="is not valid TOML") as refused:
        load_calendar(broken)

    assert str(broken) in str(refused.value)


def test_a_missing_calendar_stops_the_composition_root_too(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite:///:memory:", calendar_path=tmp_path / "none.toml")

    with pytest.raises(CalendarError, match=r"none\.toml"):
        build_command_center(settings)


def test_a_calendar_file_with_a_wrong_zone_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    wrong = tmp_path / "china.toml"
    wrong.write_text('zone = "Asia/Haicheng"\n', encoding="utf-8")

    with pytest.raises(CalendarError) as refused:
        load_calendar(wrong)

    assert str(wrong) in str(refused.value)


def test_the_token_trust_period_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).token_cache_seconds == 5.0
    assert Settings.from_env({"CLOSEDLOOP_TOKEN_CACHE_SECONDS": "0"}).token_cache_seconds == 0


@pytest.mark.parametrize("text", ["soon", "-1", "301", "nan"])
def test_a_token_trust_period_that_is_not_0_to_300_seconds_is_refused_by_name(text: str) -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_TOKEN_CACHE_SECONDS"):
        Settings.from_env({"CLOSEDLOOP_TOKEN_CACHE_SECONDS": text})


def test_the_read_wait_is_read_from_the_environment_and_bounded() -> None:
    assert Settings.from_env({"CLOSEDLOOP_READ_WAIT_SECONDS": "2.5"}).read_wait_seconds == 2.5
    with pytest.raises(SettingsError, match="CLOSEDLOOP_READ_WAIT_SECONDS"):
        Settings.from_env({"CLOSEDLOOP_READ_WAIT_SECONDS": "a while"})


# -- one structure, decoded once (ADR 0036) ---------------------------------------------


def test_the_parts_of_the_settings_are_decoded_from_their_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CLOSEDLOOP_PROJECTIONS": "external",
            "CLOSEDLOOP_AUDIT_KEY": str(tmp_path / "audit.key"),
            "CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS": "50",
            "CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES": "2.5",
            "CLOSEDLOOP_WEBHOOK_KEY": str(tmp_path / "webhook.key"),
            "CLOSEDLOOP_WEBHOOK_TIMEOUT": "2s",
        }
    )

    assert settings.server.projections == "external"
    assert settings.audit.key_path == tmp_path / "audit.key"
    assert (settings.audit.checkpoint_events, settings.audit.checkpoint_minutes) == (50, 2.5)
    assert settings.webhooks.key_path == tmp_path / "webhook.key"
    assert settings.webhooks.timeout == 2.0
    assert Settings.from_env({}).server.projections == "here"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("CLOSEDLOOP_PROJECTIONS", "elsewhere"),
        ("CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS", "0"),
        ("CLOSEDLOOP_AUDIT_CHECKPOINT_EVENTS", "ten"),
        ("CLOSEDLOOP_AUDIT_CHECKPOINT_MINUTES", "-1"),
        ("CLOSEDLOOP_AUDIT_ORIGIN", "two words"),
        ("CLOSEDLOOP_WEBHOOK_TIMEOUT", "soon"),
        ("CLOSEDLOOP_WEBHOOK_CONCURRENCY", "many"),
    ],
)
def test_a_bad_value_of_any_part_is_refused_naming_its_variable(name: str, text: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: text})


def test_a_postgresql_url_is_parsed_once_into_the_stores_settings_and_psycopgs() -> None:
    store = Settings(
        database_url="postgresql://closed%20loop:p%40ss@127.0.0.1:6543/command?schema=haiwan",
        extra_env={"POSTGRES_CONNECT_TIMEOUT": "9"},
    ).store()

    assert store.is_postgres
    assert store.env["POSTGRES_CONNECT_TIMEOUT"] == "9"
    assert store.conninfo == (
        "dbname=command host=127.0.0.1 port=6543 user='closed loop' password=p@ss connect_timeout=9"
    )
    assert Settings(database_url="sqlite:///:memory:").store().conninfo is None


def test_blanks_around_a_value_are_not_part_of_it_and_blanks_alone_mean_the_default() -> None:
    settings = Settings.from_env(
        {"CLOSEDLOOP_READ_WAIT_SECONDS": " 7 ", "CLOSEDLOOP_TOKEN_CACHE_SECONDS": "  "}
    )

    assert settings.read_wait_seconds == 7.0
    assert settings.token_cache_seconds == Settings().token_cache_seconds


def test_an_audit_origin_that_ends_its_line_early_is_refused() -> None:
    # The origin is the first line of every signed checkpoint note: a newline in it would
    # make the notes unreadable.
    with pytest.raises(msgspec.ValidationError, match="origin"):
        msgspec.convert({"origin": "closedloop/audit\n"}, AuditEnv)


def test_the_requests_answered_at_once_and_waiting_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "CLOSEDLOOP_MAX_IN_FLIGHT": "8",
            "CLOSEDLOOP_MAX_QUEUED": "0",
            "CLOSEDLOOP_QUEUE_WAIT_SECONDS": "1.5",
        }
    )

    server = settings.server
    assert (server.max_in_flight, server.max_queued, server.queue_wait_seconds) == (8, 0, 1.5)
    assert Settings().server.max_in_flight == 32


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLOSEDLOOP_MAX_IN_FLIGHT", "0"),
        ("CLOSEDLOOP_MAX_IN_FLIGHT", "8.5"),
        ("CLOSEDLOOP_MAX_QUEUED", "-1"),
        ("CLOSEDLOOP_QUEUE_WAIT_SECONDS", "61"),
        ("CLOSEDLOOP_QUEUE_WAIT_SECONDS", "soon"),
    ],
)
def test_a_bound_on_requests_that_cannot_be_used_is_refused_naming_it(
    name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})

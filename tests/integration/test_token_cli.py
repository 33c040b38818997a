"""``closedloop token create`` and ``closedloop demo tokens`` with expiries (ADR 0042)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.tokens import TokenBook, secret_hash
from closedloop import cli
from closedloop.settings import AuditEnv, ServerSettings, Settings, SettingsError
from domain.application import CommandCenter
from domain.meta import now


def run(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = cli.parser().parse_args(list(argv))
    status: int = args.func(args, settings)
    out, err = capsys.readouterr()
    return status, out, err


def listed(center: CommandCenter) -> list[dict[str, Any]]:
    return TokenBook(center).list()


def test_the_demo_tokens_expire_in_thirty_days_and_say_so(
    demo: CommandCenter, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = now()
    status, out, _ = run(Settings(database_url=database_url), capsys, "demo", "tokens")
    assert status == 0
    assert "expire in 30 days" in out
    assert "+08:00" in out
    demo_tokens = [e for e in listed(demo) if e["label"] == cli.DEMO_LABEL]
    assert len(demo_tokens) == len(cli.DEMO_TOKENS)
    for entry in demo_tokens:
        expires = datetime.fromisoformat(entry["expires_at"])
        assert before + timedelta(days=30) <= expires <= now() + timedelta(days=30)


def test_a_longest_lifetime_shorter_than_thirty_days_shortens_the_demo_tokens(
    demo: CommandCenter, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url, server=ServerSettings(token_max_days=7))
    status, out, _ = run(settings, capsys, "demo", "tokens")
    assert status == 0
    assert "expire in 7 days" in out


def test_a_token_created_on_the_command_line_may_be_given_an_expiry(
    demo: CommandCenter, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=database_url)
    base = ["token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "li.ming"]
    status, out, err = run(settings, capsys, *base, "--expires-in-days", "14")
    assert status == 0
    assert out.startswith("cl_")
    assert "expires at" in err
    assert "+08:00" in err
    at = "2099-01-31T18:00:00+08:00"
    status, _, err = run(settings, capsys, *base, "--expires-at", at)
    assert status == 0
    expiries = {datetime.fromisoformat(e["expires_at"]) for e in listed(demo) if e["expires_at"]}
    assert datetime.fromisoformat(at) in expiries
    status, _, err = run(settings, capsys, *base)
    assert status == 0
    assert "never expires" in err


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (["--expires-at", "next week"], "--expires-at must be a time"),
        (["--expires-at", "2020-01-01T00:00:00+08:00"], "future"),
        (["--expires-at", "2099-01-01T00:00:00"], "offset"),
        (["--expires-in-days", "0"], "at least 1"),
    ],
)
def test_an_expiry_that_cannot_be_one_is_refused_on_the_command_line(
    demo: CommandCenter,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    why: str,
) -> None:
    monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", database_url)
    head = demo.head_position()
    argv = ["token", "create", "--unit", "HW", "--role", "dispatcher", "--user", "li.ming"]
    assert cli.main([*argv, *flags]) == 1
    assert why in capsys.readouterr().err
    assert demo.head_position() == head


def test_the_command_lines_export_keeps_token_hashes_home(
    demo: CommandCenter,
    database_url: str,
    capsysbinary: pytest.CaptureFixture[bytes],
    tmp_path: Path,
) -> None:
    token = TokenBook(demo).issue(user="li.ming", unit="HW", roles=["dispatcher"])
    settings = Settings(database_url=database_url, audit=AuditEnv(key_path=tmp_path / "audit.key"))
    for command in (["audit", "chain"], ["audit", "export"]):
        capsysbinary.readouterr()
        args = cli.parser().parse_args(command)
        assert args.func(args, settings) == 0
    out = capsysbinary.readouterr().out
    assert secret_hash(token.secret).encode() not in out
    issued = [line for line in map(json.loads, out.splitlines()) if line["type"].endswith("Issued")]
    assert any(line.get("redacted") == ["token_hash"] for line in issued)


def test_the_longest_lifetime_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).token_max_lifetime is None
    assert Settings.from_env({"CLOSEDLOOP_TOKEN_MAX_DAYS": "0"}).token_max_lifetime is None
    thirty = Settings.from_env({"CLOSEDLOOP_TOKEN_MAX_DAYS": " 30 "}).token_max_lifetime
    assert thirty == timedelta(days=30)


@pytest.mark.parametrize("value", ["thirty", "-1", "1.5", "3651", "99999999999999999999"])
def test_a_longest_lifetime_that_cannot_be_one_stops_start_up_naming_it(value: str) -> None:
    with pytest.raises(SettingsError, match="CLOSEDLOOP_TOKEN_MAX_DAYS"):
        Settings.from_env({"CLOSEDLOOP_TOKEN_MAX_DAYS": value})

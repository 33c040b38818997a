"""``closedloop audit chain | verify | export`` on a store, untouched and tampered."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from closedloop.audit_cli import add_audit_commands
from closedloop.settings import Settings
from domain.application import CommandCenter
from tests.integration.audit.conftest import Tamper


def cli(database_url: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="closedloop")
    add_audit_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", *argv])
    status: int = args.func(args, Settings(database_url=database_url))
    return status


@pytest.fixture(autouse=True)
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.key"
    monkeypatch.setenv("CLOSEDLOOP_AUDIT_KEY", str(path))
    return path


def test_verify_exits_zero_on_an_untouched_store_and_names_the_position_when_tampered(
    center: CommandCenter,
    database_url: str,
    recorded: dict[str, Any],
    tamper: Tamper,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(database_url, "chain") == 0
    assert cli(database_url, "verify") == 0
    assert "verified:" in capsys.readouterr().out
    tamper.delete(17)
    assert cli(database_url, "verify") == 1
    assert "position 17:" in capsys.readouterr().err


def test_verify_with_another_key_refuses_every_checkpoint(
    center: CommandCenter,
    database_url: str,
    recorded: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import audit

    assert cli(database_url, "chain") == 0
    other = audit.Signer.from_file(tmp_path / "other.key").public.verifier
    assert cli(database_url, "verify", "--public-key", other) == 1
    assert "not signed by the audit key" in capsys.readouterr().err


def test_export_writes_a_slice_as_ndjson(
    center: CommandCenter, database_url: str, recorded: dict[str, Any], tmp_path: Path
) -> None:
    assert cli(database_url, "chain") == 0
    out = tmp_path / "slice.ndjson"
    assert cli(database_url, "export", "--from", "5", "--to", "9", "--output", str(out)) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["position"] for x in lines] == [5, 6, 7, 8, 9]
    assert all(x["chain"]["hash"] for x in lines)

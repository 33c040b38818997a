"""The real server process, driven over HTTP through one whole closed loop."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import BIN, cli, free_port, wait_until_healthy

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.sqlite3",
        "CLOSEDLOOP_PORT": str(port),
    }
    cli(env, "demo", "load")
    tokens = {
        name: cli(env, "token", "create", "--unit", unit, "--user", name, *roles)
        for name, unit, roles in [
            ("monitor", "HW", ("--role", "monitor")),
            ("duty", "HW", ("--role", "duty_officer")),
            ("district", "HW", ("--role", "dispatcher")),
            ("office", "HW-DH", ("--role", "handler", "--role", "dispatcher")),
            ("community", "HW-DH-QS", ("--role", "handler")),
        ]
    }
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc, 30)
        yield base, tokens
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_a_warning_is_closed_through_a_forwarded_instruction_reworked_once(
    server: tuple[str, dict[str, str]],
) -> None:
    base, tokens = server
    http = httpx.Client(base_url=base, timeout=10)

    def act(who: str, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        r = http.post(path, json=body or {}, headers={"Authorization": f"Bearer {tokens[who]}"})
        assert r.status_code == status, r.text
        return r.json()

    w = act(
        "monitor",
        "/v1/warnings",
        {
            "rule": "reservoir.flood_limit",
            "theme": "reservoir",
            "level": 2,
            "title": "Qingshan reservoir above its flood-control limit",
            "unit": "HW-DH-QS",
        },
        status=201,
    )
    wurl = f"/v1/warnings/{w['id']}"
    act("duty", f"{wurl}/acknowledge")
    assert act("duty", f"{wurl}/assess", {"confirmed": True})["status"] == "confirmed"

    parent = act(
        "district",
        "/v1/instructions",
        {
            "lead_unit": "HW-DH",
            "title": "Lower the reservoir",
            "due_in": "P2D",
            "warning_ids": [w["id"]],
        },
        status=201,
    )
    purl = f"/v1/instructions/{parent['id']}"
    act("office", f"{purl}/sign")
    child = act("office", f"{purl}/forward", {"to_unit": "HW-DH-QS", "due_in": "P1D"}, status=201)
    curl = f"/v1/instructions/{child['id']}"
    act("community", f"{curl}/sign")
    act("community", f"{curl}/progress", {"note": "gates opened"})
    act("community", f"{curl}/submit", {"result": "level back under the limit"})
    assert (
        act("office", f"{curl}/verify", {"accepted": False, "note": "no readings"})["status"]
        == "rework"
    )
    act("community", f"{curl}/submit", {"result": "level back under the limit; readings attached"})
    assert act("office", f"{curl}/verify", {"accepted": True})["status"] == "closed"
    act("office", f"{purl}/submit", {"result": "done"})
    assert act("district", f"{purl}/verify", {"accepted": True})["status"] == "closed"
    act("duty", f"{wurl}/resolve")
    closed = act("duty", f"{wurl}/close")
    assert closed["status"] == "closed"

    # The views follow the log: a read asks for the position its own write answered.
    seen = http.get(
        wurl,
        headers={
            "Authorization": f"Bearer {tokens['duty']}",
            "X-Min-Position": str(closed["position"]),
        },
    ).json()
    assert seen["status"] == "closed"
    assert seen["open_instructions"] == []

"""The real server process, driven over HTTP through one whole closed loop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

BIN = Path(sys.executable).parent / "closedloop"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.sqlite3",
        "CLOSEDLOOP_PORT": str(port),
    }
    _cli(env, "demo", "load")
    tokens = {
        name: _cli(env, "token", "create", "--unit", unit, "--user", name, *roles)
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
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
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

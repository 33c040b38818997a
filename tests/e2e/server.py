"""Starting the real ``closedloop`` command for the end-to-end tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent / "closedloop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli(env: dict[str, str], *args: str) -> str:
    """Run ``closedloop ARGS``; its output, stripped."""
    done = subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    """Until ``GET /health`` answers 200; fails if the server stops or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped while starting (status {process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer within {seconds:g} s")
        time.sleep(0.2)

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


# -- which process holds which connection (Linux /proc), for serve --workers N --------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process under it."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # gone meanwhile
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().name
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    except OSError:
        pass
    return inodes


def _tcp_table() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every IPv4 and IPv6 TCP socket."""
    rows = []
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote, state, inode = f[1], f[2], f[3], f[9]
            rows.append(
                (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state, inode)
            )
    return rows


def listeners_by_process(root: int, port: int) -> dict[int, int]:
    """For each process under ``root`` (included): how many sockets it listens on ``port``."""
    listening = {inode for lp, _, state, inode in _tcp_table() if lp == port and state == "0A"}
    counts = {}
    for pid in process_tree(root):
        n = len(_socket_inodes(pid) & listening)
        if n:
            counts[pid] = n
    return counts


def connection_owners(root: int, port: int) -> dict[int, int]:
    """For each client connection to ``port`` (by the client's port): the process under
    ``root`` that holds the server's end of it."""
    by_inode = {
        inode: remote for lp, remote, state, inode in _tcp_table() if lp == port and state == "01"
    }
    owners = {}
    for pid in process_tree(root):
        for inode in _socket_inodes(pid) & by_inode.keys():
            owners[by_inode[inode]] = pid
    return owners

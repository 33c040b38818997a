"""A throwaway PostgreSQL cluster of a test's own, to stop, restart and fill up.

The machines' shared server (5432) is never touched: the fault tests initdb a cluster in
a temporary folder and run its postmaster on a loopback port of their own. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PORT = 15433


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return path


class Cluster:
    """One postmaster in ``folder`` on ``127.0.0.1:port``, trust authentication."""

    def __init__(self, folder: Path, port: int = PORT, max_connections: int = 60) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.max_connections = max_connections
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *args], check=True, capture_output=True, timeout=timeout, cwd=self.folder
        )

    def create(self) -> None:
        self._run(
            _bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.folder}'\n"
                f"max_connections = {self.max_connections}\n"
                # Two cores shared by many: the test's cluster stays small and quick.
                "shared_buffers = 32MB\nfsync = off\nsynchronous_commit = off\n"
                "full_page_writes = off\n"
            )

    def start(self) -> None:
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session at once; ``immediate`` is a crash of the server."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            "fast",
            "-l",
            str(self.folder / "log"),
            "-w",
            "restart",
        )

    def processes(self) -> list[int]:
        """The postmaster's pid and those of its children (backends, writer, WAL...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                # The command may hold spaces and parentheses: the ppid follows the last ")".
                if int(stat.read_text().rpartition(")")[2].split()[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def own_cluster(max_connections: int = 60, port: int = PORT) -> Iterator[Cluster]:
    """A fresh cluster, started, and removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="closedloop-faults-"))
    cluster = Cluster(folder, port=port, max_connections=max_connections)
    try:
        cluster.create()
        cluster.start()
        cluster.ready()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)

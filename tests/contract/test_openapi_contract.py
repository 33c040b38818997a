"""The served OpenAPI document is exact: schemathesis, with every check and every phase
(examples, coverage, fuzzing, stateful over the links it infers), against a real
``closedloop serve`` on 127.0.0.1, once with an admin's token and once with a handler's,
finds no failure (ADR 0046).

The run is bounded (``EXAMPLES`` cases per operation and phase) and seeded, so that CI
repeats it; a failure prints schemathesis' own report, with a ``curl`` line to repeat
each failing request.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import BIN, cli, wait_until_healthy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
#: Generated cases per operation in each phase, and the seed every run starts from.
EXAMPLES = 10
SEED = 18046
#: The loopback ports this test may listen on.
PORTS = range(18500, 18600)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo district on a store of its own, served, and the two tokens."""
    store = tmp_path_factory.mktemp("contract")
    port = _free_port()
    env = {
        **os.environ,
        "CLOSEDLOOP_DATABASE_URL": f"sqlite:///{store}/contract.sqlite3",
        "CLOSEDLOOP_PORT": str(port),
    }
    cli(env, "demo", "load")
    issued = {
        "admin": cli(
            env, "token", "create", "--unit", "HC", "--user", "fuzz-admin", "--role", "admin"
        ).splitlines(),
        "handler": cli(
            env,
            "token",
            "create",
            "--unit",
            "HW-DH",
            "--user",
            "fuzz-handler",
            "--role",
            "handler",
            "--role",
            "dispatcher",
        ).splitlines(),
    }
    # The secret is printed; the token's id is the first column of its row in the list.
    listed = [row.split() for row in cli(env, "token", "list").splitlines()]
    ids = {row[4]: row[0] for row in listed if len(row) > 4}
    tokens = {who: f"{lines[0]} {ids[f'fuzz-{who}']}" for who, lines in issued.items()}
    proc = subprocess.Popen(
        [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
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


@pytest.mark.parametrize("who", ["admin", "handler"])
def test_schemathesis_finds_no_failure_in_any_phase(
    served: tuple[str, dict[str, str]], who: str, tmp_path: Path
) -> None:
    base, tokens = served
    secret, token_id = tokens[who].split()
    env = {
        "CONTRACT_OWN_TOKEN": token_id,
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base}/schema/openapi.json",
            "--checks",
            "all",
            # Refined, not dropped: tests/contract/hooks.py.
            "--exclude-checks",
            "positive_data_acceptance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-deterministic",
            "--workers",
            "1",
            "--no-color",
            "--suppress-health-check",
            "all",
            "--output-truncate",
            "false",
            "-H",
            f"Authorization: Bearer {secret}",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]

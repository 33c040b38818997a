"""``closedloop backup`` while eight clients step loops over HTTP, on SQLite and on
PostgreSQL, then ``closedloop restore`` into a fresh store: the audit chain and the views
of the restored store verify, it holds everything recorded before the backup began, and
it takes new commands after the restored log. The test prints the write rate before,
during and after the backup."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from domain.demo import load_demo
from tests.conftest import POSTGRES_URL, make_center, opened_center, require_postgres
from tests.e2e.fleet import Fleet, deployment_env, fleet_port
from tests.e2e.load_kill import Load, issue_tokens, summary
from tests.integration.projections.workload import warning

pytestmark = pytest.mark.slow

CLIENTS = 8


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty store to restore into: another SQLite file, or a new PostgreSQL database
    whose schema is named as the backed-up one's (pg_dump keeps the schema's name)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/restored/closedloop.sqlite3"
        return
    require_postgres()
    name = f"faults_kill_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    server = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{server}/{name}?{database_url.partition('?')[2]}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_taken_under_load_restores_into_a_fresh_store_that_verifies(
    database_url: str, fresh_url: str, tmp_path: Path
) -> None:
    center = make_center(database_url)
    try:
        load_demo(center)
        tokens = issue_tokens(center)
    finally:
        center.close()
    env = deployment_env(database_url, fleet_port(), tmp_path)
    # One server that also follows the log (on SQLite it always does).
    fleet = Fleet(env, tmp_path, api_follows=True)
    load = Load(fleet.base, tokens, CLIENTS)
    target = tmp_path / "backups" / "closedloop.backup"
    try:
        fleet.start("api")
        load.start()
        time.sleep(3.0)
        before_start = time.monotonic()
        with opened_center(database_url) as live:
            head_at_backup = live.head_position()
        made = fleet.cli("backup", str(target))
        backup_end = time.monotonic()
        time.sleep(3.0)
        tally = load.stop()
    finally:
        load.stop()
        fleet.stop_all()
    assert made.returncode == 0, made.stderr
    took = backup_end - before_start
    rates = (
        tally.rate(before_start - 3.0, before_start),
        tally.rate(before_start, backup_end),
        tally.rate(backup_end, backup_end + 3.0),
    )

    restored_env = {**env, "CLOSEDLOOP_DATABASE_URL": fresh_url}
    restored = Fleet(restored_env, tmp_path)
    put = restored.cli("restore", str(target))
    chain = restored.cli("audit", "verify")
    views = restored.cli("projections", "verify")
    again = restored.cli("restore", str(target))
    with opened_center(fresh_url) as store:
        head = store.head_position()
        after = warning(store, 990_001)
        written = store.head_position()

    print(f"\n{summary(tally)}")
    print(
        f"backup of {database_url.split(':')[0]} under load in {took:.1f} s "
        f"({made.stdout.strip()}); commands/s before {rates[0]:.0f}, during {rates[1]:.0f}, "
        f"after {rates[2]:.0f}; restored head {head} (head when the backup began "
        f"{head_at_backup})"
    )
    assert put.returncode == 0, put.stderr
    assert chain.returncode == 0, chain.stderr + chain.stdout
    assert views.returncode == 0, views.stderr + views.stdout
    assert "moved on" not in views.stderr
    assert head >= head_at_backup
    assert after is not None
    assert written > head
    # A restore never goes over a store that holds something.
    assert again.returncode == 1
    assert "fresh" in again.stderr
    assert tally.refused == []

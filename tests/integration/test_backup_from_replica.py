"""``closedloop backup --from-replica`` (ADR 0075) on the real standby that ``.ci/replica``
makes on 127.0.0.1:5433: the dump is read from the standby once it has replayed what the
primary had written when the backup began, so it holds every event acknowledged before;
a standby that cannot catch up in time refuses the backup and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from closedloop.backup import BackupError, backup_from_replica, restore
from domain.application import CommandCenter
from domain.demo import load_demo
from tests.conftest import POSTGRES_URL, opened_center


def _schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A database of its own on the primary, dropped afterwards: a restore keeps its
    schema's name, so it goes beside the source in another database."""
    name = f"t_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_a_backup_from_the_replica_holds_every_event_written_before_it_began(
    pg_center: CommandCenter,
    postgres_url: str,
    replica_url: str,
    fresh_database: str,
    tmp_path: Path,
) -> None:
    load_demo(pg_center)
    head = pg_center.head_position()
    schema = _schema_of(postgres_url)
    made = tmp_path / "from-replica.backup"

    written = backup_from_replica(postgres_url, f"{replica_url}?schema={schema}", made)

    assert written == [made]
    assert made.stat().st_size > 0
    restored_url = f"{fresh_database}?schema={schema}"
    restore(made, restored_url)
    with opened_center(restored_url) as restored:
        assert restored.head_position() == head


@pytest.mark.postgres
def test_a_standby_that_does_not_catch_up_in_time_refuses_the_backup(
    pg_center: CommandCenter, postgres_url: str, replica_url: str, tmp_path: Path
) -> None:
    load_demo(pg_center)
    made = tmp_path / "late.backup"
    with psycopg.connect(replica_url, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            # The primary's WAL moves on while the standby replays nothing.
            with psycopg.connect(POSTGRES_URL, autocommit=True) as primary:
                primary.execute("SELECT pg_switch_wal()")
            with pytest.raises(BackupError, match="has not replayed"):
                backup_from_replica(
                    postgres_url,
                    f"{replica_url}?schema={_schema_of(postgres_url)}",
                    made,
                    wait=1.0,
                )
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    assert not made.exists()


@pytest.mark.postgres
def test_the_replica_must_name_the_stores_schema(
    postgres_url: str, replica_url: str, tmp_path: Path
) -> None:
    with pytest.raises(BackupError, match="same one"):
        backup_from_replica(postgres_url, f"{replica_url}?schema=another", tmp_path / "x")
    with pytest.raises(BackupError, match="PostgreSQL for both"):
        backup_from_replica(f"sqlite:///{tmp_path}/s.sqlite3", replica_url, tmp_path / "y")


def test_backup_from_replica_without_a_replica_set_says_which_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from closedloop import cli

    monkeypatch.setenv("CLOSEDLOOP_DATABASE_URL", f"sqlite:///{tmp_path}/s.sqlite3")
    monkeypatch.delenv("CLOSEDLOOP_READ_DATABASE_URL", raising=False)

    assert cli.main(["backup", "--from-replica", str(tmp_path / "b.backup")]) == 2
    assert "CLOSEDLOOP_READ_DATABASE_URL" in capsys.readouterr().err
    assert not (tmp_path / "b.backup").exists()

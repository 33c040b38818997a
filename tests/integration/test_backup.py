"""``closedloop backup`` and ``restore`` on SQLite and PostgreSQL: a backup never
overwrites a file, a restore never goes over a store that holds something nor into a
schema of another name, and a password reaches pg_dump only through its passfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from closedloop.backup import BackupError, Postgres, backup, restore
from domain.application import CommandCenter
from domain.demo import load_demo


def test_a_backup_never_overwrites_a_file(
    center: CommandCenter, database_url: str, tmp_path: Path
) -> None:
    load_demo(center)
    target = tmp_path / "there.backup"
    target.write_bytes(b"an earlier backup")

    with pytest.raises(BackupError, match="exists already"):
        backup(database_url, target)
    assert target.read_bytes() == b"an earlier backup"


def test_a_restore_refuses_a_store_that_holds_something_and_a_missing_backup(
    center: CommandCenter, database_url: str, tmp_path: Path
) -> None:
    load_demo(center)
    made = tmp_path / "made.backup"
    backup(database_url, made)
    head = center.head_position()

    with pytest.raises(BackupError, match="fresh"):
        restore(made, database_url)
    with pytest.raises(BackupError, match="no backup"):
        restore(tmp_path / "missing.backup", database_url)
    assert center.head_position() == head


@pytest.mark.postgres
def test_a_postgres_backup_restores_only_into_the_schema_of_its_name(
    pg_center: CommandCenter, postgres_url: str, tmp_path: Path
) -> None:
    load_demo(pg_center)
    made = tmp_path / "made.backup"
    backup(postgres_url, made)
    elsewhere = postgres_url.rsplit("schema=", 1)[0] + "schema=another_schema_name"

    with pytest.raises(BackupError, match="the backup is of schema t_"):
        restore(made, elsewhere)


def test_a_password_goes_to_the_client_tools_in_a_passfile_deleted_afterwards() -> None:
    where = Postgres("127.0.0.1", "5432", "u", r"p:a\ss", "db", "public")
    with where.conninfo() as conninfo:
        assert r"p:a\ss" not in conninfo
        passfile = Path(conninfo.split("passfile=")[1].split()[0])
        assert passfile.read_text() == "*:*:*:*:p\\:a\\\\ss\n"
        assert passfile.stat().st_mode & 0o077 == 0
    assert not passfile.exists()

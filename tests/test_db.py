"""The database: migrations, refusals, backups."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from owncastd.db import SCHEMA_VERSION, Database, DatabaseError


def test_migrations_run_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "o.db")
    assert db.schema_version() == SCHEMA_VERSION
    assert db.migrate() == []
    db.close()
    again = Database(tmp_path / "o.db")
    assert again.migrate() == []
    assert again.execute("PRAGMA journal_mode")[0][0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "o.db"))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(
        DatabaseError,
        match=rf"schema version {SCHEMA_VERSION + 5} is newer than this owncastd knows",
    ):
        Database(tmp_path / "o.db")


def test_corrupt_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    junk = b"this is not sqlite" * 500
    path.write_bytes(junk)
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        Database(path)
    assert path.read_bytes() == junk


def test_backup_then_restore_gives_the_same_rows(tmp_path: Path) -> None:
    db = Database(tmp_path / "live.db")
    db.execute("INSERT INTO stream_keys VALUES ('k1', 'one', 1), ('k2', 'two', 2)")
    db.execute("INSERT INTO settings VALUES ('instance.name', '\"x\"', 3)")
    db.backup_to(tmp_path / "b" / "backup.db")
    before = (
        db.execute("SELECT * FROM stream_keys ORDER BY key"),
        db.execute("SELECT * FROM settings"),
    )
    db.execute("DELETE FROM stream_keys")
    db.execute("DELETE FROM settings")
    db.restore_from(tmp_path / "b" / "backup.db")
    after = (
        db.execute("SELECT * FROM stream_keys ORDER BY key"),
        db.execute("SELECT * FROM settings"),
    )
    assert after == before


def test_restore_refuses_a_corrupt_backup(tmp_path: Path) -> None:
    db = Database(tmp_path / "live.db")
    db.execute("INSERT INTO stream_keys VALUES ('k1', 'one', 1)")
    (tmp_path / "bad.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(DatabaseError):
        db.restore_from(tmp_path / "bad.db")
    assert db.execute("SELECT key FROM stream_keys") == [("k1",)]

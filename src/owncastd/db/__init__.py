"""The SQLite database: the apsw connection, numbered migrations and online backups.

The schema version is SQLite's `user_version`; migration N is `migrations/NNNN_*.sql` and is
applied inside one transaction with the version bump, so a crash never leaves half a migration.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import apsw

DB_FILE_NAME = "owncastd.db"


class DatabaseError(Exception):
    """The database cannot be used; the message says why and what to do."""


def all_migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every shipped migration, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("owncastd.db.migrations").iterdir():
        m = re.fullmatch(r"(\d{4})_([\w-]+)\.sql", entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..N: {numbers}")
    return found


SCHEMA_VERSION = len(all_migrations())


class Database:
    """One apsw connection to `<data_dir>/owncastd.db`, in WAL mode, migrated on open."""

    def __init__(self, path: Path, *, migrate: bool = True, create: bool = True) -> None:
        self.path = path
        if not create and not path.exists():
            raise DatabaseError(
                f"{path}: no database here (start `owncastd serve` once to create it)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"{path.parent}: cannot create the data directory: {exc.strerror}"
            ) from None
        try:
            self.conn = apsw.Connection(str(path))
            self.conn.set_busy_timeout(5000)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            version = self.schema_version()
        except apsw.NotADBError:
            raise DatabaseError(
                f"{path}: not a SQLite database (corrupt?); restore one with `owncastd backup restore FILE`"
            ) from None
        except apsw.CantOpenError:
            raise DatabaseError(
                f"{path}: cannot open the database (check the directory's permissions)"
            ) from None
        except apsw.ReadOnlyError:
            raise DatabaseError(
                f"{path}: the database is read-only (check the file's permissions)"
            ) from None
        except apsw.Error as exc:
            raise DatabaseError(f"{path}: {exc}") from None
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise DatabaseError(
                f"{path}: schema version {version} is newer than this owncastd knows ({SCHEMA_VERSION}); "
                "upgrade owncastd, or restore a backup made by this version"
            )
        if migrate:
            self.migrate()

    def schema_version(self) -> int:
        row = self.conn.execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> list[int]:
        """Apply every migration newer than the database; return the numbers applied."""
        applied: list[int] = []
        try:
            for number, _name, sql in all_migrations():
                if number <= self.schema_version():
                    continue
                with self.conn:  # one transaction: the migration and its version bump
                    self.conn.execute(sql)
                    self.conn.execute(f"PRAGMA user_version = {number:d}")
                applied.append(number)
        except apsw.Error as exc:
            raise DatabaseError(f"{self.path}: migration failed: {exc}") from None
        return applied

    def execute(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params))

    def transaction(self) -> apsw.Connection:
        """`with db.transaction(): ...` runs the block in one transaction."""
        return self.conn

    def backup_to(self, dest: Path) -> None:
        """Write a consistent copy of the live database to `dest` (SQLite's online backup API)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.unlink(missing_ok=True)
        target = apsw.Connection(str(tmp))
        try:
            with target.backup("main", self.conn, "main") as backup:
                while not backup.done:
                    backup.step(1024)
        finally:
            target.close()
        tmp.replace(dest)

    def restore_from(self, source: Path) -> None:
        """Replace the live database's content with `source` (checked first)."""
        check = Database(source, migrate=False, create=False)
        try:
            bad = check.conn.execute("PRAGMA integrity_check").fetchone()
            if not bad or bad[0] != "ok":
                raise DatabaseError(f"{source}: integrity check failed: {bad[0] if bad else '?'}")
            with self.conn.backup("main", check.conn, "main") as backup:
                while not backup.done:
                    backup.step(1024)
        finally:
            check.close()
        self.migrate()

    def close(self) -> None:
        self.conn.close()

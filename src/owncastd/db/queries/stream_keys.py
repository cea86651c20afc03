"""Queries over `stream_keys`: keys added at run time (pinned keys live in the TOML file)."""

from __future__ import annotations

import time

from owncastd.db import Database


def list_keys(db: Database) -> list[tuple[str, str]]:
    return [
        (str(k), str(c))
        for k, c in db.execute("SELECT key, comment FROM stream_keys ORDER BY created_at, key")
    ]


def add_key(db: Database, key: str, comment: str) -> bool:
    """Add a key; False if it was there already."""
    db.execute(
        "INSERT OR IGNORE INTO stream_keys (key, comment, created_at) VALUES (?, ?, ?)",
        (key, comment, int(time.time())),
    )
    return bool(db.conn.changes() == 1)


def remove_key(db: Database, key: str) -> bool:
    """Remove a key; False if there was none."""
    db.execute("DELETE FROM stream_keys WHERE key = ?", (key,))
    return bool(db.conn.changes() == 1)

"""Queries over `settings` (runtime config values) and `state` (internal persisted values)."""

from __future__ import annotations

import json
import time
from typing import Any

from owncastd.db import Database


def all_settings(db: Database) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM settings")}


def put_setting(db: Database, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (key, json.dumps(value), int(time.time())),
    )


def delete_setting(db: Database, key: str) -> None:
    db.execute("DELETE FROM settings WHERE key = ?", (key,))


def get_state(db: Database, key: str, default: Any = None) -> Any:
    rows = db.execute("SELECT value FROM state WHERE key = ?", (key,))
    return json.loads(rows[0][0]) if rows else default


def put_state(db: Database, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO state (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )

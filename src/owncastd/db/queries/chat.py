"""Queries over the chat tables: users, user_access_tokens (hashed), messages, ip_bans."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from owncastd.db import Database


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    display_name: str
    display_color: int
    created_at: float
    disabled_at: float | None
    previous_names: list[str]
    name_changed_at: float | None
    authenticated_at: float | None
    scopes: list[str]
    type: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: str
    user_id: str | None
    body: str
    event_type: str
    hidden_at: float | None
    timestamp: float


@dataclass(frozen=True, slots=True)
class BanRow:
    ip_address: str
    notes: str
    created_at: float


def hash_token(token: str) -> str:
    """What is stored for an access token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


_SELECT_USERS = (
    "SELECT id, display_name, display_color, created_at, disabled_at, previous_names, "
    "namechanged_at, authenticated_at, scopes, type FROM users"
)


def _json_list(text: Any) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _user(row: tuple[Any, ...]) -> UserRow:
    return UserRow(
        id=row[0],
        display_name=row[1],
        display_color=int(row[2]),
        created_at=float(row[3]),
        disabled_at=row[4],
        previous_names=_json_list(row[5]),
        name_changed_at=row[6],
        authenticated_at=row[7],
        scopes=_json_list(row[8]),
        type=row[9],
    )


# --- users and tokens ------------------------------------------------------------------------


def create_user(
    db: Database,
    user_id: str,
    display_name: str,
    color: int,
    token: str,
    now: float,
    user_type: str = "STANDARD",
) -> None:
    """A new user and its access token (stored hashed), in one transaction."""
    with db.transaction():
        db.execute(
            "INSERT INTO users (id, display_name, display_color, created_at, previous_names, "
            "type, last_used) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user_id, display_name, color, now, json.dumps([display_name]), user_type, now),
        )
        db.execute(
            "INSERT INTO user_access_tokens (token, user_id, timestamp) VALUES (?, ?, ?)",
            (hash_token(token), user_id, now),
        )


def user_by_token(db: Database, token: str) -> UserRow | None:
    rows = db.execute(
        "SELECT u.id, u.display_name, u.display_color, u.created_at, u.disabled_at, u.previous_names, u.namechanged_at, u.authenticated_at, u.scopes, u.type "
        "FROM user_access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token = ?",
        (hash_token(token),),
    )
    return _user(rows[0]) if rows else None


def user_by_id(db: Database, user_id: str) -> UserRow | None:
    rows = db.execute(
        "SELECT id, display_name, display_color, created_at, disabled_at, previous_names, namechanged_at, authenticated_at, scopes, type FROM users WHERE id = ?",
        (user_id,),
    )
    return _user(rows[0]) if rows else None


def users_by_ids(db: Database, user_ids: Iterable[str]) -> dict[str, UserRow]:
    ids = list(dict.fromkeys(user_ids))
    out: dict[str, UserRow] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = _SELECT_USERS + " WHERE id IN (" + marks + ")"
        for row in db.execute(sql, tuple(chunk)):
            user = _user(row)
            out[user.id] = user
    return out


def find_users(db: Database, query: str, limit: int = 20) -> list[UserRow]:
    """Users whose id is `query`, or whose name contains it (case-insensitive), newest first."""
    like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = db.execute(
        "SELECT id, display_name, display_color, created_at, disabled_at, previous_names, namechanged_at, authenticated_at, scopes, type FROM users WHERE id = ? OR display_name LIKE ? ESCAPE '\\' "
        "ORDER BY (id = ?) DESC, created_at DESC LIMIT ?",
        (query, like, query, limit),
    )
    return [_user(r) for r in rows]


def disabled_users(db: Database) -> list[UserRow]:
    rows = db.execute(
        "SELECT id, display_name, display_color, created_at, disabled_at, previous_names, namechanged_at, authenticated_at, scopes, type FROM users WHERE disabled_at IS NOT NULL ORDER BY disabled_at"
    )
    return [_user(r) for r in rows]


def disabled_user_ids(db: Database) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT id FROM users WHERE disabled_at IS NOT NULL")}


def moderators(db: Database) -> list[UserRow]:
    rows = db.execute(
        "SELECT id, display_name, display_color, created_at, disabled_at, previous_names, namechanged_at, authenticated_at, scopes, type FROM users WHERE scopes LIKE '%\"MODERATOR\"%' ORDER BY created_at"
    )
    return [u for u in (_user(r) for r in rows) if "MODERATOR" in u.scopes]


def set_disabled(db: Database, user_id: str, disabled_at: float | None) -> bool:
    """Disable (a time) or re-enable (None) a user; False if there is no such user."""
    db.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (disabled_at, user_id))
    return bool(db.conn.changes() == 1)


def set_scopes(db: Database, user_id: str, scopes: list[str]) -> bool:
    db.execute("UPDATE users SET scopes = ? WHERE id = ?", (json.dumps(scopes), user_id))
    return bool(db.conn.changes() == 1)


def rename_user(
    db: Database, user_id: str, new_name: str, previous_names: list[str], now: float
) -> None:
    db.execute(
        "UPDATE users SET display_name = ?, previous_names = ?, namechanged_at = ? WHERE id = ?",
        (new_name, json.dumps(previous_names), now, user_id),
    )


def set_color(db: Database, user_id: str, color: int) -> None:
    db.execute("UPDATE users SET display_color = ? WHERE id = ?", (color, user_id))


def name_taken_by_authenticated(db: Database, name: str, except_user: str) -> bool:
    """Owncast refuses a name an authenticated user holds."""
    rows = db.execute(
        "SELECT 1 FROM users WHERE display_name = ? COLLATE NOCASE AND authenticated_at IS NOT NULL "
        "AND id != ? LIMIT 1",
        (name, except_user),
    )
    return bool(rows)


# --- messages --------------------------------------------------------------------------------


def _message(row: tuple[Any, ...]) -> MessageRow:
    return MessageRow(
        id=row[0],
        user_id=row[1],
        body=row[2],
        event_type=row[3],
        hidden_at=row[4],
        timestamp=float(row[5]),
    )


def save_message(
    db: Database,
    message_id: str,
    user_id: str | None,
    body: str,
    event_type: str,
    timestamp: float,
) -> None:
    db.execute(
        "INSERT INTO messages (id, user_id, body, eventType, timestamp) VALUES (?, ?, ?, ?, ?)",
        (message_id, user_id, body, event_type, timestamp),
    )


def visible_history(db: Database, limit: int) -> list[MessageRow]:
    """The newest `limit` messages anyone may see (not hidden, author not disabled), oldest first."""
    rows = db.execute(
        "SELECT m.id, m.user_id, m.body, m.eventType, m.hidden_at, m.timestamp FROM messages m LEFT JOIN users u ON u.id = m.user_id "
        "WHERE m.hidden_at IS NULL AND u.disabled_at IS NULL "
        "ORDER BY m.timestamp DESC LIMIT ?",
        (limit,),
    )
    return [_message(r) for r in reversed(rows)]


def all_messages(db: Database, limit: int, user_id: str | None = None) -> list[MessageRow]:
    """The newest `limit` messages including hidden ones (moderation), oldest first."""
    if user_id is None:
        rows = db.execute(
            "SELECT m.id, m.user_id, m.body, m.eventType, m.hidden_at, m.timestamp FROM messages m ORDER BY m.timestamp DESC LIMIT ?",
            (limit,),
        )
    else:
        rows = db.execute(
            "SELECT m.id, m.user_id, m.body, m.eventType, m.hidden_at, m.timestamp FROM messages m WHERE m.user_id = ? "
            "ORDER BY m.timestamp DESC LIMIT ?",
            (user_id, limit),
        )
    return [_message(r) for r in reversed(rows)]


def set_visibility(db: Database, message_ids: list[str], hidden_at: float | None) -> list[str]:
    """Hide (a time) or show (None) messages; returns the ids that exist."""
    found: list[str] = []
    with db.transaction():
        for message_id in dict.fromkeys(message_ids):
            db.execute("UPDATE messages SET hidden_at = ? WHERE id = ?", (hidden_at, message_id))
            if db.conn.changes() == 1:
                found.append(message_id)
    return found


def hide_user_messages(db: Database, user_id: str, now: float) -> list[str]:
    """Hide every visible message of a user; returns their ids."""
    with db.transaction():
        ids = [
            str(r[0])
            for r in db.execute(
                "SELECT id FROM messages WHERE user_id = ? AND hidden_at IS NULL", (user_id,)
            )
        ]
        db.execute(
            "UPDATE messages SET hidden_at = ? WHERE user_id = ? AND hidden_at IS NULL",
            (now, user_id),
        )
    return ids


def hidden_message_ids(db: Database, user_id: str) -> list[str]:
    return [
        str(r[0])
        for r in db.execute(
            "SELECT id FROM messages WHERE user_id = ? AND hidden_at IS NOT NULL", (user_id,)
        )
    ]


def prune_messages(db: Database, before: float) -> int:
    db.execute("DELETE FROM messages WHERE timestamp < ?", (before,))
    return int(db.conn.changes())


# --- IP bans ---------------------------------------------------------------------------------


def ip_bans(db: Database) -> list[BanRow]:
    return [
        BanRow(str(ip), str(notes), float(created))
        for ip, notes, created in db.execute(
            "SELECT ip_address, notes, created_at FROM ip_bans ORDER BY created_at, ip_address"
        )
    ]


def add_ip_ban(db: Database, ip_address: str, notes: str, now: float) -> bool:
    """Ban an (already normalised) address or network; False if it was banned already."""
    db.execute(
        "INSERT OR IGNORE INTO ip_bans (ip_address, notes, created_at) VALUES (?, ?, ?)",
        (ip_address, notes, now),
    )
    return bool(db.conn.changes() == 1)


def remove_ip_ban(db: Database, ip_address: str) -> bool:
    db.execute("DELETE FROM ip_bans WHERE ip_address = ?", (ip_address,))
    return bool(db.conn.changes() == 1)


def data_version(db: Database) -> int:
    """SQLite's data_version: it changes when another connection (the CLI) commits."""
    rows = db.execute("PRAGMA data_version")
    return int(rows[0][0]) if rows else 0

"""Moderation on the database: disable users, moderators, IP bans. Used by the hub (which then
tells connected clients) and by the CLI (whose changes a running hub picks up on its next sync).
"""

from __future__ import annotations

from dataclasses import dataclass

from owncastd.chat import ipban
from owncastd.chat.protocol import MODERATOR
from owncastd.db import Database
from owncastd.db.queries import chat as q


@dataclass(frozen=True, slots=True)
class Disabled:
    user: q.UserRow
    hidden_ids: list[str]
    """The user's messages this call hid."""


def disable_user(db: Database, user_id: str, now: float) -> Disabled | None:
    """Disable a user and hide their messages; None if there is no such user."""
    with db.transaction():
        before = q.user_by_id(db, user_id)
        if before is not None and before.disabled_at is None:
            q.set_disabled(db, user_id, now)
        hidden = q.hide_user_messages(db, user_id, now) if before is not None else []
    after = q.user_by_id(db, user_id)
    return Disabled(after, hidden) if after is not None else None


def enable_user(db: Database, user_id: str) -> q.UserRow | None:
    """Re-enable a user (their hidden messages stay hidden, as in Owncast)."""
    if not q.set_disabled(db, user_id, None):
        return None
    return q.user_by_id(db, user_id)


def set_moderator(db: Database, user_id: str, moderator: bool) -> q.UserRow | None:
    with db.transaction():
        user = q.user_by_id(db, user_id)
        if user is None:
            return None
        scopes = [s for s in user.scopes if s != MODERATOR]
        if moderator:
            scopes.append(MODERATOR)
        q.set_scopes(db, user_id, scopes)
    return q.user_by_id(db, user_id)


def ban_ip(db: Database, value: str, notes: str, now: float) -> tuple[str, bool]:
    """Ban an address or network: (canonical text, newly added). ipban.InvalidBan if invalid."""
    canonical = ipban.normalize_ban(value)
    return canonical, q.add_ip_ban(db, canonical, notes, now)


def unban_ip(db: Database, value: str) -> tuple[str, bool]:
    """Remove a ban: (canonical text, was there). A value that is not an address is removed as
    written (a row the CLI or an older version stored)."""
    try:
        canonical = ipban.normalize_ban(value)
    except ipban.InvalidBan:
        canonical = value.strip()
    return canonical, q.remove_ip_ban(db, canonical)


def ban_list(db: Database) -> ipban.BanList:
    return ipban.BanList(row.ip_address for row in q.ip_bans(db))

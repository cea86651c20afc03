"""Admin password hashing and the credentials a first start generates.

Passwords are stored as scrypt hashes (stdlib, no extra dependency). A configured password or
key is used as given; with none, one is generated once, stored, and printed once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from owncastd.config import Config
from owncastd.db import Database
from owncastd.db.queries import settings as q
from owncastd.db.queries import stream_keys as keys_q

ADMIN_USER = "admin"
_HASH_KEY = "admin.password_hash"
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def new_secret(nbytes: int = 18) -> str:
    """A random, URL- and OBS-safe secret."""
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What a start generated (None where the value was configured or generated before)."""

    admin_password: str | None
    stream_key: str | None


def ensure_credentials(config: Config, db: Database) -> FirstStart:
    """Generate and store the admin password and a stream key where none exists yet."""
    password = None
    if not config.admin.password and q.get_state(db, _HASH_KEY) is None:
        password = new_secret(12)
        q.put_state(db, _HASH_KEY, hash_password(password))
    key = None
    if not config.stream.keys and not keys_q.list_keys(db):
        key = new_secret(18)
        keys_q.add_key(db, key, "Generated at first start")
    return FirstStart(admin_password=password, stream_key=key)


def set_admin_password(db: Database, password: str) -> None:
    q.put_state(db, _HASH_KEY, hash_password(password))


def check_admin_password(config: Config, db: Database, password: str) -> bool:
    """Is `password` the admin password (the configured one, else the stored hash)?"""
    if config.admin.password:
        return hmac.compare_digest(password.encode(), config.admin.password.encode())
    stored = q.get_state(db, _HASH_KEY)
    return isinstance(stored, str) and verify_password(password, stored)


def all_stream_keys(config: Config, db: Database) -> list[tuple[str, str, bool]]:
    """(key, comment, pinned) for every valid stream key: the file's, then the database's."""
    out = [(k.key, k.comment, True) for k in config.stream.keys]
    pinned = {k for k, _, _ in out}
    out += [(k, c, False) for k, c in keys_q.list_keys(db) if k not in pinned]
    return out


def stream_key_valid(config: Config, db: Database, candidate: str) -> bool:
    """Constant-time check against every key, so timing says nothing about which is close."""
    ok = False
    for key, _, _ in all_stream_keys(config, db):
        ok |= hmac.compare_digest(candidate.encode(), key.encode())
    return ok

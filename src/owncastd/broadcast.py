"""The live session: whether a stream is on, since when, and what it carries.

One `Broadcaster` per channel (owncastd serves one, as Owncast does, but it is a value, not a
global). Connect and disconnect times persist in the database so `/api/status` survives restarts.
"""

from __future__ import annotations

from owncastd.db import Database
from owncastd.db.queries import settings as q

_LAST_CONNECT = "broadcast.last_connect_time"
_LAST_DISCONNECT = "broadcast.last_disconnect_time"


class Broadcaster:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.online = False
        self.last_connect_time: float | None = q.get_state(db, _LAST_CONNECT)
        self.last_disconnect_time: float | None = q.get_state(db, _LAST_DISCONNECT)

    def mark_connected(self, now: float) -> None:
        self.online = True
        self.last_connect_time = now
        q.put_state(self._db, _LAST_CONNECT, now)

    def mark_disconnected(self, now: float) -> None:
        self.online = False
        self.last_disconnect_time = now
        q.put_state(self._db, _LAST_DISCONNECT, now)

"""Owncast's chat protocol: event types, the User object, outbound events, inbound frames.

Outbound events are plain dicts with Owncast's field names; the hub serialises each one once.
Several events may share one websocket text frame, separated by newlines. Inbound, a client
sends one JSON object per frame; newlines in it are replaced by spaces and it is trimmed first.
Pure: ids and times are passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from owncastd.timefmt import rfc3339

# --- event types -----------------------------------------------------------------------------

CHAT = "CHAT"
USER_JOINED = "USER_JOINED"
USER_PARTED = "USER_PARTED"
NAME_CHANGE = "NAME_CHANGE"
COLOR_CHANGE = "COLOR_CHANGE"
VISIBILITY_UPDATE = "VISIBILITY-UPDATE"
SYSTEM = "SYSTEM"
CHAT_ACTION = "CHAT_ACTION"
CONNECTED_USER_INFO = "CONNECTED_USER_INFO"
CHAT_DISABLED = "CHAT_DISABLED"
STREAM_STARTED = "STREAM_STARTED"
STREAM_STOPPED = "STREAM_STOPPED"
STREAM_TITLE_UPDATED = "STREAM_TITLE_UPDATED"
PING = "PING"
PONG = "PONG"
ERROR_NEEDS_REGISTRATION = "ERROR_NEEDS_REGISTRATION"
ERROR_MAX_CONNECTIONS_EXCEEDED = "ERROR_MAX_CONNECTIONS_EXCEEDED"
ERROR_USER_DISABLED = "ERROR_USER_DISABLED"

MODERATOR = "MODERATOR"
"""The scope that makes a user a moderator."""
USER_TYPE_STANDARD = "STANDARD"
USER_TYPE_API = "API"

MAX_SOCKET_PAYLOAD_SIZE = 2048
"""Owncast's MaxSocketPayloadSize: a bigger inbound frame is refused with a notice; one over
twice this closes the socket. Published in /api/config."""

# Owncast's wording for the notices a client gets.
TOO_BIG = "Sorry, that message exceeded the maximum size and can't be delivered."
FLOODING = "You are temporarily blocked from sending chat messages due to perceived flooding."
NOT_ESTABLISHED = (
    "You have not been an established chat participant long enough to take part in chat. "
    "Please enjoy the stream and try again later."
)
STREAM_STARTING = "Stay tuned, the stream is **starting**!"
STREAM_ENDING = "The stream is ending."


def dumps(event: dict[str, Any]) -> str:
    """One event as compact JSON (UTF-8 text, no newlines, so frames split safely on "\\n")."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def text_frame(payload: bytes) -> bytes:
    """A complete server-to-client websocket text frame (RFC 6455: FIN, no mask) around
    `payload`, built once and written as is to every client that can take it."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


# --- the User object -------------------------------------------------------------------------


@dataclass
class User:
    """A chat user (Owncast's `User`); times are unix seconds."""

    id: str
    display_name: str
    display_color: int
    created_at: float
    disabled_at: float | None = None
    name_changed_at: float | None = None
    previous_names: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    type: str = USER_TYPE_STANDARD
    authenticated_at: float | None = None
    _json: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def is_moderator(self) -> bool:
        return MODERATOR in self.scopes

    @property
    def is_bot(self) -> bool:
        return self.type == USER_TYPE_API

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def changed(self) -> None:
        """Call after changing a field: the cached JSON is rebuilt on next use."""
        self._json = None

    def to_json(self) -> dict[str, Any]:
        """Owncast's User JSON (cached; the same dict is shared by every event that carries it)."""
        if self._json is None:
            body: dict[str, Any] = {
                "id": self.id,
                "displayName": self.display_name,
                "displayColor": self.display_color,
                "createdAt": rfc3339(self.created_at),
                "previousNames": list(self.previous_names),
            }
            if self.disabled_at is not None:
                body["disabledAt"] = rfc3339(self.disabled_at)
            if self.name_changed_at is not None:
                body["nameChangedAt"] = rfc3339(self.name_changed_at)
            if self.scopes:
                body["scopes"] = list(self.scopes)
            body["isBot"] = self.is_bot
            body["authenticated"] = self.authenticated_at is not None
            self._json = body
        return self._json


# --- outbound events -------------------------------------------------------------------------


def _base(kind: str, event_id: str, at: float) -> dict[str, Any]:
    return {"type": kind, "id": event_id, "timestamp": rfc3339(at)}


def connected_user_info(user: User) -> dict[str, Any]:
    return {"type": CONNECTED_USER_INFO, "user": user.to_json()}


def chat_message(
    event_id: str,
    at: float,
    user: User,
    body: str,
    client_id: int = 0,
    hidden_at: float | None = None,
) -> dict[str, Any]:
    """A user's message (rendered body), live or from history."""
    event = _base(CHAT, event_id, at)
    event["user"] = user.to_json()
    event["body"] = body
    event["visible"] = hidden_at is None
    if client_id:
        event["clientId"] = client_id
    if hidden_at is not None:
        event["hiddenAt"] = rfc3339(hidden_at)
    return event


def user_event(kind: str, event_id: str, at: float, user: User, client_id: int) -> dict[str, Any]:
    """USER_JOINED, USER_PARTED, ERROR_USER_DISABLED (sent to a user's clients before the kick)."""
    event = _base(kind, event_id, at)
    event["user"] = user.to_json()
    if client_id:
        event["clientId"] = client_id
    return event


def name_change(
    event_id: str, at: float, user_json: dict[str, Any], old_name: str
) -> dict[str, Any]:
    event = _base(NAME_CHANGE, event_id, at)
    event["user"] = user_json
    event["oldName"] = old_name
    return event


def color_change(event_id: str, at: float, user: User) -> dict[str, Any]:
    event = _base(COLOR_CHANGE, event_id, at)
    event["user"] = user.to_json()
    return event


def system_message(event_id: str, at: float, body: str, server_name: str) -> dict[str, Any]:
    """A message from the server itself (the welcome message, integrations)."""
    event = _base(SYSTEM, event_id, at)
    event["body"] = body
    event["user"] = {"displayName": server_name}
    return event


def chat_action(event_id: str, at: float, body: str) -> dict[str, Any]:
    """A notice: private ("you are muted") or to everyone ("X has been removed from chat")."""
    event = _base(CHAT_ACTION, event_id, at)
    event["body"] = body
    return event


def visibility_update(event_id: str, at: float, ids: list[str], visible: bool) -> dict[str, Any]:
    event = _base(VISIBILITY_UPDATE, event_id, at)
    event["ids"] = list(ids)
    event["visible"] = visible
    return event


def simple_event(kind: str, event_id: str, at: float, **fields: Any) -> dict[str, Any]:
    """CHAT_DISABLED, STREAM_STARTED, STREAM_STOPPED, STREAM_TITLE_UPDATED and the like."""
    event = _base(kind, event_id, at)
    event.update(fields)
    return event


def error_event(kind: str) -> dict[str, Any]:
    """ERROR_NEEDS_REGISTRATION, ERROR_USER_DISABLED at connect time: just the type."""
    return {"type": kind}


# --- inbound frames --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatSent:
    body: str


@dataclass(frozen=True, slots=True)
class NameChangeRequested:
    new_name: str


@dataclass(frozen=True, slots=True)
class ColorChangeRequested:
    new_color: object


Inbound = ChatSent | NameChangeRequested | ColorChangeRequested


def parse_inbound(frame: str) -> Inbound | None:
    """A client's frame as an event we handle, or None (bad JSON, unknown or malformed type)."""
    text = frame.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == CHAT:
        body = data.get("body")
        return ChatSent(body) if isinstance(body, str) else None
    if kind == NAME_CHANGE:
        name = data.get("newName")
        return NameChangeRequested(name) if isinstance(name, str) else None
    if kind == COLOR_CHANGE:
        return ColorChangeRequested(data.get("newColor"))
    return None

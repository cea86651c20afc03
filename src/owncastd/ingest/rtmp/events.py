"""The events `RTMPConnection` surfaces, and the decisions the server shell sends back.

Small frozen values, as in h11: the core produces the first kind from `events()`, the shell
hands the second kind to `send()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .amf0 import Value


class Event:
    """Base class of everything `events()` yields and `send()` accepts."""

    __slots__ = ()


# -- from the peer --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeComplete(Event):
    """C2 arrived; the chunk stream starts."""


@dataclass(frozen=True, slots=True)
class Connect(Event):
    """The client's `connect`; the core has already answered it with NetConnection.Connect.Success."""

    app: str
    tc_url: str
    properties: dict[str, Value]


@dataclass(frozen=True, slots=True)
class PublishRequested(Event):
    """The client asks to publish; answer with `AcceptPublish` or `RejectPublish`.

    `name` is the stream key: the last path element of the publishing name, without the query
    string, which is in `query` (without the "?").
    """

    stream_id: int
    app: str
    name: str
    query: str
    publish_type: str


@dataclass(frozen=True, slots=True)
class Metadata(Event):
    """The `onMetaData` values (from `@setDataFrame` or a bare `onMetaData`)."""

    values: dict[str, Value]


@dataclass(frozen=True, slots=True)
class VideoData(Event):
    """One video message: the FLV video tag body; `timestamp` in ms, unwrapped past 2^32."""

    timestamp: int
    data: bytes


@dataclass(frozen=True, slots=True)
class AudioData(Event):
    """One audio message: the FLV audio tag body; `timestamp` in ms, unwrapped past 2^32."""

    timestamp: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Unpublished(Event):
    """A requested or accepted publish ended (FCUnpublish, closeStream or deleteStream)."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class Pong(Event):
    """The client answered our `Ping` with this timestamp."""

    timestamp: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The peer closed its side (`receive_data(b"")`) and every earlier event has been yielded."""


# -- from the server shell ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptPublish(Event):
    """Admit the pending publish: StreamBegin and onStatus NetStream.Publish.Start."""


@dataclass(frozen=True, slots=True)
class RejectPublish(Event):
    """Refuse the pending publish: onStatus NetStream.Publish.BadName at level error."""

    description: str = "publish refused"


@dataclass(frozen=True, slots=True)
class Ping(Event):
    """Ask the client to echo `timestamp` (User Control PingRequest); it comes back as `Pong`."""

    timestamp: int


@dataclass(frozen=True, slots=True)
class Disconnect(Event):
    """Tell the client we are closing (an error-level onStatus it will log); then close the socket."""

    description: str = "disconnected by the server"

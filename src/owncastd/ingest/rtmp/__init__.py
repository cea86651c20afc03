"""Sans-IO RTMP server protocol: handshake, chunk stream, AMF0 and the publish command flow.

Use `RTMPConnection` (h11/wsproto style); the other modules are its parts, public for tests
and tools.
"""

from .amf0 import UNDEFINED, Date, ECMAArray, Undefined, Value
from .chunk import (
    DEFAULT_CHUNK_SIZE,
    MAX_BUFFER,
    MAX_CHUNK_SIZE,
    MAX_CHUNK_STREAMS,
    MAX_MESSAGE_SIZE,
    ChunkReader,
    ChunkWriter,
    TimestampUnwrapper,
)
from .connection import (
    MAX_NAME_LENGTH,
    MAX_STREAMS,
    MAX_URL_LENGTH,
    SERVER_CHUNK_SIZE,
    WINDOW_ACK_SIZE,
    ConnectionState,
    RTMPConnection,
    parse_publishing_name,
)
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    AcceptPublish,
    AudioData,
    Connect,
    ConnectionClosed,
    Disconnect,
    Event,
    HandshakeComplete,
    Metadata,
    Ping,
    Pong,
    PublishRequested,
    RejectPublish,
    Unpublished,
    VideoData,
)
from .handshake import ServerHandshake
from .messages import Message, MessageType

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_BUFFER",
    "MAX_CHUNK_SIZE",
    "MAX_CHUNK_STREAMS",
    "MAX_MESSAGE_SIZE",
    "MAX_NAME_LENGTH",
    "MAX_STREAMS",
    "MAX_URL_LENGTH",
    "SERVER_CHUNK_SIZE",
    "UNDEFINED",
    "WINDOW_ACK_SIZE",
    "AcceptPublish",
    "AudioData",
    "ChunkReader",
    "ChunkWriter",
    "Connect",
    "ConnectionClosed",
    "ConnectionState",
    "Date",
    "Disconnect",
    "ECMAArray",
    "Event",
    "HandshakeComplete",
    "LocalProtocolError",
    "Message",
    "MessageType",
    "Metadata",
    "Ping",
    "Pong",
    "ProtocolError",
    "PublishRequested",
    "RTMPConnection",
    "RejectPublish",
    "RemoteProtocolError",
    "ServerHandshake",
    "TimestampUnwrapper",
    "Undefined",
    "Unpublished",
    "Value",
    "VideoData",
    "parse_publishing_name",
]

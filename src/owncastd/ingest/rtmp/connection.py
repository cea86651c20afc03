"""The server side of one RTMP connection as a state machine: bytes in, events out.

`RTMPConnection` runs the handshake, reassembles chunks, answers what needs no decision
(handshake, acknowledgements, pings, connect, createStream) and surfaces the rest as events.
The server shell moves bytes and makes the one decision RTMP leaves to it: whether a publish
is admitted. No I/O, no clock, no randomness beyond the handshake's (injectable) random bytes.

Media and metadata on a stream that is not publishing (before the shell's `AcceptPublish`, or
after an unpublish) is a protocol error, not silently dropped: every encoder we know waits for
NetStream.Publish.Start, and a dropped sequence header would break the stream without a trace.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable, Iterator

from . import amf0
from . import messages as msg
from .chunk import (
    MAX_BUFFER,
    MAX_CHUNK_SIZE,
    MAX_MESSAGE_SIZE,
    ChunkReader,
    ChunkWriter,
    TimestampUnwrapper,
)
from .errors import LocalProtocolError, RemoteProtocolError
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
from .messages import Message, MessageType, UserControlEvent

SERVER_CHUNK_SIZE = 4096
"""Chunk size we announce after connect (what OBS and FFmpeg use)."""
WINDOW_ACK_SIZE = 2_500_000
"""Window we ask the client to acknowledge in, and the peer bandwidth we set."""
MAX_NAME_LENGTH = 1024
"""Longest app or publishing name (with query string), in UTF-8 bytes."""
MAX_URL_LENGTH = 4096
"""Longest tcUrl, in UTF-8 bytes."""
MAX_STREAMS = 8
"""Most createStream calls one connection may make; a publisher needs one."""

FMS_VERSION = "FMS/3,0,1,123"
CAPABILITIES = 31.0


class ConnectionState(enum.Enum):
    HANDSHAKE = enum.auto()
    AWAIT_CONNECT = enum.auto()
    CONNECTED = enum.auto()
    CLOSED = enum.auto()
    ERROR = enum.auto()


class StreamState(enum.Enum):
    CREATED = enum.auto()
    PUBLISH_REQUESTED = enum.auto()
    PUBLISHING = enum.auto()


def _preview(text: str) -> str:
    return repr(text if len(text) <= 64 else text[:64] + "...")


def _check_text(what: str, text: str, limit: int) -> None:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > limit:
        raise RemoteProtocolError(f"{what} is {size} bytes, over the {limit}-byte limit")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise RemoteProtocolError(f"{what} {_preview(text)} contains control characters")


def _check_path(what: str, path: str) -> None:
    if any(segment in (".", "..") for segment in path.split("/")):
        raise RemoteProtocolError(f"{what} {_preview(path)} contains a '.' or '..' path segment")


def parse_publishing_name(raw: str) -> tuple[str, str]:
    """Split a publishing name into (stream key, query); raise RemoteProtocolError if unusable.

    The key is the last path element, as Owncast does, so "live/abc" and "abc" both give "abc".
    """
    _check_text("publishing name", raw, MAX_NAME_LENGTH)
    path, _, query = raw.partition("?")
    _check_path("publishing name", path)
    name = path.rsplit("/", 1)[-1]
    if not name:
        raise RemoteProtocolError(f"publishing name {_preview(raw)} has no stream key")
    return name, query


class _Stream:
    __slots__ = ("clock", "name", "state")

    def __init__(self) -> None:
        self.state = StreamState.CREATED
        self.name = ""
        self.clock = TimestampUnwrapper()


class RTMPConnection:
    """One server-side RTMP connection.

    Drive it like wsproto: `receive_data(bytes)` (b"" at EOF), then iterate `events()`, then
    write `data_to_send()`. A RemoteProtocolError from `events()` ends the connection; write
    `data_to_send()` once more before closing, as it may hold an error reply for the client.
    `send(event)` returns the bytes for a decision together with any queued replies, in order,
    so nothing queued may be written after them.
    """

    def __init__(
        self,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_chunk_size: int = MAX_CHUNK_SIZE,
        max_buffer: int = MAX_BUFFER,
        chunk_size: int = SERVER_CHUNK_SIZE,
        window_ack_size: int = WINDOW_ACK_SIZE,
        max_streams: int = MAX_STREAMS,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._reader = ChunkReader(
            max_message_size=max_message_size,
            max_chunk_size=max_chunk_size,
            max_buffer=max_buffer,
        )
        self._writer = ChunkWriter()
        self._handshake = ServerHandshake(random_bytes)
        self._max_buffer = max_buffer
        self._chunk_size = chunk_size
        self._window_ack_size = window_ack_size
        self._max_streams = max_streams
        self._state = ConnectionState.HANDSHAKE
        self._pending = bytearray()  # bytes received during the handshake, not yet consumed
        self._eof = False
        self._out = bytearray()
        self._queued: deque[Event] = deque()
        self._error: RemoteProtocolError | None = None
        self._app = ""
        self._streams: dict[int, _Stream] = {}
        self._next_stream_id = 1
        self._peer_window = 0  # the client's Window Acknowledgement Size; 0 until it sends one
        self._acked = 0

    # -- public API -----------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def app(self) -> str:
        return self._app

    @property
    def publishing_stream(self) -> int | None:
        """The message stream id that is publishing (accepted), if any."""
        for stream_id, stream in self._streams.items():
            if stream.state is StreamState.PUBLISHING:
                return stream_id
        return None

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes; b"" means the peer closed its side."""
        if self._state is ConnectionState.ERROR:
            raise LocalProtocolError("receive_data() after a protocol error")
        if self._eof:
            if data:
                raise LocalProtocolError("receive_data() after EOF")
            return
        if not data:
            self._eof = True
            return
        if self._state is ConnectionState.CLOSED:
            return  # we said goodbye (Disconnect); whatever still arrives is moot
        if self._handshake.complete:
            self._reader.receive_data(data)
            self._maybe_acknowledge()
        else:
            if len(self._pending) + len(data) > self._max_buffer:
                raise LocalProtocolError("more than max_buffer bytes fed without calling events()")
            self._pending += data

    def events(self) -> Iterator[Event]:
        """Yield every event the received bytes complete; raises RemoteProtocolError."""
        if self._error is not None:
            raise RemoteProtocolError(f"connection already failed: {self._error}")
        try:
            while True:
                event = self._next_event()
                if event is None:
                    return
                yield event
        except RemoteProtocolError as exc:
            self._state = ConnectionState.ERROR
            self._error = exc
            raise

    def data_to_send(self) -> bytes:
        """Bytes the core queued on its own: handshake, acknowledgements, replies."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send(self, event: Event) -> bytes:
        """Turn a server decision into bytes (preceded by anything still queued)."""
        if self._state in (ConnectionState.ERROR, ConnectionState.CLOSED):
            raise LocalProtocolError(f"cannot send {type(event).__name__}: connection is closed")
        if isinstance(event, AcceptPublish | RejectPublish):
            stream_id, stream = self._requested_stream(event)
            if isinstance(event, AcceptPublish):
                stream.state = StreamState.PUBLISHING
                stream.clock = TimestampUnwrapper()
                self._write(msg.user_control(UserControlEvent.STREAM_BEGIN, stream_id))
                self._on_status(
                    stream_id,
                    "status",
                    "NetStream.Publish.Start",
                    f"{stream.name} is now published.",
                    details=stream.name,
                )
            else:
                stream.state = StreamState.CREATED
                self._on_status(stream_id, "error", "NetStream.Publish.BadName", event.description)
        elif isinstance(event, Ping):
            if not self._handshake.complete:
                raise LocalProtocolError("cannot ping before the handshake completes")
            self._write(msg.user_control(UserControlEvent.PING_REQUEST, event.timestamp))
        elif isinstance(event, Disconnect):
            if self._handshake.complete:
                stream_id = self.publishing_stream or 0
                self._on_status(
                    stream_id, "error", "NetConnection.Connect.Closed", event.description
                )
            self._state = ConnectionState.CLOSED
        else:
            raise LocalProtocolError(f"{type(event).__name__} is not something a server sends")
        return self.data_to_send()

    # -- event production -----------------------------------------------------------------

    def _next_event(self) -> Event | None:
        while True:
            if self._queued:
                return self._queued.popleft()
            if self._state is ConnectionState.CLOSED:
                return None
            if self._state is ConnectionState.HANDSHAKE:
                used = self._handshake.receive(self._pending)
                del self._pending[:used]
                self._out += self._handshake.data_to_send()
                if self._handshake.complete:
                    self._state = ConnectionState.AWAIT_CONNECT
                    if self._pending:
                        self._reader.receive_data(self._pending)
                        self._pending.clear()
                        self._maybe_acknowledge()
                    return HandshakeComplete()
                return self._closed_if_eof()
            message = self._reader.next_message()
            if message is None:
                return self._closed_if_eof()
            self._handle(message)

    def _closed_if_eof(self) -> Event | None:
        if self._eof:
            self._state = ConnectionState.CLOSED
            return ConnectionClosed()
        return None

    def _handle(self, message: Message, *, in_aggregate: bool = False) -> None:
        kind = message.type_id
        if kind == MessageType.AUDIO or kind == MessageType.VIDEO:
            self._media(message)
        elif kind == MessageType.DATA_AMF0:
            self._data(message)
        elif kind == MessageType.COMMAND_AMF0 and not in_aggregate:
            self._command(message)
        elif kind == MessageType.USER_CONTROL and not in_aggregate:
            self._user_control(message.payload)
        elif kind == MessageType.WINDOW_ACK_SIZE and not in_aggregate:
            window = msg.read_u32(message.payload, "window acknowledgement size")
            if window == 0:
                raise RemoteProtocolError("window acknowledgement size 0")
            self._peer_window = window
            self._maybe_acknowledge()
        elif kind == MessageType.ACKNOWLEDGEMENT and not in_aggregate:
            msg.read_u32(message.payload, "acknowledgement")  # we send too little to care
        elif kind == MessageType.SET_PEER_BANDWIDTH and not in_aggregate:
            # Only servers limit peers; a client's limit on us changes nothing we send.
            if len(message.payload) < 5:
                raise RemoteProtocolError("set peer bandwidth message too short")
        elif kind in (
            MessageType.DATA_AMF3,
            MessageType.COMMAND_AMF3,
            MessageType.SHARED_OBJECT_AMF3,
        ):
            raise RemoteProtocolError(
                f"AMF3 message (type {kind}) refused: this server speaks AMF0 only"
            )
        elif kind == MessageType.AGGREGATE and not in_aggregate:
            for part in msg.split_aggregate(message):
                self._handle(part, in_aggregate=True)
        elif in_aggregate:
            raise RemoteProtocolError(f"message type {kind} inside an aggregate message")
        # Shared objects and unknown types are not for a publishing server: ignore them.

    def _user_control(self, payload: bytes) -> None:
        event, value = msg.parse_user_control(payload)
        if event == UserControlEvent.PING_REQUEST and value is not None:
            self._write(msg.user_control(UserControlEvent.PING_RESPONSE, value))
        elif event == UserControlEvent.PING_RESPONSE and value is not None:
            self._queued.append(Pong(value))

    def _publishing(self, message: Message, what: str) -> _Stream:
        stream = self._streams.get(message.stream_id)
        if stream is None or stream.state is not StreamState.PUBLISHING:
            raise RemoteProtocolError(
                f"{what} on message stream {message.stream_id}, which is not publishing"
            )
        return stream

    def _media(self, message: Message) -> None:
        is_video = message.type_id == MessageType.VIDEO
        stream = self._publishing(message, "video" if is_video else "audio")
        timestamp = stream.clock.unwrap(message.timestamp)
        self._queued.append(
            VideoData(timestamp, message.payload)
            if is_video
            else AudioData(timestamp, message.payload)
        )

    def _data(self, message: Message) -> None:
        self._publishing(message, "data message")
        values = amf0.decode(message.payload)
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            self._queued.append(Metadata(values[1]))
        # onTextData, onCuePoint and friends carry nothing the broadcast uses.

    # -- commands -------------------------------------------------------------------------

    def _command(self, message: Message) -> None:
        command = msg.parse_command(message.payload)
        name = command.name
        if self._state is ConnectionState.AWAIT_CONNECT:
            if name != "connect":
                raise RemoteProtocolError(f"{_preview(name)} before connect")
            self._connect(command)
            return
        if name == "connect":
            raise RemoteProtocolError("connect on a connection that is already connected")
        if name == "createStream":
            self._create_stream(command)
        elif name == "publish":
            self._publish(message.stream_id, command)
        elif name in ("releaseStream", "FCPublish"):
            if command.transaction_id:
                self._write(msg.command("_result", command.transaction_id, None, amf0.UNDEFINED))
            if name == "FCPublish":
                info = msg.status("status", "NetStream.Publish.Start", "FCPublish received.")
                self._write(msg.command("onFCPublish", 0, None, info))
        elif name == "FCUnpublish":
            for stream_id, stream in self._streams.items():
                if stream.state is not StreamState.CREATED:
                    self._unpublish(stream_id, stream)
        elif name == "closeStream":
            closing = self._streams.get(message.stream_id)
            if closing is not None and closing.state is not StreamState.CREATED:
                self._unpublish(message.stream_id, closing)
        elif name == "deleteStream":
            self._delete_stream(command)
        elif name in ("play", "play2"):
            self._on_status(
                message.stream_id,
                "error",
                "NetStream.Play.Failed",
                "this server takes streams, it does not play them over RTMP",
            )
        # getStreamLength, checkBandwidth and unknown commands get no answer: FFmpeg treats an
        # `_error` reply to a call it made as fatal, and no reply as "not supported".

    def _connect(self, command: msg.Command) -> None:
        properties = command.command_object
        if not isinstance(properties, dict):
            raise RemoteProtocolError("connect without a command object")
        app = properties.get("app", "")
        tc_url = properties.get("tcUrl", "")
        try:
            if not isinstance(app, str) or not isinstance(tc_url, str):
                raise RemoteProtocolError("connect: app and tcUrl must be strings")
            _check_text("app name", app, MAX_NAME_LENGTH)
            _check_path("app name", app)
            _check_text("tcUrl", tc_url, MAX_URL_LENGTH)
        except RemoteProtocolError as exc:
            # Say why before the shell closes the socket: FFmpeg and OBS print the description.
            info = msg.status("error", "NetConnection.Connect.Rejected", str(exc))
            self._write(msg.command("_error", command.transaction_id, None, info))
            raise
        self._app = app
        self._write(msg.window_ack_size(self._window_ack_size))
        self._write(msg.set_peer_bandwidth(self._window_ack_size, msg.PeerBandwidthLimit.DYNAMIC))
        self._out += self._writer.set_chunk_size(self._chunk_size)
        server_properties: dict[str, amf0.Value] = {
            "fmsVer": FMS_VERSION,
            "capabilities": CAPABILITIES,
            "mode": 1.0,
        }
        info = msg.status(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
            objectEncoding=0.0,  # AMF0 only, whatever the client offered
        )
        self._write(msg.command("_result", command.transaction_id, server_properties, info))
        self._state = ConnectionState.CONNECTED
        self._queued.append(Connect(app, tc_url, properties))

    def _create_stream(self, command: msg.Command) -> None:
        if len(self._streams) >= self._max_streams:
            raise RemoteProtocolError(f"more than {self._max_streams} streams on one connection")
        stream_id = self._next_stream_id
        self._next_stream_id += 1
        self._streams[stream_id] = _Stream()
        self._write(msg.command("_result", command.transaction_id, None, float(stream_id)))

    def _publish(self, stream_id: int, command: msg.Command) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise RemoteProtocolError(f"publish on message stream {stream_id}, never created")
        if any(s.state is not StreamState.CREATED for s in self._streams.values()):
            raise RemoteProtocolError("publish while this connection already publishes")
        raw = command.args[0] if command.args else None
        kind = command.args[1] if len(command.args) > 1 else "live"
        try:
            if not isinstance(raw, str):
                raise RemoteProtocolError("publish without a publishing name")
            if not isinstance(kind, str):
                raise RemoteProtocolError("publish type is not a string")
            _check_text("publish type", kind, MAX_NAME_LENGTH)
            name, query = parse_publishing_name(raw)
        except RemoteProtocolError as exc:
            self._on_status(stream_id, "error", "NetStream.Publish.BadName", str(exc))
            raise
        stream.state = StreamState.PUBLISH_REQUESTED
        stream.name = name
        self._queued.append(PublishRequested(stream_id, self._app, name, query, kind or "live"))

    def _unpublish(self, stream_id: int, stream: _Stream) -> None:
        was_publishing = stream.state is StreamState.PUBLISHING
        stream.state = StreamState.CREATED
        if was_publishing:
            self._on_status(
                stream_id,
                "status",
                "NetStream.Unpublish.Success",
                f"{stream.name} is now unpublished.",
            )
        self._queued.append(Unpublished(stream_id))

    def _delete_stream(self, command: msg.Command) -> None:
        target = command.args[0] if command.args else None
        if isinstance(target, bool) or not isinstance(target, float) or not target.is_integer():
            return  # nothing we can identify; deleting nothing is harmless
        stream_id = int(target)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.state is not StreamState.CREATED:
            self._unpublish(stream_id, stream)
        del self._streams[stream_id]

    def _requested_stream(self, event: Event) -> tuple[int, _Stream]:
        for stream_id, stream in self._streams.items():
            if stream.state is StreamState.PUBLISH_REQUESTED:
                return stream_id, stream
        raise LocalProtocolError(f"{type(event).__name__} without a pending PublishRequested")

    # -- output ---------------------------------------------------------------------------

    def _write(self, message: Message) -> None:
        self._out += self._writer.write(message)

    def _on_status(
        self, stream_id: int, level: str, code: str, description: str, **extra: amf0.Value
    ) -> None:
        info = msg.status(level, code, description, **extra)
        self._write(
            msg.command("onStatus", 0, None, info, stream_id=stream_id, csid=msg.CSID_STREAM)
        )

    def _maybe_acknowledge(self) -> None:
        received = self._reader.bytes_received
        if self._peer_window and received - self._acked >= self._peer_window:
            self._write(msg.acknowledgement(received))
            self._acked = received

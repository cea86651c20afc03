"""The RTMP chunk stream (spec 5.3): split messages into chunks and put them back together.

`ChunkReader` turns received bytes into whole `Message`s, applying Set Chunk Size and Abort
itself because they change how the following bytes parse. `ChunkWriter` does the reverse with
the most compact header each message allows. Timestamps here are the 32-bit wire values;
`TimestampUnwrapper` turns them into a continuing count.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LocalProtocolError, RemoteProtocolError
from .messages import TIMESTAMP_MASK, Message, MessageType, read_u32

DEFAULT_CHUNK_SIZE = 128
"""Chunk size of both directions until a Set Chunk Size says otherwise."""
MAX_CHUNK_SIZE = 1 << 24
"""Largest chunk size a peer may set; the spec allows 2^31 - 1, nobody needs more than this."""
MAX_MESSAGE_SIZE = 8 * 1024 * 1024
"""Largest message we assemble; a 4K keyframe is a few hundred kB."""
MAX_BUFFER = 16 * 1024 * 1024
"""Most bytes held at once in partially assembled messages across all chunk streams."""
MAX_CHUNK_STREAMS = 256
"""Most chunk stream ids one connection may use; encoders use fewer than ten."""
MIN_CSID = 2
MAX_CSID = 65599

_EXTENDED = 0xFFFFFF
_HEADER_SIZES = (11, 7, 3, 0)


class _InStream:
    """What the reader remembers about one chunk stream between chunks."""

    __slots__ = (
        "buffer",
        "delta",
        "ext_value",
        "extended",
        "length",
        "stream_id",
        "timestamp",
        "type_id",
    )

    def __init__(self) -> None:
        self.stream_id = 0
        self.type_id = 0
        self.length = 0
        self.timestamp = 0
        # For a type-0 header the "delta" a following type-3 message reuses is its timestamp
        # (spec 5.3.1.2.4; FFmpeg's reader and writer agree).
        self.delta = 0
        self.extended = False
        self.ext_value = 0
        self.buffer: bytearray | None = None  # the message being assembled, if any


class ChunkReader:
    """Reassembles messages from the chunk stream that follows the handshake.

    Feed bytes with `receive_data`, then call `next_message` until it returns None. Payload
    bytes move into the message they belong to as they arrive, so the raw buffer never holds
    more than a partial chunk header; assembled bytes are bounded by `max_buffer`.
    """

    def __init__(
        self,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_chunk_size: int = MAX_CHUNK_SIZE,
        max_buffer: int = MAX_BUFFER,
        max_chunk_streams: int = MAX_CHUNK_STREAMS,
    ) -> None:
        if max_buffer < max_message_size:
            raise LocalProtocolError("max_buffer must be at least max_message_size")
        if not 1 <= max_chunk_size <= 0x7FFFFFFF:
            raise LocalProtocolError("max_chunk_size must be between 1 and 2^31 - 1")
        self.max_message_size = max_message_size
        self.max_chunk_size = max_chunk_size
        self.max_buffer = max_buffer
        self.max_chunk_streams = max_chunk_streams
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.bytes_received = 0
        """Every byte ever fed in; the acknowledgement sequence number counts these."""
        self._buf = bytearray()
        self._pos = 0
        self._streams: dict[int, _InStream] = {}
        self._buffered = 0  # bytes held in partially assembled messages
        self._current: _InStream | None = None  # stream whose chunk payload we are reading
        self._current_csid = 0
        self._chunk_left = 0

    @property
    def buffered(self) -> int:
        """Bytes held in partially assembled messages."""
        return self._buffered

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        unparsed = len(self._buf) - self._pos
        if unparsed + len(data) > self.max_buffer:
            raise LocalProtocolError(
                "more than max_buffer bytes fed without draining messages; "
                "call next_message() (or events()) after each receive_data()"
            )
        self._buf += data
        self.bytes_received += len(data)

    def next_message(self) -> Message | None:
        """The next complete message, or None when more bytes are needed."""
        while True:
            message = self._step()
            if message is None:
                self._compact()
                return None
            if message.type_id == MessageType.SET_CHUNK_SIZE:
                self._set_chunk_size(message.payload)
            elif message.type_id == MessageType.ABORT:
                self._abort(read_u32(message.payload, "abort"))
            else:
                return message

    # -- internals ------------------------------------------------------------------------

    def _step(self) -> Message | None:
        """Parse one chunk header or one run of payload bytes; return a message it completes."""
        while True:
            if self._current is None:
                done = self._read_header()
                if done is not None:
                    return done
                if self._current is None:
                    return None
            stream = self._current
            assert stream.buffer is not None
            available = len(self._buf) - self._pos
            if available == 0:
                return None
            take = min(available, self._chunk_left)
            if self._buffered + take > self.max_buffer:
                raise RemoteProtocolError(
                    f"partially received messages exceed the {self.max_buffer}-byte buffer limit"
                )
            stream.buffer += self._buf[self._pos : self._pos + take]
            self._pos += take
            self._buffered += take
            self._chunk_left -= take
            if self._chunk_left:
                return None
            self._current = None
            if len(stream.buffer) == stream.length:
                return self._finish(self._current_csid, stream)

    def _read_header(self) -> Message | None:
        """Parse a chunk header if it is all here; set up the payload read that follows it."""
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < 1:
            return None
        first = buf[pos]
        fmt = first >> 6
        csid = first & 0x3F
        size = 1
        if csid == 0:
            if available < 2:
                return None
            csid = buf[pos + 1] + 64
            size = 2
        elif csid == 1:
            if available < 3:
                return None
            csid = buf[pos + 1] + (buf[pos + 2] << 8) + 64
            size = 3
        header_end = pos + size + _HEADER_SIZES[fmt]
        if len(buf) < header_end:
            return None

        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise RemoteProtocolError(
                    f"chunk of type {fmt} on chunk stream {csid}, which has had no type-0 chunk"
                )
            if len(self._streams) >= self.max_chunk_streams:
                raise RemoteProtocolError(
                    f"peer opened more than {self.max_chunk_streams} chunk streams"
                )
            stream = _InStream()
            self._streams[csid] = stream
        continuing = stream.buffer is not None
        if continuing and fmt != 3:
            raise RemoteProtocolError(
                f"type-{fmt} chunk on chunk stream {csid} before its previous message completed"
            )

        p = pos + size
        if fmt == 3:
            extended = stream.extended
            field = 0
        else:
            field = int.from_bytes(buf[p : p + 3], "big")
            extended = field == _EXTENDED
        ext_value = 0
        end = header_end
        if extended and continuing:
            # Continuation chunks repeat the extended timestamp (FFmpeg, librtmp, OBS); some
            # writers leave it out, and then the next bytes differ from it and are payload.
            # Wait for more only while what is here could still be the repeat.
            repeat = stream.ext_value.to_bytes(4, "big")
            here = bytes(buf[end : end + 4])
            if here == repeat:
                end += 4
            elif len(here) < 4 and repeat.startswith(here):
                return None
        elif extended:
            if len(buf) < end + 4:
                return None
            ext_value = int.from_bytes(buf[end : end + 4], "big")
            end += 4

        if continuing:
            self._pos = end
            self._begin_payload(csid, stream)
            return None

        value = ext_value if extended else field
        if fmt == 0:
            stream.stream_id = int.from_bytes(buf[p + 7 : p + 11], "little")
        if fmt <= 1:
            length = int.from_bytes(buf[p + 3 : p + 6], "big")
            if length > self.max_message_size:
                raise RemoteProtocolError(
                    f"message of {length} bytes on chunk stream {csid} exceeds the "
                    f"{self.max_message_size}-byte limit"
                )
            stream.length = length
            stream.type_id = buf[p + 6]
        if fmt == 0:
            stream.timestamp = value
            stream.delta = value
        else:
            delta = value if fmt != 3 or extended else stream.delta
            stream.delta = delta
            stream.timestamp = (stream.timestamp + delta) & TIMESTAMP_MASK
        if fmt != 3:
            stream.extended = extended
        stream.ext_value = ext_value
        self._pos = end
        stream.buffer = bytearray()
        if stream.length == 0:
            return self._finish(csid, stream)
        self._begin_payload(csid, stream)
        return None

    def _begin_payload(self, csid: int, stream: _InStream) -> None:
        assert stream.buffer is not None
        self._current = stream
        self._current_csid = csid
        self._chunk_left = min(self.chunk_size, stream.length - len(stream.buffer))

    def _finish(self, csid: int, stream: _InStream) -> Message:
        assert stream.buffer is not None
        payload = bytes(stream.buffer)
        self._buffered -= len(payload)
        stream.buffer = None
        return Message(csid, stream.type_id, stream.stream_id, stream.timestamp, payload)

    def _set_chunk_size(self, payload: bytes) -> None:
        size = read_u32(payload, "set chunk size")
        if size & 0x80000000:
            raise RemoteProtocolError(f"set chunk size {size:#x} has the reserved high bit set")
        if size == 0:
            raise RemoteProtocolError("set chunk size 0")
        if size > self.max_chunk_size:
            raise RemoteProtocolError(
                f"set chunk size {size} exceeds the {self.max_chunk_size}-byte limit"
            )
        self.chunk_size = size

    def _abort(self, csid: int) -> None:
        stream = self._streams.get(csid)
        if stream is not None and stream.buffer is not None:
            self._buffered -= len(stream.buffer)
            stream.buffer = None

    def _compact(self) -> None:
        # Dropping consumed bytes in bulk keeps tiny chunks (chunk size 1) linear, not quadratic.
        if self._pos and (self._pos >= len(self._buf) or self._pos > 65536):
            del self._buf[: self._pos]
            self._pos = 0


@dataclass(slots=True)
class _OutStream:
    stream_id: int
    type_id: int
    length: int
    timestamp: int
    delta: int


def encode_basic_header(fmt: int, csid: int) -> bytes:
    if MIN_CSID <= csid <= 63:
        return bytes(((fmt << 6) | csid,))
    if 64 <= csid <= 319:
        return bytes((fmt << 6, csid - 64))
    if 320 <= csid <= MAX_CSID:
        return bytes(((fmt << 6) | 1, (csid - 64) & 0xFF, (csid - 64) >> 8))
    raise LocalProtocolError(f"chunk stream id {csid} outside {MIN_CSID}..{MAX_CSID}")


class ChunkWriter:
    """Splits messages into chunks, choosing the most compact header format each allows.

    `fmt` forces a header format (tests use it to exercise every reader path); forcing one the
    chunk stream's state cannot express raises LocalProtocolError.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self._chunk_size = chunk_size
        self._streams: dict[int, _OutStream] = {}

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    def set_chunk_size(self, size: int) -> bytes:
        """Announce a new chunk size to the peer and use it for every later chunk."""
        if not 1 <= size <= 0x7FFFFFFF:
            raise LocalProtocolError(f"chunk size {size} outside 1..2^31-1")
        data = self.write(
            Message(2, MessageType.SET_CHUNK_SIZE, 0, 0, size.to_bytes(4, "big")),
        )
        self._chunk_size = size
        return data

    def write(
        self,
        message: Message,
        *,
        fmt: int | None = None,
        extended_continuations: bool = True,
    ) -> bytes:
        return b"".join(
            self.write_chunks(message, fmt=fmt, extended_continuations=extended_continuations)
        )

    def write_chunks(
        self,
        message: Message,
        *,
        fmt: int | None = None,
        extended_continuations: bool = True,
    ) -> list[bytes]:
        """The message as separate chunks, so chunks of different streams can be interleaved."""
        timestamp = message.timestamp
        if not 0 <= timestamp <= TIMESTAMP_MASK:
            raise LocalProtocolError(f"timestamp {timestamp} is not a 32-bit value")
        if not 0 <= message.stream_id <= TIMESTAMP_MASK:
            raise LocalProtocolError(f"message stream id {message.stream_id} is not 32-bit")
        length = len(message.payload)
        if length > 0xFFFFFF:
            raise LocalProtocolError(f"message of {length} bytes exceeds the 24-bit length")
        if not 0 <= message.type_id <= 0xFF:
            raise LocalProtocolError(f"message type {message.type_id} does not fit a byte")
        csid = message.csid
        prev = self._streams.get(csid)
        legal = 0
        delta = timestamp
        if prev is not None and prev.stream_id == message.stream_id:
            delta = (timestamp - prev.timestamp) & TIMESTAMP_MASK
            legal = 1
            if prev.type_id == message.type_id and prev.length == length:
                legal = 3 if delta == prev.delta else 2
        if fmt is None:
            # A delta in the upper half of the range reads as time going backwards: say it whole.
            fmt = legal if delta < 0x80000000 else 0
        elif fmt > legal:
            raise LocalProtocolError(f"header type {fmt} cannot express this message on {csid}")
        if fmt == 0:
            delta = timestamp
        field = delta  # the absolute timestamp for type 0, else the delta
        extended = field >= _EXTENDED

        header = bytearray(encode_basic_header(fmt, csid))
        if fmt <= 2:
            header += min(field, _EXTENDED).to_bytes(3, "big")
        if fmt <= 1:
            header += length.to_bytes(3, "big")
            header.append(message.type_id)
        if fmt == 0:
            header += message.stream_id.to_bytes(4, "little")
        ext = field.to_bytes(4, "big") if extended else b""
        header += ext
        continuation = encode_basic_header(3, csid)
        if extended_continuations:
            continuation += ext
        payload = message.payload
        size = self._chunk_size
        chunks = [bytes(header) + payload[:size]]
        for offset in range(size, length, size):
            chunks.append(continuation + payload[offset : offset + size])
        self._streams[csid] = _OutStream(
            message.stream_id, message.type_id, length, timestamp, delta
        )
        return chunks


class TimestampUnwrapper:
    """Turns 32-bit wrapping millisecond timestamps into a continuing integer.

    Each step is taken as the shortest way round the 2^32 circle, so a wrap moves forward and a
    small step back (audio interleaved just before video) moves back, as it should.
    """

    __slots__ = ("_last", "_last_raw")

    def __init__(self) -> None:
        self._last_raw: int | None = None
        self._last = 0

    def unwrap(self, raw: int) -> int:
        if self._last_raw is None:
            self._last = raw
        else:
            step = (raw - self._last_raw) & TIMESTAMP_MASK
            if step >= 0x80000000:
                step -= 0x1_0000_0000
            self._last += step
        self._last_raw = raw
        return self._last

"""The encoder worker's wire protocol: length-prefixed frames and the messages they carry.

Sans-IO, as the protocol cores are: `FrameDecoder.feed(bytes)` returns whole frames, however the
bytes were split by the pipe, and refuses a frame longer than its `max_size` as soon as the
length prefix says so (nothing of it is buffered). A frame is a 4-byte big-endian length and a
payload; a payload is one message, its first byte the message type.

supervisor -> worker: `Plan` (once, first), `SourceConfig` (per source track), `MediaPacket`
(stream 0: the source), then end of file.
worker -> supervisor: `StreamConfig` (an encoder's extradata, before that stream's first packet;
audio streams before video streams), `MediaPacket` (per output stream), `Stats`, `Log`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, TypeAlias

from owncastd.media.packets import Packet, Track

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FrameDecoder",
    "FramingError",
    "Log",
    "MediaPacket",
    "Message",
    "Plan",
    "ProtocolError",
    "SourceConfig",
    "Stats",
    "StreamConfig",
    "decode_message",
    "encode_frame",
    "encode_message",
    "packet_frame",
]

DEFAULT_MAX_FRAME = 32 * 1024 * 1024
"""Larger than any compressed access unit a live stream carries (a 4K intra frame is a few MB)."""

_LENGTH = struct.Struct(">I")
_PACKET = struct.Struct(">BBBBqq")  # type, stream, track, flags, dts, pts
_AUDIO_FORMAT = struct.Struct(">IB")  # sample rate, channels
_TRACK_CODES = {Track.VIDEO: 0, Track.AUDIO: 1}
_TRACKS = {code: track for track, code in _TRACK_CODES.items()}

_PLAN, _SOURCE, _PACKET_T, _CONFIG, _STATS, _LOG = 1, 2, 3, 4, 5, 6
_KEYFRAME = 0x01


class FramingError(ValueError):
    """The byte stream is not a sequence of frames within the size limit."""


class ProtocolError(FramingError):
    """A frame does not hold a valid message."""


def encode_frame(payload: bytes, max_size: int = DEFAULT_MAX_FRAME) -> bytes:
    """One frame: the payload's length, then the payload."""
    if len(payload) > max_size:
        raise FramingError(f"frame of {len(payload)} bytes exceeds the limit of {max_size}")
    return _LENGTH.pack(len(payload)) + payload


class FrameDecoder:
    """Bytes in, whole frames out. After an error it stays failed: the stream has lost sync."""

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        if not 0 < max_size < 1 << 32:
            raise ValueError("max_size must be between 1 and 2**32 - 1")
        self.max_size = max_size
        self._buffer = bytearray()
        self._error: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes of the stream; return the frames they complete, in order."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        pos = 0
        end = len(buffer)
        with memoryview(buffer) as view:  # one copy per frame, released before the resize
            while end - pos >= 4:
                (size,) = _LENGTH.unpack_from(view, pos)
                if size > self.max_size:
                    self._error = FramingError(
                        f"frame of {size} bytes exceeds the limit of {self.max_size}"
                    )
                    break
                if end - pos - 4 < size:
                    break
                frames.append(bytes(view[pos + 4 : pos + 4 + size]))
                pos += 4 + size
        if self._error is not None:
            buffer.clear()
            raise self._error
        if pos:
            del buffer[:pos]
        return frames

    def close(self) -> None:
        """The stream ended: a partial frame left over is an error."""
        if self._error is None and self._buffer:
            self._error = FramingError(
                f"stream ended inside a frame ({len(self._buffer)} bytes of it received)"
            )
        if self._error is not None:
            raise self._error


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What the worker makes: encoder, rungs, output streams (JSON; see `media.ladder`)."""

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A source track's codec (VideoCodec/AudioCodec value), configuration record and, for
    audio, its rate and channels (so a worker can open its audio encoders before decoding)."""

    track: Track
    codec: str
    record: bytes
    sample_rate: int = 0
    channels: int = 0


@dataclass(frozen=True, slots=True)
class MediaPacket:
    """A packet of one stream: 0 is the source on the way in, an output stream on the way out."""

    stream: int
    packet: Packet


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """An output stream's decoder configuration (avcC for H.264, AudioSpecificConfig for AAC)."""

    stream: int
    record: bytes


@dataclass(frozen=True, slots=True)
class Stats:
    """The worker's counters, about once a second (JSON)."""

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Log:
    """Something the worker wants in the daemon's log; `level` is warning or error."""

    level: str
    text: str


Message: TypeAlias = Plan | SourceConfig | MediaPacket | StreamConfig | Stats | Log


def packet_frame(stream: int, packet: Packet) -> bytes:
    """A whole frame for one packet, built with a single copy of the data (the hot path)."""
    header = _PACKET.pack(
        _PACKET_T,
        stream,
        _TRACK_CODES[packet.track],
        _KEYFRAME if packet.keyframe else 0,
        packet.dts,
        packet.pts,
    )
    return b"".join((_LENGTH.pack(len(header) + len(packet.data)), header, packet.data))


def encode_message(message: Message) -> bytes:
    """A message's payload (frame it with `encode_frame`)."""
    if isinstance(message, MediaPacket):
        return packet_frame(message.stream, message.packet)[4:]
    if isinstance(message, Plan | Stats):
        kind = _PLAN if isinstance(message, Plan) else _STATS
        return bytes([kind]) + json.dumps(message.data, separators=(",", ":")).encode()
    if isinstance(message, SourceConfig):
        codec = message.codec.encode()
        return b"".join(
            (
                bytes([_SOURCE, _TRACK_CODES[message.track], len(codec)]),
                codec,
                _AUDIO_FORMAT.pack(message.sample_rate, message.channels),
                message.record,
            )
        )
    if isinstance(message, StreamConfig):
        return bytes([_CONFIG, message.stream]) + message.record
    level = message.level.encode()
    return bytes([_LOG, len(level)]) + level + message.text.encode()


def decode_message(payload: bytes) -> Message:
    """Parse one frame's payload; ProtocolError names what is wrong."""
    if not payload:
        raise ProtocolError("empty frame")
    kind = payload[0]
    try:
        if kind == _PACKET_T:
            if len(payload) < _PACKET.size:
                raise ProtocolError(f"packet message of {len(payload)} bytes is truncated")
            _, stream, track, flags, dts, pts = _PACKET.unpack_from(payload)
            return MediaPacket(
                stream,
                Packet(_track(track), dts, pts, bool(flags & _KEYFRAME), payload[_PACKET.size :]),
            )
        if kind in (_PLAN, _STATS):
            data = json.loads(payload[1:])
            if not isinstance(data, dict):
                raise ProtocolError("plan and stats messages must be JSON objects")
            return Plan(data) if kind == _PLAN else Stats(data)
        if kind == _SOURCE:
            track, size = payload[1], payload[2]
            codec = payload[3 : 3 + size]
            rest = 3 + size + _AUDIO_FORMAT.size
            if len(codec) != size or len(payload) < rest:
                raise ProtocolError("source config message is truncated")
            rate, channels = _AUDIO_FORMAT.unpack_from(payload, 3 + size)
            return SourceConfig(_track(track), codec.decode(), payload[rest:], rate, channels)
        if kind == _CONFIG:
            return StreamConfig(payload[1], payload[2:])
        if kind == _LOG:
            size = payload[1]
            level = payload[2 : 2 + size]
            if len(level) != size:
                raise ProtocolError("log message is truncated")
            return Log(level.decode(), payload[2 + size :].decode(errors="replace"))
    except IndexError:
        raise ProtocolError(f"message of type {kind} is truncated") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"message of type {kind}: {exc}") from None
    raise ProtocolError(f"unknown message type {kind}")


def _track(code: int) -> Track:
    try:
        return _TRACKS[code]
    except KeyError:
        raise ProtocolError(f"unknown track code {code}") from None

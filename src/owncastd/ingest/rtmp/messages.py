"""RTMP messages: type ids, the `Message` value, and the payload codecs for control, user control,
command and aggregate messages.

Everything here is a pure function of bytes or values; which message to send when is the
connection's business.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from . import amf0
from .errors import RemoteProtocolError

TIMESTAMP_MASK = 0xFFFF_FFFF

CSID_CONTROL = 2
"""Chunk stream id that protocol control and user control messages must use (spec 5.4)."""
CSID_COMMAND = 3
"""Chunk stream id for our NetConnection command replies (FFmpeg and librtmp use 3 too)."""
CSID_STREAM = 5
"""Chunk stream id for our NetStream status messages."""


class MessageType(enum.IntEnum):
    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(enum.IntEnum):
    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


class PeerBandwidthLimit(enum.IntEnum):
    HARD = 0
    SOFT = 1
    DYNAMIC = 2


@dataclass(frozen=True, slots=True)
class Message:
    """One RTMP message as the chunk layer carries it; `timestamp` is the 32-bit wire value."""

    csid: int
    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


def read_u32(payload: bytes, what: str, offset: int = 0) -> int:
    if len(payload) < offset + 4:
        raise RemoteProtocolError(f"{what} message too short: {len(payload)} bytes")
    value: int = _U32.unpack_from(payload, offset)[0]
    return value


# -- protocol control and user control ------------------------------------------------------


def set_chunk_size(size: int) -> Message:
    return Message(CSID_CONTROL, MessageType.SET_CHUNK_SIZE, 0, 0, _U32.pack(size))


def window_ack_size(size: int) -> Message:
    return Message(CSID_CONTROL, MessageType.WINDOW_ACK_SIZE, 0, 0, _U32.pack(size))


def set_peer_bandwidth(size: int, limit: PeerBandwidthLimit) -> Message:
    payload = _U32.pack(size) + bytes((limit,))
    return Message(CSID_CONTROL, MessageType.SET_PEER_BANDWIDTH, 0, 0, payload)


def acknowledgement(sequence: int) -> Message:
    payload = _U32.pack(sequence & TIMESTAMP_MASK)
    return Message(CSID_CONTROL, MessageType.ACKNOWLEDGEMENT, 0, 0, payload)


def user_control(event: UserControlEvent, value: int) -> Message:
    payload = _U16.pack(event) + _U32.pack(value & TIMESTAMP_MASK)
    return Message(CSID_CONTROL, MessageType.USER_CONTROL, 0, 0, payload)


def parse_user_control(payload: bytes) -> tuple[int, int | None]:
    """Return the event type and its first 32-bit value (None when the event carries none)."""
    if len(payload) < 2:
        raise RemoteProtocolError(f"user control message too short: {len(payload)} bytes")
    event: int = _U16.unpack_from(payload)[0]
    value = read_u32(payload, "user control", 2) if len(payload) >= 6 else None
    return event, value


# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """An AMF0 command: name, transaction id, command object, then the optional arguments."""

    name: str
    transaction_id: float
    command_object: amf0.Value
    args: tuple[amf0.Value, ...]


def parse_command(payload: bytes) -> Command:
    values = amf0.decode(payload)
    if len(values) < 2:
        raise RemoteProtocolError("command message needs a name and a transaction id")
    name, transaction_id = values[0], values[1]
    if not isinstance(name, str):
        raise RemoteProtocolError(f"command name is {type(name).__name__}, not a string")
    if isinstance(transaction_id, bool) or not isinstance(transaction_id, float):
        raise RemoteProtocolError(f"transaction id of {name!r} is not a number")
    command_object = values[2] if len(values) > 2 else None
    return Command(name, transaction_id, command_object, tuple(values[3:]))


def command(
    name: str,
    transaction_id: float,
    command_object: amf0.Value,
    *args: amf0.Value,
    stream_id: int = 0,
    csid: int = CSID_COMMAND,
) -> Message:
    payload = amf0.encode(name, transaction_id, command_object, *args)
    return Message(csid, MessageType.COMMAND_AMF0, stream_id, 0, payload)


def status(level: str, code: str, description: str, **extra: amf0.Value) -> dict[str, amf0.Value]:
    """The info object of onStatus and `_result` replies."""
    info: dict[str, amf0.Value] = {"level": level, "code": code, "description": description}
    info.update(extra)
    return info


# -- aggregate ------------------------------------------------------------------------------

_AGGREGATE_HEADER = 11
_BACK_POINTER = 4


def split_aggregate(message: Message) -> list[Message]:
    """Split an aggregate message into its sub-messages (FLV tags without the file header).

    Sub-message timestamps are rebased so the first one gets the aggregate's own timestamp.
    """
    payload = message.payload
    out: list[Message] = []
    pos = 0
    first: int | None = None
    while pos < len(payload):
        if len(payload) - pos < _AGGREGATE_HEADER:
            raise RemoteProtocolError("aggregate message: truncated sub-message header")
        type_id = payload[pos]
        size = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        raw_ts = int.from_bytes(payload[pos + 4 : pos + 7], "big") | (payload[pos + 7] << 24)
        body_start = pos + _AGGREGATE_HEADER
        body_end = body_start + size
        if body_end + _BACK_POINTER > len(payload):
            raise RemoteProtocolError(
                f"aggregate message: sub-message of {size} bytes overruns the aggregate"
            )
        if type_id == MessageType.AGGREGATE:
            raise RemoteProtocolError("aggregate message nested inside an aggregate")
        if first is None:
            first = raw_ts
        timestamp = (message.timestamp + raw_ts - first) & TIMESTAMP_MASK
        out.append(
            Message(
                message.csid,
                type_id,
                message.stream_id,
                timestamp,
                payload[body_start:body_end],
            )
        )
        pos = body_end + _BACK_POINTER
    return out

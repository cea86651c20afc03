"""AMF0, the value encoding of RTMP commands and metadata: decode peer bytes, encode our replies.

Python mapping: number <-> float (ints encode as numbers), boolean <-> bool, string and long
string <-> str, object <-> dict, ECMA array <-> `ECMAArray` (a dict), strict array <-> list,
null <-> None, undefined <-> `UNDEFINED`, date <-> `Date`. References, typed objects, XML and the
AMF3 switch are refused: encoders never need them to publish, and each is extra attack surface.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from .errors import LocalProtocolError, RemoteProtocolError

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays we decode; real metadata is two levels deep."""

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
MOVIECLIP = 0x04
NULL = 0x05
UNDEFINED_MARKER = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
UNSUPPORTED = 0x0D
RECORDSET = 0x0E
XML_DOCUMENT = 0x0F
TYPED_OBJECT = 0x10
AVMPLUS = 0x11  # switch to AMF3 for the next value

_REFUSED = {
    MOVIECLIP: "movieclip",
    REFERENCE: "reference",
    UNSUPPORTED: "unsupported",
    RECORDSET: "recordset",
    XML_DOCUMENT: "XML document",
    TYPED_OBJECT: "typed object",
}

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")
_DATE = struct.Struct(">dh")


class Undefined(enum.Enum):
    """AMF0's undefined, distinct from null (None)."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = Undefined.UNDEFINED


@dataclass(frozen=True, slots=True)
class Date:
    """An AMF0 date: milliseconds since the Unix epoch (UTC) and a timezone that must be ignored."""

    milliseconds: float
    timezone: int = 0


class ECMAArray(dict[str, "Value"]):
    """An associative array; onMetaData arrives as one. Behaves as a dict, encodes as marker 0x08."""


Value: TypeAlias = "float | bool | str | Undefined | Date | dict[str, Value] | list[Value] | None"


# -- decoding -------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "max_depth", "pos")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise RemoteProtocolError(
                f"AMF0 value truncated: needs {size} bytes at offset {self.pos}, "
                f"{len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def text(self, size: int) -> str:
        # Some encoders put Latin-1 in titles; replacing keeps the rest of the metadata usable.
        return self.take(size).decode("utf-8", errors="replace")

    def value(self, depth: int) -> Value:
        marker = self.u8()
        if marker == NUMBER:
            number: float = _F64.unpack(self.take(8))[0]
            return number
        if marker == BOOLEAN:
            return self.u8() != 0
        if marker == STRING:
            return self.text(self.u16())
        if marker == LONG_STRING:
            return self.text(self.u32())
        if marker == NULL:
            return None
        if marker == UNDEFINED_MARKER:
            return UNDEFINED
        if marker == OBJECT:
            return self.properties(depth + 1, {})
        if marker == ECMA_ARRAY:
            self.u32()  # the count is only a hint, often wrong; the end marker is authoritative
            return self.properties(depth + 1, ECMAArray())
        if marker == STRICT_ARRAY:
            return self.strict_array(depth + 1)
        if marker == DATE:
            milliseconds, timezone = _DATE.unpack(self.take(10))
            return Date(milliseconds, timezone)
        if marker == AVMPLUS:
            raise RemoteProtocolError("AMF3 values (AMF0 marker 0x11) are not supported")
        if marker == OBJECT_END:
            raise RemoteProtocolError(f"AMF0 object-end marker outside an object at {self.pos - 1}")
        name = _REFUSED.get(marker)
        if name is not None:
            raise RemoteProtocolError(
                f"AMF0 {name} values (marker {marker:#04x}) are not supported"
            )
        raise RemoteProtocolError(
            f"unknown AMF0 type marker {marker:#04x} at offset {self.pos - 1}"
        )

    def check_depth(self, depth: int) -> None:
        if depth > self.max_depth:
            raise RemoteProtocolError(f"AMF0 values nested deeper than {self.max_depth} levels")

    def properties(self, depth: int, into: dict[str, Value]) -> dict[str, Value]:
        self.check_depth(depth)
        while True:
            key = self.text(self.u16())
            if key == "" and self.pos < len(self.data) and self.data[self.pos] == OBJECT_END:
                self.pos += 1
                return into
            into[key] = self.value(depth)

    def strict_array(self, depth: int) -> list[Value]:
        self.check_depth(depth)
        count = self.u32()
        # Every value takes at least one byte: refuse a count the data cannot hold before looping.
        if count > len(self.data) - self.pos:
            raise RemoteProtocolError(
                f"AMF0 strict array claims {count} items in {len(self.data) - self.pos} bytes"
            )
        return [self.value(depth) for _ in range(count)]


def decode(data: bytes, *, max_depth: int = MAX_DEPTH) -> list[Value]:
    """Decode a sequence of AMF0 values filling `data` (a command or data message body)."""
    reader = _Reader(bytes(data), max_depth)
    values: list[Value] = []
    while reader.pos < len(reader.data):
        values.append(reader.value(0))
    return values


def decode_value(data: bytes, *, max_depth: int = MAX_DEPTH) -> tuple[Value, int]:
    """Decode one value at the start of `data`; return it and the number of bytes it used."""
    reader = _Reader(bytes(data), max_depth)
    return reader.value(0), reader.pos


# -- encoding -------------------------------------------------------------------------------


def _encode_text(out: bytearray, text: str, short_marker: int | None) -> None:
    raw = text.encode("utf-8")
    if len(raw) <= 0xFFFF:
        if short_marker is not None:
            out.append(short_marker)
        out += _U16.pack(len(raw))
    elif short_marker is None:
        raise LocalProtocolError(f"AMF0 property name of {len(raw)} bytes exceeds 65535")
    else:
        if len(raw) > 0xFFFFFFFF:
            raise LocalProtocolError("AMF0 string too long")
        out.append(LONG_STRING)
        out += _U32.pack(len(raw))
    out += raw


def _encode_properties(out: bytearray, values: dict[str, Value], depth: int) -> None:
    for key, item in values.items():
        if not isinstance(key, str):
            raise LocalProtocolError(f"AMF0 property names must be str, not {type(key).__name__}")
        _encode_text(out, key, None)
        _encode(out, item, depth)
    out += b"\0\0" + bytes((OBJECT_END,))


def _encode(out: bytearray, value: Value, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LocalProtocolError(f"AMF0 values nested deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append(NULL)
    elif value is UNDEFINED:
        out.append(UNDEFINED_MARKER)
    elif isinstance(value, bool):
        out += bytes((BOOLEAN, int(value)))
    elif isinstance(value, int | float):
        number = float(value)
        out.append(NUMBER)
        out += _F64.pack(number)
    elif isinstance(value, str):
        _encode_text(out, value, STRING)
    elif isinstance(value, Date):
        if not -0x8000 <= value.timezone <= 0x7FFF:
            raise LocalProtocolError(f"AMF0 date timezone {value.timezone} does not fit 16 bits")
        out.append(DATE)
        out += _DATE.pack(value.milliseconds, value.timezone)
    elif isinstance(value, ECMAArray):
        out.append(ECMA_ARRAY)
        out += _U32.pack(len(value))
        _encode_properties(out, value, depth + 1)
    elif isinstance(value, dict):
        out.append(OBJECT)
        _encode_properties(out, value, depth + 1)
    elif isinstance(value, list | tuple):
        out.append(STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode(out, item, depth + 1)
    else:
        raise LocalProtocolError(f"cannot encode {type(value).__name__} as AMF0")


def encode(*values: Value) -> bytes:
    """Encode values back to back, as a command or data message body."""
    return encode_all(values)


def encode_all(values: Iterable[Value]) -> bytes:
    out = bytearray()
    for value in values:
        _encode(out, value, 0)
    return bytes(out)

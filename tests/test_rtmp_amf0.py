"""AMF0 codec: every supported type, refusals, limits, and a round-trip property."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from owncastd.ingest.rtmp import amf0
from owncastd.ingest.rtmp.amf0 import UNDEFINED, Date, ECMAArray, decode, decode_value, encode
from owncastd.ingest.rtmp.errors import LocalProtocolError, RemoteProtocolError


def test_number_boolean_null_undefined() -> None:
    data = encode(1.5, True, False, None, UNDEFINED)
    assert data == (
        b"\x00" + struct.pack(">d", 1.5) + b"\x01\x01" + b"\x01\x00" + b"\x05" + b"\x06"
    )
    assert decode(data) == [1.5, True, False, None, UNDEFINED]


def test_ints_encode_as_numbers() -> None:
    assert decode(encode(3)) == [3.0]
    assert isinstance(decode(encode(3))[0], float)


def test_string_and_long_string() -> None:
    assert encode("hé") == b"\x02\x00\x03h\xc3\xa9"
    long = "x" * 70_000
    data = encode(long)
    assert data[0] == amf0.LONG_STRING
    assert decode(data) == [long]
    assert decode(b"\x0c\x00\x00\x00\x02ok") == ["ok"]  # a short long-string is fine too


def test_object_and_ecma_array() -> None:
    obj = {"app": "live", "n": 2.0, "nested": {"deep": [1.0, "two", None]}}
    data = encode(obj)
    assert data[0] == amf0.OBJECT
    assert data.endswith(b"\x00\x00\x09")
    assert decode(data) == [obj]

    array = ECMAArray(width=1280.0, height=720.0)
    data = encode(array)
    assert data[:5] == b"\x08\x00\x00\x00\x02"
    [value] = decode(data)
    assert isinstance(value, ECMAArray)
    assert value == {"width": 1280.0, "height": 720.0}


def test_ecma_array_count_is_only_a_hint() -> None:
    data = bytearray(encode(ECMAArray(a=1.0, b=2.0)))
    data[1:5] = b"\x00\x00\x00\x63"  # claims 99 entries; encoders get this wrong
    assert decode(bytes(data)) == [{"a": 1.0, "b": 2.0}]


def test_empty_key_with_a_value_is_a_property() -> None:
    assert decode(encode({"": 1.0, "b": True})) == [{"": 1.0, "b": True}]


def test_strict_array_and_date() -> None:
    assert decode(encode([1.0, [2.0, []], "x"])) == [[1.0, [2.0, []], "x"]]
    date = Date(1_700_000_000_000.0, 0)
    assert encode(date) == b"\x0b" + struct.pack(">dh", 1_700_000_000_000.0, 0)
    assert decode(encode(date)) == [date]


def test_decode_value_reports_its_length() -> None:
    data = encode("abc", 1.0)
    assert decode_value(data) == ("abc", 6)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode(b"\x02\x00\x02\xff\xfe") == ["\ufffd\ufffd"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x11\x06\x03ab", "AMF3"),
        (b"\x07\x00\x01", "reference"),
        (b"\x10\x00\x01C\x00\x00\x09", "typed object"),
        (b"\x0f\x00\x00\x00\x00", "XML"),
        (b"\x04", "movieclip"),
        (b"\x0d", "unsupported"),
        (b"\x0e", "recordset"),
        (b"\x12", "unknown AMF0 type"),
        (b"\x09", "object-end marker outside"),
    ],
)
def test_refused_markers(data: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00",  # number needs 8 bytes
        b"\x01",
        b"\x02\x00\x05ab",
        b"\x0c\xff\xff\xff\xff",  # 4 GB long string in 5 bytes
        b"\x03\x00\x01a\x00",  # object without its end
        b"\x03\x00\x01a",
        b"\x08\x00\x00\x00\x01",
        b"\x0b\x00",
    ],
)
def test_truncated_values(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode(data)


def test_strict_array_count_beyond_the_data_fails_fast() -> None:
    with pytest.raises(RemoteProtocolError, match="claims 4294967295 items"):
        decode(b"\x0a\xff\xff\xff\xff\x05")


def test_nesting_depth_limit() -> None:
    deep: amf0.Value = "leaf"
    for _ in range(amf0.MAX_DEPTH):
        deep = [deep]
    assert decode(encode(deep)) == [deep]
    data = b"\x0a\x00\x00\x00\x01" * (amf0.MAX_DEPTH + 1) + b"\x05"
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        decode(data)
    objects = b"\x03\x00\x01k" * 1000 + b"\x05"
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        decode(objects)
    with pytest.raises(LocalProtocolError):
        encode([deep])


def test_encoding_refusals() -> None:
    with pytest.raises(LocalProtocolError):
        encode(object())  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode({1: 2.0})  # type: ignore[dict-item]
    with pytest.raises(LocalProtocolError):
        encode({"k" * 70_000: 1.0})
    with pytest.raises(LocalProtocolError):
        encode(Date(0.0, 40_000))


# -- round trip -----------------------------------------------------------------------------

keys = st.text(max_size=20)
scalars = st.one_of(
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=50),
    st.none(),
    st.just(UNDEFINED),
    st.builds(Date, st.floats(allow_nan=False), st.integers(-0x8000, 0x7FFF)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(keys, inner, max_size=5),
        st.dictionaries(keys, inner, max_size=5).map(ECMAArray),
    ),
    max_leaves=30,
)


def same(a: amf0.Value, b: amf0.Value) -> bool:
    """Equality that tells objects from ECMA arrays and NaN from NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=4))
def test_round_trip(items: list[amf0.Value]) -> None:
    data = amf0.encode_all(items)
    decoded = decode(data)
    assert len(decoded) == len(items)
    assert all(same(a, b) for a, b in zip(items, decoded, strict=True))
    assert amf0.encode_all(decoded) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode(data)

"""Chunk stream reader and writer: header formats, csid forms, extended timestamps, limits."""

from __future__ import annotations

import random
import struct
import time
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from owncastd.ingest.rtmp.chunk import (
    ChunkReader,
    ChunkWriter,
    TimestampUnwrapper,
    encode_basic_header,
)
from owncastd.ingest.rtmp.errors import LocalProtocolError, RemoteProtocolError
from owncastd.ingest.rtmp.messages import Message, MessageType

VIDEO = MessageType.VIDEO


def read_all(reader: ChunkReader, data: bytes, step: int | None = None) -> list[Message]:
    out: list[Message] = []
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        reader.receive_data(piece)
        while (message := reader.next_message()) is not None:
            out.append(message)
    return out


def roundtrip(messages: list[Message], **kwargs: object) -> list[Message]:
    writer = ChunkWriter()
    data = b"".join(writer.write(m) for m in messages)
    return read_all(ChunkReader(**kwargs), data)  # type: ignore[arg-type]


def set_chunk_size_bytes(size: int, csid: int = 2) -> bytes:
    return ChunkWriter().write(
        Message(csid, MessageType.SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size))
    )


# -- basics ---------------------------------------------------------------------------------


def test_type0_header_bytes() -> None:
    data = ChunkWriter().write(Message(3, 20, 1, 0x123456, b"abc"))
    assert data == bytes([0x03, 0x12, 0x34, 0x56, 0, 0, 3, 20, 1, 0, 0, 0]) + b"abc"


def test_header_types_chosen_and_read() -> None:
    writer = ChunkWriter()
    messages = [
        Message(4, VIDEO, 1, 1000, b"a" * 10),  # type 0
        Message(4, VIDEO, 1, 1040, b"b" * 20),  # type 1: new length
        Message(4, VIDEO, 1, 1060, b"c" * 20),  # type 2: new delta only
        Message(4, VIDEO, 1, 1080, b"d" * 20),  # type 3: same delta
        Message(4, VIDEO, 2, 1080, b"e" * 20),  # type 0: other message stream
    ]
    chunks = [writer.write(m) for m in messages]
    assert [c[0] >> 6 for c in chunks] == [0, 1, 2, 3, 0]
    assert read_all(ChunkReader(), b"".join(chunks)) == messages


def test_type3_after_type0_reuses_its_timestamp_as_delta() -> None:
    # Spec 5.3.1.2.4 and FFmpeg: after a type-0 header, the "previous delta" is its timestamp.
    first = ChunkWriter().write(Message(4, VIDEO, 1, 40, b"x"))
    data = first + bytes([0xC4]) + b"y"
    messages = read_all(ChunkReader(), data)
    assert [m.timestamp for m in messages] == [40, 80]


def test_zero_length_message() -> None:
    assert roundtrip([Message(3, 18, 1, 5, b""), Message(3, 18, 1, 6, b"")]) == [
        Message(3, 18, 1, 5, b""),
        Message(3, 18, 1, 6, b""),
    ]


def test_split_at_every_byte() -> None:
    writer = ChunkWriter()
    messages = [Message(4 + i % 3, VIDEO, 1, i * 33, bytes([i]) * (i * 37)) for i in range(12)]
    data = b"".join(writer.write(m) for m in messages)
    assert read_all(ChunkReader(), data, step=1) == messages


@pytest.mark.parametrize("csid", [2, 63, 64, 65, 319, 320, 1000, 65599])
def test_csid_forms(csid: int) -> None:
    header = encode_basic_header(0, csid)
    assert len(header) == (1 if csid < 64 else 2 if csid < 320 else 3)
    message = Message(csid, VIDEO, 1, 7, b"z" * 300)
    assert roundtrip([message]) == [message]


def test_three_byte_form_of_a_small_csid_is_legal() -> None:
    # csid 70 written in the 3-byte form: 0b00_000001, then (70 - 64) little-endian.
    body = bytes([0, 0, 9, 0, 0, 2, 9, 1, 0, 0, 0]) + b"hi"
    messages = read_all(ChunkReader(), bytes([0x01, 6, 0]) + body)
    assert messages == [Message(70, 9, 1, 9, b"hi")]


@pytest.mark.parametrize("csid", [0, 1, 65600, -1])
def test_writer_refuses_impossible_csids(csid: int) -> None:
    with pytest.raises(LocalProtocolError):
        ChunkWriter().write(Message(csid, VIDEO, 1, 0, b""))


def test_interleaved_chunks_of_two_streams() -> None:
    writer = ChunkWriter()
    a = writer.write_chunks(Message(4, 8, 1, 0, b"A" * 300))
    v = writer.write_chunks(Message(6, 9, 1, 0, b"V" * 300))
    data = b"".join(x for pair in zip(a, v, strict=True) for x in pair)
    assert sorted(read_all(ChunkReader(), data), key=lambda m: m.csid) == [
        Message(4, 8, 1, 0, b"A" * 300),
        Message(6, 9, 1, 0, b"V" * 300),
    ]


# -- extended timestamps --------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", [0xFFFFFE, 0xFFFFFF, 0x1000000, 0xFFFFFFFF])
def test_extended_timestamp_on_every_chunk(timestamp: int) -> None:
    writer = ChunkWriter()
    data = writer.write(Message(4, VIDEO, 1, timestamp, b"q" * 300))
    extended = timestamp >= 0xFFFFFF
    # 12-byte header (+4), 2 continuations of 1 byte (+4 each when extended): FFmpeg's layout.
    assert len(data) == 300 + 12 + 2 + (12 if extended else 0)
    assert roundtrip([Message(4, VIDEO, 1, timestamp, b"q" * 300)])[0].timestamp == timestamp


def test_continuations_without_extended_timestamp_are_read_too() -> None:
    payload = bytes(range(256)) + bytes(44)
    data = ChunkWriter().write(
        Message(4, VIDEO, 1, 0x1234567, payload), extended_continuations=False
    )
    assert read_all(ChunkReader(), data) == [Message(4, VIDEO, 1, 0x1234567, payload)]


def test_short_last_continuation_without_extended_timestamp_does_not_stall() -> None:
    # Two payload bytes after the last continuation header, nothing more on the wire: they
    # cannot be the repeated timestamp, so the message completes without waiting.
    payload = b"p" * 128 + b"zz"
    data = ChunkWriter().write(
        Message(4, VIDEO, 1, 0x1234567, payload), extended_continuations=False
    )
    assert read_all(ChunkReader(), data) == [Message(4, VIDEO, 1, 0x1234567, payload)]


def test_type3_new_message_with_extended_delta() -> None:
    writer = ChunkWriter()
    messages = [Message(4, VIDEO, 1, t, b"m" * 5) for t in (0, 0x2000000, 0x4000000, 0x6000000)]
    chunks = [writer.write(m) for m in messages]
    assert [c[0] >> 6 for c in chunks] == [0, 2, 3, 3]
    assert read_all(ChunkReader(), b"".join(chunks)) == messages


def test_wrap_at_2_32_by_delta() -> None:
    writer = ChunkWriter()
    messages = [Message(4, VIDEO, 1, t, b"w") for t in (0xFFFFFFF0, 0xFFFFFFFF, 0x00000010)]
    chunks = [writer.write(m) for m in messages]
    assert chunks[2][0] >> 6 == 2  # the wrap travels as a small delta
    assert read_all(ChunkReader(), b"".join(chunks)) == messages


def test_backwards_step_as_huge_delta_like_librtmp() -> None:
    # librtmp sends audio and video on one chunk stream as deltas, so a step back arrives as a
    # delta near 2^32 (extended); it must land on the right 32-bit value.
    writer = ChunkWriter()
    first = Message(4, VIDEO, 1, 1000, b"v" * 3)
    back = Message(4, 8, 1, 990, b"a" * 2)
    data = writer.write(first) + writer.write(back, fmt=1)
    assert read_all(ChunkReader(), data) == [first, back]


def test_unwrapper() -> None:
    clock = TimestampUnwrapper()
    raws = [0xFFFFFF00, 0xFFFFFFF0, 0x10, 0x8, 0x7FFFFFFF, 0xFFFFFFF0, 0x20]
    got = [clock.unwrap(r) for r in raws]
    assert got == [
        0xFFFFFF00,
        0xFFFFFFF0,
        0x1_0000_0010,
        0x1_0000_0008,
        0x1_7FFF_FFFF,
        0x1_FFFF_FFF0,
        0x2_0000_0020,
    ]


@given(
    start=st.integers(0, 0xFFFFFFFF),
    steps=st.lists(st.integers(-(2**31) + 1, 2**31 - 1), max_size=50),
)
def test_unwrapper_recovers_any_walk(start: int, steps: list[int]) -> None:
    clock = TimestampUnwrapper()
    true = start
    assert clock.unwrap(start) == start
    for step in steps:
        true += step
        assert clock.unwrap(true & 0xFFFFFFFF) == true


# -- property: writer then reader -----------------------------------------------------------

timestamps = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 100_000),
    st.sampled_from([0xFFFFFE, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]),
    st.integers(0xFFFFFF00, 0xFFFFFFFF),
)
csids = st.one_of(
    st.integers(3, 8), st.integers(2, 63), st.integers(64, 319), st.integers(320, 65599)
)
message_types = st.integers(0, 255).filter(
    lambda t: t not in (MessageType.SET_CHUNK_SIZE, MessageType.ABORT)
)
messages_strategy = st.lists(
    st.tuples(
        csids,
        message_types,
        st.sampled_from([0, 1, 1, 1, 2, 0xFFFFFFFF]),
        timestamps,
        st.binary(max_size=700),
        st.sampled_from([None, 0, 1, 2, 3]),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=messages_strategy,
    chunk_size=st.one_of(st.integers(1, 300), st.sampled_from([128, 4096, 65536])),
    interleave_seed=st.integers(0, 2**32),
    step=st.one_of(st.none(), st.integers(1, 97)),
)
def test_writer_then_reader_returns_every_message(
    specs: list[tuple[int, int, int, int, bytes, int | None]],
    chunk_size: int,
    interleave_seed: int,
    step: int | None,
) -> None:
    writer = ChunkWriter()
    prelude = writer.set_chunk_size(chunk_size)
    per_csid: dict[int, list[bytes]] = defaultdict(list)
    expected: dict[int, list[Message]] = defaultdict(list)
    for csid, type_id, stream_id, timestamp, payload, fmt in specs:
        message = Message(csid, type_id, stream_id, timestamp, payload)
        try:
            chunks = writer.write_chunks(message, fmt=fmt)
        except LocalProtocolError:
            chunks = writer.write_chunks(message)  # that header type cannot express it
        per_csid[csid] += chunks
        expected[csid].append(message)
    # Interleave chunks across chunk streams, keeping each stream's own order.
    rng = random.Random(interleave_seed)
    queues = {csid: list(reversed(chunks)) for csid, chunks in per_csid.items()}
    data = bytearray(prelude)
    while queues:
        csid = rng.choice(sorted(queues))
        data += queues[csid].pop()
        if not queues[csid]:
            del queues[csid]
    got: dict[int, list[Message]] = defaultdict(list)
    for message in read_all(ChunkReader(), bytes(data), step=step):
        got[message.csid].append(message)
    assert got == expected


# -- set chunk size, abort, limits ----------------------------------------------------------


def test_set_chunk_size_1_is_legal_and_linear() -> None:
    writer = ChunkWriter()
    payload = bytes(random.Random(3).randbytes(200_000))
    data = writer.set_chunk_size(1) + writer.write(Message(4, VIDEO, 1, 0, payload))
    reader = ChunkReader()
    started = time.perf_counter()
    messages = read_all(reader, data, step=65536)
    elapsed = time.perf_counter() - started
    assert reader.chunk_size == 1
    assert messages == [Message(4, VIDEO, 1, 0, payload)]
    assert elapsed < 5, f"chunk size 1 took {elapsed:.1f} s for 200 kB"


@pytest.mark.parametrize(
    ("size", "match"),
    [
        (0, "set chunk size 0"),
        (0x80000000, "high bit"),
        (0xFFFFFFFF, "high bit"),
        (0x7FFFFFFF, "exceeds"),
        ((1 << 24) + 1, "exceeds"),
    ],
)
def test_bad_chunk_sizes_are_refused(size: int, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        read_all(ChunkReader(), set_chunk_size_bytes(size))


def test_largest_allowed_chunk_size() -> None:
    reader = ChunkReader(max_chunk_size=1 << 24)
    read_all(reader, set_chunk_size_bytes(1 << 24))
    assert reader.chunk_size == 1 << 24


def test_short_set_chunk_size_payload() -> None:
    data = ChunkWriter().write(Message(2, MessageType.SET_CHUNK_SIZE, 0, 0, b"\0\0"))
    with pytest.raises(RemoteProtocolError, match="too short"):
        read_all(ChunkReader(), data)


def test_chunk_size_change_mid_message_applies_to_the_following_chunks() -> None:
    payload = bytes(range(256)) * 2
    first = ChunkWriter().write_chunks(Message(4, VIDEO, 1, 0, payload))[0]  # 128 bytes of it
    assert len(first) == 12 + 128
    rest = bytes([0xC4]) + payload[128:]  # one continuation chunk under the new size
    data = first + set_chunk_size_bytes(4096) + rest
    assert read_all(ChunkReader(), data) == [Message(4, VIDEO, 1, 0, payload)]


@pytest.mark.parametrize("fmt", [1, 2, 3])
def test_non_type0_chunk_on_a_fresh_stream_is_refused(fmt: int) -> None:
    data = bytes([(fmt << 6) | 5]) + bytes([0, 0, 0, 0, 0, 4, 9][: (0, 7, 3, 0)[fmt]]) + b"abcd"
    with pytest.raises(RemoteProtocolError, match="no type-0 chunk"):
        read_all(ChunkReader(), data)


def test_new_header_before_message_completes_is_refused() -> None:
    writer = ChunkWriter()
    first = writer.write_chunks(Message(4, VIDEO, 1, 0, b"x" * 200))[0]
    again = ChunkWriter().write(Message(4, VIDEO, 1, 0, b"y" * 10))
    with pytest.raises(RemoteProtocolError, match="before its previous message completed"):
        read_all(ChunkReader(), first + again)


def test_message_length_above_limit_fails_on_the_header() -> None:
    reader = ChunkReader(max_message_size=1000, max_buffer=1000)
    header = bytes([0x04, 0, 0, 0]) + (1001).to_bytes(3, "big") + bytes([9, 1, 0, 0, 0])
    reader.receive_data(header)
    with pytest.raises(RemoteProtocolError, match="exceeds the 1000-byte limit"):
        reader.next_message()


def test_default_message_limit_is_8_mib() -> None:
    header = (
        bytes([0x04, 0, 0, 0]) + (8 * 1024 * 1024 + 1).to_bytes(3, "big") + bytes([9, 1, 0, 0, 0])
    )
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        read_all(ChunkReader(), header)


def test_partial_messages_across_streams_are_bounded() -> None:
    reader = ChunkReader(max_message_size=1000, max_buffer=2500)
    writer = ChunkWriter()
    data = b"".join(
        writer.write_chunks(Message(csid, VIDEO, 1, 0, b"p" * 1000))[0] for csid in range(3, 40)
    )
    with pytest.raises(RemoteProtocolError, match="buffer limit"):
        read_all(reader, data, step=512)


def test_too_many_chunk_streams() -> None:
    reader = ChunkReader(max_chunk_streams=10)
    writer = ChunkWriter()
    data = b"".join(writer.write(Message(csid, VIDEO, 1, 0, b"")) for csid in range(3, 20))
    with pytest.raises(RemoteProtocolError, match="more than 10 chunk streams"):
        read_all(reader, data)


def test_abort_discards_the_partial_message() -> None:
    writer = ChunkWriter()
    partial = writer.write_chunks(Message(4, VIDEO, 1, 0, b"x" * 300))[0]
    abort = ChunkWriter().write(Message(2, MessageType.ABORT, 0, 0, struct.pack(">I", 4)))
    fresh = bytes([0xC4])  # a type-3 chunk now starts a new message with the old header
    reader = ChunkReader()
    assert read_all(reader, partial + abort) == []
    assert reader.buffered == 0
    messages = read_all(
        reader, fresh + b"y" * 128 + bytes([0xC4]) + b"y" * 128 + bytes([0xC4]) + b"y" * 44
    )
    assert messages == [Message(4, VIDEO, 1, 0, b"y" * 300)]


def test_abort_of_an_idle_stream_is_harmless() -> None:
    abort = ChunkWriter().write(Message(2, MessageType.ABORT, 0, 0, struct.pack(">I", 77)))
    assert read_all(ChunkReader(), abort) == []


def test_feeding_without_draining_is_our_bug() -> None:
    reader = ChunkReader(max_message_size=100, max_buffer=100)
    reader.receive_data(b"\0" * 60)
    with pytest.raises(LocalProtocolError, match="without draining"):
        reader.receive_data(b"\0" * 60)


def test_writer_refuses_unexpressible_forced_header() -> None:
    writer = ChunkWriter()
    with pytest.raises(LocalProtocolError):
        writer.write(Message(4, VIDEO, 1, 0, b""), fmt=1)
    writer.write(Message(4, VIDEO, 1, 0, b""))
    with pytest.raises(LocalProtocolError):
        writer.write(Message(4, VIDEO, 1, 10, b"x"), fmt=2)  # length changed
    with pytest.raises(LocalProtocolError):
        writer.write(Message(4, VIDEO, 1, 0x1_0000_0000, b""))

"""The encoder worker's wire protocol: frames split anywhere, oversize refused, messages round-trip."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owncastd.media import framing as fr
from owncastd.media.packets import Packet, Track


def test_frames_come_back_whole_however_the_bytes_are_split() -> None:
    payloads = [b"", b"a", b"hello world", bytes(range(256)) * 40]
    stream = b"".join(fr.encode_frame(p) for p in payloads)
    for step in (1, 2, 3, 5, 4096, len(stream)):
        decoder = fr.FrameDecoder()
        got: list[bytes] = []
        for i in range(0, len(stream), step):
            got += decoder.feed(stream[i : i + step])
        decoder.close()
        assert got == payloads, step
        assert decoder.buffered == 0


def test_a_partial_frame_is_held_until_complete() -> None:
    decoder = fr.FrameDecoder()
    frame = fr.encode_frame(b"0123456789")
    assert decoder.feed(frame[:2]) == []  # half a length prefix
    assert decoder.feed(frame[2:7]) == []  # the prefix and part of the body
    assert decoder.buffered == 7
    assert decoder.feed(frame[7:] + frame[:4]) == [b"0123456789"]
    assert decoder.buffered == 4


def test_an_oversize_frame_is_refused_from_its_length_alone() -> None:
    decoder = fr.FrameDecoder(max_size=100)
    assert decoder.feed(fr.encode_frame(b"x" * 100)) == [b"x" * 100]
    with pytest.raises(fr.FramingError, match="101 bytes exceeds the limit of 100"):
        decoder.feed((101).to_bytes(4, "big"))  # no body sent: the prefix is enough
    assert decoder.buffered == 0  # nothing of it was kept
    with pytest.raises(fr.FramingError):  # the stream lost sync: it stays failed
        decoder.feed(fr.encode_frame(b"ok"))


def test_a_huge_length_is_refused_without_allocating_it() -> None:
    decoder = fr.FrameDecoder()
    with pytest.raises(fr.FramingError, match="exceeds the limit"):
        decoder.feed(b"\xff\xff\xff\xff")


def test_the_encoder_refuses_oversize_payloads_too() -> None:
    with pytest.raises(fr.FramingError):
        fr.encode_frame(b"x" * 11, max_size=10)


def test_eof_inside_a_frame_is_an_error() -> None:
    decoder = fr.FrameDecoder()
    decoder.feed(fr.encode_frame(b"abcdef")[:-1])
    with pytest.raises(fr.FramingError, match="stream ended inside a frame"):
        decoder.close()
    fr.FrameDecoder().close()  # a clean end is fine


def test_max_size_must_fit_the_length_prefix() -> None:
    with pytest.raises(ValueError):
        fr.FrameDecoder(max_size=0)
    with pytest.raises(ValueError):
        fr.FrameDecoder(max_size=1 << 32)


@given(
    payloads=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20),
)
def test_any_split_gives_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(fr.encode_frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder = fr.FrameDecoder(max_size=300)
    got: list[bytes] = []
    for start, end in itertools.pairwise(points):
        got += decoder.feed(stream[start:end])
    decoder.close()
    assert got == payloads


@given(size=st.integers(min_value=65, max_value=(1 << 32) - 1), split=st.integers(0, 3))
def test_any_oversize_prefix_is_refused(size: int, split: int) -> None:
    decoder = fr.FrameDecoder(max_size=64)
    prefix = size.to_bytes(4, "big")
    assert decoder.feed(prefix[:split]) == []
    with pytest.raises(fr.FramingError):
        decoder.feed(prefix[split:])


MESSAGES: list[fr.Message] = [
    fr.Plan({"encoder": "libx264", "video": [{"id": 0}], "audio": []}),
    fr.SourceConfig(Track.VIDEO, "H.264", b"\x01\x64\x00\x1f"),
    fr.SourceConfig(Track.AUDIO, "AAC", b"\x12\x10", 44100, 2),
    fr.MediaPacket(0, Packet(Track.VIDEO, -3000, 0, True, b"\x00\x00\x00\x01\x65")),
    fr.MediaPacket(7, Packet(Track.AUDIO, 2**40, 2**40, False, b"")),
    fr.StreamConfig(3, b"\x11\x90"),
    fr.Stats({"busy": 1.5, "frames": {"0": 3}}),
    fr.Log("error", "the source's H.264 video does not decode: ünïcode"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_messages_round_trip(message: fr.Message) -> None:
    payload = fr.encode_message(message)
    assert fr.decode_message(payload) == message
    (frame,) = fr.FrameDecoder().feed(fr.encode_frame(payload))
    assert fr.decode_message(frame) == message


def test_packet_frame_is_a_whole_frame() -> None:
    packet = Packet(Track.VIDEO, 90, 180, False, b"data")
    (payload,) = fr.FrameDecoder().feed(fr.packet_frame(5, packet))
    assert fr.decode_message(payload) == fr.MediaPacket(5, packet)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty frame"),
        (b"\x63", "unknown message type 99"),
        (b"\x03\x00\x00", "truncated"),
        (b"\x03\x00\x09\x00" + bytes(16), "unknown track code 9"),
        (b"\x01[1, 2]", "JSON objects"),
        (b"\x01{not json", "type 1"),
        (b"\x02\x00\x09H.2", "truncated"),
        (b"\x06\x09err", "truncated"),
    ],
)
def test_bad_messages_are_protocol_errors(payload: bytes, reason: str) -> None:
    with pytest.raises(fr.ProtocolError, match=reason):
        fr.decode_message(payload)


@given(st.binary(max_size=64))
def test_decode_message_raises_only_protocol_errors(payload: bytes) -> None:
    with contextlib.suppress(fr.ProtocolError):
        fr.decode_message(payload)

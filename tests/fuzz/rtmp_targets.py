"""Fuzz targets for the RTMP core and the deterministic mutator that drives them.

Each target takes arbitrary bytes and may only ever raise RemoteProtocolError (which it
swallows); anything else escaping, or a broken invariant (an AssertionError), is a bug.
`tests/test_rtmp_fuzz.py` runs every target for a few seconds in the suite and
`bench/fuzz_rtmp.py` for as long as you like (with atheris when it is installed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from owncastd.ingest.rtmp import amf0
from owncastd.ingest.rtmp.chunk import ChunkReader
from owncastd.ingest.rtmp.connection import RTMPConnection
from owncastd.ingest.rtmp.errors import RemoteProtocolError
from owncastd.ingest.rtmp.events import AcceptPublish, ConnectionClosed, PublishRequested
from owncastd.ingest.rtmp.handshake import HANDSHAKE_SIZE, ServerHandshake

CORPUS = Path(__file__).parent / "corpus"

_LIMIT = 1 << 16  # small limits make the limit paths reachable by mutation


def _zeros(size: int) -> bytes:
    return bytes(size)


def _pieces(data: bytes) -> list[bytes]:
    # Split at points derived from the data, so splits vary with it but stay reproducible.
    step = 1 + (data[-1] if data else 0) * 7 % 1499
    return [data[i : i + step] for i in range(0, len(data), step)]


def fuzz_handshake(data: bytes) -> None:
    hs = ServerHandshake(_zeros)
    used = 0
    out = b""
    try:
        for piece in _pieces(data):
            used += hs.receive(piece)
            out += hs.data_to_send()
            if hs.complete:
                break
    except RemoteProtocolError:
        return
    assert used <= len(data)
    assert len(out) in (0, 1 + 2 * HANDSHAKE_SIZE)
    assert hs.complete == (used == 1 + 2 * HANDSHAKE_SIZE)


def fuzz_chunk_reader(data: bytes) -> None:
    reader = ChunkReader(max_message_size=_LIMIT, max_chunk_size=_LIMIT, max_buffer=2 * _LIMIT)
    try:
        for piece in _pieces(data):
            reader.receive_data(piece)
            while (message := reader.next_message()) is not None:
                assert len(message.payload) <= _LIMIT
                assert 0 <= message.timestamp <= 0xFFFFFFFF
            assert reader.buffered <= 2 * _LIMIT
            assert 1 <= reader.chunk_size <= _LIMIT
    except RemoteProtocolError:
        return


def fuzz_amf0(data: bytes) -> None:
    try:
        values = amf0.decode(data)
    except RemoteProtocolError:
        return
    encoded = amf0.encode_all(values)
    again = amf0.decode(encoded)
    assert amf0.encode_all(again) == encoded


def fuzz_connection(data: bytes) -> None:
    conn = RTMPConnection(max_message_size=_LIMIT, max_buffer=2 * _LIMIT, random_bytes=_zeros)
    try:
        for piece in [*_pieces(data), b""]:
            conn.receive_data(piece)
            for event in conn.events():
                if isinstance(event, PublishRequested):
                    conn.send(AcceptPublish())
                elif isinstance(event, ConnectionClosed):
                    return
            conn.data_to_send()
    except RemoteProtocolError:
        return


TARGETS: dict[str, Callable[[bytes], None]] = {
    "handshake": fuzz_handshake,
    "chunk": fuzz_chunk_reader,
    "amf0": fuzz_amf0,
    "connection": fuzz_connection,
}


def load_corpus(target: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted((CORPUS / target).glob("*.bin"))]


_INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x03, 0x3F, 0x40, 0x41, 0x7F, 0x80, 0xC0, 0xC3, 0xFF)
_INTERESTING_WORDS = (
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    0xFFFFFF,
    0x1000000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
)


def mutate(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes:
    """One to four byte-level mutations: flips, interesting values, splices, cuts, copies."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        size = len(out)
        pos = rng.randrange(size) if size else 0
        op = rng.randrange(10)
        if op == 0 and size:
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and size:
            out[pos] = rng.choice(_INTERESTING_BYTES)
        elif op == 2 and size:
            width = rng.choice((1, 2, 3, 4))
            value = rng.choice(_INTERESTING_WORDS) & ((1 << (8 * width)) - 1)
            out[pos : pos + width] = value.to_bytes(width, rng.choice(("big", "little")))
        elif op == 3:
            out[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 4 and size:
            del out[pos : pos + rng.randint(1, 64)]
        elif op == 5 and size:
            out[pos:pos] = out[pos : pos + rng.randint(1, 256)]
        elif op == 6 and donors:
            donor = rng.choice(donors)
            if donor:
                start = rng.randrange(len(donor))
                out[pos:pos] = donor[start : start + rng.randint(1, 512)]
        elif op == 7:
            del out[pos:]
        elif op == 8 and size:
            out[pos] = rng.randrange(256)
        elif size > 1:
            other = rng.randrange(size)
            out[pos], out[other] = out[other], out[pos]
    return bytes(out)

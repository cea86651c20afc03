"""ServerHandshake: plain and digest handshakes, incremental input, version checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from owncastd.ingest.rtmp import handshake
from owncastd.ingest.rtmp.errors import RemoteProtocolError
from owncastd.ingest.rtmp.handshake import (
    FMS_KEY,
    FMS_KEY_TEXT_LEN,
    HANDSHAKE_SIZE,
    DigestScheme,
    HandshakeState,
    ServerHandshake,
    digest_offset,
    find_client_digest,
)
from tests.fuzz.rtmp_client import make_c1


def fixed_random(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def run(data: bytes) -> tuple[ServerHandshake, bytes, int]:
    hs = ServerHandshake(fixed_random)
    used = hs.receive(data)
    return hs, hs.data_to_send(), used


def test_plain_handshake_echoes_c1_as_s2() -> None:
    c1 = make_c1(digest=False)
    hs, out, used = run(b"\x03" + c1)
    assert used == 1 + HANDSHAKE_SIZE
    assert hs.state is HandshakeState.WAIT_C2
    assert len(out) == 1 + 2 * HANDSHAKE_SIZE
    assert out[0] == 3
    assert out[1:9] == b"\0" * 8  # time 0, zero field: a plain S1
    assert out[1 + HANDSHAKE_SIZE :] == c1
    assert not hs.digest
    assert hs.receive(b"\0" * HANDSHAKE_SIZE + b"rest") == HANDSHAKE_SIZE
    assert hs.complete


def client_validates(s0s1s2: bytes, c1: bytes, scheme: DigestScheme) -> bool:
    """What a checking client (FFmpeg in play mode) verifies of a digest answer."""
    s1 = s0s1s2[1 : 1 + HANDSHAKE_SIZE]
    s2 = s0s1s2[1 + HANDSHAKE_SIZE :]
    offset = digest_offset(s1, scheme)
    expected = hmac.new(
        FMS_KEY[:FMS_KEY_TEXT_LEN], s1[:offset] + s1[offset + 32 :], hashlib.sha256
    ).digest()
    if s1[offset : offset + 32] != expected:
        return False
    c_offset = digest_offset(c1, scheme)
    key = hmac.new(FMS_KEY, c1[c_offset : c_offset + 32], hashlib.sha256).digest()
    return hmac.new(key, s2[:-32], hashlib.sha256).digest() == s2[-32:]


@pytest.mark.parametrize("scheme", list(DigestScheme))
def test_digest_handshake_answered_with_valid_digests(scheme: DigestScheme) -> None:
    c1 = make_c1(digest=True, scheme=scheme)
    assert find_client_digest(c1) is not None
    hs, out, _ = run(b"\x03" + c1)
    assert hs.digest
    assert out[5] >= 3  # FFmpeg validates an S1 only when its version's first byte is >= 3
    assert client_validates(out, c1, scheme)


def test_forged_digest_gets_a_plain_answer() -> None:
    c1 = bytearray(make_c1(digest=True))
    c1[100] ^= 0xFF  # breaks the HMAC whichever scheme
    hs, out, _ = run(b"\x03" + bytes(c1))
    assert not hs.digest
    assert out[1 + HANDSHAKE_SIZE :] == bytes(c1)


def test_byte_at_a_time() -> None:
    c1 = make_c1(digest=True)
    data = b"\x03" + c1 + bytes(HANDSHAKE_SIZE) + b"XYZ"
    hs = ServerHandshake(fixed_random)
    used = 0
    out = b""
    for i in range(len(data)):
        if hs.complete:
            break
        used += hs.receive(data[i : i + 1])
        out += hs.data_to_send()
    assert hs.complete
    assert used == 1 + 2 * HANDSHAKE_SIZE
    assert out == run(b"\x03" + c1)[1]


@pytest.mark.parametrize("version", [0, 1, 2, 4, 6, 0x47, 255])
def test_version_other_than_3_is_refused(version: int) -> None:
    hs = ServerHandshake(fixed_random)
    with pytest.raises(RemoteProtocolError, match="version"):
        hs.receive(bytes((version,)) + make_c1())


def test_http_request_is_refused_on_first_byte() -> None:
    with pytest.raises(RemoteProtocolError):
        ServerHandshake().receive(b"GET / HTTP/1.1\r\n")


def test_short_random_source_is_our_bug() -> None:
    from owncastd.ingest.rtmp.errors import LocalProtocolError

    hs = ServerHandshake(lambda n: b"")
    with pytest.raises(LocalProtocolError):
        hs.receive(b"\x03" + make_c1())


def test_default_random_differs_between_connections() -> None:
    c0c1 = b"\x03" + make_c1()
    a, b = ServerHandshake(), ServerHandshake()
    a.receive(c0c1)
    b.receive(c0c1)
    assert a.data_to_send()[9:100] != b.data_to_send()[9:100]


def test_digest_offsets_stay_inside_their_block() -> None:
    block = b"\xff" * HANDSHAKE_SIZE
    assert digest_offset(block, DigestScheme.DIGEST_FIRST) + 32 <= 8 + 764
    assert digest_offset(block, DigestScheme.KEY_FIRST) + 32 <= HANDSHAKE_SIZE
    assert handshake.RTMP_VERSION == 3

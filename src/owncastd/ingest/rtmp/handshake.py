"""The server side of the RTMP handshake: consume C0 C1 C2, produce S0 S1 S2.

Two flavours exist. The plain one (RTMP spec 5.2) echoes C1 as S2. The digest one that Flash
Player 9+ and FFmpeg/librtmp clients use hides an HMAC-SHA256 of C1 inside C1, keyed with the
public "Genuine Adobe Flash Player 001" key; a server that validates it answers with its own
digest (keyed with the Flash Media Server key) in S1 and a digest over S2 derived from the
client's. Clients that check (players, not publishers) refuse a plain answer to a digest C1.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
from collections.abc import Callable

from .errors import LocalProtocolError, RemoteProtocolError

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536
DIGEST_SIZE = 32

_KEY_TAIL = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FP_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL
FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL
# The C1/S1 digests are keyed with only the text part of each key; S2 and C2 with the whole key.
FP_KEY_TEXT_LEN = 30
FMS_KEY_TEXT_LEN = 36

# Version field we put in a digest S1; FFmpeg only validates an S1 whose first version byte >= 3.
SERVER_VERSION = bytes((4, 5, 0, 1))


class DigestScheme(enum.Enum):
    """Where the digest block sits in a 1536-byte C1/S1 (after the 8-byte time+version header)."""

    DIGEST_FIRST = 8  # "scheme 1": digest block at 8, key block at 772; FFmpeg, librtmp
    KEY_FIRST = 772  # "scheme 0": key block at 8, digest block at 772


def digest_offset(block: bytes | bytearray, scheme: DigestScheme) -> int:
    """Offset of the 32-byte digest: four offset bytes open the digest block, their sum picks it."""
    base = scheme.value
    return base + 4 + sum(block[base : base + 4]) % 728


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _block_digest(block: bytes, offset: int, key: bytes) -> bytes:
    return _hmac(key, block[:offset] + block[offset + DIGEST_SIZE :])


def find_client_digest(c1: bytes) -> tuple[DigestScheme, bytes] | None:
    """Return the scheme and digest of a digest-style C1, or None for a plain (or forged) one."""
    if len(c1) != HANDSHAKE_SIZE:
        raise LocalProtocolError("C1 must be exactly 1536 bytes")
    if c1[4:8] == b"\0\0\0\0":
        return None  # a zero version field announces the plain handshake
    key = FP_KEY[:FP_KEY_TEXT_LEN]
    for scheme in DigestScheme:
        offset = digest_offset(c1, scheme)
        digest = c1[offset : offset + DIGEST_SIZE]
        if hmac.compare_digest(_block_digest(c1, offset, key), digest):
            return scheme, digest
    return None


def make_digest_s1(random_block: bytes, scheme: DigestScheme) -> bytes:
    """An S1 carrying our digest in the same scheme the client used."""
    body = bytearray(b"\0\0\0\0" + SERVER_VERSION + random_block[: HANDSHAKE_SIZE - 8])
    offset = digest_offset(body, scheme)
    body[offset : offset + DIGEST_SIZE] = _block_digest(
        bytes(body), offset, FMS_KEY[:FMS_KEY_TEXT_LEN]
    )
    return bytes(body)


def make_digest_s2(random_block: bytes, client_digest: bytes) -> bytes:
    """An S2 whose last 32 bytes sign the rest with a key derived from the client's digest."""
    body = random_block[: HANDSHAKE_SIZE - DIGEST_SIZE]
    key = _hmac(FMS_KEY, client_digest)
    return body + _hmac(key, body)


class HandshakeState(enum.Enum):
    WAIT_C0 = enum.auto()
    WAIT_C1 = enum.auto()
    WAIT_C2 = enum.auto()
    DONE = enum.auto()


class ServerHandshake:
    """Consumes C0 C1 C2 incrementally; queues S0 S1 S2 as soon as C1 is complete.

    `receive(data)` returns how many bytes it consumed, so the caller hands the rest (the chunk
    stream that follows C2 in the same read) to the next layer. It never buffers more than C1.
    """

    def __init__(self, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random_bytes = random_bytes
        self._state = HandshakeState.WAIT_C0
        self._partial = bytearray()
        self._outgoing = bytearray()
        self.digest: bool = False
        """Whether the client used (and we answered) the digest handshake."""

    @property
    def state(self) -> HandshakeState:
        return self._state

    @property
    def complete(self) -> bool:
        return self._state is HandshakeState.DONE

    def receive(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        used = 0
        while used < len(view) and self._state is not HandshakeState.DONE:
            if self._state is HandshakeState.WAIT_C0:
                version = view[used]
                used += 1
                if version != RTMP_VERSION:
                    # 6 would be RTMPE (encrypted), which we do not offer; anything else is noise.
                    raise RemoteProtocolError(
                        f"unsupported RTMP version {version} in C0 (only {RTMP_VERSION})"
                    )
                self._state = HandshakeState.WAIT_C1
                continue
            take = min(HANDSHAKE_SIZE - len(self._partial), len(view) - used)
            self._partial += view[used : used + take]
            used += take
            if len(self._partial) < HANDSHAKE_SIZE:
                break
            block = bytes(self._partial)
            self._partial.clear()
            if self._state is HandshakeState.WAIT_C1:
                self._outgoing += self._answer(block)
                self._state = HandshakeState.WAIT_C2
            else:
                # C2 should echo S1 but encoders vary; checking it buys nothing for a publisher.
                self._state = HandshakeState.DONE
        return used

    def data_to_send(self) -> bytes:
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def _answer(self, c1: bytes) -> bytes:
        found = find_client_digest(c1)
        s0 = bytes((RTMP_VERSION,))
        if found is None:
            s1 = b"\0" * 8 + self._random(HANDSHAKE_SIZE - 8)
            return s0 + s1 + c1
        scheme, client_digest = found
        self.digest = True
        s1 = make_digest_s1(self._random(HANDSHAKE_SIZE - 8), scheme)
        s2 = make_digest_s2(self._random(HANDSHAKE_SIZE - DIGEST_SIZE), client_digest)
        return s0 + s1 + s2

    def _random(self, size: int) -> bytes:
        block = self._random_bytes(size)
        if len(block) != size:
            raise LocalProtocolError(f"random_bytes({size}) returned {len(block)} bytes")
        return block

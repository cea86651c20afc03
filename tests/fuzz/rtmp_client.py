"""A scripted RTMP publisher for tests: builds client bytes and reads the server's answers.

It reuses the core's chunk writer and AMF0 codec (tested on their own against FFmpeg's bytes),
so a test can state a session as a list of steps instead of hand-packing headers.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

from owncastd.ingest.rtmp import amf0, handshake
from owncastd.ingest.rtmp.chunk import ChunkReader, ChunkWriter
from owncastd.ingest.rtmp.messages import (
    Message,
    MessageType,
    UserControlEvent,
)

C0C1_SIZE = 1 + handshake.HANDSHAKE_SIZE
S0S1S2_SIZE = 1 + 2 * handshake.HANDSHAKE_SIZE


def make_c1(
    *,
    digest: bool = False,
    scheme: handshake.DigestScheme = handshake.DigestScheme.DIGEST_FIRST,
    seed: int = 1,
) -> bytes:
    """A C1 as FFmpeg builds it: zero time, version 9.0.124.2 and a digest when asked."""
    rng = random.Random(seed)
    body = bytearray(rng.randbytes(handshake.HANDSHAKE_SIZE))
    body[0:4] = b"\0\0\0\0"
    if not digest:
        body[4:8] = b"\0\0\0\0"
        return bytes(body)
    body[4:8] = bytes((9, 0, 124, 2))
    offset = handshake.digest_offset(body, scheme)
    rest = bytes(body[:offset]) + bytes(body[offset + 32 :])
    key = handshake.FP_KEY[: handshake.FP_KEY_TEXT_LEN]
    body[offset : offset + 32] = hmac.new(key, rest, hashlib.sha256).digest()
    return bytes(body)


class ScriptedClient:
    """Produces the bytes a publisher would send, one step at a time."""

    def __init__(self, *, digest: bool = False, seed: int = 1) -> None:
        self.writer = ChunkWriter()
        self.c1 = make_c1(digest=digest, seed=seed)

    def c0c1(self) -> bytes:
        return b"\x03" + self.c1

    def c2(self, s0s1s2: bytes) -> bytes:
        return s0s1s2[1 : 1 + handshake.HANDSHAKE_SIZE]  # echo S1

    def message(self, message: Message, **kwargs: object) -> bytes:
        return self.writer.write(message, **kwargs)  # type: ignore[arg-type]

    def set_chunk_size(self, size: int) -> bytes:
        return self.writer.set_chunk_size(size)

    def command(
        self,
        name: str,
        transaction_id: float,
        command_object: amf0.Value,
        *args: amf0.Value,
        stream_id: int = 0,
        csid: int = 3,
    ) -> bytes:
        payload = amf0.encode(name, transaction_id, command_object, *args)
        return self.message(Message(csid, MessageType.COMMAND_AMF0, stream_id, 0, payload))

    def connect(self, app: str = "live", tc_url: str | None = None) -> bytes:
        props: dict[str, amf0.Value] = {
            "app": app,
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; test)",
            "tcUrl": tc_url if tc_url is not None else f"rtmp://127.0.0.1/{app}",
        }
        return self.command("connect", 1, props)

    def publish_setup(self, name: str = "testkey") -> bytes:
        return (
            self.command("releaseStream", 2, None, name)
            + self.command("FCPublish", 3, None, name)
            + self.command("createStream", 4, None)
            + self.command("publish", 5, None, name, "live", stream_id=1, csid=8)
        )

    def metadata(self, values: dict[str, amf0.Value], stream_id: int = 1) -> bytes:
        payload = amf0.encode("@setDataFrame", "onMetaData", amf0.ECMAArray(values))
        return self.message(Message(8, MessageType.DATA_AMF0, stream_id, 0, payload))

    def video(self, timestamp: int, data: bytes, stream_id: int = 1, **kwargs: object) -> bytes:
        message = Message(6, MessageType.VIDEO, stream_id, timestamp, data)
        return self.message(message, **kwargs)

    def audio(self, timestamp: int, data: bytes, stream_id: int = 1, **kwargs: object) -> bytes:
        message = Message(4, MessageType.AUDIO, stream_id, timestamp, data)
        return self.message(message, **kwargs)

    def ping_request(self, timestamp: int) -> bytes:
        payload = struct.pack(">HI", UserControlEvent.PING_REQUEST, timestamp)
        return self.message(Message(2, MessageType.USER_CONTROL, 0, 0, payload))


class ServerOutput:
    """Reads what the server sent: S0 S1 S2, then messages (commands decoded on request)."""

    def __init__(self) -> None:
        self.handshake = bytearray()
        self.reader = ChunkReader()
        self.messages: list[Message] = []

    def feed(self, data: bytes) -> list[Message]:
        need = S0S1S2_SIZE - len(self.handshake)
        if need > 0:
            self.handshake += data[:need]
            data = data[need:]
        self.reader.receive_data(data)
        new = []
        while (message := self.reader.next_message()) is not None:
            new.append(message)
        self.messages += new
        return new

    def commands(self) -> list[list[amf0.Value]]:
        return [
            amf0.decode(m.payload) for m in self.messages if m.type_id == MessageType.COMMAND_AMF0
        ]

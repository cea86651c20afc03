"""RTMPConnection: the publish flow, replies, events, and every hostile case that is the core's."""

from __future__ import annotations

import struct

import pytest

from owncastd.ingest.rtmp import amf0
from owncastd.ingest.rtmp.connection import ConnectionState, RTMPConnection, parse_publishing_name
from owncastd.ingest.rtmp.errors import LocalProtocolError, RemoteProtocolError
from owncastd.ingest.rtmp.events import (
    AcceptPublish,
    AudioData,
    Connect,
    ConnectionClosed,
    Disconnect,
    Event,
    HandshakeComplete,
    Metadata,
    Ping,
    Pong,
    PublishRequested,
    RejectPublish,
    Unpublished,
    VideoData,
)
from owncastd.ingest.rtmp.messages import Message, MessageType, UserControlEvent
from tests.fuzz.rtmp_client import ScriptedClient, ServerOutput


def fixed_random(size: int) -> bytes:
    return bytes(i % 253 for i in range(size))


class Session:
    """A connection, a scripted client and a reader of what the server sent."""

    def __init__(self, *, digest: bool = False, **kwargs: int) -> None:
        self.conn = RTMPConnection(random_bytes=fixed_random, **kwargs)
        self.client = ScriptedClient(digest=digest)
        self.server = ServerOutput()

    def feed(self, data: bytes) -> list[Event]:
        self.conn.receive_data(data)
        try:
            return list(self.conn.events())
        finally:
            self.server.feed(self.conn.data_to_send())

    def send(self, event: Event) -> list[Message]:
        return self.server.feed(self.conn.send(event))

    def handshake(self) -> list[Event]:
        events = self.feed(self.client.c0c1())
        return events + self.feed(self.client.c2(bytes(self.server.handshake)))

    def connect(self, app: str = "live") -> list[Event]:
        self.handshake()
        return self.feed(self.client.connect(app))

    def request_publish(self, name: str = "testkey") -> list[Event]:
        self.connect()
        return self.feed(self.client.publish_setup(name))

    def publishing(self, name: str = "testkey") -> None:
        self.request_publish(name)
        self.send(AcceptPublish())

    def replies(self) -> list[list[amf0.Value]]:
        return self.server.commands()

    def last_status(self) -> dict[str, amf0.Value]:
        status = [c for c in self.replies() if c[0] in ("onStatus", "_error")][-1][3]
        assert isinstance(status, dict)
        return status


def expect_error(session: Session, data: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        session.feed(data)
    assert session.conn.state is ConnectionState.ERROR


# -- the happy path -------------------------------------------------------------------------


def test_full_publish_session() -> None:
    s = Session()
    assert s.handshake() == [HandshakeComplete()]

    [connect] = s.feed(s.client.connect("live"))
    assert connect == Connect("live", "rtmp://127.0.0.1/live", connect.properties)
    assert connect.properties["flashVer"] == "FMLE/3.0 (compatible; test)"
    control = [(m.type_id, m.payload) for m in s.server.messages[:2]]
    assert control == [
        (MessageType.WINDOW_ACK_SIZE, struct.pack(">I", 2_500_000)),
        (MessageType.SET_PEER_BANDWIDTH, struct.pack(">IB", 2_500_000, 2)),
    ]
    assert s.server.reader.chunk_size == 4096  # Set Chunk Size came before the _result
    result = s.replies()[-1]
    assert result[:2] == ["_result", 1.0]
    assert isinstance(result[2], dict) and result[2]["fmsVer"] == "FMS/3,0,1,123"
    assert isinstance(result[3], dict)
    assert result[3]["code"] == "NetConnection.Connect.Success"
    assert result[3]["objectEncoding"] == 0.0

    [request] = s.feed(s.client.publish_setup("testkey"))
    assert request == PublishRequested(1, "live", "testkey", "", "live")
    names = [c[0] for c in s.replies()]
    assert names[-4:] == ["_result", "_result", "onFCPublish", "_result"]
    assert s.replies()[-1] == ["_result", 4.0, None, 1.0]  # createStream: stream id 1

    sent = s.send(AcceptPublish())
    assert sent[0].type_id == MessageType.USER_CONTROL
    assert sent[0].payload == struct.pack(">HI", UserControlEvent.STREAM_BEGIN, 1)
    status = s.last_status()
    assert status["level"] == "status" and status["code"] == "NetStream.Publish.Start"
    assert sent[1].stream_id == 1
    assert s.conn.publishing_stream == 1

    [meta] = s.feed(s.client.metadata({"width": 1280.0, "encoder": "test"}))
    assert meta == Metadata({"width": 1280.0, "encoder": "test"})

    media = s.feed(
        s.client.video(0, b"\x17\x00seqhdr")
        + s.client.audio(0, b"\xaf\x00\x12\x10")
        + s.client.video(33, b"\x27\x01frame" * 100)
        + s.client.audio(23, b"\xaf\x01aac")
    )
    assert media == [
        VideoData(0, b"\x17\x00seqhdr"),
        AudioData(0, b"\xaf\x00\x12\x10"),
        VideoData(33, b"\x27\x01frame" * 100),
        AudioData(23, b"\xaf\x01aac"),
    ]

    assert s.feed(s.client.command("FCUnpublish", 6, None, "testkey")) == [Unpublished(1)]
    assert s.last_status()["code"] == "NetStream.Unpublish.Success"
    assert s.feed(s.client.command("deleteStream", 7, None, 1.0)) == []
    assert s.feed(b"") == [ConnectionClosed()]
    assert s.conn.state is ConnectionState.CLOSED


def test_digest_handshake_then_publish() -> None:
    s = Session(digest=True)
    s.publishing()
    assert s.conn.publishing_stream == 1


def test_whole_session_byte_by_byte_and_in_one_piece() -> None:
    client = ScriptedClient()
    probe = Session()
    probe.handshake()
    c2 = client.c2(bytes(probe.server.handshake))
    session = (
        client.c0c1()
        + c2
        + client.connect()
        + client.set_chunk_size(60)
        + client.publish_setup("key")
    )
    whole = Session()
    assert [type(e) for e in whole.feed(session)] == [HandshakeComplete, Connect, PublishRequested]
    slow = Session()
    events: list[Event] = []
    for i in range(len(session)):
        events += slow.feed(session[i : i + 1])
    assert events == [
        HandshakeComplete(),
        Connect("live", "rtmp://127.0.0.1/live", events[1].properties),  # type: ignore[attr-defined]
        PublishRequested(1, "live", "key", "", "live"),
    ]


def test_query_string_and_path_in_publishing_name() -> None:
    s = Session()
    [request] = s.request_publish("live/abc123?token=x&y=1")
    assert request == PublishRequested(1, "live", "abc123", "token=x&y=1", "live")


def test_publish_type_defaults_to_live() -> None:
    s = Session()
    s.connect()
    s.feed(s.client.command("createStream", 2, None))
    [request] = s.feed(s.client.command("publish", 0, None, "k", stream_id=1))
    assert isinstance(request, PublishRequested) and request.publish_type == "live"


def test_reject_publish_then_retry() -> None:
    s = Session()
    s.request_publish()
    s.send(RejectPublish(description="wrong stream key"))
    status = s.last_status()
    assert status == {
        "level": "error",
        "code": "NetStream.Publish.BadName",
        "description": "wrong stream key",
    }
    [again] = s.feed(s.client.command("publish", 9, None, "other", "live", stream_id=1))
    assert isinstance(again, PublishRequested) and again.name == "other"


def test_send_returns_queued_replies_first() -> None:
    s = Session()
    s.connect()
    s.conn.receive_data(s.client.publish_setup())
    assert [type(e) for e in s.conn.events()] == [PublishRequested]
    out = s.conn.send(AcceptPublish())
    assert s.conn.data_to_send() == b""
    names = [c[0] for c in (amf0.decode(m.payload) for m in s.server.feed(out) if m.type_id == 20)]
    assert names == ["_result", "_result", "onFCPublish", "_result", "onStatus"]


def test_ping_both_ways() -> None:
    s = Session()
    s.connect()
    s.feed(s.client.ping_request(1234))
    last = s.server.messages[-1]
    assert last.payload == struct.pack(">HI", UserControlEvent.PING_RESPONSE, 1234)
    [request] = s.send(Ping(77))
    assert request.payload == struct.pack(">HI", UserControlEvent.PING_REQUEST, 77)
    pong = struct.pack(">HI", UserControlEvent.PING_RESPONSE, 77)
    message = Message(2, MessageType.USER_CONTROL, 0, 0, pong)
    assert s.feed(s.client.message(message)) == [Pong(77)]


def test_acknowledgements_follow_the_peer_window() -> None:
    s = Session()
    s.publishing()
    window = Message(2, MessageType.WINDOW_ACK_SIZE, 0, 0, struct.pack(">I", 5000))
    s.feed(s.client.message(window))
    acks = lambda: [m for m in s.server.messages if m.type_id == MessageType.ACKNOWLEDGEMENT]  # noqa: E731
    assert len(acks()) == 0
    for i in range(10):
        s.feed(s.client.video(i * 40, b"v" * 1000))
    assert len(acks()) == 2
    sequence = struct.unpack(">I", acks()[-1].payload)[0]
    assert sequence == s.conn._reader.bytes_received
    assert sequence >= 10_000


def test_aggregate_message_is_split() -> None:
    s = Session()
    s.publishing()

    def tag(type_id: int, ts: int, body: bytes) -> bytes:
        header = (
            bytes([type_id]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        )
        return header + bytes([ts >> 24]) + b"\0\0\0" + body + struct.pack(">I", 11 + len(body))

    payload = tag(9, 500, b"\x17\x01a") + tag(8, 510, b"\xaf\x01b") + tag(9, 540, b"\x27\x01c")
    events = s.feed(s.client.message(Message(6, MessageType.AGGREGATE, 1, 1000, payload)))
    assert events == [
        VideoData(1000, b"\x17\x01a"),
        AudioData(1010, b"\xaf\x01b"),
        VideoData(1040, b"\x27\x01c"),
    ]
    bad = tag(20, 0, amf0.encode("connect", 1.0, None))
    expect_error(
        s, s.client.message(Message(6, MessageType.AGGREGATE, 1, 0, bad)), "inside an aggregate"
    )


def test_truncated_aggregate() -> None:
    s = Session()
    s.publishing()
    expect_error(
        s,
        s.client.message(Message(6, MessageType.AGGREGATE, 1, 0, b"\x09\x00\x00\x10")),
        "aggregate",
    )


def test_close_stream_and_delete_stream_unpublish() -> None:
    s = Session()
    s.publishing()
    assert s.feed(s.client.command("closeStream", 0, None, stream_id=1)) == [Unpublished(1)]
    assert s.conn.publishing_stream is None
    s.feed(s.client.command("publish", 0, None, "k", "live", stream_id=1))
    s.send(AcceptPublish())
    assert s.feed(s.client.command("deleteStream", 8, None, 1.0)) == [Unpublished(1)]
    expect_error(s, s.client.video(0, b"late"), "not publishing")


def test_unpublish_while_pending_then_accept_is_our_bug() -> None:
    s = Session()
    s.request_publish()
    assert s.feed(s.client.command("FCUnpublish", 6, None, "testkey")) == [Unpublished(1)]
    with pytest.raises(LocalProtocolError, match="without a pending"):
        s.conn.send(AcceptPublish())


def test_polite_ignores() -> None:
    s = Session()
    s.publishing()
    before = len(s.server.messages)
    for name in ("getStreamLength", "checkBandwidth", "_checkbw", "someVendorCommand"):
        assert s.feed(s.client.command(name, 12, None, "x")) == []
    assert len(s.server.messages) == before
    shared = Message(3, MessageType.SHARED_OBJECT_AMF0, 0, 0, b"\x00\x01x")
    assert s.feed(s.client.message(shared)) == []
    text = s.client.message(
        Message(8, MessageType.DATA_AMF0, 1, 0, amf0.encode("onTextData", {"text": "hi"}))
    )
    assert s.feed(text) == []


def test_play_is_answered_with_failure() -> None:
    s = Session()
    s.connect()
    s.feed(s.client.command("createStream", 2, None))
    assert s.feed(s.client.command("play", 0, None, "key", stream_id=1)) == []
    assert s.last_status()["code"] == "NetStream.Play.Failed"


def test_disconnect() -> None:
    s = Session()
    s.publishing()
    s.send(Disconnect("taken over by a new connection"))
    assert s.last_status()["description"] == "taken over by a new connection"
    assert s.conn.state is ConnectionState.CLOSED
    assert s.feed(s.client.video(0, b"ignored")) == []
    with pytest.raises(LocalProtocolError):
        s.conn.send(Ping(1))


def test_eof_mid_handshake() -> None:
    s = Session()
    assert s.feed(b"\x03" + b"\0" * 100) == []
    assert s.feed(b"") == [ConnectionClosed()]
    assert s.feed(b"") == []


def test_eof_mid_message() -> None:
    s = Session()
    s.publishing()
    partial = s.client.writer.write_chunks(Message(6, 9, 1, 0, b"x" * 9000))[0]
    assert s.feed(partial) == []
    assert s.feed(b"") == [ConnectionClosed()]


# -- misuse by the caller -------------------------------------------------------------------


def test_local_misuse() -> None:
    s = Session()
    with pytest.raises(LocalProtocolError):
        s.conn.send(AcceptPublish())
    with pytest.raises(LocalProtocolError):
        s.conn.send(Ping(0))  # before the handshake
    with pytest.raises(LocalProtocolError):
        s.conn.send(HandshakeComplete())
    s.feed(b"")
    with pytest.raises(LocalProtocolError, match="after EOF"):
        s.conn.receive_data(b"more")


def test_errors_are_sticky() -> None:
    s = Session()
    with pytest.raises(RemoteProtocolError):
        s.feed(b"\x06")
    with pytest.raises(RemoteProtocolError, match="already failed"):
        list(s.conn.events())
    with pytest.raises(LocalProtocolError):
        s.conn.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        s.conn.send(AcceptPublish())


# -- hostile input (DESIGN.md section 7) ----------------------------------------------------


def test_media_before_publish_is_refused() -> None:
    s = Session()
    s.request_publish()
    expect_error(
        s, s.client.video(0, b"\x17\x00"), "video on message stream 1, which is not publishing"
    )


def test_metadata_before_publish_is_refused() -> None:
    s = Session()
    s.request_publish()
    expect_error(s, s.client.metadata({"a": 1.0}), "data message")


def test_audio_on_stream_zero_is_refused() -> None:
    s = Session()
    s.publishing()
    expect_error(s, s.client.audio(0, b"\xaf\x00", stream_id=0), "audio on message stream 0")


def test_timestamps_wrapping_at_2_32_are_unwrapped() -> None:
    s = Session()
    s.publishing()
    stamps = [0xFFFFFFD8, 0xFFFFFFF9, 0x1A, 0x3B]
    events = s.feed(b"".join(s.client.video(t, b"\x27\x01x") for t in stamps))
    assert [e.timestamp for e in events if isinstance(e, VideoData)] == [
        0xFFFFFFD8,
        0xFFFFFFF9,
        0x1_0000_001A,
        0x1_0000_003B,
    ]


def test_interleaved_audio_slightly_behind_video_stays_close() -> None:
    s = Session()
    s.publishing()
    data = s.client.video(0, b"v") + s.client.video(40, b"v") + s.client.audio(20, b"a", fmt=0)
    events = s.feed(data)
    assert [e.timestamp for e in events if isinstance(e, VideoData | AudioData)] == [0, 40, 20]


def test_second_publish_on_one_connection_is_refused() -> None:
    s = Session()
    s.publishing()
    s.feed(s.client.command("createStream", 9, None))
    expect_error(s, s.client.command("publish", 0, None, "again", stream_id=2), "already publishes")


def test_publish_on_a_stream_never_created() -> None:
    s = Session()
    s.connect()
    expect_error(s, s.client.command("publish", 0, None, "k", stream_id=5), "never created")


def test_too_many_streams() -> None:
    s = Session(max_streams=2)
    s.connect()
    s.feed(s.client.command("createStream", 2, None) + s.client.command("createStream", 3, None))
    expect_error(s, s.client.command("createStream", 4, None), "more than 2 streams")


def test_command_before_connect_and_connect_twice() -> None:
    s = Session()
    s.handshake()
    expect_error(s, s.client.command("createStream", 2, None), "before connect")
    s = Session()
    s.connect()
    expect_error(s, s.client.connect(), "already connected")


def test_connect_without_command_object() -> None:
    s = Session()
    s.handshake()
    expect_error(s, s.client.command("connect", 1, None), "command object")


def test_command_name_not_a_string() -> None:
    s = Session()
    s.handshake()
    payload = amf0.encode(1.0, 1.0, None)
    expect_error(s, s.client.message(Message(3, 20, 0, 0, payload)), "command name")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("k" * 10_000, "over the 1024-byte limit"),
        ("../../etc/passwd", r"'\.\.' path segment"),
        ("live/../key", r"'\.\.' path segment"),
        ("./key", r"'\.\.' path segment"),
        ("key\x00hidden", "control characters"),
        ("key\nX-Injected: 1", "control characters"),
        ("key\x1b[31m", "control characters"),
        ("key\x85", "control characters"),
        ("", "no stream key"),
        ("live/", "no stream key"),
        ("?only=query", "no stream key"),
    ],
)
def test_hostile_stream_names(name: str, match: str) -> None:
    s = Session()
    s.connect()
    s.feed(s.client.command("createStream", 2, None))
    expect_error(s, s.client.command("publish", 0, None, name, "live", stream_id=1), match)
    status = s.last_status()
    assert status["code"] == "NetStream.Publish.BadName"
    assert status["level"] == "error"
    description = status["description"]
    assert isinstance(description, str) and len(description) < 300


@pytest.mark.parametrize(
    ("app", "match"),
    [
        ("a" * 10_000, "over the 1024-byte limit"),
        ("../live", r"'\.\.' path segment"),
        ("live/../../x", r"'\.\.' path segment"),
        ("li\x00ve", "control characters"),
    ],
)
def test_hostile_app_names(app: str, match: str) -> None:
    s = Session()
    s.handshake()
    expect_error(s, s.client.connect(app, tc_url="rtmp://h/x"), match)
    status = s.last_status()
    assert status["code"] == "NetConnection.Connect.Rejected"


def test_huge_tc_url() -> None:
    s = Session()
    s.handshake()
    expect_error(s, s.client.connect("live", tc_url="rtmp://h/" + "x" * 5000), "tcUrl")


def test_publish_type_not_a_string() -> None:
    s = Session()
    s.connect()
    s.feed(s.client.command("createStream", 2, None))
    expect_error(s, s.client.command("publish", 0, None, "k", 1.0, stream_id=1), "publish type")


@pytest.mark.parametrize("type_id", [MessageType.COMMAND_AMF3, MessageType.DATA_AMF3])
def test_amf3_messages_are_refused(type_id: int) -> None:
    s = Session()
    s.publishing()
    payload = b"\x00" + amf0.encode("connect", 1.0, None)
    expect_error(s, s.client.message(Message(3, type_id, 0, 0, payload)), "AMF3")


def test_amf3_switch_inside_amf0_is_refused() -> None:
    s = Session()
    s.handshake()
    payload = amf0.encode("connect", 1.0) + b"\x11\x0a\x0b\x01"
    expect_error(s, s.client.message(Message(3, 20, 0, 0, payload)), "AMF3")


def test_amf3_metadata_switch_is_refused() -> None:
    s = Session()
    s.publishing()
    payload = amf0.encode("@setDataFrame", "onMetaData") + b"\x11\x09\x01"
    expect_error(s, s.client.message(Message(8, 18, 1, 0, payload)), "AMF3")


@pytest.mark.parametrize("size", [0, 0x80000000, 0xFFFFFFFF])
def test_bad_set_chunk_size_through_the_connection(size: int) -> None:
    s = Session()
    s.connect()
    message = Message(2, MessageType.SET_CHUNK_SIZE, 0, 0, struct.pack(">I", size))
    expect_error(s, s.client.message(message), "chunk size")


def test_set_chunk_size_1_through_the_connection() -> None:
    s = Session()
    s.publishing()
    data = s.client.set_chunk_size(1) + s.client.video(0, bytes(range(256)) * 40)
    assert s.feed(data) == [VideoData(0, bytes(range(256)) * 40)]


def test_type3_on_a_fresh_chunk_stream() -> None:
    s = Session()
    s.connect()
    expect_error(s, b"\xc9abc", "no type-0 chunk")


def test_extended_csids_through_the_connection() -> None:
    s = Session()
    s.publishing()
    data = b"".join(
        s.client.message(Message(csid, MessageType.VIDEO, 1, 0, b"\x27\x01" + bytes([i])))
        for i, csid in enumerate([64, 319, 320, 65599])
    )
    assert s.feed(data) == [VideoData(0, b"\x27\x01" + bytes([i])) for i in range(4)]


def test_message_length_above_limit() -> None:
    s = Session(max_message_size=1 << 16, max_buffer=1 << 17)
    s.publishing()
    header = bytes([0x06, 0, 0, 0]) + (1 << 20).to_bytes(3, "big") + bytes([9, 1, 0, 0, 0])
    expect_error(s, header, "exceeds the 65536-byte limit")


def test_zero_window_is_refused() -> None:
    s = Session()
    s.connect()
    message = Message(2, MessageType.WINDOW_ACK_SIZE, 0, 0, b"\0\0\0\0")
    expect_error(s, s.client.message(message), "window acknowledgement size 0")


def test_short_control_payloads() -> None:
    for type_id, payload in [
        (MessageType.WINDOW_ACK_SIZE, b"\0"),
        (MessageType.ACKNOWLEDGEMENT, b""),
        (MessageType.SET_PEER_BANDWIDTH, b"\0\0\0\1"),
        (MessageType.USER_CONTROL, b"\0"),
        (MessageType.ABORT, b"\0\0"),
    ]:
        s = Session()
        s.connect()
        expect_error(s, s.client.message(Message(2, type_id, 0, 0, payload)), "too short")


def test_parse_publishing_name() -> None:
    assert parse_publishing_name("abc") == ("abc", "")
    assert parse_publishing_name("a/b/c?x=../y") == ("c", "x=../y")
    assert parse_publishing_name("clé") == ("clé", "")

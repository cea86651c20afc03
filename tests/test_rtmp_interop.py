"""Real encoders publish to a tiny Trio server that drives RTMPConnection.

A reference .flv is encoded once with PyAV (libx264 with B-frames, AAC); each publisher
stream-copies it over RTMP, so the video and audio tag bodies the server receives must be
bit-exact to the tags in the file (FFmpeg's RTMP muxer turns FLV tags into messages as they are).
Publishers run as subprocesses under a deadline: a blocked libavformat call cannot hang the suite.
"""

from __future__ import annotations

import array
import contextlib
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest
import trio

from owncastd.ingest.rtmp import (
    AcceptPublish,
    AudioData,
    Connect,
    ConnectionClosed,
    Event,
    HandshakeComplete,
    Metadata,
    PublishRequested,
    RejectPublish,
    RemoteProtocolError,
    RTMPConnection,
    Unpublished,
    VideoData,
)
from tests.syspkg import in_ci, require_binary

DEADLINE = 60

# Stream-copy an .flv to an RTMP URL with PyAV (argv: source, url).
PYAV_PUBLISH = """
import sys, av
source, url = sys.argv[1], sys.argv[2]
with av.open(source) as inp, av.open(url, "w", format="flv") as out:
    streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
    for packet in inp.demux():
        if packet.dts is None:
            continue
        packet.stream = streams[packet.stream.index]
        out.mux(packet)
"""

# Open an RTMP URL for reading with PyAV: FFmpeg as a player checks the digest handshake.
PYAV_PLAY = """
import sys, av
try:
    av.open(sys.argv[1], timeout=10)
except av.FFmpegError as exc:
    print(type(exc).__name__)
"""


# -- the reference file ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    type_id: int
    timestamp: int
    body: bytes


def flv_tags(data: bytes) -> list[Tag]:
    assert data[:3] == b"FLV"
    pos = int.from_bytes(data[5:9], "big") + 4
    tags = []
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        timestamp = int.from_bytes(data[pos + 4 : pos + 7], "big") | data[pos + 7] << 24
        tags.append(Tag(data[pos], timestamp, data[pos + 11 : pos + 11 + size]))
        pos += 11 + size + 4
    return tags


def encode_reference(path: Path) -> None:
    with av.open(str(path), "w", format="flv") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "superfast"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.codec_context.max_b_frames = 2
        video.codec_context.gop_size = 25
        audio = out.add_stream("aac", rate=44100, layout="mono")
        # A drifting texture gives the encoder motion, so B-frames and CTS offsets appear.
        base = bytes((i * 37 + (i // 97) * 11) % 251 for i in range(1021))
        texture = base * (320 * 240 * 2 // len(base))
        samples = 0
        for i in range(50):
            frame = av.VideoFrame(320, 240, "yuv420p")
            for plane in frame.planes:
                shift = (i * 26) % 4096
                plane.update(texture[shift : shift + plane.buffer_size])
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
            while samples * 25 < (i + 1) * 44100:
                aframe = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                tone = (
                    0.3 * math.sin(2 * math.pi * 440 * (samples + k) / 44100) for k in range(1024)
                )
                aframe.planes[0].update(array.array("f", tone).tobytes())
                aframe.sample_rate = 44100
                aframe.pts = samples
                samples += 1024
                for packet in audio.encode(aframe):
                    out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Tag]]:
    path = tmp_path_factory.mktemp("rtmp") / "reference.flv"
    encode_reference(path)
    tags = flv_tags(path.read_bytes())
    assert sum(t.type_id == 9 for t in tags) > 40 and sum(t.type_id == 8 for t in tags) > 40
    assert any(t.type_id == 9 and t.body[0] >> 4 == 2 and t.body[2:5] != b"\0\0\0" for t in tags)
    return path, tags


# -- the server -----------------------------------------------------------------------------


@dataclass
class Record:
    events: list[Event] = field(default_factory=list)
    error: str | None = None
    digest: bool = False

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def media(self, kind: type[VideoData | AudioData]) -> list[tuple[int, bytes]]:
        return [(e.timestamp, e.data) for e in self.events if isinstance(e, kind)]


async def serve_one(listener: trio.SocketListener, record: Record, accept: bool) -> None:
    """Drive one connection as the ingest shell would, recording every event."""
    stream = await listener.accept()
    conn = RTMPConnection()

    async def write(data: bytes) -> None:
        if data:
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(data)

    async with stream:
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            conn.receive_data(data)
            try:
                for event in conn.events():
                    record.events.append(event)
                    if isinstance(event, PublishRequested):
                        decision = AcceptPublish() if accept else RejectPublish("wrong stream key")
                        await write(conn.send(decision))
            except RemoteProtocolError as exc:
                record.error = str(exc)
                await write(conn.data_to_send())
                break
            await write(conn.data_to_send())
            if not data:
                break
    record.digest = conn._handshake.digest


async def run_client(
    argv: list[str], *, accept: bool = True
) -> tuple[Record, subprocess.CompletedProcess[bytes]]:
    """Start a one-connection server, run `argv` with {url} filled in, return both sides."""
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    url = f"rtmp://127.0.0.1:{port}/live/testkey"
    record = Record()
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_one, listener, record, accept)
            result = await trio.run_process(
                [arg.replace("{url}", url) for arg in argv],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    await listener.aclose()
    return record, result


def assert_published_bit_exact(record: Record, tags: list[Tag]) -> None:
    assert record.error is None
    kinds = [type(e) for e in record.events if not isinstance(e, VideoData | AudioData)]
    assert kinds[:3] == [HandshakeComplete, Connect, PublishRequested]
    assert kinds[-1] is ConnectionClosed
    [request] = record.of(PublishRequested)
    assert isinstance(request, PublishRequested)
    assert (request.app, request.name, request.publish_type) == ("live", "testkey", "live")
    [metadata] = record.of(Metadata)
    assert isinstance(metadata, Metadata)
    assert metadata.values["width"] == 320.0 and metadata.values["videocodecid"] == 7.0
    assert record.media(VideoData) == [(t.timestamp, t.body) for t in tags if t.type_id == 9]
    assert record.media(AudioData) == [(t.timestamp, t.body) for t in tags if t.type_id == 8]


# -- publishers -----------------------------------------------------------------------------


async def test_pyav_publish_is_bit_exact(reference: tuple[Path, list[Tag]]) -> None:
    path, tags = reference
    record, result = await run_client([sys.executable, "-c", PYAV_PUBLISH, str(path), "{url}"])
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert_published_bit_exact(record, tags)
    assert record.digest  # libavformat sends the digest-style C1
    assert record.of(Unpublished)  # FCUnpublish / deleteStream on close


async def test_ffmpeg_cli_publish_is_bit_exact(reference: tuple[Path, list[Tag]]) -> None:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    path, tags = reference
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-c", "copy"]
    record, result = await run_client([*argv, "-f", "flv", "{url}"])
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert_published_bit_exact(record, tags)


async def test_ffmpeg_cli_sees_the_rejection(reference: tuple[Path, list[Tag]]) -> None:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    path, _ = reference
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-c", "copy"]
    record, result = await run_client([*argv, "-f", "flv", "{url}"], accept=False)
    assert result.returncode != 0
    assert b"wrong stream key" in result.stderr
    assert record.error is None
    assert not record.of(VideoData)


def require_gstreamer_elements(*elements: str) -> str:
    gst = require_binary("gst-launch-1.0", "gstreamer1.0-tools")
    for element in elements:
        found = subprocess.run(
            ["gst-inspect-1.0", "--exists", element], check=False, capture_output=True
        )
        if found.returncode != 0:
            message = f"needs GStreamer element {element} (gstreamer1.0-plugins-bad / -good)"
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
    return gst


async def test_gstreamer_rtmp2sink_publish(reference: tuple[Path, list[Tag]]) -> None:
    gst = require_gstreamer_elements("rtmp2sink", "flvmux", "flvdemux", "h264parse", "aacparse")
    path, tags = reference
    pipeline = (
        f"filesrc location={path} ! flvdemux name=d "
        "d.video ! queue ! h264parse ! flvmux name=m streamable=true ! rtmp2sink location={url} "
        "d.audio ! queue ! aacparse ! m."
    )
    record, result = await run_client([gst, "-q", *pipeline.split()])
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert record.error is None
    [request] = record.of(PublishRequested)
    assert isinstance(request, PublishRequested) and request.name == "testkey"
    assert record.of(Metadata)
    # GStreamer's flvmux rewrites timestamps and the AVC sequence header but carries the coded
    # frames through unchanged: compare the frames after their 5-byte FLV video header.
    video = record.media(VideoData)
    expected_video = [t.body for t in tags if t.type_id == 9]
    assert [body[5:] for _, body in video[1:]] == [body[5:] for body in expected_video[1:]]
    audio = record.media(AudioData)
    assert [body for _, body in audio[1:]] == [t.body for t in tags if t.type_id == 8][1:]
    assert record.of(ConnectionClosed)


# -- the digest handshake, checked by FFmpeg as a player ------------------------------------


async def test_pyav_player_accepts_our_digest_handshake() -> None:
    record, result = await run_client([sys.executable, "-c", PYAV_PLAY, "{url}"])
    # FFmpeg only sends connect after validating our S1 and S2 digests.
    assert record.digest
    assert any(isinstance(e, Connect) for e in record.events), result.stderr
    assert record.error is None


async def test_ffmpeg_cli_player_accepts_our_digest_handshake() -> None:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "{url}", "-f", "null", "-"]
    record, result = await run_client(argv)
    assert record.digest
    assert any(isinstance(e, Connect) for e in record.events)
    assert b"validating failed" not in result.stderr and b"Signature mismatch" not in result.stderr
    assert b"takes streams" in result.stderr  # our Play.Failed description reached it

"""RTMP ingest in the real daemon: real publishers, stream details, the publisher lifecycle,
and hostile peers. Each hostile case ends with the daemon still accepting a good publisher."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from owncastd.media.flv import FLVDemuxer, read_flv_file
from owncastd.media.packets import Packet, Track
from tests.daemon import Daemon
from tests.rtmp_socket import RawPublisher
from tests.syspkg import in_ci, require_binary

# Stream-copy an .flv to an RTMP URL with PyAV's FFmpeg RTMP muxer (argv: source, url, realtime).
PYAV_PUBLISH = """
import sys, time, av
source, url, realtime = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
start = time.monotonic()
with av.open(source) as inp, av.open(url, "w", format="flv") as out:
    streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
    for packet in inp.demux():
        if packet.dts is None:
            continue
        if realtime:
            due = float(packet.dts * packet.time_base)
            time.sleep(max(0.0, due - (time.monotonic() - start)))
        packet.stream = streams[packet.stream.index]
        out.mux(packet)
"""


def encode_reference(path: Path, seconds: int = 4, fps: int = 30) -> None:
    """320x240 H.264 (GOP 1 s, B-frames) + 44.1 kHz AAC, muxed to FLV by PyAV."""
    with av.open(str(path), "w", format="flv") as out:
        video = out.add_stream(
            "libx264", rate=fps, options={"g": str(fps), "bf": "2", "preset": "veryfast"}
        )
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="mono")
        samples = 0
        for i in range(seconds * fps):
            frame = av.VideoFrame(320, 240, "yuv420p")
            for n, plane in enumerate(frame.planes):
                plane.update(bytes(((x + i * 3 + n * 50) % 256) for x in range(plane.buffer_size)))
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
            while samples * fps < (i + 1) * 44100:
                aframe = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                aframe.planes[0].update(bytes(4096))
                aframe.sample_rate = 44100
                aframe.pts = samples
                samples += 1024
                for packet in audio.encode(aframe):
                    out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ingest") / "reference.flv"
    encode_reference(path)
    return path


def reference_packets(path: Path) -> list[Packet]:
    demuxer = FLVDemuxer()
    packets: list[Packet] = []
    for tag in read_flv_file(path.read_bytes()):
        if tag.tag_type == 9:
            events = demuxer.video(tag.timestamp, tag.body)
        elif tag.tag_type == 8:
            events = demuxer.audio(tag.timestamp, tag.body)
        else:
            continue
        packets += [e for e in events if isinstance(e, Packet)]
    return packets


def publish_pyav(url: str, source: Path, realtime: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PYAV_PUBLISH, str(source), url, "1" if realtime else "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def publish_ffmpeg(url: str, source: Path, loop: bool = True) -> subprocess.Popen[bytes]:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re"]
    if loop:
        argv += ["-stream_loop", "-1"]
    return subprocess.Popen(
        [*argv, "-i", str(source), "-c", "copy", "-f", "flv", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def admin_status(d: Daemon) -> dict:  # type: ignore[type-arg]
    response = d.get("/api/admin/status", auth=d.admin_auth)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def publishers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_publish_details_status_and_disconnect(
    daemon: Daemon, reference: Path, publishers: list
) -> None:  # type: ignore[type-arg]
    before = daemon.status()
    assert before["online"] is False and before["lastConnectTime"] is None
    publishers.append(proc := publish_ffmpeg(daemon.rtmp_url, reference))
    status = wait_for(
        lambda: (
            (s := admin_status(daemon))["online"]
            and s["broadcaster"]["streamDetails"]["videoBitrate"]
            and s
        ),
        what="online",
    )
    details = status["broadcaster"]["streamDetails"]
    assert details["videoCodec"] == "H.264" and details["audioCodec"] == "AAC"
    assert (details["width"], details["height"]) == (320, 240)
    assert details["framerate"] == 30
    assert details["encoder"].startswith("Lavf")
    assert details["videoBitrate"] > 0
    assert status["broadcaster"]["remoteAddr"] == "127.0.0.1"
    assert status["broadcaster"]["time"].endswith("Z")
    public = daemon.status()
    assert public["online"] is True and public["lastConnectTime"]

    unauthorized = daemon.get("/api/admin/status")
    assert unauthorized.status_code == 401
    assert unauthorized.headers["WWW-Authenticate"] == 'Basic realm="Owncast Authenticated Request"'
    assert daemon.get("/api/admin/status", auth=("admin", "wrong")).status_code == 401

    assert daemon.get("/api/admin/disconnect", auth=daemon.admin_auth).json()["success"] is True
    wait_for(lambda: not daemon.status()["online"], what="offline")
    assert daemon.status()["lastDisconnectTime"]
    assert proc.wait(10) != 0  # the publisher saw the connection drop


def test_pyav_publish_is_bit_exact_through_to_hls(
    daemon_factory: type[Daemon], reference: Path, tmp_path: Path
) -> None:
    # A passthrough rung: the default ladder transcodes (Owncast's one 1200 kbit/s rung).
    daemon = daemon_factory("[[video.variants]]\nvideo_passthrough = true\n").start()
    proc = publish_pyav(daemon.rtmp_url, reference)
    assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    playlist = wait_for(
        lambda: "#EXT-X-ENDLIST" in (t := daemon.get("/hls/0/stream.m3u8").text) and t,
        what="ENDLIST",
    )
    lines = playlist.splitlines()
    init = next(line.split('"')[1] for line in lines if line.startswith("#EXT-X-MAP"))
    segments = [line for line in lines if line and not line.startswith("#")]
    out = tmp_path / "readback.mp4"
    out.write_bytes(b"".join(daemon.get(f"/hls/0/{name}").content for name in [init, *segments]))

    sent = reference_packets(reference)
    with av.open(str(out)) as container:
        got_video = [bytes(p) for p in container.demux(video=0) if p.size]
    with av.open(str(out)) as container:
        got_audio = [bytes(p) for p in container.demux(audio=0) if p.size]
    sent_video = [p.data for p in sent if p.track is Track.VIDEO]
    sent_audio = [p.data for p in sent if p.track is Track.AUDIO]
    assert got_video == sent_video
    # Audio that came before the first video keyframe is not published: a contiguous tail.
    assert got_audio == sent_audio[len(sent_audio) - len(got_audio) :]
    assert len(got_audio) >= len(sent_audio) - 2


def test_wrong_key_refused_and_daemon_keeps_serving(daemon: Daemon, reference: Path) -> None:
    bad_url = daemon.rtmp_url.rsplit("/", 1)[0] + "/not-the-key"
    proc = publish_pyav(bad_url, reference)
    assert proc.wait(30) != 0
    raw = RawPublisher(daemon.rtmp_port)
    status = raw.publish("also-wrong")
    assert status["code"] == "NetStream.Publish.BadName"
    raw.close()
    assert "publish refused: wrong stream key" in daemon.log()
    good = publish_pyav(daemon.rtmp_url, reference)
    assert good.wait(30) == 0
    assert "stream started" in daemon.log()


@pytest.mark.parametrize("client", ["ffmpeg", "gstreamer"])
def test_other_clients_publish(daemon: Daemon, reference: Path, client: str) -> None:
    if client == "ffmpeg":
        proc = publish_ffmpeg(daemon.rtmp_url, reference, loop=False)
    else:
        gst = require_binary("gst-launch-1.0", "gstreamer1.0-tools")
        element = subprocess.run(["gst-inspect-1.0", "--exists", "rtmp2sink"], check=False)
        if element.returncode != 0:
            message = "needs GStreamer's rtmp2sink (gstreamer1.0-plugins-bad)"
            pytest.fail(message) if in_ci() else pytest.skip(message)
        pipeline = (
            f"filesrc location={reference} ! flvdemux name=d "
            "d.video ! queue ! h264parse ! flvmux name=m streamable=true ! "
            f"rtmp2sink location={daemon.rtmp_url} d.audio ! queue ! aacparse ! m."
        )
        proc = subprocess.Popen(
            [gst, "-q", *pipeline.split()], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    wait_for(lambda: "#EXT-X-ENDLIST" in daemon.get("/hls/0/stream.m3u8").text, what="ENDLIST")
    assert "stream stopped" in daemon.log()


def test_second_publisher_refused_while_first_is_live(
    daemon: Daemon, reference: Path, publishers: list
) -> None:  # type: ignore[type-arg]
    publishers.append(first := publish_ffmpeg(daemon.rtmp_url, reference))
    wait_for(lambda: daemon.status()["online"], what="online")
    raw = RawPublisher(daemon.rtmp_port)
    status = raw.publish(daemon.stream_key)
    assert status["code"] == "NetStream.Publish.BadName"
    assert "already" in str(status["description"])
    raw.close()
    time.sleep(1)
    assert first.poll() is None and daemon.status()["online"]


def test_half_open_publisher_is_taken_over_by_a_reconnect(
    daemon: Daemon, reference: Path, publishers: list
) -> None:  # type: ignore[type-arg]
    silent = RawPublisher(daemon.rtmp_port)
    assert silent.publish(daemon.stream_key)["code"] == "NetStream.Publish.Start"
    # The network dropped: no FIN, no more data. OBS reconnects within seconds.
    time.sleep(3.5)
    started = time.monotonic()
    publishers.append(publish_ffmpeg(daemon.rtmp_url, reference))
    wait_for(
        lambda: "publisher taking over a silent connection" in daemon.log(),
        timeout=10,
        what="takeover",
    )
    wait_for(
        lambda: admin_status(daemon)["broadcaster"]["streamDetails"]["videoCodec"] == "H.264",
        what="new publisher live",
    )
    assert time.monotonic() - started < 5
    assert silent.closed_by_server(5)


def test_throttle_after_repeated_wrong_keys(daemon: Daemon) -> None:
    for _ in range(5):
        raw = RawPublisher(daemon.rtmp_port)
        assert raw.publish("guess")["code"] == "NetStream.Publish.BadName"
        raw.close()
    blocked = RawPublisher(daemon.rtmp_port)
    assert blocked.closed_by_server(5)
    assert "too many wrong stream keys" in daemon.log()
    assert daemon.status()["online"] is False  # HTTP still answers


def good_publish_still_works(d: Daemon) -> None:
    raw = RawPublisher(d.rtmp_port)
    assert raw.publish(d.stream_key)["code"] == "NetStream.Publish.Start"
    raw.close()
    wait_for(lambda: not d.status()["online"], what="offline after close")


HOSTILE = {
    "chunk size 0": lambda c: c.message(_chunk_size_message(0)),
    "chunk size above 2^31": lambda c: c.message(_chunk_size_message(0x8000_0001)),
    "chunk size 1 then a command": lambda c: (
        c.set_chunk_size(1) + c.command("releaseStream", 2, None, "k")
    ),
    "chunk size change mid-message": lambda c: _chunk_size_mid_message(c),
    "type-3 chunk on a fresh stream": lambda c: bytes([0xC0 | 9]) + b"\0" * 16,
    # fmt 0 header on csid 5: timestamp 0, length 16 MiB - 1 (over the 8 MiB limit), video.
    "message above the limit": lambda c: (
        bytes([0x05]) + b"\0\0\0" + b"\xff\xff\xff" + b"\x09\x01\0\0\0"
    ),
    "AMF3 command": lambda c: c.message(_amf3_message()),
    "10 kB stream name": lambda c: c.command(
        "publish", 5, None, "k" * 10_000, "live", stream_id=1, csid=8
    ),
    "../ in the stream name": lambda c: (
        c.command("createStream", 4, None)
        + c.command("publish", 5, None, "../../etc/passwd", "live", stream_id=1, csid=8)
    ),
    "media before publish": lambda c: c.video(0, b"\x17\x00\x00\x00\x00" + b"\x01" * 30),
    "garbage": lambda c: bytes(range(256)) * 40,
}


def _chunk_size_message(size: int):  # type: ignore[no-untyped-def]
    from owncastd.ingest.rtmp.messages import Message, MessageType

    return Message(2, MessageType.SET_CHUNK_SIZE, 0, 0, size.to_bytes(4, "big"))


def _amf3_message():  # type: ignore[no-untyped-def]
    from owncastd.ingest.rtmp.messages import Message

    return Message(3, 17, 0, 0, b"\x00\x02\x00\x07connect")


def _chunk_size_mid_message(c) -> bytes:  # type: ignore[no-untyped-def]
    from owncastd.ingest.rtmp.messages import Message, MessageType

    chunks = c.writer.write_chunks(
        Message(3, MessageType.COMMAND_AMF0, 0, 0, b"\x02\x00\x05hello" + b"\x05" * 300)
    )
    return chunks[0] + c.message(_chunk_size_message(4096)) + b"".join(chunks[1:])


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("hostile")).start()
    yield d
    d.stop()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_leaves_the_daemon_serving(shared_daemon: Daemon, case: str) -> None:
    raw = RawPublisher(shared_daemon.rtmp_port)
    raw.handshake()
    raw.send(raw.client.connect("live"))
    # The server may close before it has read everything: that is a fine answer too.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        raw.send(HOSTILE[case](raw.client))
    assert raw.closed_by_server(12), f"{case}: the daemon kept a broken connection open"
    raw.close()
    good_publish_still_works(shared_daemon)
    assert "Traceback" not in shared_daemon.log()


@pytest.mark.parametrize("variant", ["chunk size 1", "3-byte chunk stream ids"])
def test_legal_but_unusual_framing_publishes(shared_daemon: Daemon, variant: str) -> None:
    raw = RawPublisher(shared_daemon.rtmp_port)
    raw.handshake()
    client = raw.client
    if variant == "chunk size 1":
        raw.send(client.set_chunk_size(1))
        raw.send(client.connect("live") + client.publish_setup(shared_daemon.stream_key))
    else:
        raw.send(
            client.command("connect", 1, {"app": "live", "tcUrl": "rtmp://x/live"}, csid=65599)
        )
        key = shared_daemon.stream_key
        raw.send(client.command("createStream", 2, None, csid=65599))
        raw.send(client.command("publish", 3, None, key, "live", stream_id=1, csid=65599))
    wait_for(lambda: shared_daemon.status()["online"], what=f"online with {variant}")
    raw.close()
    wait_for(lambda: not shared_daemon.status()["online"], what="offline")


def test_timestamps_wrapping_at_2_32_ms(shared_daemon: Daemon) -> None:
    raw = RawPublisher(shared_daemon.rtmp_port)
    assert raw.publish(shared_daemon.stream_key)["code"] == "NetStream.Publish.Start"
    for ts in (0xFFFF_FF00, 0xFFFF_FFF0, 0x10, 0x40):
        raw.send(raw.client.audio(ts, b"\xaf\x01" + b"\x21" * 20))
    raw.close()
    wait_for(lambda: not shared_daemon.status()["online"], what="offline")
    good_publish_still_works(shared_daemon)


def test_idle_and_handshake_timeouts_are_enforced(shared_daemon: Daemon) -> None:
    lurker = RawPublisher(shared_daemon.rtmp_port)
    assert lurker.closed_by_server(15), "a connection that never handshakes must be closed"
    good_publish_still_works(shared_daemon)


def test_http_stays_up_during_a_connection_flood(shared_daemon: Daemon) -> None:
    import socket

    socks = [socket.create_connection(("127.0.0.1", shared_daemon.rtmp_port)) for _ in range(60)]
    try:
        assert httpx.get(shared_daemon.url + "/api/status", timeout=5).status_code == 200
    finally:
        for s in socks:
            s.close()
    good_publish_still_works(shared_daemon)

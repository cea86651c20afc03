"""Transcoding in the real daemon: real publishes, the worker process, and FFmpeg reading back
every rendition (size, frame rate, keyframes at the same instants across rungs)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from owncastd.media.flv import TagType, read_flv_file
from tests.daemon import Daemon
from tests.publishers import ffmpeg_publisher
from tests.syspkg import require_binary

T = TypeVar("T")

LADDER = """
[video]
latency_level = 1
[[video.variants]]
name = "source"
video_passthrough = true
[[video.variants]]
scaled_height = 240
framerate = 30
cpu_usage_level = 0
video_bitrate = 600
[[video.variants]]
scaled_width = 320
framerate = 15
cpu_usage_level = 0
video_bitrate = 300
audio_passthrough = false
audio_bitrate = 48
"""


def wait_for(predicate: Callable[[], T | None], timeout: float = 20, what: str = "it") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def publishers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def admin_status(d: Daemon) -> dict[str, Any]:
    data: dict[str, Any] = d.get("/api/admin/status", auth=d.admin_auth).json()
    return data


def playlist_files(d: Daemon, index: int) -> tuple[str, list[str]]:
    text = d.get(f"/hls/{index}/stream.m3u8").text
    lines = text.splitlines()
    init = next(line.split('"')[1] for line in lines if line.startswith("#EXT-X-MAP"))
    return init, [line for line in lines if line and not line.startswith("#")]


def read_back(d: Daemon, index: int, tmp: Path) -> dict[str, Any]:
    """The rendition's init and segments as one fMP4 file, as ffprobe sees it."""
    init, segments = playlist_files(d, index)
    path = tmp / f"rendition-{index}.mp4"
    path.write_bytes(b"".join(d.get(f"/hls/{index}/{n}").content for n in [init, *segments]))
    ffprobe = require_binary("ffprobe", "ffmpeg")
    result = subprocess.run(
        [
            *(ffprobe, "-v", "error", "-of", "json", "-show_streams"),
            *("-show_entries", "packet=stream_index,pts_time,flags"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def video_of(probe: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[float, bool]]]:
    stream = next(s for s in probe["streams"] if s["codec_type"] == "video")
    packets = [
        (float(p["pts_time"]), "K" in p["flags"])
        for p in probe["packets"]
        if p["stream_index"] == stream["index"]
    ]
    return stream, packets


def test_three_rung_ladder_from_a_real_publish(
    daemon_factory: type[Daemon], publishers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    require_binary("ffmpeg", "ffmpeg")
    d = daemon_factory(LADDER).start()
    # 640x360 at 30 fps with a keyframe every 2 s: the segment length of latency level 1.
    publishers.append(pub := ffmpeg_publisher(d.rtmp_url, 7, gop=60, preset="ultrafast"))
    live = wait_for(lambda: (s := admin_status(d))["encoder"] and s, what="encoder status")
    assert live["encoder"]["encoder"] == "libx264"
    assert live["health"]["encoder"] == live["encoder"]
    assert [v["name"] for v in live["currentBroadcast"]["outputSettings"]] == [
        "source",
        "240h",
        "320w",
    ]
    assert pub.wait(30) == 0
    for index in range(3):
        wait_for(
            lambda i=index: "#EXT-X-ENDLIST" in d.get(f"/hls/{i}/stream.m3u8").text,
            what=f"rendition {index} to end",
        )

    master = d.get("/hls/stream.m3u8").text
    assert re.findall(r"RESOLUTION=(\d+x\d+)", master) == ["640x360", "426x240", "320x180"]
    assert re.findall(r"\n(\d)/stream.m3u8", master) == ["0", "1", "2"]
    assert d.get("/api/video/variants").json() == [
        {"index": 0, "name": "source"},
        {"index": 1, "name": "240h"},
        {"index": 2, "name": "320w"},
    ]

    expected = {0: ((640, 360), 30), 1: ((426, 240), 30), 2: ((320, 180), 15)}
    keyframes: dict[int, list[float]] = {}
    ends: list[float] = []
    for index, (size, fps) in expected.items():
        probe = read_back(d, index, tmp_path)
        stream, packets = video_of(probe)
        assert (stream["width"], stream["height"]) == size
        span = packets[-1][0] - packets[0][0]
        assert span > 3, packets
        assert abs((len(packets) - 1) / span - fps) < 0.5, (index, len(packets), span)
        audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
        assert audio["codec_name"] == "aac"
        keyframes[index] = [t for t, key in packets if key]
        ends.append(packets[-1][0])
    # Keyframes at the same instants in every rung: each 2 s segment boundary.
    common_end = min(ends)
    aligned = [[t for t in keys if t < common_end - 0.1] for keys in keyframes.values()]
    assert aligned[0] == aligned[1] == aligned[2], keyframes
    assert len(aligned[0]) >= 2
    assert all(abs(t / 2 - round(t / 2)) < 0.02 for t in aligned[1]), aligned[1]

    # The thumbnail and preview.gif came from the worker's pictures.
    thumbnail = d.get("/thumbnail.jpg")
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
    gif = d.get("/preview.gif")
    assert gif.status_code == 200 and gif.content[:6] == b"GIF89a"
    log = d.log()
    assert "encoder worker exited" in log and "exit_code=0" in log


def worker_pid(d: Daemon, started: int) -> int:
    pids = re.findall(r"encoder worker started .*pid=(\d+)", d.log())
    return int(pids[started - 1]) if len(pids) >= started else 0


def test_worker_killed_mid_stream_is_restarted_after_a_discontinuity(
    daemon_factory: type[Daemon], publishers: list[subprocess.Popen[bytes]]
) -> None:
    d = daemon_factory(
        """
[video]
latency_level = 0
[[video.variants]]
video_passthrough = true
[[video.variants]]
scaled_height = 180
cpu_usage_level = 0
"""
    ).start()
    publishers.append(pub := ffmpeg_publisher(d.rtmp_url, 12, gop=30, preset="ultrafast"))
    pid = wait_for(lambda: worker_pid(d, 1), what="the worker")
    wait_for(lambda: d.get("/hls/1/stream.m3u8").text.count("#EXTINF") >= 2, what="segments")
    os.kill(pid, signal.SIGKILL)

    d.wait_for_log("encoder worker died; restarting", timeout=10)
    second = wait_for(lambda: worker_pid(d, 2), what="a new worker")
    assert second != pid

    def continued() -> bool:
        text = d.get("/hls/1/stream.m3u8").text
        return (
            "#EXT-X-DISCONTINUITY\n" in text
            and "#EXTINF" in text.split("#EXT-X-DISCONTINUITY\n")[-1]
        )

    wait_for(continued, what="segments after a discontinuity")
    assert admin_status(d)["encoder"]["restarts"] == 1
    assert (
        "#EXT-X-DISCONTINUITY\n" not in d.get("/hls/0/stream.m3u8").text
    )  # passthrough: untouched
    assert pub.wait(30) == 0
    wait_for(lambda: "#EXT-X-ENDLIST" in d.get("/hls/1/stream.m3u8").text, what="the end")
    assert "signal=SIGKILL" in d.log() or "exit_code=-9" in d.log()


def garbage_flv(source: bytes) -> bytes:
    """`source` with every coded video frame's NAL units replaced by random bytes (the lengths
    still add up, so ingest accepts them; the decoder cannot)."""
    out = bytearray(source[:13])  # FLV header and PreviousTagSize0
    for tag in read_flv_file(source):
        body = tag.body
        if tag.tag_type == TagType.VIDEO and len(body) > 5 and body[1] == 1:
            nal = bytes([0x65 if body[0] >> 4 == 1 else 0x41]) + os.urandom(len(body) - 10)
            body = body[:5] + len(nal).to_bytes(4, "big") + nal
        header = bytes([tag.tag_type]) + len(body).to_bytes(3, "big")
        header += (tag.timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes([tag.timestamp >> 24])
        out += header + b"\x00\x00\x00" + body + (11 + len(body)).to_bytes(4, "big")
    return bytes(out)


def test_garbage_nal_units_give_a_clear_error_and_the_daemon_keeps_serving(
    daemon_factory: type[Daemon], publishers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    good = tmp_path / "good.flv"
    subprocess.run(
        [
            *(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"),
            *("-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30"),
            *("-f", "flv", str(good)),
        ],
        check=True,
        timeout=60,
    )
    bad = tmp_path / "bad.flv"
    bad.write_bytes(garbage_flv(good.read_bytes()))
    d = daemon_factory("[[video.variants]]\nscaled_height = 120\ncpu_usage_level = 0\n").start()

    def publish(path: Path) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [ffmpeg, "-v", "error", "-re", "-i", str(path), "-c", "copy", "-f", "flv", d.rtmp_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        publishers.append(proc)
        return proc

    publish(bad)
    d.wait_for_log("the source's H.264 video does not decode", timeout=20)
    line = next(x for x in d.log().splitlines() if "does not decode" in x)
    assert "error" in line and "Traceback" not in d.log()
    assert d.status()["online"] is True  # the daemon serves on, the publisher stays
    assert admin_status(d)["encoder"]["lastError"]
    publishers[-1].wait(30)
    wait_for(lambda: not d.status()["online"], what="the bad stream to end")

    # The next, good stream is transcoded as usual.
    assert publish(good).wait(30) == 0
    wait_for(lambda: "#EXT-X-ENDLIST" in d.get("/hls/0/stream.m3u8").text, what="the good stream")
    text = d.get("/hls/0/stream.m3u8").text
    assert text.count("#EXTINF") >= 2
    assert d.get("/api/ping").status_code == 200


def test_all_passthrough_keeps_the_keyframe_thumbnail(
    daemon_factory: type[Daemon], publishers: list[subprocess.Popen[bytes]]
) -> None:
    d = daemon_factory("[[video.variants]]\nvideo_passthrough = true\n").start()
    publishers.append(pub := ffmpeg_publisher(d.rtmp_url, 3, size="320x240"))
    assert pub.wait(30) == 0
    wait_for(lambda: d.get("/thumbnail.jpg").status_code == 200, what="the thumbnail")
    log = d.log()
    assert "encoder worker started" not in log
    status = d.get("/api/admin/status", auth=d.admin_auth).json()
    assert status["encoder"] is None

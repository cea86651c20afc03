"""`/thumbnail.jpg`: one keyframe decoded with PyAV, scaled, JPEG-encoded, written atomically."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import av
import pytest
import trio

from owncastd.media.packets import AudioCodec, AudioConfig, Packet, Track, VideoCodec, VideoConfig
from owncastd.media.thumbnails import (
    FILE_NAME,
    KeyframeTap,
    ThumbnailError,
    ThumbnailService,
    render_jpeg,
    scaled_size,
)
from tests.daemon import Daemon
from tests.publishers import pyav_publish


def encoded_keyframe(encoder: str, width: int, height: int) -> tuple[bytes, bytes]:
    """(configuration record, keyframe) as MP4 (and so FLV) carries them, made by PyAV."""
    buffer = io.BytesIO()
    try:
        with av.open(buffer, "w", format="mp4") as out:
            stream = out.add_stream(encoder, rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(3):
                frame = av.VideoFrame(width, height, "yuv420p")
                # Bands of grey and a colour cast: something to see, cheap to encode.
                row = bytes(
                    ((x // 16) * 24 + i) % 220 + 16 for x in range(frame.planes[0].line_size)
                )
                frame.planes[0].update(row * height)
                frame.planes[1].update(bytes([90]) * frame.planes[1].buffer_size)
                frame.planes[2].update(bytes([170]) * frame.planes[2].buffer_size)
                frame.pts = i
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except (av.FFmpegError, ValueError) as exc:
        pytest.skip(f"PyAV has no {encoder} encoder here: {exc}")
    buffer.seek(0)
    with av.open(buffer) as container:
        video = container.streams.video[0]
        record = bytes(video.codec_context.extradata or b"")
        keyframe = next(bytes(p) for p in container.demux(video) if p.is_keyframe and p.size)
    return record, keyframe


def config(codec: VideoCodec, width: int, height: int, record: bytes) -> VideoConfig:
    return VideoConfig(codec, width, height, record, "test")


def keyframe_packet(data: bytes, dts: int = 0) -> Packet:
    return Packet(Track.VIDEO, dts, dts, True, data)


def decode_jpeg(data: bytes) -> av.VideoFrame:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        return next(container.decode(video=0))


@pytest.mark.parametrize(
    ("encoder", "codec"),
    [("libx264", VideoCodec.H264), ("libx265", VideoCodec.H265), ("libsvtav1", VideoCodec.AV1)],
)
def test_renders_a_keyframe_of_each_codec(encoder: str, codec: VideoCodec) -> None:
    record, data = encoded_keyframe(encoder, 320, 180)
    jpeg = render_jpeg(config(codec, 320, 180, record), keyframe_packet(data))
    frame = decode_jpeg(jpeg)
    assert (frame.width, frame.height) == (320, 180)
    # The picture survived: the left edge is dark grey, the right edge lighter.
    gray = frame.reformat(format="gray").planes[0]
    row = bytes(gray)[90 * gray.line_size : 90 * gray.line_size + 320]
    assert row[5] + 40 < row[300], (row[5], row[300])


def test_scales_to_at_most_1280_wide() -> None:
    record, data = encoded_keyframe("libx264", 1920, 1080)
    frame = decode_jpeg(
        render_jpeg(config(VideoCodec.H264, 1920, 1080, record), keyframe_packet(data))
    )
    assert (frame.width, frame.height) == (1280, 720)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((640, 360), (640, 360)),
        ((1280, 720), (1280, 720)),
        ((3840, 2160), (1280, 720)),
        ((1080, 1920), (1080, 1920)),  # portrait: the width is what is limited
        ((2560, 1081), (1280, 540)),
        ((641, 361), (640, 360)),
    ],
)
def test_scaled_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert scaled_size(*size) == expected


def test_a_broken_keyframe_is_a_thumbnail_error() -> None:
    record, data = encoded_keyframe("libx264", 320, 180)
    with pytest.raises(ThumbnailError):
        render_jpeg(config(VideoCodec.H264, 320, 180, record), keyframe_packet(b"\0\0\0\x02\x65"))
    with pytest.raises(ThumbnailError):
        render_jpeg(config(VideoCodec.H264, 320, 180, b"junk"), keyframe_packet(data[:40]))


def test_tap_keeps_only_the_newest_video_keyframe() -> None:
    tap = KeyframeTap()
    video = config(VideoCodec.H264, 320, 180, b"")
    audio = AudioConfig(AudioCodec.AAC, 48000, 1, b"\x11\x88", "mp4a.40.2")
    tap.begin(video, audio)
    tap.packet(Packet(Track.AUDIO, 0, 0, True, b"aac"))
    assert tap.latest is None and not tap.changed.is_set()
    tap.packet(keyframe_packet(b"one", 0))
    assert tap.latest is not None and tap.latest.packet.data == b"one"
    assert tap.changed.is_set()  # the first keyframe of a broadcast wakes the service
    tap.changed = trio.Event()
    tap.packet(Packet(Track.VIDEO, 3000, 3000, False, b"delta"))
    tap.packet(keyframe_packet(b"two", 6000))
    assert tap.latest.packet.data == b"two" and tap.latest.config is video
    assert not tap.changed.is_set()  # later keyframes wait for the interval
    tap.end()
    assert tap.changed.is_set() and not tap.live


async def wait_for(condition: object, timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not condition():  # type: ignore[operator]
            await trio.sleep(0.01)


async def test_service_writes_atomically_and_survives_a_bad_frame(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record, data = encoded_keyframe("libx264", 320, 180)
    video = config(VideoCodec.H264, 320, 180, record)
    service = ThumbnailService(tmp_path, interval=0.2)
    tap = service.output_for(object())
    path = tmp_path / FILE_NAME
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        tap.begin(video, None)
        tap.packet(keyframe_packet(data))
        await wait_for(lambda: service.written == 1)
        assert decode_jpeg(path.read_bytes()).width == 320
        first = path.read_bytes()

        # A keyframe that does not decode: a warning, the old file stays, the service goes on.
        with caplog.at_level(logging.WARNING):
            tap.packet(keyframe_packet(b"\0\0\0\x02\x65\x88", 3000))
            await wait_for(lambda: service.failed == 1)
        assert "thumbnail not updated" in caplog.text
        assert path.read_bytes() == first

        tap.packet(keyframe_packet(data, 6000))
        await wait_for(lambda: service.written == 2)
        assert decode_jpeg(path.read_bytes()).height == 180
        # Only the file itself is left: the temporary file was renamed over it.
        assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]
        # Nothing new: nothing rewritten.
        await trio.sleep(0.5)
        assert service.written == 2
        nursery.cancel_scope.cancel()


def test_daemon_serves_the_live_thumbnail(daemon_factory: type[Daemon]) -> None:
    # A passthrough-only ladder: this service makes the thumbnail (a transcoding ladder's
    # encoder worker makes its own from the pictures it decodes).
    daemon = daemon_factory(
        extra_toml='\n[[video.variants]]\nname = "source"\nvideo_passthrough = true\n'
    ).start()
    assert daemon.get("/thumbnail.jpg").status_code == 404
    pyav_publish(daemon.rtmp_url, 60, size=(640, 360), b_frames=2)
    daemon.wait_for_log("stream stopped")
    response = None
    for _ in range(100):
        response = daemon.get("/thumbnail.jpg")
        if response.status_code == 200:
            break
        time.sleep(0.1)
    assert response is not None and response.status_code == 200, daemon.log()[-2000:]
    assert response.headers["content-type"].startswith("image/jpeg")
    frame = decode_jpeg(response.content)
    assert (frame.width, frame.height) == (640, 360)
    assert "thumbnail not updated" not in daemon.log()

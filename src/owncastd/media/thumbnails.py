"""`<data_dir>/thumbnail.jpg`: the live picture, refreshed from the newest keyframe while live.

`KeyframeTap` is a broadcast output that only keeps a reference to the newest video keyframe, so
the packet path stays cheap (the daemon adds `ThumbnailService.output_for` as the broadcaster's
output factory: nothing here imports the broadcast). `ThumbnailService` decodes that one frame with PyAV in a worker
thread every `interval` seconds (and once at the start and end of each broadcast), scales it to
at most 1280 pixels wide, encodes a JPEG with FFmpeg's mjpeg encoder and replaces the file
atomically. A frame that does not decode costs a warning, never the service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import trio

from owncastd.logs import get_logger
from owncastd.media.packets import AudioConfig, Packet, Track, VideoCodec, VideoConfig

log = get_logger(__name__)

FILE_NAME = "thumbnail.jpg"
INTERVAL = 20.0
MAX_WIDTH = 1280
# Decoders to try per codec, in order: AV1 has no software decoder in FFmpeg but dav1d.
DECODERS: dict[VideoCodec, tuple[str, ...]] = {
    VideoCodec.H264: ("h264",),
    VideoCodec.H265: ("hevc",),
    VideoCodec.AV1: ("libdav1d", "av1"),
}
# mjpeg quantiser bounds: 2 is the best quality; a thumbnail needs no better than 3 to 5.
JPEG_QMIN, JPEG_QMAX = 2, 5


class ThumbnailError(Exception):
    """The keyframe could not be turned into a JPEG (no decoder, a broken frame)."""


@dataclass(frozen=True, slots=True)
class Keyframe:
    """A video keyframe and the configuration it decodes with."""

    config: VideoConfig
    packet: Packet
    serial: int


class KeyframeTap:
    """A `MediaOutput` that keeps the newest video keyframe; nothing else on the packet path."""

    def __init__(self) -> None:
        self.video: VideoConfig | None = None
        self.latest: Keyframe | None = None
        self.live = False
        self.changed = trio.Event()
        self._serial = 0
        self._first_pending = False

    def begin(self, video: VideoConfig | None, audio: AudioConfig | None) -> None:
        self.video = video
        self.live = True
        self._first_pending = True  # the service wants the first keyframe of a new sequence

    def packet(self, packet: Packet) -> None:
        if packet.keyframe and packet.track is Track.VIDEO and self.video is not None:
            self._serial += 1
            self.latest = Keyframe(self.video, packet, self._serial)
            if self._first_pending:
                self._first_pending = False
                self.changed.set()

    def end(self) -> None:
        self.live = False
        self.changed.set()  # the last picture, for the offline page


def scaled_size(width: int, height: int, max_width: int = MAX_WIDTH) -> tuple[int, int]:
    """At most `max_width` wide, the aspect kept, both even (what 4:2:0 JPEG wants)."""
    if width <= max_width:
        return width - width % 2, height - height % 2
    scaled_height = round(height * max_width / width)
    return max_width - max_width % 2, max(2, scaled_height - scaled_height % 2)


def render_jpeg(config: VideoConfig, packet: Packet, max_width: int = MAX_WIDTH) -> bytes:
    """Decode one keyframe (length-prefixed, as in MP4) and encode it as a JPEG. Blocking."""
    return frame_to_jpeg(_decode(config, packet), max_width)


def frame_to_jpeg(frame: av.VideoFrame, max_width: int = MAX_WIDTH) -> bytes:
    """Encode a decoded picture as a JPEG (the encoder worker calls this with its own frames)."""
    width, height = scaled_size(frame.width, frame.height, max_width)
    if width < 2 or height < 2:
        raise ThumbnailError(f"frame too small: {frame.width}x{frame.height}")
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"qmin": str(JPEG_QMIN), "qmax": str(JPEG_QMAX)}
    picture.pts = 0
    data = b"".join(bytes(p) for p in [*encoder.encode(picture), *encoder.encode(None)])
    if not data.startswith(b"\xff\xd8"):
        raise ThumbnailError("the JPEG encoder gave no picture")
    return data


def _decode(config: VideoConfig, packet: Packet) -> av.VideoFrame:
    errors = []
    for name in DECODERS.get(config.codec, ()):
        try:
            decoder = av.CodecContext.create(name, "r")
        except (av.FFmpegError, ValueError) as exc:  # not in this build of FFmpeg
            errors.append(f"{name}: {exc}")
            continue
        assert isinstance(decoder, av.VideoCodecContext)
        try:
            decoder.extradata = config.record
            frames = [*decoder.decode(av.Packet(packet.data)), *decoder.decode(None)]
        except av.FFmpegError as exc:
            errors.append(f"{name}: {exc}")
            continue
        video = [f for f in frames if isinstance(f, av.VideoFrame)]
        if video:
            return video[0]
        errors.append(f"{name}: no frame")
    raise ThumbnailError(
        f"cannot decode a {config.codec.value} keyframe: " + ("; ".join(errors) or "no decoder")
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class ThumbnailService:
    """Keeps `<data_dir>/thumbnail.jpg` current while a stream is live."""

    def __init__(
        self, data_dir: Path, *, interval: float = INTERVAL, max_width: int = MAX_WIDTH
    ) -> None:
        self.path = data_dir / FILE_NAME
        self.interval = interval
        self.max_width = max_width
        self.tap = KeyframeTap()
        self.written = 0
        self.failed = 0
        self._done = 0  # serial of the keyframe last rendered

    def output_for(self, _broadcast: object) -> KeyframeTap:
        """The broadcaster's output factory: every broadcast feeds the one tap."""
        return self.tap

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            # The first keyframe of a broadcast, or its end, wakes the loop at once; otherwise
            # a new thumbnail every `interval` while live.
            with trio.move_on_after(self.interval):
                await self.tap.changed.wait()
            self.tap.changed = trio.Event()
            await self.refresh()

    async def refresh(self) -> bool:
        """Render the newest keyframe if it is new; True when the file was replaced."""
        keyframe = self.tap.latest
        if keyframe is None or keyframe.serial == self._done:
            return False
        self._done = keyframe.serial
        try:
            await trio.to_thread.run_sync(self._render_and_write, keyframe)
        except (ThumbnailError, av.FFmpegError, OSError) as exc:
            self.failed += 1
            log.warning(
                "thumbnail not updated",
                codec=keyframe.config.codec.value,
                error=str(exc),
                failures=self.failed,
            )
            return False
        self.written += 1
        return True

    def _render_and_write(self, keyframe: Keyframe) -> None:
        data = render_jpeg(keyframe.config, keyframe.packet, self.max_width)
        write_atomically(self.path, data)

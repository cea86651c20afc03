"""`python -m owncastd.media.worker`: one broadcast's transcoder, a child of the daemon.

Reads the source's packets on stdin (`media.framing`), decodes them with PyAV, scales each
picture with FFmpeg's scaler and encodes every transcoded rung of the `Plan`; writes each output
stream's configuration and packets to stdout. Frame rates are changed on a constant-rate grid
(`ladder.FrameRateConverter`), keyframes are forced at every segment boundary, and audio is
copied or re-encoded to AAC. From pictures it decodes anyway it writes `thumbnail.jpg` and
`preview.gif` into the plan's `preview_dir`, in a thread of its own.

Exit codes: 0 when stdin ended and everything was flushed, 2 for a broken pipe protocol, 3 when
this source cannot be transcoded at all (the supervisor does not retry it), anything else is a
crash (the supervisor restarts the worker).
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.logging
from av.codec.context import Flags
from av.video.reformatter import Interpolation, VideoReformatter

from owncastd.media import framing as fr
from owncastd.media.flv import FLVError, parse_avc_sps
from owncastd.media.ladder import FrameRateConverter, output_size
from owncastd.media.packets import TIMESCALE, Packet, Track, VideoCodec
from owncastd.media.probe import pixel_format
from owncastd.media.thumbnails import DECODERS, frame_to_jpeg, write_atomically

EXIT_PROTOCOL = 2
EXIT_UNSUPPORTED = 3

READ_SIZE = 1 << 18
STATS_INTERVAL = 1.0
HELD_AUDIO_MAX = 512
"""Audio packets kept while the first picture decodes (about 10 s of AAC): then the oldest go."""
DECODE_STALL_SECONDS = 3
"""Source time with packets but no picture before the worker reports that the video is broken."""
REPORT_INTERVAL = 10.0
GIF_FPS, GIF_FRAMES, GIF_WIDTH = 8, 8, 480
AUDIO_DECODERS = {"AAC": "aac", "MP3": "mp3float"}
_TIME_BASE = Fraction(1, TIMESCALE)


class UnsupportedSource(Exception):
    """This source cannot be transcoded (no decoder, an encoder that will not open)."""


# --- H.264 framing: encoders write Annex B, MP4 and the segmenter want length prefixes ---------


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    nals: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    if start < 0:
        return nals
    start += 3
    while True:
        following = data.find(b"\x00\x00\x01", start)
        end = len(data) if following < 0 else following
        if following >= 0:
            while end > start and data[end - 1] == 0:  # a 4-byte start code's leading zero
                end -= 1
        if end > start:
            nals.append(data[start:end])
        if following < 0:
            return nals
        start = following + 3


def annexb_to_avcc(data: bytes) -> bytes:
    """Annex B access unit -> 4-byte length-prefixed NAL units (Packet's form), without access
    unit delimiters; data already in length-prefixed form (some encoders) passes through."""
    if not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return data
    parts: list[bytes] = []
    for nal in split_annexb(data):
        if nal[0] & 0x1F != 9:
            parts += (len(nal).to_bytes(4, "big"), nal)
    return b"".join(parts)


def avc_record(extradata: bytes) -> bytes:
    """An AVCDecoderConfigurationRecord from an encoder's extradata (Annex B SPS and PPS, or
    already a record)."""
    if extradata[:1] == b"\x01":
        return extradata
    nals = split_annexb(extradata)
    sps = [n for n in nals if n[0] & 0x1F == 7]
    pps = [n for n in nals if n[0] & 0x1F == 8]
    if not sps or not pps:
        raise UnsupportedSource("the H.264 encoder gave no SPS/PPS in its extradata")
    first = sps[0]
    record = bytearray([1, first[1], first[2], first[3], 0xFF, 0xE0 | len(sps)])
    for nal in sps:
        record += len(nal).to_bytes(2, "big") + nal
    record.append(len(pps))
    for nal in pps:
        record += len(nal).to_bytes(2, "big") + nal
    if first[1] in (100, 110, 122, 144):  # the High profiles carry chroma format and bit depths
        try:
            info = parse_avc_sps(first)
        except FLVError as exc:
            raise UnsupportedSource(f"the H.264 encoder's SPS does not parse: {exc}") from None
        record += bytes(
            [
                0xFC | info.chroma_format_idc,
                0xF8 | (info.bit_depth_luma - 8),
                0xF8 | (info.bit_depth_chroma - 8),
                0,
            ]
        )
    return bytes(record)


# --- FFmpeg's own error lines, for messages that say more than "Invalid data" ------------------


class _LastFFmpegError(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.message = f"[{record.name.removeprefix('libav.')}] {record.getMessage().strip()}"


# --- previews ---------------------------------------------------------------------------------


class Previews:
    """thumbnail.jpg every `interval` seconds of stream and at the end, and preview.gif (1 s at
    8 fps, 480 wide) from the frames that follow; rendered and written in one background thread
    so the encoders never wait for them. A job that finds the thread busy is skipped."""

    def __init__(self, directory: Path, interval: float, notes: collections.deque[str]) -> None:
        self.directory = directory
        self.interval_ticks = int(interval * TIMESCALE)
        self.notes = notes
        self.written = 0
        self._next: int | None = None
        self._gif_due: list[int] = []
        self._gif_frames: list[av.VideoFrame] = []
        self._gif_scaler = VideoReformatter()
        self._last: av.VideoFrame | None = None
        self._jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._run, name="previews", daemon=True)
        self._thread.start()

    def frame(self, frame: av.VideoFrame, pts: int) -> None:
        self._last = frame
        if self._next is None or pts >= self._next or pts < self._next - 2 * self.interval_ticks:
            self._next = pts + self.interval_ticks
            self._submit("jpeg", frame)
            step = TIMESCALE // GIF_FPS
            self._gif_due = [pts + i * step for i in range(GIF_FRAMES)]
            self._gif_frames = []
        if self._gif_due and pts >= self._gif_due[0]:
            while self._gif_due and pts >= self._gif_due[0]:
                self._gif_due.pop(0)
            width = min(GIF_WIDTH, frame.width)
            height = max(2, round(frame.height * width / frame.width) // 2 * 2)
            self._gif_frames.append(
                self._gif_scaler.reformat(
                    frame, width, height, "yuv420p", interpolation=Interpolation.BILINEAR
                )
            )
            if not self._gif_due:
                self._submit("gif", self._gif_frames)
                self._gif_frames = []

    def finish(self) -> None:
        """The last picture becomes the thumbnail (the offline page shows it); wait for it."""
        if self._last is not None:
            self._submit("jpeg", self._last, wait=True)
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def _submit(self, kind: str, payload: Any, wait: bool = False) -> None:
        with contextlib.suppress(queue.Full):  # still busy with the last: this one is skipped
            self._jobs.put((kind, payload), block=wait, timeout=10 if wait else None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            kind, payload = job
            try:
                if kind == "jpeg":
                    write_atomically(self.directory / "thumbnail.jpg", frame_to_jpeg(payload))
                else:
                    write_atomically(self.directory / "preview.gif", render_gif(payload))
                self.written += 1
            except (av.FFmpegError, OSError, ValueError) as exc:
                self.notes.append(f"{kind} preview not written: {exc}")


def render_gif(frames: list[av.VideoFrame]) -> bytes:
    """An animated GIF at GIF_FPS with one palette made for these frames (FFmpeg's palettegen
    and paletteuse, the chain Owncast runs through the ffmpeg CLI)."""
    first = frames[0]
    graph = av.filter.Graph()
    source = graph.add_buffer(
        width=first.width, height=first.height, format=first.format, time_base=Fraction(1, 8)
    )
    split = graph.add("split")
    palette = graph.add("palettegen", "stats_mode=full")
    use = graph.add("paletteuse")
    sink = graph.add("buffersink")
    source.link_to(split)
    split.link_to(palette, 0, 0)
    split.link_to(use, 1, 0)
    palette.link_to(use, 0, 1)
    use.link_to(sink)
    graph.configure()
    for i, frame in enumerate(frames):
        frame.pts = i
        source.push(frame)
    source.push(None)
    pictures: list[av.VideoFrame] = []
    while True:
        try:
            picture = sink.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        assert isinstance(picture, av.VideoFrame)
        pictures.append(picture)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="gif") as container:  # loops forever by default
        stream = container.add_stream("gif", rate=GIF_FPS)
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "pal8"
        for i, picture in enumerate(pictures):
            picture.pts = i
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return buffer.getvalue()


# --- outputs ----------------------------------------------------------------------------------


@dataclass
class VideoOut:
    """One transcoded rung: its scaler, frame rate grid and encoder."""

    id: int
    rung: int
    want_width: int
    want_height: int
    fps: int
    gop: int
    options: dict[str, str]
    audio: int
    converter: FrameRateConverter = field(init=False)
    encoder: av.VideoCodecContext | None = None
    size: tuple[int, int] = (0, 0)
    pix_fmt: str = "yuv420p"
    scaler: VideoReformatter = field(default_factory=VideoReformatter)
    frames: int = 0
    _next_pts: int = 0
    _slots: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.converter = FrameRateConverter(self.fps, self.gop)


@dataclass
class AudioOut:
    """One audio treatment: copied (bitrate 0) or AAC at `bitrate` kbit/s."""

    id: int
    bitrate: int
    encoder: av.AudioCodecContext | None = None
    resampler: av.AudioResampler | None = None
    base: int | None = None  # output sample number of the first input sample
    samples_in: int = 0
    packets: int = 0


class Worker:
    """The worker's state: feed it messages, it writes frames to `out`."""

    def __init__(self, out: BinaryIO, clock: Any = time.perf_counter) -> None:
        self.out = out
        self._clock = clock
        self.encoder_name = "libx264"
        self.videos: list[VideoOut] = []
        self.audios: list[AudioOut] = []
        self.previews: Previews | None = None
        self.notes: collections.deque[str] = collections.deque(maxlen=32)
        self.ffmpeg_error = _LastFFmpegError()
        self._video_decoder: av.VideoCodecContext | None = None
        self._video_codec = ""
        self._audio_decoder: av.AudioCodecContext | None = None
        self._audio_codec = ""
        self._source_rate = 0
        self._source_channels = 0
        self._started = False
        self._held: collections.deque[bytes] = collections.deque(maxlen=HELD_AUDIO_MAX)
        # counters for Stats
        self.frames_in = 0
        self.pictures = 0
        self.decode_errors = 0
        self.busy = 0.0
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self._unanswered_since: int | None = None
        self._last_report = -REPORT_INTERVAL
        self._last_stats = 0.0

    # -- messages -------------------------------------------------------------------------------

    def handle(self, message: fr.Message) -> None:
        if isinstance(message, fr.MediaPacket):
            if message.packet.track is Track.VIDEO:
                self._video_packet(message.packet)
            else:
                self._audio_packet(message.packet)
        elif isinstance(message, fr.Plan):
            self._plan(message.data)
        elif isinstance(message, fr.SourceConfig):
            self._source(message)
        else:
            raise fr.ProtocolError(f"{type(message).__name__} is not a worker input")

    def _plan(self, plan: dict[str, Any]) -> None:
        self.encoder_name = str(plan["encoder"])
        self.videos = [
            VideoOut(
                id=int(v["id"]),
                rung=int(v["rung"]),
                want_width=int(v["width"]),
                want_height=int(v["height"]),
                fps=int(v["fps"]),
                gop=int(v["gop"]),
                options={str(k): str(o) for k, o in v["options"].items()},
                audio=int(v["audio"]),
            )
            for v in plan["video"]
        ]
        self.audios = [AudioOut(int(a["id"]), int(a["bitrate"])) for a in plan["audio"]]
        if plan.get("preview_dir"):
            self.previews = Previews(
                Path(plan["preview_dir"]), float(plan["thumbnail_interval"]), self.notes
            )

    def _source(self, config: fr.SourceConfig) -> None:
        if config.track is Track.VIDEO:
            self._video_codec = config.codec
            self._video_decoder = _open_decoder(config)
            return
        self._audio_codec = config.codec
        self._source_rate, self._source_channels = config.sample_rate, config.channels
        if any(a.bitrate for a in self.audios):
            name = AUDIO_DECODERS.get(config.codec)
            if name is None:
                raise UnsupportedSource(f"no decoder for {config.codec} audio")
            decoder = av.CodecContext.create(name, "r")
            assert isinstance(decoder, av.AudioCodecContext)
            if config.record:
                decoder.extradata = config.record
            self._audio_decoder = decoder
            for audio in self.audios:
                if audio.bitrate:
                    self._open_audio_encoder(audio)

    def _open_audio_encoder(self, audio: AudioOut) -> None:
        rate = self._source_rate or 48_000
        layout = "mono" if self._source_channels == 1 else "stereo"
        encoder = av.CodecContext.create("aac", "w")
        assert isinstance(encoder, av.AudioCodecContext)
        encoder.sample_rate = rate
        encoder.layout = layout
        encoder.format = "fltp"
        encoder.bit_rate = audio.bitrate * 1000
        encoder.time_base = Fraction(1, rate)
        encoder.flags |= int(Flags.global_header)
        try:
            encoder.open()
        except av.FFmpegError as exc:
            raise UnsupportedSource(f"the AAC encoder does not open: {exc}") from None
        audio.encoder = encoder
        audio.resampler = av.AudioResampler(
            format="fltp", layout=layout, rate=rate, frame_size=encoder.frame_size or 1024
        )

    # -- video ----------------------------------------------------------------------------------

    def _video_packet(self, packet: Packet) -> None:
        decoder = self._video_decoder
        if decoder is None or not self.videos:
            return
        self.frames_in += 1
        if self.first_pts is None:
            self.first_pts = packet.pts
        self.last_pts = packet.pts
        if self._unanswered_since is None:
            self._unanswered_since = packet.pts
        source = av.Packet(packet.data)
        source.pts, source.dts, source.time_base = packet.pts, packet.dts, _TIME_BASE
        try:
            frames = decoder.decode(source)
        except av.FFmpegError as exc:
            self.decode_errors += 1
            self._report_decode(exc.strerror or str(exc))
            return
        for frame in frames:
            self._picture(frame)
        if (
            self._unanswered_since is not None
            and packet.pts - self._unanswered_since > DECODE_STALL_SECONDS * TIMESCALE
        ):
            self._report_decode(f"no picture for {DECODE_STALL_SECONDS} s of packets")

    def _report_decode(self, detail: str) -> None:
        now = self._clock()
        if now - self._last_report < REPORT_INTERVAL:
            return
        self._last_report = now
        cause = self.ffmpeg_error.message
        self.log(
            "error",
            f"the source's {self._video_codec} video does not decode: {detail}"
            + (f" (FFmpeg: {cause})" if cause and cause not in detail else "")
            + f"; {self.decode_errors} of {self.frames_in} packets failed so far",
        )

    def _picture(self, frame: av.VideoFrame) -> None:
        pts = frame.pts if frame.pts is not None else (self.last_pts or 0)
        self.pictures += 1
        self._unanswered_since = None
        if not self._started:
            self._start(frame)
        if self.previews is not None:
            self.previews.frame(frame, pts)
        scaled: dict[tuple[int, int, str], av.VideoFrame] = {}
        for video in self.videos:
            slots = video.converter.push(pts)
            if not slots:
                continue
            key = (*video.size, video.pix_fmt)
            picture = scaled.get(key)
            if picture is None:
                picture = video.scaler.reformat(
                    frame,
                    video.size[0],
                    video.size[1],
                    video.pix_fmt,
                    interpolation=Interpolation.BILINEAR,
                )
                scaled[key] = picture
            for slot in slots:
                self._encode(video, picture, slot.pts, slot.keyframe)

    def _start(self, frame: av.VideoFrame) -> None:
        """The first picture: open the encoders at their sizes, announce every stream."""
        for video in self.videos:
            video.size = output_size(frame.width, frame.height, video.want_width, video.want_height)
            video.encoder, video.pix_fmt = self._open_video_encoder(video)
        self._announce()

    def _announce(self) -> None:
        for audio in self.audios:
            if audio.encoder is not None:
                self._write(
                    fr.encode_frame(
                        fr.encode_message(
                            fr.StreamConfig(audio.id, bytes(audio.encoder.extradata or b""))
                        )
                    )
                )
        for video in self.videos:
            if video.encoder is None:
                continue  # an audio-only source: the rungs carry audio alone
            record = avc_record(bytes(video.encoder.extradata or b""))
            self._write(fr.encode_frame(fr.encode_message(fr.StreamConfig(video.id, record))))
        self._started = True
        while self._held:
            self._write(self._held.popleft())

    def _open_video_encoder(self, video: VideoOut) -> tuple[av.VideoCodecContext, str]:
        try:
            encoder = av.CodecContext.create(self.encoder_name, "w")
        except (av.FFmpegError, ValueError) as exc:
            raise UnsupportedSource(f"no encoder {self.encoder_name}: {exc}") from None
        assert isinstance(encoder, av.VideoCodecContext)
        formats = [f.name for f in encoder.codec.video_formats or ()]
        pix_fmt = pixel_format(formats)
        encoder.width, encoder.height = video.size
        encoder.pix_fmt = pix_fmt
        encoder.time_base = Fraction(1, video.fps)
        encoder.framerate = Fraction(video.fps)
        encoder.flags |= int(Flags.global_header)
        # What the ffmpeg CLI does by default (Owncast runs it so): frame and slice threads.
        encoder.thread_type = "AUTO"
        encoder.thread_count = 0
        encoder.options = dict(video.options)
        try:
            encoder.open()
        except av.FFmpegError as exc:
            raise UnsupportedSource(
                f"{self.encoder_name} does not open at {video.size[0]}x{video.size[1]}: {exc}"
            ) from None
        return encoder, pix_fmt

    def _encode(self, video: VideoOut, picture: av.VideoFrame, pts: int, keyframe: bool) -> None:
        encoder = video.encoder
        assert encoder is not None
        index = video._next_pts
        video._next_pts += 1
        video._slots[index] = pts
        picture.pts = index
        picture.time_base = encoder.time_base  # a decoded frame comes in 1/90000
        picture.pict_type = av.video.frame.PictureType.I if keyframe else 0
        for packet in encoder.encode(picture):
            self._video_out(video, packet)

    def _video_out(self, video: VideoOut, packet: av.Packet[Any]) -> None:
        if packet.pts is None:
            return
        pts = video._slots.pop(packet.pts, None)
        if pts is None:
            return
        # Drop slots the encoder will never answer (it only ever goes forward).
        for stale in [k for k in video._slots if k < packet.pts - 64]:
            del video._slots[stale]
        dts = pts
        if packet.dts is not None and packet.dts != packet.pts:
            dts = pts - (packet.pts - packet.dts) * TIMESCALE // video.fps
        data = annexb_to_avcc(bytes(packet))
        if not data:
            return
        video.frames += 1
        self._write(
            fr.packet_frame(video.id, Packet(Track.VIDEO, dts, pts, packet.is_keyframe, data))
        )

    # -- audio ----------------------------------------------------------------------------------

    def _audio_packet(self, packet: Packet) -> None:
        if not self.audios:
            return
        if not self._started and self._video_decoder is None:
            self._announce()  # an audio-only source starts at its first packet
        for audio in self.audios:
            if not audio.bitrate:
                audio.packets += 1
                self._emit(fr.packet_frame(audio.id, packet))
        decoder = self._audio_decoder
        if decoder is None:
            return
        source = av.Packet(packet.data)
        source.pts, source.dts, source.time_base = packet.pts, packet.dts, _TIME_BASE
        try:
            frames = decoder.decode(source)
        except av.FFmpegError as exc:
            self.notes.append(
                f"audio packet at {packet.pts / TIMESCALE:.3f} s does not decode: {exc}"
            )
            return
        for frame in frames:
            for audio in self.audios:
                if audio.encoder is not None:
                    self._encode_audio(audio, frame, packet.pts)

    def _encode_audio(self, audio: AudioOut, frame: av.AudioFrame, pts: int) -> None:
        assert audio.encoder is not None and audio.resampler is not None
        rate = audio.encoder.sample_rate
        start = pts * rate // TIMESCALE
        if audio.base is None or abs(audio.base + audio.samples_in - start) > rate // 2:
            audio.base = start - audio.samples_in  # the source jumped: so do we
        audio.samples_in += frame.samples
        for chunk in audio.resampler.resample(frame):
            chunk.pts = None
            for out in audio.encoder.encode(chunk):
                self._audio_out(audio, out, rate)

    def _audio_out(self, audio: AudioOut, packet: av.Packet[Any], rate: int) -> None:
        assert audio.base is not None
        position = audio.base + (packet.pts or 0)
        ticks = position * TIMESCALE // rate
        audio.packets += 1
        self._emit(
            fr.packet_frame(audio.id, Packet(Track.AUDIO, ticks, ticks, True, bytes(packet)))
        )

    def _emit(self, frame: bytes) -> None:
        """Audio waits for the first picture: a rung begins with its video configuration."""
        if self._started:
            self._write(frame)
        else:
            self._held.append(frame)

    # -- output and bookkeeping -----------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        self.out.write(frame)

    def log(self, level: str, text: str) -> None:
        self._write(fr.encode_frame(fr.encode_message(fr.Log(level, text))))

    def tick(self, started: float) -> None:
        """After each chunk of input: count the time spent, send notes and stats, flush."""
        now = self._clock()
        self.busy += now - started
        while self.notes:
            self.log("warning", self.notes.popleft())
        if now - self._last_stats >= STATS_INTERVAL:
            self._last_stats = now
            self._write(fr.encode_frame(fr.encode_message(fr.Stats(self.stats()))))
        self.out.flush()

    def stats(self) -> dict[str, Any]:
        media = 0.0
        if self.first_pts is not None and self.last_pts is not None:
            media = (self.last_pts - self.first_pts) / TIMESCALE
        return {
            "packets": self.frames_in,
            "pictures": self.pictures,
            "decode_errors": self.decode_errors,
            "busy": round(self.busy, 4),
            "cpu": round(time.process_time(), 4),
            "media": round(media, 4),
            "frames": {str(v.id): v.frames for v in self.videos},
            "previews": self.previews.written if self.previews else 0,
        }

    def finish(self) -> None:
        """Stdin ended: drain the decoders and encoders, write the last thumbnail."""
        if self._video_decoder is not None:
            try:
                frames = self._video_decoder.decode(None)
            except av.FFmpegError:
                frames = []
            for frame in frames:
                self._picture(frame)
        for video in self.videos:
            if video.encoder is not None:
                for packet in video.encoder.encode(None):
                    self._video_out(video, packet)
        for audio in self.audios:
            if audio.encoder is not None and audio.resampler is not None:
                for chunk in audio.resampler.resample(None):
                    chunk.pts = None
                    for out in audio.encoder.encode(chunk):
                        self._audio_out(audio, out, audio.encoder.sample_rate)
                for out in audio.encoder.encode(None):
                    self._audio_out(audio, out, audio.encoder.sample_rate)
        if self.previews is not None:
            self.previews.finish()
        self.tick(self._clock())


def _open_decoder(config: fr.SourceConfig) -> av.VideoCodecContext:
    try:
        codec = VideoCodec(config.codec)
    except ValueError:
        raise UnsupportedSource(f"unknown video codec {config.codec!r}") from None
    errors = []
    for name in DECODERS.get(codec, ()):
        try:
            decoder = av.CodecContext.create(name, "r")
        except (av.FFmpegError, ValueError) as exc:
            errors.append(f"{name}: {exc}")
            continue
        assert isinstance(decoder, av.VideoCodecContext)
        decoder.extradata = config.record
        return decoder
    raise UnsupportedSource(
        f"no decoder for {codec.value} video in this FFmpeg ({'; '.join(errors)})"
    )


def main() -> int:
    av.logging.set_level(av.logging.ERROR)
    worker = Worker(sys.stdout.buffer)
    libav = logging.getLogger("libav")
    libav.addHandler(worker.ffmpeg_error)
    libav.propagate = False
    decoder = fr.FrameDecoder()
    try:
        while data := os.read(0, READ_SIZE):
            started = time.perf_counter()
            for payload in decoder.feed(data):
                worker.handle(fr.decode_message(payload))
            worker.tick(started)
        decoder.close()
        worker.finish()
    except fr.FramingError as exc:
        print(f"owncastd worker: bad input: {exc}", file=sys.stderr)
        return EXIT_PROTOCOL
    except UnsupportedSource as exc:
        try:
            worker.log("error", str(exc))
            worker.out.flush()
        except BrokenPipeError:
            pass
        return EXIT_UNSUPPORTED
    except BrokenPipeError:
        return 0  # the supervisor is gone; nothing left to tell it
    return 0


if __name__ == "__main__":
    sys.exit(main())

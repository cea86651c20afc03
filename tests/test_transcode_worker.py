"""The encoder worker in-process: real PyAV media in, the framed output checked stream by stream."""

from __future__ import annotations

import io
import itertools
import os
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import av
import pytest

from owncastd import config as cfg
from owncastd.media import framing as fr
from owncastd.media.flv import FLVDemuxer, aac_config, avc_config, read_flv_file
from owncastd.media.ladder import Ladder, worker_plan
from owncastd.media.packets import TIMESCALE, AudioConfig, Packet, Track, VideoConfig
from owncastd.media.worker import (
    UnsupportedSource,
    Worker,
    annexb_to_avcc,
    avc_record,
    split_annexb,
)


def make_source(seconds: int = 2, fps: int = 30, size: tuple[int, int] = (320, 240)) -> bytes:
    """An FLV with H.264 (GOP 1 s, B-frames) and 48 kHz stereo AAC, as a publisher sends it."""
    buffer = io.BytesIO()
    width, height = size
    with av.open(buffer, "w", format="flv") as out:
        video = out.add_stream("libx264", rate=fps, options={"g": str(fps), "bf": "2"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=48000, layout="stereo")
        samples = 0
        for i in range(seconds * fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for n, plane in enumerate(frame.planes):
                plane.update(bytes((x + 3 * i + 50 * n) % 256 for x in range(plane.buffer_size)))
            frame.pts = i
            out.mux(video.encode(frame))
            while samples * fps < (i + 1) * 48000:
                chunk = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
                for plane in chunk.planes:
                    plane.update(bytes(plane.buffer_size))
                chunk.sample_rate, chunk.pts = 48000, samples
                samples += 1024
                out.mux(audio.encode(chunk))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return buffer.getvalue()


def demux(flv: bytes) -> tuple[VideoConfig, AudioConfig, list[Packet]]:
    demuxer = FLVDemuxer()
    packets: list[Packet] = []
    for tag in read_flv_file(flv):
        if tag.tag_type == 9:
            events = demuxer.video(tag.timestamp, tag.body)
        elif tag.tag_type == 8:
            events = demuxer.audio(tag.timestamp, tag.body)
        else:
            continue
        packets += [e for e in events if isinstance(e, Packet)]
    assert demuxer.video_config is not None and demuxer.audio_config is not None
    return demuxer.video_config, demuxer.audio_config, packets


@pytest.fixture(scope="module")
def source() -> tuple[VideoConfig, AudioConfig, list[Packet]]:
    return demux(make_source())


LADDER = cfg.VideoConfig(
    variants=[
        cfg.Variant(video_passthrough=True),
        cfg.Variant(scaled_height=240, framerate=30, cpu_usage_level=0),
        cfg.Variant(scaled_width=160, framerate=15, cpu_usage_level=0),
        cfg.Variant(
            scaled_height=180,
            framerate=24,
            cpu_usage_level=0,
            audio_passthrough=False,
            audio_bitrate=64,
        ),
    ]
)


def run_worker(
    messages: list[fr.Message], preview_dir: Path | None = None
) -> tuple[list[fr.Message], Worker]:
    out = io.BytesIO()
    worker = Worker(out)
    for message in messages:
        worker.handle(message)
        worker.tick(0.0)
    worker.finish()
    decoder = fr.FrameDecoder()
    frames = decoder.feed(out.getvalue())
    decoder.close()
    return [fr.decode_message(f) for f in frames], worker


def inputs(
    source: tuple[VideoConfig, AudioConfig, list[Packet]],
    preview_dir: Path | None = None,
    ladder: cfg.VideoConfig = LADDER,
) -> list[fr.Message]:
    video, audio, packets = source
    plan = worker_plan(
        Ladder.from_config(ladder),
        "libx264",
        Fraction(1),
        preview_dir=str(preview_dir) if preview_dir else None,
    )
    return [
        fr.Plan(plan),
        fr.SourceConfig(Track.VIDEO, video.codec.value, video.record),
        fr.SourceConfig(
            Track.AUDIO, audio.codec.value, audio.record, audio.sample_rate, audio.channels
        ),
        *(fr.MediaPacket(0, p) for p in packets),
    ]


def test_every_rung_comes_out_at_its_size_rate_and_keyframes(
    source: tuple[VideoConfig, AudioConfig, list[Packet]], tmp_path: Path
) -> None:
    messages, worker = run_worker(inputs(source, tmp_path))
    configs: dict[int, bytes] = {}
    packets: dict[int, list[Packet]] = defaultdict(list)
    for m in messages:
        if isinstance(m, fr.StreamConfig):
            assert m.stream not in packets, "a stream's config comes before its packets"
            configs[m.stream] = m.record
        elif isinstance(m, fr.MediaPacket):
            assert m.stream in configs or m.stream == 3, "copied audio has no config"
            packets[m.stream].append(m.packet)
        elif isinstance(m, fr.Log):
            pytest.fail(f"unexpected log: {m}")
    # Video streams 0..2 are the rungs 1..3; audio 3 is copied, 4 is AAC at 64 kbit/s.
    sizes = {s: avc_config(configs[s])[0] for s in (0, 1, 2)}
    assert [(c.width, c.height) for c in sizes.values()] == [(320, 240), (160, 120), (240, 180)]
    assert all(c.codec_string.startswith("avc1.") for c in sizes.values())
    assert aac_config(configs[4]).sample_rate == 48000
    # Two seconds of source: frames at 30, 15 and 24 fps.
    counts = [len(packets[s]) for s in (0, 1, 2)]
    assert abs(counts[0] - 60) <= 1 and abs(counts[1] - 30) <= 1 and abs(counts[2] - 48) <= 1
    first = source[2][0].pts
    for stream, fps in ((0, 30), (1, 15), (2, 24)):
        video = packets[stream]
        assert all(p.track is Track.VIDEO and p.dts == p.pts for p in video)
        assert all(b.pts > a.pts for a, b in itertools.pairwise(video))
        # Length-prefixed NAL units, as Packet's contract says.
        assert all(int.from_bytes(p.data[:4], "big") + 4 <= len(p.data) for p in video)
        keys = [p.pts for p in video if p.keyframe]
        # One GOP per 1 s segment (the last frame may round up onto the 2 s slot).
        assert keys[:2] == [first, first + TIMESCALE] and len(keys) <= 3, (stream, fps)
    copied = [p for p in source[2] if p.track is Track.AUDIO]
    assert [p.data for p in packets[3]] == [p.data for p in copied if p.pts >= 0]
    aac = packets[4]
    assert len(aac) >= len(copied) - 2 and all(p.track is Track.AUDIO for p in aac)
    # The previews came from the decoded pictures.
    with av.open(str(tmp_path / "thumbnail.jpg")) as jpeg:
        assert (jpeg.streams.video[0].width, jpeg.streams.video[0].height) == (320, 240)
    with av.open(str(tmp_path / "preview.gif")) as gif:
        frames = list(gif.decode(video=0))
        assert len(frames) == 8 and frames[0].width == 320
    assert worker.stats()["frames"] == {"0": counts[0], "1": counts[1], "2": counts[2]}


def test_preview_gif_is_at_most_480_wide(tmp_path: Path) -> None:
    source = demux(make_source(seconds=2, size=(640, 360)))
    ladder = cfg.VideoConfig(variants=[cfg.Variant(scaled_width=320, cpu_usage_level=0)])
    run_worker(inputs(source, tmp_path, ladder))
    with av.open(str(tmp_path / "preview.gif")) as gif:
        stream = gif.streams.video[0]
        assert (stream.width, stream.height) == (480, 270)
        assert 7.5 <= float(stream.average_rate or 0) <= 8.5  # GIF delays are centiseconds
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_garbage_video_is_reported_not_raised(
    source: tuple[VideoConfig, AudioConfig, list[Packet]],
) -> None:
    video, audio, packets = source
    garbage = [
        Packet(p.track, p.dts, p.pts, p.keyframe, b"\x00\x00\x00\x08\x65" + os.urandom(7))
        if p.track is Track.VIDEO
        else p
        for p in packets
    ]
    messages, worker = run_worker(inputs((video, audio, garbage)))
    errors = [m.text for m in messages if isinstance(m, fr.Log) and m.level == "error"]
    assert errors and "the source's H.264 video does not decode" in errors[0]
    assert worker.pictures < 10  # FFmpeg conceals what it can; most of it is lost
    assert "Invalid data found when processing input" in errors[0]


def test_unknown_source_codec_is_unsupported() -> None:
    worker = Worker(io.BytesIO())
    with pytest.raises(UnsupportedSource, match="unknown video codec"):
        worker.handle(fr.SourceConfig(Track.VIDEO, "VP8", b""))


def test_audio_only_source_starts_at_its_first_packet(
    source: tuple[VideoConfig, AudioConfig, list[Packet]],
) -> None:
    _, audio, packets = source
    ladder = cfg.VideoConfig(
        variants=[cfg.Variant(audio_passthrough=False, audio_bitrate=32, cpu_usage_level=0)]
    )
    plan = worker_plan(Ladder.from_config(ladder), "libx264", Fraction(1), preview_dir=None)
    messages, _ = run_worker(
        [
            fr.Plan(plan),
            fr.SourceConfig(Track.AUDIO, "AAC", audio.record, audio.sample_rate, audio.channels),
            *(fr.MediaPacket(0, p) for p in packets if p.track is Track.AUDIO),
        ]
    )
    kinds = [type(m).__name__ for m in messages if not isinstance(m, fr.Stats)]
    assert kinds[0] == "StreamConfig" and kinds.count("MediaPacket") > 80


# --- H.264 framing helpers -------------------------------------------------------------------


def test_annexb_to_avcc() -> None:
    sei, idr, aud = b"\x06\x05\x01\x80", b"\x65\x88\x84\x00\x33", b"\x09\xf0"
    annexb = b"\x00\x00\x00\x01" + aud + b"\x00\x00\x00\x01" + sei + b"\x00\x00\x01" + idr
    assert split_annexb(annexb) == [aud, sei, idr]
    assert annexb_to_avcc(annexb) == b"\x00\x00\x00\x04" + sei + b"\x00\x00\x00\x05" + idr
    avcc = b"\x00\x00\x00\x05" + idr
    assert annexb_to_avcc(avcc) == avcc  # already length-prefixed
    assert split_annexb(b"no start code") == []


def test_avc_record_from_x264_extradata() -> None:
    encoder = av.CodecContext.create("libx264", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 352, 288, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.flags |= int(av.codec.context.Flags.global_header)
    encoder.options = {"profile": "high"}
    encoder.open()
    extradata = bytes(encoder.extradata or b"")
    assert extradata.startswith(b"\x00\x00\x00\x01")  # x264 gives Annex B
    record = avc_record(extradata)
    config, length_size = avc_config(record)
    assert (config.width, config.height, length_size) == (352, 288, 4)
    assert config.codec_string.startswith("avc1.64")  # High
    assert record[-4] & 0xFC == 0xFC  # the High profile's chroma format byte
    assert avc_record(record) == record
    with pytest.raises(UnsupportedSource):
        avc_record(b"\x00\x00\x01\x09\xf0")

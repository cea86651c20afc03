"""media.flv: real encoder output (x264, x265, SVT-AV1, AAC, MP3) muxed to FLV by FFmpeg, then
demuxed tag by tag; hand-built E-RTMP tags; SPS and AudioSpecificConfig parsing; onMetaData.

The encoding helpers here are shared with test_cmaf.py.
"""

from __future__ import annotations

import array
import contextlib
import functools
import io
import math
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from owncastd.media.flv import (
    MS_TICKS,
    AudioConfigReceived,
    Dropped,
    DropReason,
    EndOfSequence,
    FLVDemuxer,
    FLVError,
    FLVEvent,
    FLVTag,
    StreamMetadata,
    TagType,
    VideoConfigReceived,
    aac_config,
    av1_config,
    avc_config,
    hevc_config,
    mp3_config,
    parse_audio_specific_config,
    parse_avc_sps,
    parse_hevc_sps,
    read_flv_file,
)
from owncastd.media.packets import AudioCodec, Packet, Track, VideoCodec

# --- making media ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoSpec:
    codec: str = "libx264"
    width: int = 320
    height: int = 240
    pix_fmt: str = "yuv420p"
    profile: str | None = None
    params: str | None = None  # x264-params / x265-params
    frames: int = 50
    rate: int = 25
    b_frames: int = 2
    gop: int = 25


@dataclass(frozen=True)
class AudioSpec:
    codec: str = "aac"
    rate: int = 44100
    layout: str = "stereo"


@dataclass(frozen=True)
class EncodedPacket:
    pts: int
    dts: int
    keyframe: bool
    data: bytes
    time_base: Fraction


@dataclass
class Clip:
    """An FLV file made by FFmpeg's muxer, and the packets its encoders produced."""

    flv: bytes
    video: list[EncodedPacket] = field(default_factory=list)
    audio: list[EncodedPacket] = field(default_factory=list)
    audio_extradata: bytes = b""


def _pattern(size: int, ten_bit: bool) -> bytes:
    # A texture with a 1021-byte period; shifting it per frame gives the encoder motion to
    # predict, so B-frames appear and composition offsets are not all zero.
    base = bytes((i * 37 + (i // 97) * 11) % 251 for i in range(1021))
    if ten_bit:  # little-endian 16-bit samples must stay below 1024
        base = bytes(b if i % 2 == 0 else b & 0x03 for i, b in enumerate(base * 2))
    return (base * (size // len(base) + 2))[: size + 8192]


def _codec_options(spec: VideoSpec) -> dict[str, str]:
    if spec.codec == "libx264":
        options = {"preset": "superfast"}
        if spec.profile:
            options["profile"] = spec.profile
        if spec.params:
            options["x264-params"] = spec.params
        return options
    if spec.codec == "libx265":
        params = "log-level=error" + (f":{spec.params}" if spec.params else "")
        return {"preset": "ultrafast", "x265-params": params}
    if spec.codec == "libsvtav1":
        return {"preset": "12"}
    return {}


def _sine(samples: int, start: int, rate: int) -> bytes:
    values = (0.3 * math.sin(2 * math.pi * 440 * (start + k) / rate) for k in range(samples))
    return array.array("f", values).tobytes()


def _keep(packet: av.Packet) -> EncodedPacket:
    return EncodedPacket(
        packet.pts, packet.dts, packet.is_keyframe, bytes(packet), Fraction(packet.time_base)
    )


@functools.cache
def encode_clip(video: VideoSpec | None, audio: AudioSpec | None = None) -> Clip:
    """Encode synthetic video/audio with PyAV and mux them into an .flv file in a temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.flv"
        out = av.open(str(path), "w", format="flv")
        clip = Clip(b"")
        vstream = astream = None
        if video is not None:
            vstream = out.add_stream(video.codec, rate=video.rate, options=_codec_options(video))
            vstream.width, vstream.height, vstream.pix_fmt = (
                video.width,
                video.height,
                video.pix_fmt,
            )
            vstream.codec_context.max_b_frames = video.b_frames
            vstream.codec_context.gop_size = video.gop
        if audio is not None:
            astream = out.add_stream(audio.codec, rate=audio.rate, layout=audio.layout)
        frames = video.frames if video else 50
        rate = video.rate if video else 25
        texture = b""
        if video is not None:
            texture = _pattern(video.width * video.height * 6, "10" in video.pix_fmt)
        audio_samples = 0
        for i in range(frames):
            if video is not None and vstream is not None:
                frame = av.VideoFrame(video.width, video.height, video.pix_fmt)
                for plane in frame.planes:
                    shift = (i * 26) % 4096
                    plane.update(texture[shift : shift + plane.buffer_size])
                frame.pts = i
                for packet in vstream.encode(frame):
                    clip.video.append(_keep(packet))
                    out.mux(packet)
            if audio is not None and astream is not None:
                # The encoder is not open yet (frame_size reads 0): use the codecs' sizes.
                frame_size = 1152 if audio.codec == "libmp3lame" else 1024
                while audio_samples * rate < (i + 1) * audio.rate:
                    aframe = av.AudioFrame(format="fltp", layout=audio.layout, samples=frame_size)
                    data = _sine(frame_size, audio_samples, audio.rate)
                    for plane in aframe.planes:
                        plane.update(data)
                    aframe.sample_rate = audio.rate
                    aframe.pts = audio_samples
                    audio_samples += frame_size
                    for packet in astream.encode(aframe):
                        clip.audio.append(_keep(packet))
                        out.mux(packet)
        if vstream is not None:
            for packet in vstream.encode(None):
                clip.video.append(_keep(packet))
                out.mux(packet)
        if astream is not None:
            for packet in astream.encode(None):
                clip.audio.append(_keep(packet))
                out.mux(packet)
            clip.audio_extradata = bytes(astream.codec_context.extradata or b"")
        out.close()
        clip.flv = path.read_bytes()
    return clip


@dataclass
class Demuxed:
    demuxer: FLVDemuxer
    events: list[FLVEvent]
    video: list[Packet]
    audio: list[Packet]


def demux(tags: Iterable[FLVTag]) -> Demuxed:
    """Feed FLV tags to a fresh FLVDemuxer as the ingest shell would."""
    demuxer = FLVDemuxer()
    events: list[FLVEvent] = []
    for tag in tags:
        if tag.tag_type is TagType.VIDEO:
            events += demuxer.video(tag.timestamp, tag.body)
        elif tag.tag_type is TagType.AUDIO:
            events += demuxer.audio(tag.timestamp, tag.body)
    video = [e for e in events if isinstance(e, Packet) and e.track is Track.VIDEO]
    audio = [e for e in events if isinstance(e, Packet) and e.track is Track.AUDIO]
    return Demuxed(demuxer, events, video, audio)


def annexb_to_length_prefixed(data: bytes) -> bytes:
    """What FFmpeg's FLV muxer does to x264/x265 output: start codes become 4-byte lengths."""
    out = bytearray()
    for nal in data.split(b"\x00\x00\x01"):
        nal = nal.rstrip(b"\x00")  # the zero of a 4-byte start code belongs to the next NAL
        if nal:
            out += len(nal).to_bytes(4, "big") + nal
    return bytes(out)


def ffmpeg_flv_packets(flv: bytes, kind: str) -> list[tuple[int, int, bool, bytes]]:
    """FFmpeg's own FLV demuxer's view: (dts ms, pts ms, keyframe, data) per media packet."""
    with av.open(io.BytesIO(flv), format="flv") as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [
            (p.dts, p.pts, p.is_keyframe, bytes(p))
            for p in container.demux(stream)
            if p.size and p.stream.type == kind
        ]


def decode(codec: str, record: bytes, packets: Iterable[Packet]) -> list[av.VideoFrame]:
    context = av.CodecContext.create(codec, "r")
    context.extradata = record
    frames: list[av.VideoFrame] = []
    for packet in packets:
        av_packet = av.Packet(packet.data)
        av_packet.pts, av_packet.dts = packet.pts, packet.dts
        frames += context.decode(av_packet)
    frames += context.decode(None)
    return frames


def amf0_values(data: bytes) -> list[object]:
    """A minimal AMF0 reader for the onMetaData script tag that FFmpeg writes."""
    pos = 0

    def value() -> object:
        nonlocal pos
        marker = data[pos]
        pos += 1
        if marker == 0:
            (number,) = struct.unpack_from(">d", data, pos)
            pos += 8
            return number
        if marker == 1:
            pos += 1
            return data[pos - 1] != 0
        if marker == 2:
            return string()
        if marker in (3, 8):
            pos += 4 if marker == 8 else 0
            result: dict[str, object] = {}
            while data[pos : pos + 3] != b"\x00\x00\x09":
                key = string()
                result[key] = value()
            pos += 3
            return result
        if marker in (5, 6):
            return None
        raise AssertionError(f"AMF0 marker {marker} not handled by the test reader")

    def string() -> str:
        nonlocal pos
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2 + size
        return data[pos - size : pos].decode()

    values = []
    while pos < len(data):
        values.append(value())
    return values


def write_flv_file(tags: Iterable[FLVTag]) -> bytes:
    """The FLV file container around tags (for hand-built streams and fuzz seeds)."""
    out = bytearray(b"FLV\x01\x05" + (9).to_bytes(4, "big") + bytes(4))
    for tag in tags:
        size = len(tag.body)
        out += bytes([tag.tag_type]) + size.to_bytes(3, "big")
        out += (tag.timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes([tag.timestamp >> 24 & 0xFF])
        out += bytes(3) + tag.body + (11 + size).to_bytes(4, "big")
    return bytes(out)


def legacy_to_enhanced(body: bytes, fourcc: bytes = b"avc1", *, use_x: bool = False) -> bytes:
    """Re-wrap a legacy AVC/HEVC video tag body as an E-RTMP one with `fourcc`."""
    frame_type = (body[0] >> 4) & 0x07
    packet_type, cts, payload = body[1], body[2:5], body[5:]
    if packet_type == 1:
        if use_x and cts == b"\x00\x00\x00":
            return bytes([0x80 | frame_type << 4 | 3]) + fourcc + payload
        return bytes([0x80 | frame_type << 4 | 1]) + fourcc + cts + payload
    return bytes([0x80 | frame_type << 4 | packet_type]) + fourcc + payload


# --- real H.264 ---------------------------------------------------------------------------------

_CQM4 = ",".join(str(6 + (i * 7) % 30) for i in range(16))
_CQM8 = ",".join(str(6 + (i * 11) % 40) for i in range(64))

# (spec, profile_idc, chroma_format_idc, frame_mbs_only, bit depth, FFmpeg's profile name)
H264_CASES = [
    (VideoSpec(width=320, height=240, profile="baseline"), 66, 1, True, 8, "Constrained Baseline"),
    (VideoSpec(width=854, height=480, profile="main"), 77, 1, True, 8, "Main"),
    (VideoSpec(width=1366, height=768, profile="high", frames=30), 100, 1, True, 8, "High"),
    (
        VideoSpec(
            width=1280, height=720, profile="high", params=f"cqm4={_CQM4}:cqm8={_CQM8}", frames=25
        ),
        100, 1, True, 8, "High",
    ),
    (VideoSpec(width=640, height=359, pix_fmt="yuv422p", profile="high422"), 122, 2, True, 8,
     "High 4:2:2"),
    (VideoSpec(width=643, height=361, pix_fmt="yuv444p", profile="high444"), 244, 3, True, 8,
     "High 4:4:4 Predictive"),
    (VideoSpec(width=854, height=480, pix_fmt="yuv420p10le", profile="high10"), 110, 1, True, 10,
     "High 10"),
    (VideoSpec(width=640, height=360, profile="high", params="interlaced=1"), 100, 1, False, 8,
     "High"),
    (VideoSpec(width=720, height=576, pix_fmt="gray"), 100, 0, True, 8, "High"),
]  # fmt: skip


def _sps_of(record: bytes) -> bytes:
    return record[8 : 8 + int.from_bytes(record[6:8], "big")]


@pytest.mark.parametrize(
    ("spec", "profile_idc", "chroma", "frame_mbs_only", "depth", "profile_name"),
    H264_CASES,
    ids=[f"{c[0].width}x{c[0].height}-{c[0].pix_fmt}-{c[5]}" for c in H264_CASES],
)
def test_h264_from_ffmpeg_flv(
    spec: VideoSpec,
    profile_idc: int,
    chroma: int,
    frame_mbs_only: bool,
    depth: int,
    profile_name: str,
) -> None:
    clip = encode_clip(spec)
    result = demux(read_flv_file(clip.flv))
    config = result.demuxer.video_config
    assert config is not None
    assert config.codec is VideoCodec.H264
    assert (config.width, config.height) == (spec.width, spec.height)
    sps = parse_avc_sps(_sps_of(config.record))
    assert (sps.profile_idc, sps.chroma_format_idc) == (profile_idc, chroma)
    assert (sps.frame_mbs_only, sps.bit_depth_luma) == (frame_mbs_only, depth)
    assert config.codec_string == (
        f"avc1.{sps.profile_idc:02x}{sps.constraint_flags:02x}{sps.level_idc:02x}"
    )
    assert config.codec_string == "avc1." + _sps_of(config.record)[1:4].hex()
    with av.open(io.BytesIO(clip.flv), format="flv") as container:
        context = container.streams.video[0].codec_context
        assert (context.profile, context.level) == (profile_name, sps.level_idc)

    # Bit-exact against the encoder (after FFmpeg's Annex B -> length-prefixed rewrite) and
    # against FFmpeg's FLV demuxer, including timestamps.
    assert [p.data for p in result.video] == [annexb_to_length_prefixed(p.data) for p in clip.video]
    reference = ffmpeg_flv_packets(clip.flv, "video")
    assert [(p.dts, p.pts, p.keyframe, p.data) for p in result.video] == [
        (dts * MS_TICKS, pts * MS_TICKS, key, data) for dts, pts, key, data in reference
    ]
    assert [p.keyframe for p in result.video] == [p.keyframe for p in clip.video]
    # The encoder's timeline, shifted by the muxer so the first dts is 0.
    first = clip.video[0]
    shift = -first.dts * first.time_base
    for ours, theirs in zip(result.video, clip.video, strict=True):
        assert Fraction(ours.dts, 90_000) == theirs.dts * theirs.time_base + shift
        assert Fraction(ours.pts, 90_000) == theirs.pts * theirs.time_base + shift
    if profile_idc != 66:
        assert any(p.pts != p.dts for p in result.video), "B-frames expected"

    frames = decode("h264", config.record, result.video)
    assert len(frames) == len(result.video)
    assert {(f.width, f.height) for f in frames} == {(spec.width, spec.height)}
    assert isinstance(result.events[0], VideoConfigReceived)
    assert result.events[0].changed
    assert isinstance(result.events[-1], EndOfSequence)


def test_repeated_sequence_header_is_not_a_change() -> None:
    tags = [t for t in read_flv_file(encode_clip(VideoSpec()).flv) if t.tag_type is TagType.VIDEO]
    demuxer = FLVDemuxer()
    first = demuxer.video(0, tags[0].body)
    again = demuxer.video(40, tags[0].body)
    assert isinstance(first[0], VideoConfigReceived) and first[0].changed
    assert again == [VideoConfigReceived(first[0].config, changed=False)]


def test_media_before_sequence_header_is_dropped() -> None:
    clip = encode_clip(VideoSpec(), AudioSpec())
    tags = [t for t in read_flv_file(clip.flv) if t.tag_type is not TagType.SCRIPT_DATA]
    headers = [t for t in tags if t.body[1] == 0]
    media = [t for t in tags if t.body[1] == 1]
    demuxer = FLVDemuxer()
    for tag in media[:6]:
        feed = demuxer.video if tag.tag_type is TagType.VIDEO else demuxer.audio
        (event,) = feed(tag.timestamp, tag.body)
        assert isinstance(event, Dropped)
        assert event.reason is DropReason.NO_SEQUENCE_HEADER
    result = demux(headers + media)
    assert len(result.video) == len(clip.video)
    assert len(result.audio) == len(clip.audio)


def test_nal_length_size_2_is_rewritten_to_4() -> None:
    clip = encode_clip(VideoSpec())
    tags = [t for t in read_flv_file(clip.flv) if t.tag_type is TagType.VIDEO]
    record = tags[0].body[5:]
    short_record = record[:4] + bytes([record[4] & 0xFC | 0x01]) + record[5:]

    def shorten(frame: bytes) -> bytes:
        out, pos = bytearray(), 0
        while pos < len(frame):
            size = int.from_bytes(frame[pos : pos + 4], "big")
            assert size < 1 << 16
            out += size.to_bytes(2, "big") + frame[pos + 4 : pos + 4 + size]
            pos += 4 + size
        return bytes(out)

    demuxer = FLVDemuxer()
    (configured,) = demuxer.video(0, tags[0].body[:5] + short_record)
    assert isinstance(configured, VideoConfigReceived)
    assert configured.config.record == record  # lengthSizeMinusOne back to 3
    for tag in tags[1:-1]:
        (ours,) = demuxer.video(tag.timestamp, tag.body[:5] + shorten(tag.body[5:]))
        assert isinstance(ours, Packet)
        assert ours.data == tag.body[5:]


# --- real H.265, AV1 -------------------------------------------------------------------------

needs_x265 = pytest.mark.skipif(
    "libx265" not in av.codecs_available, reason="PyAV's FFmpeg has no libx265"
)
needs_svtav1 = pytest.mark.skipif(
    "libsvtav1" not in av.codecs_available or "libdav1d" not in av.codecs_available,
    reason="PyAV's FFmpeg has no libsvtav1/libdav1d",
)
HEVC_SPEC = VideoSpec(codec="libx265", width=854, height=480, frames=20, b_frames=3, gop=10)
AV1_SPEC = VideoSpec(codec="libsvtav1", width=642, height=362, frames=12, b_frames=0, gop=6)


@needs_x265
def test_hevc_from_ffmpeg_enhanced_flv() -> None:
    clip = encode_clip(HEVC_SPEC)
    tags = read_flv_file(clip.flv)
    assert tags[1].body[0] & 0x80 and tags[1].body[1:5] == b"hvc1"  # E-RTMP SequenceStart
    result = demux(tags)
    config = result.demuxer.video_config
    assert config is not None and config.codec is VideoCodec.H265
    assert (config.width, config.height) == (854, 480)
    with av.open(io.BytesIO(clip.flv), format="flv") as container:
        context = container.streams.video[0].codec_context
        level = context.level
    assert context.profile == "Main"
    assert config.codec_string.startswith(f"hvc1.1.6.L{level}")
    assert [p.data for p in result.video] == [annexb_to_length_prefixed(p.data) for p in clip.video]
    reference = ffmpeg_flv_packets(clip.flv, "video")
    assert [(p.dts, p.pts, p.keyframe) for p in result.video] == [
        (dts * MS_TICKS, pts * MS_TICKS, key) for dts, pts, key, _ in reference
    ]
    assert any(p.pts != p.dts for p in result.video)
    frames = decode("hevc", config.record, result.video)
    assert len(frames) == len(result.video)
    assert {(f.width, f.height) for f in frames} == {(854, 480)}


@needs_x265
def test_hevc_sequence_header_via_legacy_codec_id_12() -> None:
    tags = [t for t in read_flv_file(encode_clip(HEVC_SPEC).flv) if t.tag_type is TagType.VIDEO]
    record = tags[0].body[5:]
    demuxer = FLVDemuxer()
    (event,) = demuxer.video(0, b"\x1c\x00\x00\x00\x00" + record)
    assert isinstance(event, VideoConfigReceived)
    assert event.config.codec is VideoCodec.H265


@needs_svtav1
def test_av1_from_ffmpeg_enhanced_flv() -> None:
    clip = encode_clip(AV1_SPEC)
    result = demux(read_flv_file(clip.flv))
    config = result.demuxer.video_config
    assert config is not None and config.codec is VideoCodec.AV1
    assert (config.width, config.height) == (642, 362)
    profile, level, tier_depth = config.codec_string.split(".")[1:]
    assert (profile, tier_depth) == ("0", "08")
    assert len(level) == 3 and level[2] in "MH"
    # The encoder's temporal units, less the temporal delimiter OBU MP4 samples leave out.
    assert all(p.data.startswith(b"\x12\x00") for p in clip.video)
    assert [p.data for p in result.video] == [p.data[2:] for p in clip.video]
    assert [p.keyframe for p in result.video] == [p.keyframe for p in clip.video]
    # FFmpeg's muxer writes a colorInfo metadata frame; it is recognised and dropped.
    assert any(isinstance(e, Dropped) and e.reason is DropReason.METADATA for e in result.events)
    frames = decode("libdav1d", config.record, result.video)
    assert len(frames) == len(result.video)
    assert {(f.width, f.height) for f in frames} == {(642, 362)}


# --- real AAC and MP3 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "layout", "channels"),
    [(44100, "mono", 1), (48000, "stereo", 2), (22050, "stereo", 2)],
)
def test_aac_from_ffmpeg_flv(rate: int, layout: str, channels: int) -> None:
    clip = encode_clip(None, AudioSpec(rate=rate, layout=layout))
    result = demux(read_flv_file(clip.flv))
    config = result.demuxer.audio_config
    assert config is not None
    assert (config.codec, config.sample_rate, config.channels) == (AudioCodec.AAC, rate, channels)
    assert config.codec_string == "mp4a.40.2"
    assert config.record == clip.audio_extradata
    assert [p.data for p in result.audio] == [p.data for p in clip.audio]
    reference = ffmpeg_flv_packets(clip.flv, "audio")
    assert [(p.dts, p.pts, p.data) for p in result.audio] == [
        (dts * MS_TICKS, pts * MS_TICKS, data) for dts, pts, _, data in reference
    ]
    assert all(p.keyframe for p in result.audio)


@pytest.mark.skipif("libmp3lame" not in av.codecs_available, reason="no libmp3lame")
def test_mp3_from_ffmpeg_flv() -> None:
    clip = encode_clip(None, AudioSpec(codec="libmp3lame", rate=44100, layout="mono"))
    result = demux(read_flv_file(clip.flv))
    config = result.demuxer.audio_config
    assert config is not None
    assert (config.codec, config.sample_rate, config.channels) == (AudioCodec.MP3, 44100, 1)
    assert config.codec_string == "mp4a.6B"
    assert [p.data for p in result.audio] == [p.data for p in clip.audio]
    configs = [e for e in result.events if isinstance(e, AudioConfigReceived)]
    assert len(configs) == 1  # MP3's config comes from the first frame, once


def test_on_metadata_from_ffmpeg_flv() -> None:
    clip = encode_clip(VideoSpec(width=854, height=480), AudioSpec())
    script = next(t for t in read_flv_file(clip.flv) if t.tag_type is TagType.SCRIPT_DATA)
    name, values = amf0_values(script.body)
    assert name == "onMetaData" and isinstance(values, dict)
    demuxer = FLVDemuxer()
    metadata = demuxer.metadata(values)
    assert demuxer.stream_metadata == metadata
    assert (metadata.width, metadata.height, metadata.framerate) == (854, 480, 25.0)
    assert (metadata.videocodecid, metadata.audiocodecid) == (7, 10)
    assert (metadata.video_codec, metadata.audio_codec) == (VideoCodec.H264, AudioCodec.AAC)
    assert metadata.encoder is not None and metadata.encoder.startswith("Lavf")
    assert metadata.audiosamplerate == 44100.0 and metadata.audiochannels == 2


# --- hand-built E-RTMP -------------------------------------------------------------------------


def _x264_video_tags() -> list[FLVTag]:
    return [t for t in read_flv_file(encode_clip(VideoSpec()).flv) if t.tag_type is TagType.VIDEO]


def test_enhanced_avc1_matches_legacy() -> None:
    tags = _x264_video_tags()
    legacy = demux(tags)
    for use_x in (False, True):
        enhanced = demux(
            FLVTag(t.tag_type, t.timestamp, legacy_to_enhanced(t.body, use_x=use_x)) for t in tags
        )
        assert enhanced.video == legacy.video
        assert enhanced.demuxer.video_config == legacy.demuxer.video_config
        assert isinstance(enhanced.events[-1], EndOfSequence)


def _mod_ex(body: bytes, payload: bytes = b"\x00\x01\x02") -> bytes:
    # ModEx (packet type 7) with a TimestampOffsetNano modifier, then the real packet type.
    return bytes([body[0] & 0xF0 | 7, len(payload) - 1, *payload, 0x00 | body[0] & 0x0F]) + body[1:]


def test_enhanced_mod_ex_is_skipped() -> None:
    tags = _x264_video_tags()
    legacy = demux(tags)
    wrapped = demux(
        FLVTag(t.tag_type, t.timestamp, _mod_ex(legacy_to_enhanced(t.body))) for t in tags
    )
    assert wrapped.video == legacy.video
    # A modifier of 256 bytes or more: the size byte is 255 and a 16-bit size follows.
    big = bytes([0x87, 0xFF]) + (299).to_bytes(2, "big") + bytes(300)
    big += bytes([0x00]) + legacy_to_enhanced(tags[0].body)[1:]
    (event,) = FLVDemuxer().video(0, big)
    assert isinstance(event, VideoConfigReceived)


def _multitrack(bodies: dict[int, bytes], *, one_track: bool = False) -> bytes:
    """E-RTMP multitrack video from single-track E-RTMP bodies (all the same packet type)."""
    first = next(iter(bodies.values()))
    frame_type, packet_type, fourcc = first[0] & 0x70, first[0] & 0x0F, first[1:5]
    if one_track:
        ((track_id, body),) = bodies.items()
        return (
            bytes([0x80 | frame_type | 6, 0x00 | packet_type])
            + fourcc
            + bytes([track_id])
            + body[5:]
        )
    out = bytes([0x80 | frame_type | 6, 0x20 | packet_type])  # ManyTracksManyCodecs
    for track_id, body in bodies.items():
        out += fourcc + bytes([track_id]) + len(body[5:]).to_bytes(3, "big") + body[5:]
    return out


def test_enhanced_multitrack_keeps_track_0() -> None:
    tags = _x264_video_tags()
    legacy = demux(tags)
    bodies = [legacy_to_enhanced(t.body) for t in tags]
    demuxer = FLVDemuxer()
    (config,) = demuxer.video(0, _multitrack({0: bodies[0]}, one_track=True))
    assert isinstance(config, VideoConfigReceived)
    packets = []
    for tag, body in zip(tags[1:-1], bodies[1:-1], strict=True):
        events = demuxer.video(tag.timestamp, _multitrack({1: body, 0: body}))
        assert isinstance(events[0], Dropped) and events[0].reason is DropReason.OTHER_TRACK
        packets += [e for e in events if isinstance(e, Packet)]
    assert packets == legacy.video
    (other,) = demuxer.video(0, _multitrack({3: bodies[1]}, one_track=True))
    assert isinstance(other, Dropped) and other.reason is DropReason.OTHER_TRACK


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x94hvc1\x02\x00\x00", DropReason.METADATA),  # Metadata (frame type ignored)
        (b"\xd1\x00", DropReason.COMMAND_FRAME),  # E-RTMP command frame
        (b"\x57\x00", DropReason.COMMAND_FRAME),  # legacy video info/command frame
        (b"\x90vp09\x01\x02", DropReason.UNSUPPORTED_CODEC),
        (b"\x22\x00\x00", DropReason.UNSUPPORTED_CODEC),  # Sorenson H.263
        (b"\x95av01\x00", DropReason.UNSUPPORTED_PACKET),  # MPEG2TSSequenceStart
        (b"\x91avc1\x00\x00\x00\x00\x00\x00\x01\x65", DropReason.NO_SEQUENCE_HEADER),
        (b"", DropReason.EMPTY),
    ],
)
def test_video_tags_that_carry_no_media(body: bytes, reason: DropReason) -> None:
    (event,) = FLVDemuxer().video(0, body)
    assert isinstance(event, Dropped) and event.reason is reason
    assert event.track is Track.VIDEO


def test_enhanced_sequence_end() -> None:
    assert FLVDemuxer().video(0, b"\x92hvc1") == [EndOfSequence(Track.VIDEO)]
    assert FLVDemuxer().video(0, b"\x17\x02\x00\x00\x00") == [EndOfSequence(Track.VIDEO)]


def test_enhanced_audio() -> None:
    clip = encode_clip(None, AudioSpec(rate=48000))
    tags = [t for t in read_flv_file(clip.flv) if t.tag_type is TagType.AUDIO]
    legacy = demux(tags)
    enhanced = demux(
        FLVTag(t.tag_type, t.timestamp, bytes([0x90 | t.body[1]]) + b"mp4a" + t.body[2:])
        for t in tags
    )
    assert enhanced.audio == legacy.audio
    assert enhanced.demuxer.audio_config == legacy.demuxer.audio_config
    (opus,) = FLVDemuxer().audio(0, b"\x90Opus\x01\x02")
    assert isinstance(opus, Dropped) and opus.reason is DropReason.UNSUPPORTED_CODEC
    (speex,) = FLVDemuxer().audio(0, b"\xb6\x00")
    assert isinstance(speex, Dropped) and speex.reason is DropReason.UNSUPPORTED_CODEC
    assert FLVDemuxer().audio(0, b"\x92mp4a") == [EndOfSequence(Track.AUDIO)]
    (early,) = FLVDemuxer().audio(0, b"\xaf\x01\x21\x00")
    assert isinstance(early, Dropped) and early.reason is DropReason.NO_SEQUENCE_HEADER


# --- malformed input ---------------------------------------------------------------------------


def _all_prefixes(body: bytes) -> Iterator[bytes]:
    for end in range(len(body)):
        yield body[:end]


@pytest.mark.parametrize("kind", ["avc", "aac", "hevc", "av1", "ertmp"])
def test_truncated_headers_raise_flv_error(kind: str) -> None:
    if kind == "hevc" and "libx265" not in av.codecs_available:
        pytest.skip("no libx265")
    if kind == "av1" and "libsvtav1" not in av.codecs_available:
        pytest.skip("no libsvtav1")
    spec = {"hevc": HEVC_SPEC, "av1": AV1_SPEC}.get(kind, VideoSpec())
    clip = encode_clip(spec, AudioSpec() if kind == "aac" else None)
    tags = read_flv_file(clip.flv)
    wanted = TagType.AUDIO if kind == "aac" else TagType.VIDEO
    header = next(t for t in tags if t.tag_type is wanted).body
    if kind == "ertmp":
        header = legacy_to_enhanced(header)
    for prefix in _all_prefixes(header):
        demuxer = FLVDemuxer()
        feed = demuxer.audio if kind == "aac" else demuxer.video
        try:
            events = feed(0, prefix)
        except FLVError:
            continue
        # A prefix may still be a complete, valid tag (e.g. cut inside trailing data).
        assert all(
            isinstance(e, Dropped | VideoConfigReceived | AudioConfigReceived) for e in events
        )


def test_malformed_frames_raise_flv_error() -> None:
    tags = _x264_video_tags()
    demuxer = FLVDemuxer()
    demuxer.video(0, tags[0].body)
    frame = tags[1].body
    with pytest.raises(FLVError, match="overruns"):
        demuxer.video(40, frame[:-1])
    with pytest.raises(FLVError, match="truncated NAL unit length"):
        demuxer.video(40, frame + b"\x00\x00")
    with pytest.raises(FLVError, match="AVCPacketType 3"):
        demuxer.video(40, b"\x17\x03\x00\x00\x00")
    with pytest.raises(FLVError, match="AACPacketType 7"):
        demuxer.audio(40, b"\xaf\x07")
    with pytest.raises(FLVError):
        demuxer.video(0, b"\x17\x00\x00\x00\x00\x02\x64\x00\x1f\xff\xe1\x00\x00\x00")
    assert issubclass(FLVError, ValueError)


def test_read_flv_file_errors() -> None:
    with pytest.raises(FLVError, match="signature"):
        read_flv_file(b"FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
    data = encode_clip(VideoSpec()).flv
    with pytest.raises(FLVError, match="truncated"):
        read_flv_file(data[:-7])
    assert read_flv_file(write_flv_file(read_flv_file(data))) == read_flv_file(data)


# --- codec configuration records ------------------------------------------------------------


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> i) & 1 for i in reversed(range(n))]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes as an encoder must."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@st.composite
def avc_sps(draw: st.DrawFn) -> tuple[bytes, dict[str, int]]:
    w = BitWriter()
    profile = draw(st.sampled_from([66, 77, 88, 100, 110, 122, 244, 44, 118, 128]))
    constraint, level = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    w.u(8, profile), w.u(8, constraint), w.u(8, level)
    w.ue(draw(st.integers(0, 31)))
    chroma, separate = 1, False
    if profile in (100, 110, 122, 244, 44, 118, 128):
        chroma = draw(st.integers(0, 3))
        w.ue(chroma)
        if chroma == 3:
            separate = draw(st.booleans())
            w.u(1, separate)
        w.ue(draw(st.integers(0, 6))), w.ue(draw(st.integers(0, 6)))
        w.u(1, draw(st.booleans()))
        matrices = draw(st.booleans())
        w.u(1, matrices)
        if matrices:
            for i in range(8 if chroma != 3 else 12):
                present = draw(st.booleans())
                w.u(1, present)
                if present:
                    deltas = draw(st.lists(st.integers(-128, 127), min_size=1, max_size=64))
                    last = next_ = 8
                    for j in range(16 if i < 6 else 64):
                        if next_ != 0:
                            delta = deltas[j % len(deltas)]
                            w.se(delta)
                            next_ = (last + delta + 256) % 256
                        last = last if next_ == 0 else next_
    w.ue(draw(st.integers(0, 12)))
    poc_type = draw(st.integers(0, 2))
    w.ue(poc_type)
    if poc_type == 0:
        w.ue(draw(st.integers(0, 12)))
    elif poc_type == 1:
        w.u(1, draw(st.booleans()))
        w.se(draw(st.integers(-1000, 1000))), w.se(draw(st.integers(-1000, 1000)))
        cycle = draw(st.lists(st.integers(-1000, 1000), max_size=20))
        w.ue(len(cycle))
        for offset in cycle:
            w.se(offset)
    w.ue(draw(st.integers(0, 16))), w.u(1, draw(st.booleans()))
    width_mbs, height_units = draw(st.integers(1, 512)), draw(st.integers(1, 300))
    w.ue(width_mbs - 1), w.ue(height_units - 1)
    frame_mbs_only = draw(st.booleans())
    w.u(1, frame_mbs_only)
    if not frame_mbs_only:
        w.u(1, draw(st.booleans()))
    w.u(1, draw(st.booleans()))
    width, height = width_mbs * 16, height_units * 16 * (2 - frame_mbs_only)
    array_type = 0 if separate else chroma
    unit_x = 1 if array_type in (0, 3) else 2
    unit_y = (2 if array_type == 1 else 1) * (2 - frame_mbs_only)
    crop = draw(st.booleans())
    w.u(1, crop)
    if crop:
        left = draw(st.integers(0, (width // unit_x - 1) // 2))
        right = draw(st.integers(0, (width // unit_x - 1) // 2))
        top = draw(st.integers(0, (height // unit_y - 1) // 2))
        bottom = draw(st.integers(0, (height // unit_y - 1) // 2))
        for value in (left, right, top, bottom):
            w.ue(value)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    w.u(1, 0)  # vui_parameters_present_flag
    nal = b"\x67" + escape(w.rbsp())
    return nal, {"profile_idc": profile, "level_idc": level, "chroma_format_idc": chroma,
                 "width": width, "height": height, "frame_mbs_only": frame_mbs_only}  # fmt: skip


@given(avc_sps())
@settings(max_examples=300, deadline=None)
def test_avc_sps_exp_golomb_fields(case: tuple[bytes, dict[str, int]]) -> None:
    nal, expected = case
    sps = parse_avc_sps(nal)
    assert {key: getattr(sps, key) for key in expected} == expected
    # Any truncation is a clean FLVError or a still-parseable prefix, never another exception.
    for end in range(1, len(nal), 3):
        with contextlib.suppress(FLVError):
            parse_avc_sps(nal[:end])


@st.composite
def hevc_sps(draw: st.DrawFn) -> tuple[bytes, dict[str, int]]:
    w = BitWriter()
    w.u(4, draw(st.integers(0, 15)))
    sub_layers = draw(st.integers(0, 6))
    w.u(3, sub_layers), w.u(1, 1)
    space, tier, profile = (
        draw(st.integers(0, 3)),
        draw(st.integers(0, 1)),
        draw(st.integers(0, 31)),
    )
    w.u(2, space), w.u(1, tier), w.u(5, profile)
    w.u(32, draw(st.integers(0, 2**32 - 1))), w.u(48, draw(st.integers(0, 2**48 - 1)))
    level = draw(st.integers(0, 255))
    w.u(8, level)
    present = [(draw(st.booleans()), draw(st.booleans())) for _ in range(sub_layers)]
    for profile_present, level_present in present:
        w.u(1, profile_present), w.u(1, level_present)
    if sub_layers:
        w.u(2 * (8 - sub_layers), 0)
    for profile_present, level_present in present:
        if profile_present:
            w.u(88, draw(st.integers(0, 2**88 - 1)))
        if level_present:
            w.u(8, draw(st.integers(0, 255)))
    w.ue(draw(st.integers(0, 15)))
    chroma = draw(st.integers(0, 3))
    w.ue(chroma)
    separate = chroma == 3 and draw(st.booleans())
    if chroma == 3:
        w.u(1, separate)
    sub_w, sub_h = (1, 1) if separate or chroma in (0, 3) else (2, 2 if chroma == 1 else 1)
    width, height = draw(st.integers(8, 8192)) * sub_w, draw(st.integers(8, 4320)) * sub_h
    w.ue(width), w.ue(height)
    window = draw(st.booleans())
    w.u(1, window)
    if window:
        crops = [draw(st.integers(0, 3)) for _ in range(4)]
        for value in crops:
            w.ue(value)
        width -= sub_w * (crops[0] + crops[1])
        height -= sub_h * (crops[2] + crops[3])
    depth = draw(st.integers(0, 8))
    w.ue(depth), w.ue(depth)
    nal = b"\x42\x01" + escape(w.rbsp())
    return nal, {"profile_space": space, "tier_flag": tier, "profile_idc": profile,
                 "level_idc": level, "chroma_format_idc": chroma, "width": width,
                 "height": height, "bit_depth_luma": depth + 8}  # fmt: skip


@given(hevc_sps())
@settings(max_examples=200, deadline=None)
def test_hevc_sps_fields(case: tuple[bytes, dict[str, int]]) -> None:
    nal, expected = case
    sps = parse_hevc_sps(nal)
    assert {key: getattr(sps, key) for key in expected} == expected


def _hevc_record(sps: bytes, *, compat: int, constraints: bytes, level: int, tier: int) -> bytes:
    header = bytes([1, tier << 5 | 1]) + compat.to_bytes(4, "big") + constraints + bytes([level])
    header += b"\xf0\x00\xfc\xfd\xf8\xf8\x00\x00\x0f"
    return header + b"\x01\xa1\x00\x01" + len(sps).to_bytes(2, "big") + sps


def test_hevc_codec_string_annex_e() -> None:
    w = BitWriter()
    w.u(4, 0), w.u(3, 0), w.u(1, 1)
    w.u(2, 0), w.u(1, 0), w.u(5, 1), w.u(32, 0x60000000), w.u(48, 0xB0 << 40), w.u(8, 93)
    w.ue(0), w.ue(1), w.ue(1280), w.ue(720), w.u(1, 0), w.ue(0), w.ue(0)
    sps = b"\x42\x01" + escape(w.rbsp())
    main = _hevc_record(sps, compat=0x60000000, constraints=b"\xb0" + bytes(5), level=93, tier=0)
    config, length_size = hevc_config(main)
    assert config.codec_string == "hvc1.1.6.L93.B0"
    assert (config.width, config.height, length_size) == (1280, 720, 4)
    high = _hevc_record(sps, compat=0x20000000, constraints=b"\x90\x00\x00\x00\x00\x01",
                        level=153, tier=1)  # fmt: skip
    assert hevc_config(high)[0].codec_string == "hvc1.1.4.H153.90.0.0.0.0.1"
    # No parameter set arrays at all: the record alone gives the codec string, not the size.
    bare = _hevc_record(sps, compat=0, constraints=bytes(6), level=120, tier=0)[:22] + b"\x00"
    config, _ = hevc_config(bare)
    assert (config.width, config.height, config.codec_string) == (0, 0, "hvc1.1.0.L120")


def test_av1_config_record_fields() -> None:
    # seq_profile 1, level 13, high tier, 10-bit: and a reduced still-picture sequence header.
    w = BitWriter()
    (
        w.u(3, 1),
        w.u(1, 1),
        w.u(1, 1),
        w.u(5, 13),
        w.u(4, 10),
        w.u(4, 10),
        w.u(11, 1919),
        w.u(11, 1079),
    )
    payload = w.rbsp()
    obu = bytes([1 << 3 | 0x02, len(payload)]) + payload
    record = bytes([0x81, 1 << 5 | 13, 0b1100_0000, 0]) + obu
    config = av1_config(record)
    assert config.codec_string == "av01.1.13H.10"
    assert (config.width, config.height) == (1920, 1080)
    assert av1_config(record[:4]).width == 0  # no configOBUs
    with pytest.raises(FLVError, match="marker"):
        av1_config(b"\x01" + record[1:])


def test_avc_config_needs_an_sps() -> None:
    with pytest.raises(FLVError, match="no SPS"):
        avc_config(b"\x01\x64\x00\x1f\xff\xe0\x00")
    with pytest.raises(FLVError, match="length size 3"):
        avc_config(b"\x01\x64\x00\x1f\xfe\xe0\x00")


@pytest.mark.parametrize(
    ("asc", "object_type", "rate", "channels", "frame"),
    [
        (bytes([0x12, 0x10]), 2, 44100, 2, 1024),  # LC, 44.1 kHz, stereo
        (bytes([0x11, 0x88]), 2, 48000, 1, 1024),  # LC, 48 kHz, mono
        (bytes([0x11, 0x94]), 2, 48000, 2, 960),  # frameLengthFlag: 960-sample frames
        (bytes([0x11, 0xB8]), 2, 48000, 8, 1024),  # channelConfiguration 7 is 7.1
        # explicit 24-bit frequency (index 15): 44056 Hz
        ((2 << 35 | 15 << 31 | 44056 << 7 | 2 << 3).to_bytes(5, "big"), 2, 44056, 2, 1024),
        # escaped object type 31 + 6 bits: 32 + 10 = 42 (USAC), 48 kHz stereo; not GA
        ((31 << 19 | 10 << 13 | 3 << 9 | 2 << 5).to_bytes(3, "big"), 42, 48000, 2, 0),
        # explicit HE-AAC (5): core 24 kHz, extension 48 kHz, core object type LC
        ((5 << 19 | 6 << 15 | 2 << 11 | 3 << 7 | 2 << 2).to_bytes(3, "big"), 5, 24000, 2, 1024),
    ],
)
def test_audio_specific_config(
    asc: bytes, object_type: int, rate: int, channels: int, frame: int
) -> None:
    info = parse_audio_specific_config(asc)
    assert (info.object_type, info.sample_rate, info.channels) == (object_type, rate, channels)
    assert info.samples_per_frame == frame
    config = aac_config(asc)
    assert config.codec_string == f"mp4a.40.{object_type}"
    assert config.record == asc


@pytest.mark.parametrize(
    "asc",
    [b"", b"\x12", bytes([0x16, 0x90]), bytes([0x12, 0x48]), bytes([0x02, 0x10]), b"\x17\x80"],
    ids=["empty", "short", "reserved-rate-13", "reserved-channels-9", "type-0", "explicit-short"],
)
def test_audio_specific_config_errors(asc: bytes) -> None:
    with pytest.raises(FLVError):
        parse_audio_specific_config(asc)


def test_mp3_frame_headers() -> None:
    assert mp3_config(b"\xff\xfb\x90\x64").sample_rate == 44100  # MPEG-1 L3, stereo
    mono_48 = mp3_config(b"\xff\xfb\x94\xc4")
    assert (mono_48.sample_rate, mono_48.channels, mono_48.codec_string) == (48000, 1, "mp4a.6B")
    lsf = mp3_config(b"\xff\xf3\x90\x64")  # MPEG-2: 22.05 kHz
    assert (lsf.sample_rate, lsf.codec_string) == (22050, "mp4a.69")
    for bad in (b"\xff\xfb", b"\x00\x00\x00\x00", b"\xff\xeb\x90\x64", b"\xff\xfb\x9c\x64"):
        with pytest.raises(FLVError):
            mp3_config(bad)


# --- onMetaData ---------------------------------------------------------------------------------


def test_stream_metadata_tolerates_odd_types() -> None:
    metadata = StreamMetadata.from_amf(
        {
            "width": "1280",
            "height": 720.4,
            "framerate": "29.97",
            "videodatarate": -3,
            "audiodatarate": float("nan"),
            "Encoder": "  obs-output module (libobs version 30.0.0)  ",
            "videocodecid": float(int.from_bytes(b"hvc1", "big")),
            "audiocodecid": "mp4a",
            "audiochannels": True,
            "stereo": True,
        }
    )
    assert (metadata.width, metadata.height, metadata.framerate) == (1280, 720, 29.97)
    assert (metadata.videodatarate, metadata.audiodatarate) == (None, None)
    assert metadata.encoder == "obs-output module (libobs version 30.0.0)"
    assert metadata.video_codec is VideoCodec.H265
    assert metadata.audio_codec is AudioCodec.AAC
    assert metadata.audiochannels == 2
    assert StreamMetadata.from_amf({}) == StreamMetadata()
    assert StreamMetadata.from_amf({"fps": 60, "width": True}).framerate == 60.0
    assert StreamMetadata.from_amf({"width": 1e300, "encoder": "x" * 10_000}).width is None
    assert len(StreamMetadata.from_amf({"encoder": "x" * 10_000}).encoder or "") == 256
    assert StreamMetadata.from_amf({"videocodecid": "av01"}).video_codec is VideoCodec.AV1


amf_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=16), amf_values, max_size=12))
def test_stream_metadata_never_raises(values: dict[str, object]) -> None:
    metadata = StreamMetadata.from_amf(values)
    assert metadata.width is None or metadata.width > 0
    assert metadata.framerate is None or math.isfinite(metadata.framerate)
    assert metadata.video_codec is None or isinstance(metadata.video_codec, VideoCodec)

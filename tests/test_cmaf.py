"""hls.cmaf: fragmented MP4 written from demuxed FLV packets, read back by FFmpeg (PyAV and the
ffprobe CLI); box layouts checked field by field; 64-bit decode times far past 2^32."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from owncastd.hls.cmaf import (
    Sample,
    TrackRun,
    TrackSpec,
    init_segment,
    media_fragment,
    segment_type,
    track_timescale,
)
from owncastd.media.flv import read_flv_file
from owncastd.media.packets import AudioCodec, AudioConfig, VideoCodec, VideoConfig
from tests.syspkg import require_binary
from tests.test_flv import AV1_SPEC, HEVC_SPEC, AudioSpec, Demuxed, VideoSpec, demux, encode_clip

# --- reading boxes back -------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"dinf"}
_VISUAL_ENTRY_HEADER = 78  # bytes of VisualSampleEntry fields before its child boxes
_AUDIO_ENTRY_HEADER = 28


@dataclass
class Box:
    kind: bytes
    offset: int
    size: int
    payload: bytes
    children: list[Box]

    def find(self, path: str) -> Box:
        kind, _, rest = path.partition("/")
        child = next(c for c in self.children if c.kind == kind.encode())
        return child.find(rest) if rest else child

    def find_all(self, kind: str) -> list[Box]:
        return [c for c in self.children if c.kind == kind.encode()]


def parse_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    end = len(data) if end is None else end
    boxes, pos = [], start
    while pos < end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        assert size >= header and pos + size <= end, f"{kind!r} box overruns its parent"
        body_start = pos + header
        children: list[Box] = []
        if kind in _CONTAINERS:
            children = parse_boxes(data, body_start, pos + size)
        elif kind == b"stsd":
            children = parse_boxes(data, body_start + 8, pos + size)
        elif kind in (b"avc1", b"hvc1", b"av01"):
            children = parse_boxes(data, body_start + _VISUAL_ENTRY_HEADER, pos + size)
        elif kind == b"mp4a":
            children = parse_boxes(data, body_start + _AUDIO_ENTRY_HEADER, pos + size)
        boxes.append(Box(kind, pos, size, data[body_start : pos + size], children))
        pos += size
    assert pos == end
    return boxes


def root(data: bytes) -> Box:
    return Box(b"", 0, len(data), data, parse_boxes(data))


def u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


@dataclass
class RunRecord:
    track_id: int
    base_decode_time: int
    samples: list[tuple[int, int, int, int]]  # duration, size, flags, composition offset
    data: list[bytes]


def read_fragment(data: bytes) -> tuple[int, list[RunRecord]]:
    """Parse moof + mdat back into sequence number and runs (checks every offset and size)."""
    top = root(data)
    assert [b.kind for b in top.children] == [b"moof", b"mdat"]
    moof, mdat = top.children
    sequence_number = u32(moof.find("mfhd").payload, 4)
    runs = []
    for traf in moof.find_all("traf"):
        tfhd, tfdt, trun = (traf.find(k).payload for k in ("tfhd", "tfdt", "trun"))
        assert tfhd[0] == 0 and int.from_bytes(tfhd[1:4], "big") == 0x020000
        assert tfdt[0] == 1
        flags = int.from_bytes(trun[1:4], "big")
        count, data_offset = u32(trun, 4), int.from_bytes(trun[8:12], "big", signed=True)
        has_cts = bool(flags & 0x800)
        assert flags & 0x701 == 0x701
        assert trun[0] == 1
        samples, chunks, pos, at = [], [], 12, moof.offset + data_offset
        for _ in range(count):
            duration, size, sample_flags = u32(trun, pos), u32(trun, pos + 4), u32(trun, pos + 8)
            cts = int.from_bytes(trun[pos + 12 : pos + 16], "big", signed=True) if has_cts else 0
            pos += 16 if has_cts else 12
            samples.append((duration, size, sample_flags, cts))
            assert mdat.offset + 8 <= at and at + size <= mdat.offset + mdat.size
            chunks.append(data[at : at + size])
            at += size
        assert pos == len(trun)
        runs.append(RunRecord(u32(tfhd, 4), int.from_bytes(tfdt[4:12], "big"), samples, chunks))
    return sequence_number, runs


# --- fragmenting a demuxed clip ---------------------------------------------------------------


@dataclass
class Expected:
    video: list[tuple[int, int, bool]]  # pts, dts, keyframe in 1/90000
    audio: list[int]  # pts in 1/sample_rate


def write_fragmented(
    result: Demuxed,
    path: Path,
    *,
    video_shift: int = 0,
    audio_shift: int = 0,
    samples_per_frame: int = 1024,
) -> Expected:
    """One fragment per GOP, video and audio runs side by side, as the segmenter will."""
    vconfig, aconfig = result.demuxer.video_config, result.demuxer.audio_config
    assert vconfig is not None and aconfig is not None
    tracks = [
        TrackSpec(1, track_timescale(vconfig), vconfig),
        TrackSpec(2, track_timescale(aconfig), aconfig),
    ]
    rate = aconfig.sample_rate
    video, audio = result.video, result.audio
    gops: list[list[int]] = []
    for i, packet in enumerate(video):
        if packet.keyframe or not gops:
            gops.append([])
        gops[-1].append(i)
    # Audio runs on its own sample clock from the first frame's (millisecond) timestamp on.
    audio_start = audio[0].dts * rate // 90_000 + audio_shift
    expected = Expected([], [])
    out = bytearray(init_segment(tracks))
    next_audio = 0
    for number, gop in enumerate(gops, start=1):
        samples = []
        for i in gop:
            packet = video[i]
            duration = video[i + 1].dts - packet.dts if i + 1 < len(video) else 3600
            samples.append(Sample(packet.data, duration, packet.keyframe, packet.pts - packet.dts))
            expected.video.append(
                (packet.pts + video_shift, packet.dts + video_shift, packet.keyframe)
            )
        end = video[gop[-1]].dts + samples[-1].duration + video_shift
        audio_base = audio_start + next_audio * samples_per_frame
        audio_samples = []
        while next_audio < len(audio) and (
            number == len(gops)
            or (audio_start + next_audio * samples_per_frame) * 90_000 < end * rate
        ):
            audio_samples.append(Sample(audio[next_audio].data, samples_per_frame, True))
            expected.audio.append(audio_start + next_audio * samples_per_frame)
            next_audio += 1
        runs = [
            TrackRun(1, video[gop[0]].dts + video_shift, samples),
            TrackRun(2, audio_base, audio_samples),
        ]
        out += media_fragment(number, runs)
    path.write_bytes(bytes(out))
    return expected


def check_with_pyav(
    path: Path, expected: Expected, vconfig: VideoConfig, aconfig: AudioConfig
) -> None:
    with av.open(str(path)) as container:
        vstream, astream = container.streams.video[0], container.streams.audio[0]
        assert vstream.time_base == Fraction(1, 90_000)
        assert astream.time_base == Fraction(1, aconfig.sample_rate)
        assert (vstream.codec_context.width, vstream.codec_context.height) == (
            vconfig.width,
            vconfig.height,
        )
        video, audio = [], []
        for packet in container.demux():
            if not packet.size:
                continue
            if packet.stream.type == "video":
                video.append((packet.pts, packet.dts, packet.is_keyframe))
            else:
                audio.append(packet.pts)
        assert video == expected.video
        assert audio == expected.audio
        # Continuous and exact: each audio frame starts where the previous one ended.
        assert len({b - a for a, b in itertools.pairwise(audio)}) <= 1
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        assert len(frames) == len(expected.video)
        assert {(f.width, f.height) for f in frames} == {(vconfig.width, vconfig.height)}
        assert sorted(f.pts for f in frames) == sorted(pts for pts, _, _ in expected.video)
    with av.open(str(path)) as container:
        audio_frames = list(container.decode(audio=0))
        assert len(audio_frames) == len(expected.audio)
        assert {f.sample_rate for f in audio_frames} == {aconfig.sample_rate}
        assert {f.layout.nb_channels for f in audio_frames} == {aconfig.channels}


def check_with_ffprobe(
    path: Path, expected: Expected, vconfig: VideoConfig, aconfig: AudioConfig
) -> None:
    ffprobe = require_binary("ffprobe", "ffmpeg")
    entries = "stream=index,codec_name,width,height,sample_rate,channels:packet=stream_index,pts,dts,flags"
    run = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert run.stderr == ""
    report = json.loads(run.stdout)
    streams = {s["index"]: s for s in report["streams"]}
    assert (streams[0]["width"], streams[0]["height"]) == (vconfig.width, vconfig.height)
    assert int(streams[1]["sample_rate"]) == aconfig.sample_rate
    packets = report["packets"]
    video = [(p["pts"], p["dts"], p["flags"][0] == "K") for p in packets if p["stream_index"] == 0]
    audio = [p["pts"] for p in packets if p["stream_index"] == 1]
    assert video == expected.video
    assert audio == expected.audio


PIPELINE_CASES = {
    "h264-854x480-aac44-stereo": (VideoSpec(width=854, height=480, profile="main"), AudioSpec()),
    "h264-1366x768-aac48-mono": (
        VideoSpec(width=1366, height=768, profile="high", frames=40),
        AudioSpec(rate=48000, layout="mono"),
    ),
    "hevc-aac48": (HEVC_SPEC, AudioSpec(rate=48000)),
    "av1-aac44-mono": (AV1_SPEC, AudioSpec(layout="mono")),
    "h264-baseline-mp3": (
        VideoSpec(profile="baseline", frames=30),
        AudioSpec(codec="libmp3lame", layout="mono"),
    ),
}


def _skip_unavailable(video: VideoSpec, audio: AudioSpec) -> None:
    for codec in (video.codec, audio.codec):
        if codec not in av.codecs_available:
            pytest.skip(f"PyAV's FFmpeg has no {codec}")
    if video.codec == "libsvtav1" and "libdav1d" not in av.codecs_available:
        pytest.skip("PyAV's FFmpeg has no libdav1d")


@pytest.mark.parametrize("case", list(PIPELINE_CASES))
def test_flv_to_cmaf_reads_back_exactly(case: str, tmp_path: Path) -> None:
    video_spec, audio_spec = PIPELINE_CASES[case]
    _skip_unavailable(video_spec, audio_spec)
    result = demux(read_flv_file(encode_clip(video_spec, audio_spec).flv))
    vconfig, aconfig = result.demuxer.video_config, result.demuxer.audio_config
    assert vconfig is not None and aconfig is not None
    spf = 1152 if aconfig.codec is AudioCodec.MP3 else 1024
    path = tmp_path / "rendition.mp4"
    expected = write_fragmented(result, path, samples_per_frame=spf)
    if video_spec.b_frames and video_spec.profile != "baseline":
        assert any(pts != dts for pts, dts, _ in expected.video)
    assert sum(key for _, _, key in expected.video) >= 2  # more than one fragment
    check_with_pyav(path, expected, vconfig, aconfig)
    check_with_ffprobe(path, expected, vconfig, aconfig)


def test_decode_times_past_32_bits_round_trip(tmp_path: Path) -> None:
    video_spec, audio_spec = PIPELINE_CASES["h264-854x480-aac44-stereo"]
    result = demux(read_flv_file(encode_clip(video_spec, audio_spec).flv))
    vconfig, aconfig = result.demuxer.video_config, result.demuxer.audio_config
    assert vconfig is not None and aconfig is not None
    hours = 50  # a broadcast 50 hours in: 1.6e10 ticks at 90 kHz, 7.9e9 samples at 44.1 kHz
    video_shift, audio_shift = hours * 3600 * 90_000, hours * 3600 * aconfig.sample_rate
    assert video_shift > 2**32 and audio_shift > 2**32
    path = tmp_path / "late.mp4"
    expected = write_fragmented(result, path, video_shift=video_shift, audio_shift=audio_shift)
    assert expected.video[0][1] == video_shift
    check_with_pyav(path, expected, vconfig, aconfig)
    check_with_ffprobe(path, expected, vconfig, aconfig)


def test_synthetic_timeline_near_2_to_64() -> None:
    base = 2**64 - 10_000
    fragment = media_fragment(7, [TrackRun(3, base, [Sample(b"x", 5000, True, -(2**31))])])
    number, (run,) = read_fragment(fragment)
    assert (number, run.track_id, run.base_decode_time) == (7, 3, base)
    assert run.samples == [(5000, 1, 0x02000000, -(2**31))]


# --- box layout -------------------------------------------------------------------------------

_VIDEO = VideoConfig(VideoCodec.H264, 1366, 768, b"\x01\x64\x00\x20\xff\xe1", "avc1.640020")
_AUDIO = AudioConfig(AudioCodec.AAC, 48000, 2, b"\x11\x90", "mp4a.40.2")


def test_init_segment_layout() -> None:
    hevc = VideoConfig(VideoCodec.H265, 1920, 1080, b"hvcC-record", "hvc1.1.6.L120.90")
    av1 = VideoConfig(VideoCodec.AV1, 642, 362, b"\x81\x04\x0c\x00", "av01.0.04M.08")
    mp3 = AudioConfig(AudioCodec.MP3, 22050, 1, b"", "mp4a.69")
    for config, sample_entry, config_box in [
        (_VIDEO, "avc1", "avcC"),
        (hevc, "hvc1", "hvcC"),
        (av1, "av01", "av1C"),
    ]:
        data = init_segment([TrackSpec(1, 90_000, config), TrackSpec(2, 48_000, _AUDIO)])
        top = root(data)
        assert [b.kind for b in top.children] == [b"ftyp", b"moov"]
        ftyp = top.children[0].payload
        assert ftyp[:4] == b"iso6" and b"cmfc" not in ftyp  # muxed: not a CMAF track file
        moov = top.find("moov")
        assert u32(moov.find("mvhd").payload, 96) == 3  # next_track_ID
        video, audio = moov.find_all("trak")
        assert u32(video.find("tkhd").payload, 12) == 1
        assert u32(video.find("tkhd").payload, 76) == config.width << 16
        assert u32(video.find("tkhd").payload, 80) == config.height << 16
        assert u32(video.find("mdia/mdhd").payload, 12) == 90_000
        assert video.find("mdia/hdlr").payload[8:12] == b"vide"
        entry = video.find(f"mdia/minf/stbl/stsd/{sample_entry}")
        assert (u32(entry.payload, 24) >> 16, u32(entry.payload, 24) & 0xFFFF) == (
            config.width,
            config.height,
        )
        assert entry.find(config_box).payload == config.record
        assert u32(audio.find("mdia/mdhd").payload, 12) == 48_000
        assert audio.find("mdia/hdlr").payload[8:12] == b"soun"
        mp4a = audio.find("mdia/minf/stbl/stsd/mp4a")
        assert int.from_bytes(mp4a.payload[16:18], "big") == 2  # channelcount
        assert u32(mp4a.payload, 24) == 48_000 << 16
        esds = mp4a.find("esds").payload
        assert esds.endswith(b"\x05\x02" + _AUDIO.record + b"\x06\x01\x02")
        assert esds[11] == 0x40  # objectTypeIndication: MPEG-4 audio
        assert esds[10] == 13 + 2 + len(_AUDIO.record)  # DecoderConfigDescriptor size
        trex = moov.find("mvex").find_all("trex")
        assert [u32(t.payload, 4) for t in trex] == [1, 2]
        for trak in (video, audio):
            for table in ("stts", "stsc", "stco"):
                assert u32(trak.find(f"mdia/minf/stbl/{table}").payload, 4) == 0
    single = root(init_segment([TrackSpec(1, 22050, mp3)]))
    assert b"cmfc" in single.children[0].payload
    esds = single.find("moov/trak/mdia/minf/stbl/stsd/mp4a/esds").payload
    assert esds[11] == 0x69  # MPEG-2 audio (MP3 at a low sampling rate)
    assert esds[10] == 13  # no DecoderSpecificInfo


def test_segment_type_box() -> None:
    assert segment_type() == b"\x00\x00\x00\x14stypmsdh\x00\x00\x00\x00msdh"
    assert root(segment_type(b"cmfs", (b"cmfs", b"cmfc"))).children[0].kind == b"styp"


def test_track_timescale() -> None:
    assert track_timescale(_VIDEO) == 90_000
    assert track_timescale(_AUDIO) == 48_000


samples = st.builds(
    Sample,
    data=st.binary(max_size=40),
    duration=st.integers(0, 2**32 - 1),
    keyframe=st.booleans(),
    composition_offset=st.one_of(st.just(0), st.integers(-(2**31), 2**31 - 1)),
)


@st.composite
def fragments(draw: st.DrawFn) -> tuple[int, list[TrackRun]]:
    ids = draw(st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=4, unique=True))
    runs = [
        TrackRun(
            track_id,
            draw(st.integers(0, 2**64 - 1)),
            draw(st.lists(samples, min_size=1, max_size=12)),
        )
        for track_id in ids
    ]
    return draw(st.integers(0, 2**32 - 1)), runs


@given(fragments())
@settings(max_examples=200, deadline=None)
def test_fragment_boxes_describe_their_samples(case: tuple[int, Sequence[TrackRun]]) -> None:
    sequence_number, runs = case
    data = media_fragment(sequence_number, runs)
    number, records = read_fragment(data)  # checks every size and offset
    assert number == sequence_number
    assert len(records) == len(runs)
    assert data.endswith(b"".join(s.data for run in runs for s in run.samples))
    for run, record in zip(runs, records, strict=True):
        assert (record.track_id, record.base_decode_time) == (run.track_id, run.base_decode_time)
        assert record.data == [s.data for s in run.samples]
        assert record.samples == [
            (
                s.duration,
                len(s.data),
                0x02000000 if s.keyframe else 0x01010000,
                s.composition_offset,
            )
            for s in run.samples
        ]


def test_empty_runs_are_left_out() -> None:
    fragment = media_fragment(1, [TrackRun(1, 0, []), TrackRun(2, 9, [Sample(b"ab", 1024, True)])])
    _, (record,) = read_fragment(fragment)
    assert (record.track_id, record.base_decode_time, record.data) == (2, 9, [b"ab"])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: init_segment([]), "at least one track"),
        (lambda: init_segment([TrackSpec(1, 90_000, _VIDEO)] * 2), "repeat"),
        (lambda: init_segment([TrackSpec(0, 90_000, _VIDEO)]), "track id 0"),
        (lambda: init_segment([TrackSpec(1, 0, _VIDEO)]), "timescale 0"),
        (
            lambda: init_segment(
                [TrackSpec(1, 90_000, VideoConfig(VideoCodec.H264, 70_000, 10, b"", "avc1"))]
            ),
            "does not fit",
        ),
        (lambda: media_fragment(1, []), "at least one sample"),
        (lambda: media_fragment(1, [TrackRun(1, 0, [])]), "at least one sample"),
        (lambda: media_fragment(-1, [TrackRun(1, 0, [Sample(b"", 1, True)])]), "sequence"),
        (lambda: media_fragment(1, [TrackRun(1, -1, [Sample(b"", 1, True)])]), "decode time"),
        (lambda: media_fragment(1, [TrackRun(1, 2**64, [Sample(b"", 1, True)])]), "decode time"),
        (lambda: media_fragment(1, [TrackRun(1, 0, [Sample(b"", -1, True)])]), "duration"),
        (lambda: media_fragment(1, [TrackRun(1, 0, [Sample(b"", 2**32, True)])]), "duration"),
        (
            lambda: media_fragment(1, [TrackRun(1, 0, [Sample(b"", 1, True, 2**31)])]),
            "composition offset",
        ),
        (
            lambda: media_fragment(
                1, [TrackRun(1, 0, [Sample(b"", 1, True)]), TrackRun(1, 0, [Sample(b"", 1, True)])]
            ),
            "repeat",
        ),
    ],
)
def test_invalid_arguments_raise_value_error(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()

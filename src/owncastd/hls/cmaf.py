"""A sans-IO fragmented-MP4 writer: CMAF-style init segments and media fragments.

Owns the ISO-BMFF box layouts (ISO/IEC 14496-12) that hls.js and Safari play: `init_segment`
writes ftyp + moov with one trak per track (avc1/hvc1/av01 or mp4a sample entries carrying the
source's configuration record), `media_fragment` writes moof + mdat for any number of tracks
(audio and video muxed in one file per rendition). Every time is an integer in its track's
timescale, and decode times are 64-bit, so a stream runs for years without drift or overflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from owncastd.media.packets import (
    TIMESCALE,
    AudioCodec,
    AudioConfig,
    VideoCodec,
    VideoConfig,
)

__all__ = [
    "Sample",
    "TrackRun",
    "TrackSpec",
    "init_segment",
    "media_fragment",
    "segment_type",
    "track_timescale",
]

_U16 = (1 << 16) - 1
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """One track of an init segment: its id (>= 1), timescale and decoder configuration."""

    track_id: int
    timescale: int
    config: VideoConfig | AudioConfig


@dataclass(frozen=True, slots=True)
class Sample:
    """One access unit: `duration` and `composition_offset` (pts - dts, may be negative)
    are in the track's timescale."""

    data: bytes
    duration: int
    keyframe: bool
    composition_offset: int = 0


@dataclass(frozen=True, slots=True)
class TrackRun:
    """Consecutive samples of one track; `base_decode_time` is the first one's dts."""

    track_id: int
    base_decode_time: int
    samples: Sequence[Sample]


def track_timescale(config: VideoConfig | AudioConfig) -> int:
    """The timescale a track is written in: 90 kHz for video (Packet timestamps as they are),
    the sample rate for audio (so every AAC frame lasts exactly 1024 ticks)."""
    if isinstance(config, VideoConfig):
        return TIMESCALE
    return config.sample_rate


# --- boxes ------------------------------------------------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, bytes([version]), flags.to_bytes(3, "big"), *payload)


def _u8(value: int) -> bytes:
    return value.to_bytes(1, "big")


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _i32(value: int) -> bytes:
    return value.to_bytes(4, "big", signed=True)


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


# Unity transformation matrix (14496-12 6.2.2): {1,0,0, 0,1,0, 0,0,1} in 16.16 / 2.30.
_MATRIX = b"".join(_u32(v) for v in (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000))


def _brands(major: bytes, compatible: Iterable[bytes]) -> bytes:
    return major + _u32(0) + b"".join(compatible)


def segment_type(major: bytes = b"msdh", compatible: Sequence[bytes] = (b"msdh",)) -> bytes:
    """An styp box, for a segment that should say what it is (14496-12 8.16.2)."""
    return _box(b"styp", _brands(major, compatible))


# --- init segment -----------------------------------------------------------------------------


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _visual_sample_entry(config: VideoConfig) -> bytes:
    _check(
        0 <= config.width <= _U16 and 0 <= config.height <= _U16,
        f"video size {config.width}x{config.height} does not fit a sample entry",
    )
    kind, config_box = {
        VideoCodec.H264: (b"avc1", b"avcC"),
        VideoCodec.H265: (b"hvc1", b"hvcC"),
        VideoCodec.AV1: (b"av01", b"av1C"),
    }[config.codec]
    return _box(
        kind,
        bytes(6),  # reserved
        _u16(1),  # data_reference_index
        bytes(16),  # pre_defined, reserved, pre_defined[3]
        _u16(config.width),
        _u16(config.height),
        _u32(0x00480000),  # horizresolution: 72 dpi
        _u32(0x00480000),  # vertresolution
        _u32(0),  # reserved
        _u16(1),  # frame_count
        bytes(32),  # compressorname: empty Pascal string
        _u16(0x0018),  # depth: colour, no alpha
        _u16(0xFFFF),  # pre_defined = -1
        _box(config_box, config.record),
    )


def _descriptor(tag: int, *payload: bytes) -> bytes:
    """An MPEG-4 descriptor (14496-1 8.3.3) with its size in the expandable 7-bit form."""
    body = b"".join(payload)
    size = len(body)
    size_bytes = [size & 0x7F]
    size >>= 7
    while size:
        size_bytes.append(0x80 | (size & 0x7F))
        size >>= 7
    return bytes([tag, *reversed(size_bytes)]) + body


def _esds(config: AudioConfig) -> bytes:
    if config.codec is AudioCodec.AAC:
        object_type = 0x40  # Audio ISO/IEC 14496-3
        specific_info = _descriptor(0x05, config.record)  # DecoderSpecificInfo: the ASC
    else:
        # MP3: MPEG-1 audio (0x6B), or MPEG-2's low sampling rates (0x69); no specific info.
        object_type = 0x6B if config.sample_rate >= 32000 else 0x69
        specific_info = b""
    decoder_config = _descriptor(
        0x04,  # DecoderConfigDescriptor
        _u8(object_type),
        _u8(0x05 << 2 | 0x01),  # streamType audio, upStream 0, reserved 1
        bytes(3),  # bufferSizeDB
        _u32(0),  # maxBitrate
        _u32(0),  # avgBitrate
        specific_info,
    )
    sl_config = _descriptor(0x06, b"\x02")  # SLConfigDescriptor: predefined for MP4 files
    es = _descriptor(0x03, _u16(0), b"\x00", decoder_config, sl_config)  # ES_ID 0, no flags
    return _full_box(b"esds", 0, 0, es)


def _audio_sample_entry(config: AudioConfig) -> bytes:
    _check(config.sample_rate > 0, f"audio sample rate {config.sample_rate} is not positive")
    # A PCE-defined AAC layout reports 0 channels; the decoder reads the ASC, so say stereo.
    channels = config.channels or 2
    _check(channels <= _U16, f"{channels} audio channels do not fit a sample entry")
    # The 16.16 samplerate field cannot hold rates above 65535 Hz; 0 there means "see the
    # decoder configuration", which AAC always has.
    rate = config.sample_rate << 16 if config.sample_rate <= _U16 else 0
    return _box(
        b"mp4a",
        bytes(6),  # reserved
        _u16(1),  # data_reference_index
        bytes(8),  # reserved (version 0 sound description)
        _u16(channels),
        _u16(16),  # samplesize
        _u16(0),  # pre_defined
        _u16(0),  # reserved
        _u32(rate),
        _esds(config),
    )


def _trak(spec: TrackSpec) -> bytes:
    config = spec.config
    is_video = isinstance(config, VideoConfig)
    if isinstance(config, VideoConfig):
        sample_entry = _visual_sample_entry(config)
        width, height = config.width, config.height
        handler, name = b"vide", b"VideoHandler\x00"
        media_header = _full_box(b"vmhd", 0, 1, bytes(8))  # graphicsmode copy, opcolor
    else:
        sample_entry = _audio_sample_entry(config)
        width = height = 0
        handler, name = b"soun", b"SoundHandler\x00"
        media_header = _full_box(b"smhd", 0, 0, bytes(4))  # balance, reserved
    tkhd = _full_box(
        b"tkhd",
        0,
        0x000003,  # track_enabled | track_in_movie
        _u32(0),  # creation_time
        _u32(0),  # modification_time
        _u32(spec.track_id),
        _u32(0),  # reserved
        _u32(0),  # duration: unknown, the movie is fragmented
        bytes(8),  # reserved
        _u16(0),  # layer
        _u16(0),  # alternate_group
        _u16(0 if is_video else 0x0100),  # volume
        _u16(0),  # reserved
        _MATRIX,
        _u32(width << 16),  # 16.16 fixed point
        _u32(height << 16),
    )
    mdhd = _full_box(
        b"mdhd",
        0,
        0,
        _u32(0),  # creation_time
        _u32(0),  # modification_time
        _u32(spec.timescale),
        _u32(0),  # duration
        _u16(0x55C4),  # language "und", packed ISO-639-2/T
        _u16(0),  # pre_defined
    )
    hdlr = _full_box(b"hdlr", 0, 0, _u32(0), handler, bytes(12), name)
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, _u32(1), _full_box(b"url ", 0, 1)))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, _u32(1), sample_entry),
        # The samples live in the fragments; the sample tables stay empty.
        _full_box(b"stts", 0, 0, _u32(0)),
        _full_box(b"stsc", 0, 0, _u32(0)),
        _full_box(b"stsz", 0, 0, _u32(0), _u32(0)),
        _full_box(b"stco", 0, 0, _u32(0)),
    )
    minf = _box(b"minf", media_header, dinf, stbl)
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))


def init_segment(tracks: Sequence[TrackSpec]) -> bytes:
    """ftyp + moov for these tracks (14496-12 8.8: an empty-sample movie with mvex)."""
    _check(len(tracks) > 0, "an init segment needs at least one track")
    ids = [spec.track_id for spec in tracks]
    _check(len(set(ids)) == len(ids), f"track ids {ids} repeat")
    for spec in tracks:
        _check(1 <= spec.track_id <= _U32 - 1, f"track id {spec.track_id} out of range")
        _check(1 <= spec.timescale <= _U32, f"timescale {spec.timescale} out of range")
    # A CMAF track file holds one track; a muxed rendition claims ISO BMFF brands only.
    compatible = [b"iso6", b"mp41"] + ([b"cmfc"] if len(tracks) == 1 else [])
    ftyp = _box(b"ftyp", _brands(b"iso6", compatible))
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        _u32(0),  # creation_time
        _u32(0),  # modification_time
        _u32(1000),  # timescale (movie-level durations only; all zero here)
        _u32(0),  # duration
        _u32(0x00010000),  # rate 1.0
        _u16(0x0100),  # volume 1.0
        bytes(10),  # reserved
        _MATRIX,
        bytes(24),  # pre_defined
        _u32(max(ids) + 1),  # next_track_ID
    )
    trex = [
        _full_box(
            b"trex",
            0,
            0,
            _u32(spec.track_id),
            _u32(1),  # default_sample_description_index
            _u32(0),  # default_sample_duration
            _u32(0),  # default_sample_size
            _u32(0),  # default_sample_flags
        )
        for spec in tracks
    ]
    moov = _box(b"moov", mvhd, *(_trak(spec) for spec in tracks), _box(b"mvex", *trex))
    return ftyp + moov


# --- media fragments --------------------------------------------------------------------------

# Sample flags (14496-12 8.8.3.1): a sync sample depends on no other (sample_depends_on = 2);
# any other depends on others (1) and has sample_is_non_sync_sample set.
_SYNC_SAMPLE_FLAGS = 0x02000000
_NON_SYNC_SAMPLE_FLAGS = 0x01010000

_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_TRUN_DATA_OFFSET = 0x000001
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_COMPOSITION_OFFSET = 0x000800


def _check_run(run: TrackRun) -> None:
    _check(1 <= run.track_id <= _U32, f"track id {run.track_id} out of range")
    _check(
        0 <= run.base_decode_time <= _U64,
        f"track {run.track_id}: base decode time {run.base_decode_time} out of range",
    )
    for sample in run.samples:
        _check(
            0 <= sample.duration <= _U32,
            f"track {run.track_id}: sample duration {sample.duration} out of range",
        )
        _check(
            _I32_MIN <= sample.composition_offset <= _I32_MAX,
            f"track {run.track_id}: composition offset {sample.composition_offset} out of range",
        )


def _traf(run: TrackRun, data_offset: int) -> bytes:
    with_offsets = any(sample.composition_offset for sample in run.samples)
    flags = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS
    entries = bytearray()
    for sample in run.samples:
        entries += _u32(sample.duration)
        entries += _u32(len(sample.data))
        entries += _u32(_SYNC_SAMPLE_FLAGS if sample.keyframe else _NON_SYNC_SAMPLE_FLAGS)
        if with_offsets:
            entries += _i32(sample.composition_offset)
    if with_offsets:
        flags |= _TRUN_COMPOSITION_OFFSET
    # trun version 1 makes composition offsets signed, so B-frame streams may start at pts = dts.
    trun = _full_box(b"trun", 1, flags, _u32(len(run.samples)), _i32(data_offset), bytes(entries))
    tfhd = _full_box(b"tfhd", 0, _TFHD_DEFAULT_BASE_IS_MOOF, _u32(run.track_id))
    tfdt = _full_box(b"tfdt", 1, 0, _u64(run.base_decode_time))
    return _box(b"traf", tfhd, tfdt, trun)


def media_fragment(sequence_number: int, runs: Sequence[TrackRun]) -> bytes:
    """moof + mdat holding these runs, their samples in order in one mdat.

    Runs without samples are left out. Data offsets count from the start of the moof
    (default-base-is-moof), so the fragment can be stored and served on its own.
    """
    _check(0 <= sequence_number <= _U32, f"sequence number {sequence_number} out of range")
    runs = [run for run in runs if run.samples]
    _check(len(runs) > 0, "a media fragment needs at least one sample")
    ids = [run.track_id for run in runs]
    _check(len(set(ids)) == len(ids), f"track ids {ids} repeat within one fragment")
    for run in runs:
        _check_run(run)
    payload_size = sum(len(sample.data) for run in runs for sample in run.samples)
    mdat_header_size = 8 if payload_size + 8 <= _U32 else 16
    mfhd = _full_box(b"mfhd", 0, 0, _u32(sequence_number))

    def moof(offsets: Sequence[int]) -> bytes:
        return _box(
            b"moof", mfhd, *(_traf(run, off) for run, off in zip(runs, offsets, strict=True))
        )

    # The trafs' sizes do not depend on the offset values, so measure once with zeros.
    moof_size = len(moof([0] * len(runs)))
    offsets: list[int] = []
    position = moof_size + mdat_header_size
    for run in runs:
        _check(position <= _I32_MAX, "fragment too large for 32-bit data offsets")
        offsets.append(position)
        position += sum(len(sample.data) for sample in run.samples)
    if mdat_header_size == 8:
        mdat_header = _u32(8 + payload_size) + b"mdat"
    else:
        mdat_header = _u32(1) + b"mdat" + _u64(16 + payload_size)  # 64-bit largesize
    return b"".join(
        [
            moof(offsets),
            mdat_header,
            *(sample.data for run in runs for sample in run.samples),
        ]
    )
